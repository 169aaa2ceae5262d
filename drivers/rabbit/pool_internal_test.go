package rabbit

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/internal/realbroker"
)

// TestPoolLimits drives the send pool against real connections: pool_timeout
// on exhaustion, overflow closed on release, recycled and stale connections
// closed on get.
func TestPoolLimits(t *testing.T) {
	u, err := drivers.ParseURL(realbroker.RabbitURL(t))
	if err != nil {
		t.Fatal(err)
	}
	d, err := OpenPika(context.Background(), u, nil)
	if err != nil {
		t.Fatal(err)
	}
	drv := d.(*Driver)
	defer drv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	mk := func(lim poolLimits) *sendPool { return newSendPool(lim, drv.dialPublisher) }

	t.Run("exhausted without overflow", func(t *testing.T) {
		sp := mk(poolLimits{maxIdle: 1, maxTotal: 1, wait: 200 * time.Millisecond})
		defer sp.close()
		p, err := sp.get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := sp.get(ctx); !errors.Is(err, errPoolTimeout) || time.Since(start) < 200*time.Millisecond || time.Since(start) > time.Second {
			t.Fatalf("second get: %v after %v", err, time.Since(start))
		}
		// A release wakes a waiter at once.
		done := make(chan error, 1)
		go func() {
			q, err := sp.get(ctx)
			if err == nil {
				sp.put(q)
			}
			done <- err
		}()
		sp.put(p)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("overflow", func(t *testing.T) {
		sp := mk(poolLimits{maxIdle: 1, maxTotal: 2, wait: 200 * time.Millisecond})
		defer sp.close()
		a, err1 := sp.get(ctx)
		b, err2 := sp.get(ctx)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if _, err := sp.get(ctx); !errors.Is(err, errPoolTimeout) {
			t.Fatalf("third get: %v", err)
		}
		sp.put(a)
		sp.put(b)
		ev, total, idle := sp.stats()
		if ev.overflowClosed != 1 || total != 1 || idle != 1 || !b.conn.IsClosed() {
			t.Fatalf("after release: %+v total %d idle %d", ev, total, idle)
		}
	})
	t.Run("recycle and stale", func(t *testing.T) {
		for _, lim := range []poolLimits{
			{maxIdle: 1, maxTotal: 1, recycle: 100 * time.Millisecond},
			{maxIdle: 1, maxTotal: 1, stale: 100 * time.Millisecond},
		} {
			sp := mk(lim)
			p, err := sp.get(ctx)
			if err != nil {
				t.Fatal(err)
			}
			sp.put(p)
			deadline := time.Now().Add(2 * time.Second)
			for time.Since(p.created) <= 100*time.Millisecond || time.Since(p.lastUsed) <= 100*time.Millisecond {
				if time.Now().After(deadline) {
					t.Fatal("clock did not advance")
				}
				time.Sleep(10 * time.Millisecond) // waiting for age, not for another goroutine
			}
			q, err := sp.get(ctx)
			if err != nil {
				t.Fatal(err)
			}
			ev, _, _ := sp.stats()
			if q == p || !p.conn.IsClosed() || ev.dialed != 2 || ev.recycled+ev.staled != 1 {
				t.Fatalf("limits %+v: %+v", lim, ev)
			}
			sp.put(q)
			sp.close()
		}
	})
}
