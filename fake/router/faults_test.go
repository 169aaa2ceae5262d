package router_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/switchyard-dev/switchyard/fake/fault"
	"github.com/switchyard-dev/switchyard/fake/router"
	"github.com/switchyard-dev/switchyard/fake/routertest"
)

// roundTrip checks that c can still send itself a message on addr.
func roundTrip(t *testing.T, c *client, addr string) {
	t.Helper()
	rcv := c.receiver(t, addr, nil)
	snd := c.sender(t, addr, nil)
	res := sendAsync(ctxT(t), snd, amqp.NewMessage([]byte("rt")))
	m := receive(t, rcv)
	rcv.AcceptMessage(ctxT(t), m)
	if _, ok := (<-res).(*amqp.StateAccepted); !ok {
		t.Fatalf("round trip on %s failed", addr)
	}
}

func TestFaultCloseConnections(t *testing.T) {
	r := routertest.New(t)
	victim := dial(t, r, &amqp.ConnOptions{ContainerID: "victim"})
	other := dial(t, r, &amqp.ConnOptions{ContainerID: "other"})
	rcv := victim.receiver(t, "x", nil)
	r.Faults().MustEnable(fault.Fault{Kind: fault.CloseConnections, Scope: fault.Scope{Connection: "vic*"}})
	_, err := rcv.Receive(ctxT(t), nil)
	var ce *amqp.ConnError
	if !errors.As(err, &ce) || ce.RemoteErr == nil || ce.RemoteErr.Condition != amqp.ErrCondConnectionForced {
		t.Fatalf("victim got %v, want connection:forced", err)
	}
	roundTrip(t, other, "y")
}

func TestFaultRefuseConnections(t *testing.T) {
	r := routertest.New(t)
	id := r.Faults().MustEnable(fault.Fault{Kind: fault.RefuseConnections})
	ctx := ctxT(t)
	conn, err := amqp.Dial(ctx, r.URL(), nil)
	if err == nil {
		// go-amqp may finish Dial before it reads the close.
		_, err = conn.NewSession(ctx, nil)
		conn.Close()
	}
	if err == nil {
		t.Fatal("refused connection worked")
	}
	r.Faults().Disable(id)
	roundTrip(t, dial(t, r, nil), "z")
	refused := 0
	for _, e := range r.Events() {
		if e.Type == router.EventConnectionRefused {
			refused++
		}
	}
	if refused != 1 {
		t.Fatalf("%d refusals logged", refused)
	}
}

func TestFaultDetachLinks(t *testing.T) {
	r := routertest.New(t)
	c := dial(t, r, nil)
	doomed := c.receiver(t, "doomed", nil)
	r.Faults().MustEnable(fault.Fault{Kind: fault.DetachLinks, Scope: fault.Scope{Queue: "doomed"}})
	_, err := doomed.Receive(ctxT(t), nil)
	var le *amqp.LinkError
	if !errors.As(err, &le) || le.RemoteErr == nil || le.RemoteErr.Condition != amqp.ErrCondDetachForced {
		t.Fatalf("got %v, want link:detach-forced", err)
	}
	// Only the matching link went; the connection and session serve on.
	roundTrip(t, c, "fine")
	if st := r.Stats(); len(st.Connections) != 1 {
		t.Fatalf("connections %+v", st.Connections)
	}
}

func TestFaultWithholdCredit(t *testing.T) {
	r := routertest.New(t)
	c := dial(t, r, nil)
	rcv := c.receiver(t, "w", nil)
	id := r.Faults().MustEnable(fault.Fault{Kind: fault.WithholdCredit, Scope: fault.Scope{Queue: "w"}})
	snd := c.sender(t, "w", nil)
	short, cancel := context.WithTimeout(ctxT(t), 200*time.Millisecond)
	err := snd.Send(short, amqp.NewMessage([]byte("held")), nil)
	cancel()
	if err == nil || r.Totals().Received != 0 {
		t.Fatalf("send under withheld credit: %v", err)
	}
	r.Faults().Disable(id)
	res := sendAsync(ctxT(t), snd, amqp.NewMessage([]byte("go")))
	m := receive(t, rcv)
	for string(m.GetData()) != "go" { // the timed-out send may have gone out when credit came
		rcv.AcceptMessage(ctxT(t), m)
		m = receive(t, rcv)
	}
	rcv.AcceptMessage(ctxT(t), m)
	if _, ok := (<-res).(*amqp.StateAccepted); !ok {
		t.Fatal("not accepted after the fault ended")
	}
}

