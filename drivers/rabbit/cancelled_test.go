package rabbit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/fake/brokertest"
)

// TestAlreadyCancelledContextDoesNothing: with a context that has already
// ended, every blocking operation fails with its error and the broker sees
// nothing of it: no publish, not even a connection attempt (C34). Connections are
// warmed first, so that nothing fails only for want of one; each operation
// is tried many times, as a race between the context and a ready
// connection would not show on every try.
func TestAlreadyCancelledContextDoesNothing(t *testing.T) {
	for _, scheme := range []string{"rabbit", "pika"} {
		t.Run(scheme, func(t *testing.T) {
			b := brokertest.New(t)
			u, err := drivers.ParseURL(b.URL())
			if err != nil {
				t.Fatal(err)
			}
			u.Scheme = scheme
			d := open(t, u.Secret(), nil)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			target := drivers.Target{Topic: "warm"}
			l, err := d.Listen(ctx, target, drivers.Batch{Size: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Cleanup()
			wg := serve(ctx, t, l, nil)
			defer func() { cancel(); l.Stop(); wg.Wait() }()
			msg := drivers.Message{"method": "echo", "args": map[string]any{}}
			if _, err := d.Send(ctx, target, nil, msg, drivers.SendOptions{WaitForReply: true}); err != nil {
				t.Fatal(err)
			}
			if err := d.SendNotification(ctx, drivers.Target{Topic: "audit"}, nil, msg, "2.0", 1); err != nil { // pika: one retry after declaring the queue
				t.Fatal(err)
			}
			published, attempts := b.Stats().Totals.Published, b.ConnectionAttempts("*")

			done, stop := context.WithCancel(context.Background())
			stop()
			ops := map[string]func() error{
				"cast": func() error { _, err := d.Send(done, target, nil, msg, drivers.SendOptions{}); return err },
				"call": func() error {
					_, err := d.Send(done, target, nil, msg, drivers.SendOptions{WaitForReply: true})
					return err
				},
				"notify": func() error { return d.SendNotification(done, drivers.Target{Topic: "audit"}, nil, msg, "2.0", 0) },
				"listen": func() error {
					l, err := d.Listen(done, drivers.Target{Topic: "other"}, drivers.Batch{Size: 1})
					if err == nil {
						l.Cleanup()
					}
					return err
				},
				"listen for notifications": func() error {
					l, err := d.ListenForNotifications(done, []drivers.TargetPriority{{Target: drivers.Target{Topic: "audit"}, Priority: "info"}}, "", drivers.Batch{Size: 1})
					if err == nil {
						l.Cleanup()
					}
					return err
				},
			}
			for name, op := range ops {
				for range 50 {
					if err := op(); !errors.Is(err, context.Canceled) {
						t.Fatalf("%s: %v, want context.Canceled", name, err)
					}
				}
			}
			if got := b.Stats().Totals.Published; got != published {
				t.Errorf("the broker received %d publishes from operations whose context had ended", got-published)
			}
			if got := b.ConnectionAttempts("*"); got != attempts {
				t.Errorf("operations whose context had ended opened %d connections", got-attempts)
			}
		})
	}
}
