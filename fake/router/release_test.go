package router_test

import (
	"testing"

	"github.com/Azure/go-amqp"

	"github.com/switchyard-dev/switchyard/fake/fault"
	"github.com/switchyard-dev/switchyard/fake/routertest"
)

// TestFaultReleaseAndModify: with the release-deliveries or
// modify-deliveries fault on, a sender's delivery comes back released or
// modified (delivery-failed) although a consumer with credit waits, and the
// consumer gets nothing; with the fault off the next message goes through.
func TestFaultReleaseAndModify(t *testing.T) {
	for _, tc := range []struct {
		kind fault.Kind
		want func(any) bool
	}{
		{fault.ReleaseDeliveries, func(s any) bool { _, ok := s.(*amqp.StateReleased); return ok }},
		{fault.ModifyDeliveries, func(s any) bool { m, ok := s.(*amqp.StateModified); return ok && m.DeliveryFailed }},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			r := routertest.New(t)
			c := dial(t, r, nil)
			rcv := c.receiver(t, "faulty", nil)
			snd := c.sender(t, "faulty", nil)
			waitCredit(t, r, "faulty")
			id := r.Faults().MustEnable(fault.Fault{Kind: tc.kind, Scope: fault.Scope{Queue: "faulty"}})
			if st := <-sendAsync(ctxT(t), snd, amqp.NewMessage([]byte("first"))); !tc.want(st) {
				t.Fatalf("outcome %#v under %s", st, tc.kind)
			}
			r.Faults().Disable(id)
			res := sendAsync(ctxT(t), snd, amqp.NewMessage([]byte("second")))
			m := receive(t, rcv)
			if got := string(m.GetData()); got != "second" {
				t.Fatalf("the consumer got %q, want only the message sent after the fault", got)
			}
			if err := rcv.AcceptMessage(ctxT(t), m); err != nil {
				t.Fatal(err)
			}
			if st, ok := (<-res).(*amqp.StateAccepted); !ok {
				t.Fatalf("after the fault: %#v", st)
			}
			if n := r.Faults().Fired(id); n != 1 {
				t.Errorf("the fault acted %d times, want 1", n)
			}
		})
	}
}