func TestFaultWithholdDispositions(t *testing.T) {
	r := routertest.New(t)
	c := dial(t, r, nil)
	rcv := c.receiver(t, "d", nil)
	snd := c.sender(t, "d", nil)
	id := r.Faults().MustEnable(fault.Fault{Kind: fault.WithholdDispositions})
	res := sendAsync(ctxT(t), snd, amqp.NewMessage([]byte("x")))
	m := receive(t, rcv)
	rcv.AcceptMessage(ctxT(t), m)
	stillPending(t, res, 150*time.Millisecond)
	r.Faults().Disable(id)
	if _, ok := (<-res).(*amqp.StateAccepted); !ok {
		t.Fatal("outcome not released with the fault")
	}
}

func TestFaultStopHeartbeats(t *testing.T) {
	r := routertest.New(t)
	r.Faults().MustEnable(fault.Fault{Kind: fault.StopHeartbeats, Scope: fault.Scope{Connection: "quiet"}})
	// go-amqp gives up on a peer silent for longer than its idle time-out.
	c := dial(t, r, &amqp.ConnOptions{ContainerID: "quiet", IdleTimeout: 300 * time.Millisecond})
	rcv := c.receiver(t, "q", nil)
	_, err := rcv.Receive(ctxT(t), nil)
	if err == nil {
		t.Fatal("received without a sender")
	}
	var ce *amqp.ConnError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want the connection to die", err)
	}
}

// TestMutantEarlyAck: the router settles before the consumer does, which
// end-to-end settlement (C21) forbids; a sender can tell.
func TestMutantEarlyAck(t *testing.T) {
	r := routertest.New(t)
	r.Faults().MustEnable(fault.Fault{Kind: fault.EarlyAck})
	c := dial(t, r, nil)
	// No consumer at all, yet the anonymous sender hears "accepted".
	anon := c.sender(t, "", nil)
	to := "void"
	msg := amqp.NewMessage([]byte("lost"))
	msg.Properties = &amqp.MessageProperties{To: &to}
	if _, ok := (<-sendAsync(ctxT(t), anon, msg)).(*amqp.StateAccepted); !ok {
		t.Fatal("the mutant did not accept")
	}
	// With a consumer, the send completes before the consumer settled.
	rcv := c.receiver(t, "early", nil)
	snd := c.sender(t, "early", nil)
	res := sendAsync(ctxT(t), snd, amqp.NewMessage([]byte("x")))
	if _, ok := (<-res).(*amqp.StateAccepted); !ok {
		t.Fatal("not accepted early")
	}
	m := receive(t, rcv) // delivered presettled, never settled by the consumer
	if string(m.GetData()) != "x" {
		t.Fatalf("got %q", m.GetData())
	}
	if r.Totals().Dropped != 1 {
		t.Fatalf("dropped %d", r.Totals().Dropped)
	}
}

func TestEventLog(t *testing.T) {
	r := routertest.New(t)
	sub := r.Subscribe()
	c := dial(t, r, &amqp.ConnOptions{ContainerID: "evt"})
	roundTrip(t, c, "ev")
	ctx := ctxT(t)
	want := []router.EventType{router.EventConnectionOpened, router.EventLinkAttached, router.EventLinkAttached, router.EventReceived, router.EventForwarded, router.EventSettled}
	for _, w := range want {
		e, err := sub.WaitFor(ctx, func(e router.Event) bool { return e.Type == w })
		if err != nil {
			t.Fatalf("waiting for %s: %v", w, err)
		}
		if e.Connection != "evt" {
			t.Errorf("%s: connection %q", e, e.Connection)
		}
		if w == router.EventSettled && e.Outcome != "accepted" {
			t.Errorf("settled %q", e.Outcome)
		}
	}
	c.conn.Close()
	if _, err := sub.WaitFor(ctx, func(e router.Event) bool { return e.Type == router.EventConnectionClosed }); err != nil {
		t.Fatal(err)
	}
	tot := r.Totals()
	if tot.ConnectionsOpened != 1 || tot.Received != 1 || tot.Forwarded != 1 || tot.Accepted != 1 {
		t.Fatalf("totals %+v", tot)
	}
}

func TestStartErrors(t *testing.T) {
	ctx := ctxT(t)
	if _, err := router.Start(ctx, router.Options{DefaultDistribution: "random"}); err == nil {
		t.Error("unknown default distribution accepted")
	}
	if _, err := router.Start(ctx, router.Options{Addresses: []router.Address{{Prefix: "a", Distribution: "x"}}}); err == nil {
		t.Error("unknown distribution accepted")
	}
	if _, err := router.Start(ctx, router.Options{Addr: "256.0.0.1:1"}); err == nil {
		t.Error("bad address accepted")
	}
	r := routertest.New(t)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}
