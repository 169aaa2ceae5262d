package rabbit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/rabbit"
	"github.com/switchyard-dev/switchyard/fake/brokertest"
	"github.com/switchyard-dev/switchyard/fake/fault"
)

// TestPublishAroundConnectionDrop drops the send connection at each point
// of a publish (fake broker faults) and checks what the send reports: an
// ambiguous delivery failure, never resent, while the outcome is unknown;
// success once the broker confirmed, even if the connection dropped right
// after; and the next send works either way.
func TestPublishAroundConnectionDrop(t *testing.T) {
	cases := []struct {
		kind      fault.Kind
		ambiguous bool // the send reports an unknown outcome
		stored    int  // messages the two sends after the first leave in the queue
	}{
		{fault.CloseOnPublish, true, 1},     // only the last send
		{fault.CloseBeforeConfirm, true, 2}, // stored but unconfirmed, then the last
		{fault.CloseAfterConfirm, false, 2}, // confirmed, then the last
	}
	for _, tc := range cases {
		t.Run(string(tc.kind), func(t *testing.T) {
			b := brokertest.New(t)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			d, err := drivers.Open(ctx, b.URL(), fastConfig())
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			target := drivers.Target{Topic: "drops.info"}
			send := func() error {
				return d.SendNotification(ctx, target, nil, drivers.Message{"event_type": "x"}, "2.0", 3)
			}
			// The first send declares the queue and opens the connection.
			if err := send(); err != nil {
				t.Fatal(err)
			}
			if n := b.QueueDepth("/", "drops.info"); n != 1 {
				t.Fatalf("queue holds %d messages after the first send, want 1", n)
			}
			conns := d.(*rabbit.Driver).ConnectionName() + ":*"
			id := b.Faults().MustEnable(fault.Fault{Kind: tc.kind, Limit: 1, Scope: fault.Scope{Connection: conns}})
			at := time.Now()
			err = send()
			var de *drivers.DeliveryError
			switch {
			case tc.ambiguous && !(errors.As(err, &de) && de.Ambiguous):
				t.Fatalf("send = %v, want an ambiguous delivery failure", err)
			case !tc.ambiguous && err != nil:
				t.Fatalf("send = %v, want success: the broker confirmed it", err)
			}
			if got := b.Faults().Fired(id); got != 1 {
				t.Fatalf("the fault acted %d times, want 1", got)
			}
			// The drop may still be under way when a confirmed send
			// returns; a send on the dying connection would rightly be
			// an unknown outcome. Wait until the driver has answered the
			// close.
			for deadline := time.Now().Add(5 * time.Second); b.ConnectionsServing(conns, at) > 0; {
				if time.Now().After(deadline) {
					t.Fatal("the dropped connection is still served")
				}
				time.Sleep(time.Millisecond) // polling the broker with a deadline
			}
			if err := send(); err != nil {
				t.Fatalf("the send after the drop failed: %v", err)
			}
			if got := b.QueueDepth("/", "drops.info") - 1; got != tc.stored {
				t.Errorf("queue holds %d messages, want %d (a resend would make more)", got, tc.stored)
			}
		})
	}
}
