package broker_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/switchyard-dev/switchyard/fake/broker"
	"github.com/switchyard-dev/switchyard/fake/brokertest"
	"github.com/switchyard-dev/switchyard/fake/fault"
	"github.com/switchyard-dev/switchyard/fake/internal/amqp091"
)

// faultEnv is a fake broker with its injector.
type faultEnv struct {
	*env
	inj *fault.Injector
}

func newFaultEnv(t *testing.T, seed uint64) *faultEnv {
	inj := fault.New(seed)
	b := brokertest.New(t, brokertest.WithFaults(inj))
	e := &env{t: t, kind: "fake", fake: b, url: b.AMQPURL(), addr: b.Addr(), prefix: "f-"}
	return &faultEnv{env: e, inj: inj}
}

// named dials with a connection_name.
func (e *faultEnv) named(name string, heartbeat time.Duration) *amqp.Connection {
	e.t.Helper()
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(name)
	return e.dialConfig(amqp.Config{Properties: props, Heartbeat: heartbeat})
}

func (e *faultEnv) enable(f fault.Fault) fault.ID {
	e.t.Helper()
	id, err := e.inj.Enable(f)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { e.inj.Disable(id) })
	return id
}

// quiet checks that nothing arrives on c for d.
func quiet[T any](t *testing.T, c <-chan T, d time.Duration, what string) {
	t.Helper()
	select {
	case v := <-c:
		t.Fatalf("%s: got %v", what, v)
	case <-time.After(d):
	}
}

func within[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("%s: nothing within %v", what, waitTimeout)
	}
	var zero T
	return zero
}

func TestFaultCloseConnections(t *testing.T) {
	e := newFaultEnv(t, 1)
	a, b := e.named("svc-a", 0), e.named("svc-b", 0)
	ca, cb := a.NotifyClose(make(chan *amqp.Error, 1)), b.NotifyClose(make(chan *amqp.Error, 1))
	e.enable(fault.Fault{Kind: fault.CloseConnections, Scope: fault.Scope{Connection: "svc-a"}})
	wantError(t, closed(t, ca), amqp.ConnectionForced, "CONNECTION_FORCED - Closed via fault injection")
	if b.IsClosed() {
		t.Fatal("the other connection was closed")
	}
	quiet(t, cb, 50*time.Millisecond, "connection b")
	if n := len(e.inj.Enabled()); n != 0 {
		t.Fatalf("one-shot fault still enabled (%d)", n)
	}
}

