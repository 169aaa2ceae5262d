package router_test

import (
	"testing"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/switchyard-dev/switchyard/fake/fault"
)

// TestMeshPartition: while router-0 is cut off from router-1, a message
// sent at router-0 for an address consumed only on router-1 is released;
// once the partition heals it goes through again.
func TestMeshPartition(t *testing.T) {
	rs := meshOf(t, 2)
	a, b := rs[0], rs[1]
	ctx := ctxT(t)
	addr := "openstack.org/om/rpc/unicast/openstack/part"
	rcv := dial(t, b, nil).receiver(t, addr, &amqp.ReceiverOptions{Credit: 10})
	waitConsumers(t, a, addr, 1)
	snd := dial(t, a, nil).sender(t, addr, nil)
	pass := func(body string) {
		t.Helper()
		res := sendAsync(ctx, snd, amqp.NewMessage([]byte(body)))
		m := receive(t, rcv)
		if string(m.GetData()) != body {
			t.Fatalf("consumer got %q, want %q", m.GetData(), body)
		}
		rcv.AcceptMessage(ctx, m)
		if st := <-res; !isAccepted(st) {
			t.Fatalf("send of %q: %v", body, st)
		}
	}
	// A partition from some other router leaves this link alone.
	a.Faults().MustEnable(fault.Fault{Kind: fault.Partition, Scope: fault.Scope{Connection: "router-9"}})
	pass("before")

	id := a.Faults().MustEnable(fault.Fault{Kind: fault.Partition, Scope: fault.Scope{Connection: "router-1"}})
	before := b.Totals().Received
	// The sender still holds credit from before the partition (credit is
	// never taken back), so the message reaches router-0 and is released.
	st := <-sendAsync(ctx, snd, amqp.NewMessage([]byte("during")))
	if _, ok := st.(*amqp.StateReleased); !ok {
		t.Fatalf("send during the partition: %v, want released", st)
	}
	if got := b.Totals().Received; got != before {
		t.Fatalf("router-1 received %d messages during the partition", got-before)
	}
	// A sender attaching during the partition gets no credit: router-0
	// counts no consumer of the address. Its send waits for the heal.
	late := dial(t, a, nil).sender(t, addr, nil)
	res := sendAsync(ctx, late, amqp.NewMessage([]byte("late")))
	stillPending(t, res, 200*time.Millisecond)
	if got := b.Totals().Received; got != before {
		t.Fatalf("router-1 received %d messages during the partition", got-before)
	}

	a.Faults().Disable(id)
	m := receive(t, rcv)
	if string(m.GetData()) != "late" {
		t.Fatalf("consumer got %q, want the send that waited", m.GetData())
	}
	rcv.AcceptMessage(ctx, m)
	if st := <-res; !isAccepted(st) {
		t.Fatalf("late sender: %v", st)
	}
	pass("after")
}
