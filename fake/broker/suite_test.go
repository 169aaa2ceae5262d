package broker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/switchyard-dev/switchyard/fake/broker"
	"github.com/switchyard-dev/switchyard/fake/brokertest"
	"github.com/switchyard-dev/switchyard/internal/realbroker"
)

// The protocol suite: every case runs against the fake broker and against
// a real RabbitMQ (internal/realbroker), so each behaviour of the fake is
// checked against the real thing.

// waitTimeout bounds every wait in the suite.
const waitTimeout = 5 * time.Second

// env is what a protocol case gets: a backend to talk to.
type env struct {
	t      *testing.T
	kind   string         // "fake" or "rabbitmq"
	url    string         // amqp:// URL
	fake   *broker.Broker // nil for the real broker
	prefix string
	addr   string // host:port
}

var nameSeq atomic.Int64

// protocolCase is one behaviour checked on every backend.
type protocolCase struct {
	name string
	run  func(t *testing.T, e *env)
}

// runSuite runs cases against the fake broker and a real RabbitMQ.
func runSuite(t *testing.T, cases []protocolCase) {
	for _, kind := range []string{"fake", "rabbitmq"} {
		t.Run(kind, func(t *testing.T) {
			var url string
			if kind == "rabbitmq" {
				url = amqpURL(realbroker.RabbitURL(t))
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					tc.run(t, newEnv(t, kind, url))
				})
			}
		})
	}
}

// amqpURL turns a rabbit:// transport URL into an amqp:// one.
func amqpURL(u string) string {
	if rest, ok := strings.CutPrefix(u, "rabbit://"); ok {
		return "amqp://" + rest
	}
	return u
}

func newEnv(t *testing.T, kind, url string) *env {
	e := &env{t: t, kind: kind, url: url, prefix: fmt.Sprintf("sy-%d-%d-", time.Now().UnixNano()%1e9, nameSeq.Add(1))}
	if kind == "fake" {
		e.fake = brokertest.New(t)
		e.url = e.fake.AMQPURL()
	}
	u, err := amqp.ParseURI(e.url)
	if err != nil {
		t.Fatal(err)
	}
	e.addr = fmt.Sprintf("%s:%d", u.Host, u.Port)
	return e
}

// name returns a name unique to this test.
func (e *env) name(s string) string { return e.prefix + s }

// dial opens a connection closed at the end of the test.
func (e *env) dial() *amqp.Connection {
	e.t.Helper()
	return e.dialConfig(amqp.Config{})
}