func TestFaultCloseChannelsOfAQueue(t *testing.T) {
	e := newFaultEnv(t, 1)
	c := e.named("svc", 0)
	ch1, ch2 := e.channel(c), e.channel(c)
	q1, q2 := e.queue(ch1, "one", nil), e.queue(ch2, "two", nil)
	consume(t, ch1, q1, false)
	consume(t, ch2, q2, false)
	n1, n2 := ch1.NotifyClose(make(chan *amqp.Error, 1)), ch2.NotifyClose(make(chan *amqp.Error, 1))
	e.enable(fault.Fault{Kind: fault.CloseChannels, Scope: fault.Scope{Queue: q1}})
	wantError(t, closed(t, n1), amqp.ConnectionForced, "")
	quiet(t, n2, 50*time.Millisecond, "channel 2")
	if _, err := ch2.QueueDeclarePassive(q2, false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
}

func TestFaultRefuseConnections(t *testing.T) {
	e := newFaultEnv(t, 1)
	id := e.enable(fault.Fault{Kind: fault.RefuseConnections})
	_, err := amqp.Dial(e.url)
	wantError(t, err, amqp.ConnectionForced, "CONNECTION_FORCED - connection refused by fault injection")
	e.inj.Disable(id)
	c, err := amqp.Dial(e.url)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	// For a while only.
	e.enable(fault.Fault{Kind: fault.RefuseConnections, For: 200 * time.Millisecond, Scope: fault.Scope{VHost: "/"}})
	if _, err := amqp.Dial(e.url); err == nil {
		t.Fatal("connected while refused")
	}
	eventually(t, "connections to be accepted again", func() bool {
		c, err := amqp.Dial(e.url)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func TestFaultWithholdAndDelayConfirms(t *testing.T) {
	e := newFaultEnv(t, 1)
	_, ch := e.open()
	q := e.queue(ch, "conf", nil)
	confirmChannel(t, ch)
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 10))
	id := e.enable(fault.Fault{Kind: fault.WithholdConfirms, Scope: fault.Scope{Queue: q}})
	publish(t, ch, "", q, text("held"))
	eventually(t, "the message to be stored", func() bool { return e.fake.QueueDepth("/", q) == 1 })
	quiet(t, confirms, 100*time.Millisecond, "withheld confirm")
	e.inj.Disable(id)
	if c := within(t, confirms, "released confirm"); !c.Ack || c.DeliveryTag != 1 {
		t.Fatalf("confirm %+v", c)
	}
	e.enable(fault.Fault{Kind: fault.DelayConfirms, Delay: 300 * time.Millisecond})
	start := time.Now()
	publish(t, ch, "", q, text("late"))
	if c := within(t, confirms, "delayed confirm"); !c.Ack || c.DeliveryTag != 2 {
		t.Fatalf("confirm %+v", c)
	}
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Fatalf("confirmed after %v, want at least 300ms", el)
	}
}

func TestFaultNackPublishesSkipLimit(t *testing.T) {
	e := newFaultEnv(t, 1)
	_, ch := e.open()
	q := e.queue(ch, "nack", nil)
	confirmChannel(t, ch)
	id := e.enable(fault.Fault{Kind: fault.NackPublishes, Skip: 1, Limit: 2})
	var acks []bool
	for i := range 5 {
		acks = append(acks, publishConfirmed(t, ch, "", q, false, text(fmt.Sprint(i))))
	}
	if !slices.Equal(acks, []bool{true, false, false, true, true}) {
		t.Fatalf("acks %v", acks)
	}
	if n := e.fake.QueueDepth("/", q); n != 3 {
		t.Fatalf("depth %d: nacked publishes must not be stored", n)
	}
	if n := e.inj.Fired(id); n != 2 {
		t.Fatalf("fired %d", n)
	}
}

func TestFaultPauseDeliveries(t *testing.T) {
	e := newFaultEnv(t, 1)
	_, ch := e.open()
	q := e.queue(ch, "pause", nil)
	id := e.enable(fault.Fault{Kind: fault.PauseDeliveries, Scope: fault.Scope{Queue: q}})
	ds := consume(t, ch, q, true)
	fill(t, e.env, q, 2)
	quiet(t, ds, 100*time.Millisecond, "paused delivery")
	getEmpty(t, ch, q)
	e.inj.Disable(id)
	recv(t, ds)
	recv(t, ds)
}

func TestFaultBlockPublishers(t *testing.T) {
	e := newFaultEnv(t, 1)
	c := e.named("publisher", 0)
	blocked := c.NotifyBlocked(make(chan amqp.Blocking, 2))
	ch := e.channel(c)
	q := e.queue(ch, "blk", nil)
	confirmChannel(t, ch)
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 1))
	id := e.enable(fault.Fault{Kind: fault.BlockPublishers, Scope: fault.Scope{Connection: "publisher"}})
	if b := within(t, blocked, "connection.blocked"); !b.Active || b.Reason != "fault injection" {
		t.Fatalf("blocking %+v", b)
	}
	if st := e.fake.Connections(); len(st) != 1 || !st[0].Blocked {
		t.Fatalf("stats %+v", st)
	}
	publish(t, ch, "", q, text("waits"))
	quiet(t, confirms, 100*time.Millisecond, "confirm while blocked")
	if n := e.fake.QueueDepth("/", q); n != 0 {
		t.Fatalf("a blocked publish was routed")
	}
	e.inj.Disable(id)
	if b := within(t, blocked, "connection.unblocked"); b.Active {
		t.Fatalf("blocking %+v", b)
	}
	if cf := within(t, confirms, "confirm after unblocking"); !cf.Ack {
		t.Fatal("nack")
	}
}

