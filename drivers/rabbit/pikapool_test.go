package rabbit_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/rabbit"
	"github.com/switchyard-dev/switchyard/fake/broker"
	"github.com/switchyard-dev/switchyard/fake/brokertest"
	"github.com/switchyard-dev/switchyard/fake/fault"
)

// poolEnv is a pika driver on a fake broker, whose send pool the tests
// watch through the broker: its connections named "<driver>:send".
type poolEnv struct {
	t      *testing.T
	ctx    context.Context
	b      *broker.Broker
	d      drivers.Driver
	send   string // connection_name of the pool's connections
	target drivers.Target
}

func newPoolEnv(t *testing.T, pool func(*drivers.PikaOptions)) *poolEnv {
	t.Helper()
	cfg, _ := drivers.DefaultConfig().Expand()
	cfg.Pika.PoolRecycle, cfg.Pika.PoolStale = 0, 0
	pool(&cfg.Pika)
	return newPoolEnvScheme(t, "pika", cfg)
}

// newPoolEnvScheme is a driver of the scheme with cfg on a fake broker,
// with an RPC server on the env's target.
func newPoolEnvScheme(t *testing.T, scheme string, cfg *drivers.Config) *poolEnv {
	t.Helper()
	b := brokertest.New(t)
	u, err := drivers.ParseURL(b.URL())
	if err != nil {
		t.Fatal(err)
	}
	u.Scheme = scheme
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	d := open(t, u.Secret(), cfg)
	e := &poolEnv{t: t, ctx: ctx, b: b, d: d, send: d.(*rabbit.Driver).ConnectionName() + ":send",
		target: drivers.Target{Topic: "pool"}}
	// Pika casts are mandatory: a queue must exist.
	l, err := d.Listen(ctx, e.target, drivers.Batch{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Cleanup)
	return e
}

func (e *poolEnv) cast() error {
	_, err := e.d.Send(e.ctx, e.target, nil, drivers.Message{"method": "m"}, drivers.SendOptions{Retry: 0})
	return err
}

// open counts the pool's connections the broker has open now.
func (e *poolEnv) open() int {
	n := 0
	for _, c := range e.b.Connections() {
		if c.Name == e.send {
			n++
		}
	}
	return n
}

// published counts the publishes the broker received on the pool's
// connections now open.
func (e *poolEnv) published() uint64 {
	var n uint64
	for _, c := range e.b.Connections() {
		if c.Name == e.send {
			n += c.Published
		}
	}
	return n
}

// waitFor polls the broker until cond holds, failing after a deadline.
func (e *poolEnv) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("the broker never saw %s (pool connections open: %d)", what, e.open())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// withhold holds back the broker's confirms to the pool's connections, so
// sends stay in progress, until the returned function releases them.
func (e *poolEnv) withhold() (release func()) {
	id := e.b.Faults().MustEnable(fault.Fault{Kind: fault.WithholdConfirms, Scope: fault.Scope{Connection: e.send}})
	return func() { e.b.Faults().Disable(id) }
}

// castAsync starts a cast and returns where its error arrives.
func (e *poolEnv) castAsync() <-chan error {
	c := make(chan error, 1)
	go func() { c <- e.cast() }()
	return c
}

func wantPoolTimeout(t *testing.T, err error) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), "pool_timeout") {
		t.Fatalf("send = %v, want a failure naming pool_timeout", err)
	}
}

// TestPikaPoolExhaustion: pool_max_size 1 and pool_max_overflow 1 allow two
// sends in progress on two connections; a third waits pool_timeout and
// fails; once they finish, the overflow connection is closed.
func TestPikaPoolExhaustion(t *testing.T) {
	e := newPoolEnv(t, func(o *drivers.PikaOptions) {
		o.PoolMaxSize, o.PoolMaxOverflow, o.PoolTimeout = 1, 1, 300*time.Millisecond
	})
	if err := e.cast(); err != nil {
		t.Fatal(err)
	}
	release := e.withhold()
	first, second := e.castAsync(), e.castAsync()
	e.waitFor("two pool connections", func() bool { return e.open() == 2 })
	start := time.Now()
	wantPoolTimeout(t, e.cast())
	if took := time.Since(start); took < 250*time.Millisecond {
		t.Errorf("the third send failed after %v, before pool_timeout", took)
	}
	if n := e.open(); n != 2 {
		t.Fatalf("%d pool connections open, want 2 (size 1 + overflow 1)", n)
	}
	release()
	for _, c := range []<-chan error{first, second} {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
	}
	e.waitFor("the overflow connection closed", func() bool { return e.open() == 1 })
}

// TestPikaPoolWithoutOverflow: with pool_max_overflow 0 a second send waits
// for the one connection, never opening another.
func TestPikaPoolWithoutOverflow(t *testing.T) {
	e := newPoolEnv(t, func(o *drivers.PikaOptions) {
		o.PoolMaxSize, o.PoolMaxOverflow, o.PoolTimeout = 1, 0, 300*time.Millisecond
	})
	if err := e.cast(); err != nil {
		t.Fatal(err)
	}
	release := e.withhold()
	first := e.castAsync()
	e.waitFor("the first send's publish", func() bool { return e.published() == 2 })
	wantPoolTimeout(t, e.cast())
	if n := e.open(); n != 1 {
		t.Fatalf("%d pool connections open, want 1", n)
	}
	release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	// Released, the connection serves the next send at once.
	if err := e.cast(); err != nil {
		t.Fatal(err)
	}
	if got := e.b.ConnectionAttempts(e.send); got != 1 {
		t.Errorf("the pool opened %d connections, want 1", got)
	}
}

// TestPikaPoolRecycle: a connection older than pool_recycle is closed when
// next taken from the pool, and a new one opened.
func TestPikaPoolRecycle(t *testing.T) {
	e := newPoolEnv(t, func(o *drivers.PikaOptions) {
		o.PoolMaxSize, o.PoolRecycle = 1, 300*time.Millisecond
	})
	// Keep sending: the connection is never idle, yet it ages.
	e.waitFor("the pool connection recycled", func() bool {
		if err := e.cast(); err != nil {
			t.Fatal(err)
		}
		return e.b.ConnectionAttempts(e.send) >= 2
	})
	e.waitFor("the old connection closed", func() bool { return e.open() == 1 })
}

// TestPikaPoolStale: a connection idle for longer than pool_stale is closed
// when next taken, while one in steady use is kept.
func TestPikaPoolStale(t *testing.T) {
	e := newPoolEnv(t, func(o *drivers.PikaOptions) {
		o.PoolMaxSize, o.PoolStale = 1, time.Second
	})
	// In use every 100 ms for 1.5 s: never idle for pool_stale.
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); {
		if err := e.cast(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // the send rate under test
	}
	if got := e.b.ConnectionAttempts(e.send); got != 1 {
		t.Fatalf("a connection in steady use was replaced: %d opened", got)
	}
	time.Sleep(1200 * time.Millisecond) // an idle spell longer than pool_stale
	if err := e.cast(); err != nil {
		t.Fatal(err)
	}
	if got := e.b.ConnectionAttempts(e.send); got != 2 {
		t.Fatalf("%d pool connections opened, want the stale one replaced (2)", got)
	}
	e.waitFor("the stale connection closed", func() bool { return e.open() == 1 })
}
