package rabbit_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/internal/realbroker"
)

// newRabbitPoolEnv is a rabbit:// driver on a fake broker with a send pool
// of poolSize connections and an RPC server on the env's target.
func newRabbitPoolEnv(t *testing.T, poolSize int) *poolEnv {
	t.Helper()
	cfg := fastConfig()
	cfg.Rabbit.RPCConnPoolSize = poolSize
	return newPoolEnvScheme(t, "rabbit", cfg)
}

// TestRabbitSendsShareConnections: a rabbit send gives its connection back
// to the pool once its message is written, so with confirms held back 40
// sends are all written through a pool of 4 connections, and all succeed
// once the confirms come.
func TestRabbitSendsShareConnections(t *testing.T) {
	e := newRabbitPoolEnv(t, 4)
	if err := e.cast(); err != nil {
		t.Fatal(err)
	}
	release := e.withhold()
	const n = 40
	results := make([]<-chan error, n)
	for i := range results {
		results[i] = e.castAsync()
	}
	e.waitFor("40 more publishes while no confirm comes", func() bool { return e.published() >= n+1 })
	if open := e.open(); open > 4 {
		t.Fatalf("%d pool connections open, the pool allows 4", open)
	}
	release()
	for _, c := range results {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
	}
}

// TestConcurrentMandatorySends: mandatory sends in flight together on
// shared connections each get their own answer: delivered to a bound queue,
// or ErrUndeliverable where no queue is bound (the broker's basic.return is
// matched to the send it belongs to).
func TestConcurrentMandatorySends(t *testing.T) {
	t.Run("fake broker, confirms held back", func(t *testing.T) {
		e := newRabbitPoolEnv(t, 2)
		release := e.withhold()
		results := mandatoryMix(e.ctx, e.d, e.target, 48)
		e.waitFor("48 publishes while no confirm comes", func() bool { return e.published() >= 48 })
		release()
		checkMandatoryMix(t, results)
	})
	t.Run("RabbitMQ", func(t *testing.T) {
		d := open(t, realbroker.RabbitURL(t), nil)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		target := drivers.Target{Topic: unique("sy_mandatory")}
		l, err := d.Listen(ctx, target, drivers.Batch{Size: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Cleanup()
		checkMandatoryMix(t, mandatoryMix(ctx, d, target, 48))
	})
}

// mandatoryResult is one send of mandatoryMix: whether it went to the
// bound target, and where its error arrives.
type mandatoryResult struct {
	bound bool
	err   <-chan error
}

// mandatoryMix starts n mandatory casts at once, every other one to a
// topic that no queue is bound to.
func mandatoryMix(ctx context.Context, d drivers.Driver, bound drivers.Target, n int) []mandatoryResult {
	out := make([]mandatoryResult, n)
	for i := range out {
		target := bound
		if i%2 == 1 {
			target = drivers.Target{Topic: bound.Topic + "_unbound"}
		}
		c := make(chan error, 1)
		out[i] = mandatoryResult{bound: i%2 == 0, err: c}
		go func() {
			_, err := d.Send(ctx, target, nil, drivers.Message{"method": "m", "args": map[string]any{"i": i}},
				drivers.SendOptions{Mandatory: true, Retry: 0})
			c <- err
		}()
	}
	return out
}

func checkMandatoryMix(t *testing.T, results []mandatoryResult) {
	t.Helper()
	for i, r := range results {
		err := <-r.err
		switch {
		case r.bound && err != nil:
			t.Errorf("send %d to the bound topic: %v", i, err)
		case !r.bound && !errors.Is(err, drivers.ErrUndeliverable):
			t.Errorf("send %d to the unbound topic: %v, want ErrUndeliverable", i, err)
		}
	}
}

// TestAbandonedMandatorySendsLeaveTheConnectionWorking: more mandatory
// sends than one connection may have waiting (64) are abandoned while their
// confirms are held back and their returns pile up; once the confirms
// come, the same connections carry new sends. (A returns channel that
// filled up would stop amqp091-go's reader, and with it the connection.)
func TestAbandonedMandatorySendsLeaveTheConnectionWorking(t *testing.T) {
	e := newRabbitPoolEnv(t, 1)
	if err := e.cast(); err != nil {
		t.Fatal(err)
	}
	release := e.withhold()
	short, cancel := context.WithTimeout(e.ctx, 300*time.Millisecond)
	defer cancel()
	const n = 100
	results := mandatoryMix(short, e.d, drivers.Target{Topic: "nowhere"}, n)
	for i, r := range results {
		if err := <-r.err; err == nil {
			t.Fatalf("send %d succeeded with its confirm held back", i)
		}
	}
	release()
	for i := range 3 {
		ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
		_, err := e.d.Send(ctx, e.target, nil, drivers.Message{"method": fmt.Sprint("after", i)}, drivers.SendOptions{Mandatory: true})
		cancel()
		if err != nil {
			t.Fatalf("send after the abandoned ones: %v", err)
		}
	}
	if got := e.b.ConnectionAttempts(e.send); got != 1 {
		t.Errorf("the pool opened %d connections, want 1", got)
	}
}

// TestReturnGoesToItsOwnSend: two mandatory sends to one address wait for
// their confirms together, the first delivered and the second returned
// because the queue went in between: the return is the second's, told
// apart by its body.
func TestReturnGoesToItsOwnSend(t *testing.T) {
	e := newRabbitPoolEnv(t, 1)
	ch := raw(t, e.b.URL())
	if err := ch.ExchangeDeclare("openstack", "topic", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare("going", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind("going", "going", "openstack", false, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.cast(); err != nil { // the pool's connection, before confirms are held
		t.Fatal(err)
	}
	release := e.withhold()
	send := func(i int) <-chan error {
		c := make(chan error, 1)
		go func() {
			_, err := e.d.Send(e.ctx, drivers.Target{Topic: "going"}, nil, drivers.Message{"method": "m", "args": map[string]any{"i": i}},
				drivers.SendOptions{Mandatory: true, Retry: 0})
			c <- err
		}()
		return c
	}
	first := send(1)
	e.waitFor("the first send's publish", func() bool { return e.published() == 2 })
	if _, err := ch.QueueDelete("going", false, false, false); err != nil {
		t.Fatal(err)
	}
	second := send(2)
	e.waitFor("the second send's publish", func() bool { return e.published() == 3 })
	release()
	if err := <-first; err != nil {
		t.Errorf("the first send, delivered: %v", err)
	}
	if err := <-second; !errors.Is(err, drivers.ErrUndeliverable) {
		t.Errorf("the second send, returned: %v, want ErrUndeliverable", err)
	}
}