func TestFaultStopHeartbeats(t *testing.T) {
	e := newFaultEnv(t, 1)
	c := e.named("hb", time.Second)
	closes := c.NotifyClose(make(chan *amqp.Error, 1))
	// amqp091-go arms its read deadline only once it reads a frame after
	// the handshake, so let it read one first.
	e.channel(c)
	e.enable(fault.Fault{Kind: fault.StopHeartbeats, Scope: fault.Scope{Connection: "hb"}})
	select {
	case err := <-closes:
		if err == nil {
			t.Fatal("closed cleanly")
		}
		t.Logf("closed after the fault: %v", err)
		for _, ev := range e.fake.Events() {
			if ev.Type == broker.EventConnectionClosed {
				t.Logf("broker: %v", ev)
			}
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the client did not notice the missing heartbeats")
	}
}

func TestMutantLoseAcknowledged(t *testing.T) {
	e := newFaultEnv(t, 1)
	_, ch := e.open()
	q := e.queue(ch, "lose", nil)
	confirmChannel(t, ch)
	e.enable(fault.Fault{Kind: fault.LoseAcknowledged, Limit: 1})
	if !publishConfirmed(t, ch, "", q, false, text("lost")) {
		t.Fatal("the mutant must ack")
	}
	publishConfirmed(t, ch, "", q, false, text("kept"))
	if d := get(t, ch, q, true); string(d.Body) != "kept" {
		t.Fatalf("got %q", d.Body)
	}
	getEmpty(t, ch, q)
	if !hasEvent(e.fake, func(ev broker.Event) bool {
		return ev.Type == broker.EventDropped && ev.Reason == "mutant lose-acknowledged"
	}) {
		t.Fatal("no dropped event")
	}
}

func TestMutantDuplicateDelivery(t *testing.T) {
	e := newFaultEnv(t, 1)
	_, ch := e.open()
	q := e.queue(ch, "dup", nil)
	e.enable(fault.Fault{Kind: fault.DuplicateDelivery, Scope: fault.Scope{Queue: q}})
	ds := consume(t, ch, q, true)
	fill(t, e.env, q, 1)
	a, b := recv(t, ds), recv(t, ds)
	if string(a.Body) != "0" || string(b.Body) != "0" {
		t.Fatalf("got %q and %q", a.Body, b.Body)
	}
}

func TestMutantEarlyAck(t *testing.T) {
	e := newFaultEnv(t, 1)
	rc := dialRaw(t, e.addr)
	rc.handshake()
	rc.send(1, &amqp091.ConfirmSelect{})
	expect[*amqp091.ConfirmSelectOk](rc)
	e.enable(fault.Fault{Kind: fault.EarlyAck})
	rc.w.WriteContent(1, &amqp091.BasicPublish{RoutingKey: "unroutable", Mandatory: true}, nil, []byte("x"))
	rc.w.Flush()
	// The ack comes at once, and no return follows: the message was
	// confirmed before routing and then dropped.
	if ack := expect[*amqp091.BasicAck](rc); ack.DeliveryTag != 1 {
		t.Fatalf("ack %+v", ack)
	}
	rc.send(1, &amqp091.BasicQos{PrefetchCount: 1})
	expect[*amqp091.BasicQosOk](rc)
	if e.fake.Stats().Totals.Returned != 0 {
		t.Fatal("returned")
	}
}

func TestMutantIgnorePrefetch(t *testing.T) {
	e := newFaultEnv(t, 1)
	_, ch := e.open()
	q := e.queue(ch, "pf", nil)
	ch.Qos(1, 0, false)
	e.enable(fault.Fault{Kind: fault.IgnorePrefetch})
	ds := consume(t, ch, q, false)
	fill(t, e.env, q, 3)
	for range 3 {
		recv(t, ds) // none acknowledged
	}
}

// nackPattern publishes n messages under a 50% NackPublishes fault and
// returns which were nacked.
func nackPattern(t *testing.T, seed uint64, n int) []bool {
	e := newFaultEnv(t, seed)
	_, ch := e.open()
	q := e.queue(ch, "det", nil)
	confirmChannel(t, ch)
	e.enable(fault.Fault{Kind: fault.NackPublishes, Probability: 0.5})
	out := make([]bool, n)
	for i := range out {
		out[i] = !publishConfirmed(t, ch, "", q, false, text("x"))
	}
	return out
}

func TestFaultsAreDeterministicUnderASeed(t *testing.T) {
	a, b, c := nackPattern(t, 9, 40), nackPattern(t, 9, 40), nackPattern(t, 10, 40)
	if !slices.Equal(a, b) {
		t.Fatalf("same seed, different outcomes:\n%v\n%v", a, b)
	}
	if slices.Equal(a, c) {
		t.Fatal("different seeds, same 40 outcomes")
	}
}

// hasEvent reports whether the broker's log holds a matching event.
func hasEvent(b *broker.Broker, match func(broker.Event) bool) bool {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	_, err := b.SubscribeAll().WaitFor(ctx, match)
	return err == nil
}

// TestConfirmsAreBatched sends a burst of publishes in one write and
// expects one basic.ack with multiple set for all of them.
func TestConfirmsAreBatched(t *testing.T) {
	b := brokertest.New(t)
	rc := dialRaw(t, b.Addr())
	rc.handshake()
	rc.send(1, &amqp091.ConfirmSelect{})
	expect[*amqp091.ConfirmSelectOk](rc)
	rc.send(1, &amqp091.QueueDeclare{Queue: "burst"})
	expect[*amqp091.QueueDeclareOk](rc)
	for range 20 {
		rc.w.WriteContent(1, &amqp091.BasicPublish{RoutingKey: "burst"}, nil, []byte("x"))
	}
	rc.w.Flush()
	acked := uint64(0)
	acks := 0
	for acked < 20 {
		ack := expect[*amqp091.BasicAck](rc)
		if !ack.Multiple && ack.DeliveryTag != acked+1 {
			t.Fatalf("single ack %d after %d", ack.DeliveryTag, acked)
		}
		acked = ack.DeliveryTag
		acks++
	}
	if acks > 3 {
		t.Fatalf("20 publishes sent in one write took %d acks", acks)
	}
}

// TestFaultClosePublish checks the three faults that drop a publisher's
// connection around one publish: whether the message was stored and
// whether the publisher saw its confirm before the close.
func TestFaultClosePublish(t *testing.T) {
	cases := []struct {
		kind      fault.Kind
		stored    bool
		confirmed bool
		text      string
	}{
		{fault.CloseOnPublish, false, false, "CONNECTION_FORCED - closed on publish via fault injection"},
		{fault.CloseBeforeConfirm, true, false, "CONNECTION_FORCED - closed before confirming via fault injection"},
		{fault.CloseAfterConfirm, true, true, "CONNECTION_FORCED - closed after confirming via fault injection"},
	}
	for _, tc := range cases {
		t.Run(string(tc.kind), func(t *testing.T) {
			e := newFaultEnv(t, 1)
			bystander := e.named("other", 0)
			conn := e.named("pub", 0)
			ch := e.channel(conn)
			q := e.queue(ch, "cp", nil)
			confirmChannel(t, ch)
			confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 1))
			closes := conn.NotifyClose(make(chan *amqp.Error, 1))
			id := e.enable(fault.Fault{Kind: tc.kind, Scope: fault.Scope{Connection: "pub"}, Limit: 1})
			if err := ch.Publish("", q, false, false, text("x")); err != nil {
				t.Fatal(err)
			}
			wantError(t, closed(t, closes), amqp.ConnectionForced, tc.text)
			c, ok := <-confirms
			if got := ok && c.Ack; got != tc.confirmed {
				t.Errorf("publisher saw a confirm: %v, want %v", got, tc.confirmed)
			}
			want := 0
			if tc.stored {
				want = 1
			}
			if got := e.fake.QueueDepth("/", q); got != want {
				t.Errorf("queue holds %d messages, want %d", got, want)
			}
			if got := e.inj.Fired(id); got != 1 {
				t.Errorf("fault fired %d times, want 1", got)
			}
			if bystander.IsClosed() {
				t.Error("a connection outside the fault's scope was closed")
			}
		})
	}
}