func (e *env) dialConfig(cfg amqp.Config) *amqp.Connection {
	e.t.Helper()
	c, err := amqp.DialConfig(e.url, cfg)
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// channel opens a channel on c.
func (e *env) channel(c *amqp.Connection) *amqp.Channel {
	e.t.Helper()
	ch, err := c.Channel()
	if err != nil {
		e.t.Fatalf("channel: %v", err)
	}
	return ch
}

// open dials and opens one channel.
func (e *env) open() (*amqp.Connection, *amqp.Channel) {
	e.t.Helper()
	c := e.dial()
	return c, e.channel(c)
}

// queue declares a non-durable auto-expiring queue named after s and
// deletes it at the end of the test.
func (e *env) queue(ch *amqp.Channel, s string, args amqp.Table) string {
	e.t.Helper()
	name := e.name(s)
	if _, err := ch.QueueDeclare(name, false, false, false, false, args); err != nil {
		e.t.Fatalf("queue.declare %s: %v", name, err)
	}
	e.cleanupQueue(name)
	return name
}

// cleanupQueue deletes a queue at the end of the test, on its own
// connection (real brokers keep what tests leave behind).
func (e *env) cleanupQueue(names ...string) {
	e.t.Cleanup(func() {
		e.cleanup(func(ch *amqp.Channel) {
			for _, n := range names {
				ch.QueueDelete(n, false, false, false)
			}
		})
	})
}

// cleanupExchange deletes exchanges at the end of the test.
func (e *env) cleanupExchange(names ...string) {
	e.t.Cleanup(func() {
		e.cleanup(func(ch *amqp.Channel) {
			for _, n := range names {
				ch.ExchangeDelete(n, false, false)
			}
		})
	})
}

func (e *env) cleanup(f func(ch *amqp.Channel)) {
	if e.fake != nil {
		return // the broker goes away with the test
	}
	c, err := amqp.Dial(e.url)
	if err != nil {
		return
	}
	defer c.Close()
	ch, err := c.Channel()
	if err != nil {
		return
	}
	f(ch)
}

// exchange declares an exchange named after s, deleted at the end.
func (e *env) exchange(ch *amqp.Channel, s, kind string) string {
	e.t.Helper()
	name := e.name(s)
	if err := ch.ExchangeDeclare(name, kind, false, false, false, false, nil); err != nil {
		e.t.Fatalf("exchange.declare %s: %v", name, err)
	}
	e.cleanupExchange(name)
	return name
}

// publish publishes body to exchange/key and fails the test on error.
func publish(t *testing.T, ch *amqp.Channel, exchange, key string, p amqp.Publishing) {
	t.Helper()
	if err := ch.PublishWithContext(context.Background(), exchange, key, false, false, p); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

func text(s string) amqp.Publishing { return amqp.Publishing{Body: []byte(s)} }

// confirmChannel puts ch in confirm mode.
func confirmChannel(t *testing.T, ch *amqp.Channel) {
	t.Helper()
	if err := ch.Confirm(false); err != nil {
		t.Fatalf("confirm.select: %v", err)
	}
}

// publishConfirmed publishes on a confirm-mode channel and waits for the
// confirm, returning whether it was an ack.
func publishConfirmed(t *testing.T, ch *amqp.Channel, exchange, key string, mandatory bool, p amqp.Publishing) bool {
	t.Helper()
	dc, err := ch.PublishWithDeferredConfirm(exchange, key, mandatory, false, p)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ok, err := dc.WaitContext(ctx)
	if err != nil {
		t.Fatalf("waiting for the confirm: %v", err)
	}
	return ok
}

// get fetches one message, failing if none arrives within waitTimeout
// (polling, since basic.get does not wait).
func get(t *testing.T, ch *amqp.Channel, q string, autoAck bool) amqp.Delivery {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for i := 0; i < 1000 && time.Now().Before(deadline); i++ {
		d, ok, err := ch.Get(q, autoAck)
		if err != nil {
			t.Fatalf("basic.get %s: %v", q, err)
		}
		if ok {
			return d
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no message in %s within %v", q, waitTimeout)
	return amqp.Delivery{}
}

// getEmpty checks that q has no ready message.
func getEmpty(t *testing.T, ch *amqp.Channel, q string) {
	t.Helper()
	d, ok, err := ch.Get(q, true)
	if err != nil {
		t.Fatalf("basic.get %s: %v", q, err)
	}
	if ok {
		t.Fatalf("basic.get %s returned %q, want get-empty", q, d.Body)
	}
}

// recv waits for the next delivery.
func recv(t *testing.T, ds <-chan amqp.Delivery) amqp.Delivery {
	t.Helper()
	select {
	case d, ok := <-ds:
		if !ok {
			t.Fatal("delivery channel closed")
		}
		return d
	case <-time.After(waitTimeout):
		t.Fatalf("no delivery within %v", waitTimeout)
	}
	return amqp.Delivery{}
}

// consume starts a consumer and fails the test on error.
func consume(t *testing.T, ch *amqp.Channel, q string, autoAck bool) <-chan amqp.Delivery {
	t.Helper()
	ds, err := ch.Consume(q, "", autoAck, false, false, false, nil)
	if err != nil {
		t.Fatalf("basic.consume %s: %v", q, err)
	}
	return ds
}

// ready returns the number of ready messages in q, by passive declare.
func ready(t *testing.T, ch *amqp.Channel, q string) int {
	t.Helper()
	st, err := ch.QueueDeclarePassive(q, false, false, false, false, nil)
	if err != nil {
		t.Fatalf("passive queue.declare %s: %v", q, err)
	}
	return st.Messages
}

// eventually polls cond every 10 ms until it holds or waitTimeout passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for i := 0; i < 2000; i++ {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// wantError checks that err is an AMQP error with code and, when text is
// not empty, exactly that reply text.
func wantError(t *testing.T, err error, code int, text string) {
	t.Helper()
	var ae *amqp.Error
	if !errors.As(err, &ae) {
		t.Fatalf("got %v, want AMQP error %d %s", err, code, text)
	}
	if ae.Code != code || (text != "" && ae.Reason != text) {
		t.Fatalf("got %d %q, want %d %q", ae.Code, ae.Reason, code, text)
	}
}

// closed waits for a channel or connection close notification.
func closed(t *testing.T, c <-chan *amqp.Error) *amqp.Error {
	t.Helper()
	select {
	case err := <-c:
		if err == nil {
			t.Fatal("closed without an error")
		}
		return err
	case <-time.After(waitTimeout):
		t.Fatalf("not closed within %v", waitTimeout)
	}
	return nil
}

// channelClosedBy runs f and checks that it closes ch with code and text.
func channelClosedBy(t *testing.T, ch *amqp.Channel, code int, text string, f func()) {
	t.Helper()
	notify := ch.NotifyClose(make(chan *amqp.Error, 1))
	f()
	err := closed(t, notify)
	if !err.Server {
		t.Fatalf("closed by the client, not the server: %v", err)
	}
	wantError(t, err, code, text)
}

// timeAfter returns a function reporting whether ms milliseconds have
// passed since it was called.
func timeAfter(ms int) func() bool {
	end := time.Now().Add(time.Duration(ms) * time.Millisecond)
	return func() bool { return time.Now().After(end) }
}

// sleepMillis pauses a polling loop; never used to wait for an event.
func sleepMillis(ms int) { time.Sleep(time.Duration(ms) * time.Millisecond) }
