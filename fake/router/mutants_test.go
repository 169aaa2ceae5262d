package router_test

import (
	"testing"

	"github.com/Azure/go-amqp"

	"github.com/switchyard-dev/switchyard/fake/fault"
	"github.com/switchyard-dev/switchyard/fake/routertest"
)

func isAccepted(v any) bool { _, ok := v.(*amqp.StateAccepted); return ok }

// TestMutantLoseAcknowledged: the sender hears accepted, yet the consumer
// that was waiting with credit never gets the message.
func TestMutantLoseAcknowledged(t *testing.T) {
	r := routertest.New(t)
	logEventsOnFailure(t, r)
	c := dial(t, r, nil)
	rcv := c.receiver(t, "lost", &amqp.ReceiverOptions{Credit: 10})
	waitCredit(t, r, "lost")
	snd := c.sender(t, "lost", nil)
	id := r.Faults().MustEnable(fault.Fault{Kind: fault.LoseAcknowledged, Scope: fault.Scope{Queue: "lost"}})
	if st := <-sendAsync(ctxT(t), snd, amqp.NewMessage([]byte("gone"))); !isAccepted(st) {
		t.Fatalf("sender saw %v, want accepted", st)
	}
	r.Faults().Disable(id)
	res := sendAsync(ctxT(t), snd, amqp.NewMessage([]byte("kept")))
	m := receive(t, rcv)
	if string(m.GetData()) != "kept" {
		t.Fatalf("consumer got %q first, want the message after the lost one", m.GetData())
	}
	rcv.AcceptMessage(ctxT(t), m)
	if st := <-res; !isAccepted(st) {
		t.Fatalf("second send: %v", st)
	}
	if tot := r.Totals(); tot.Received != 2 || tot.Forwarded != 1 || tot.Dropped != 1 {
		t.Fatalf("totals %+v", tot)
	}
}

// TestMutantDuplicateDelivery: one send, two copies at the consumer; the
// sender's delivery settles once, after both copies did.
func TestMutantDuplicateDelivery(t *testing.T) {
	r := routertest.New(t)
	logEventsOnFailure(t, r)
	c := dial(t, r, nil)
	rcv := c.receiver(t, "twice", &amqp.ReceiverOptions{Credit: 10})
	waitCredit(t, r, "twice")
	snd := c.sender(t, "twice", nil)
	id := r.Faults().MustEnable(fault.Fault{Kind: fault.DuplicateDelivery, Scope: fault.Scope{Queue: "twice"}})
	res := sendAsync(ctxT(t), snd, amqp.NewMessage([]byte("dup")))
	first, second := receive(t, rcv), receive(t, rcv)
	if string(first.GetData()) != "dup" || string(second.GetData()) != "dup" {
		t.Fatalf("consumer got %q and %q", first.GetData(), second.GetData())
	}
	rcv.AcceptMessage(ctxT(t), first)
	rcv.AcceptMessage(ctxT(t), second)
	if st := <-res; !isAccepted(st) {
		t.Fatalf("sender saw %v", st)
	}
	r.Faults().Disable(id)
	res = sendAsync(ctxT(t), snd, amqp.NewMessage([]byte("once")))
	m := receive(t, rcv)
	if string(m.GetData()) != "once" {
		t.Fatalf("got %q, want the next message", m.GetData())
	}
	rcv.AcceptMessage(ctxT(t), m)
	if st := <-res; !isAccepted(st) {
		t.Fatalf("sender saw %v", st)
	}
	if tot := r.Totals(); tot.Received != 2 || tot.Forwarded != 3 || tot.Accepted != 2 {
		t.Fatalf("totals %+v", tot)
	}
}