// TestConnectionAttempts checks that refused logins count as attempts,
// by connection_name pattern.
func TestConnectionAttempts(t *testing.T) {
	e := newFaultEnv(t, 1)
	e.named("svc:1:a", 0)
	e.enable(fault.Fault{Kind: fault.RefuseConnections, Scope: fault.Scope{Connection: "svc:*"}})
	sub := e.fake.Subscribe()
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName("svc:1:b")
	if c, err := amqp.DialConfig(e.url, amqp.Config{Properties: props}); err == nil {
		c.Close()
		t.Fatal("a refused connection opened")
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := sub.WaitFor(ctx, func(ev broker.Event) bool {
		return ev.Type == broker.EventConnectionRefused && ev.Connection == "svc:1:b"
	}); err != nil {
		t.Fatalf("no refusal event: %v", err)
	}
	e.named("other", 0)
	for pattern, want := range map[string]int{"svc:*": 2, "svc:1:b": 1, "other": 1, "*": 3, "nobody": 0} {
		if got := e.fake.ConnectionAttempts(pattern); got != want {
			t.Errorf("ConnectionAttempts(%q) = %d, want %d", pattern, got, want)
		}
	}
}

// TestConnectionsServing checks that a force-closed connection counts as
// served until the client answered the close, and not after.
func TestConnectionsServing(t *testing.T) {
	e := newFaultEnv(t, 1)
	a := e.named("svc-a", 0)
	e.named("svc-b", 0)
	at := time.Now()
	if n := e.fake.ConnectionsServing("svc-*", at); n != 2 {
		t.Fatalf("ConnectionsServing = %d, want 2", n)
	}
	closes := a.NotifyClose(make(chan *amqp.Error, 1))
	e.enable(fault.Fault{Kind: fault.CloseConnections, Scope: fault.Scope{Connection: "svc-a"}})
	closed(t, closes)
	deadline := time.Now().Add(waitTimeout)
	for e.fake.ConnectionsServing("svc-a", at) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the closed connection is still served")
		}
		time.Sleep(time.Millisecond)
	}
	if n := e.fake.ConnectionsServing("svc-*", at); n != 1 {
		t.Fatalf("ConnectionsServing = %d, want 1", n)
	}
	if n := e.fake.ConnectionsServing("svc-*", at.Add(-time.Hour)); n != 0 {
		t.Fatalf("ConnectionsServing before the connections opened = %d, want 0", n)
	}
}

func TestMutantReorder(t *testing.T) {
	e := newFaultEnv(t, 1)
	_, ch := e.open()
	q := e.queue(ch, "ro", nil)
	id := e.enable(fault.Fault{Kind: fault.Reorder})
	ds := consume(t, ch, q, true)
	for _, s := range []string{"1", "2", "3"} {
		if err := ch.Publish("", q, false, false, text(s)); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for range 2 {
		got = append(got, string(recv(t, ds).Body))
	}
	quiet(t, ds, 50*time.Millisecond, "the held-back third message")
	e.inj.Disable(id)
	got = append(got, string(recv(t, ds).Body))
	if want := []string{"2", "1", "3"}; !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
}
