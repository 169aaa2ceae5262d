package router_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/switchyard-dev/switchyard/fake/router"
	"github.com/switchyard-dev/switchyard/fake/routertest"
)

// sendAsync sends msg with a receipt and delivers the final state.
func sendAsync(ctx context.Context, s *amqp.Sender, msg *amqp.Message) <-chan any {
	out := make(chan any, 1)
	go func() {
		rc, err := s.SendWithReceipt(ctx, msg, nil)
		if err != nil {
			out <- err
			return
		}
		st, err := rc.Wait(ctx)
		if err != nil {
			out <- err
			return
		}
		out <- st
	}()
	return out
}

func receive(t *testing.T, rcv *amqp.Receiver) *amqp.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := rcv.Receive(ctx, nil)
	if err != nil {
		t.Fatalf("receive on %s: %v", rcv.Address(), err)
	}
	return m
}

// pendingFor asserts that nothing arrives on ch for a while: the send is
// still waiting.
func stillPending(t *testing.T, ch <-chan any, d time.Duration) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("send finished early with %v", v)
	case <-time.After(d):
	}
}

// waitCredit waits until consumers of address have given the router
// credit.
func waitCredit(t *testing.T, r *router.Router, address string) { waitCreditAtLeast(t, r, address, 1) }

// waitCreditAtLeast waits until consumers of address have given the router
// at least least credit in all.
func waitCreditAtLeast(t *testing.T, r *router.Router, address string, least uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, a := range r.Stats().Addresses {
			if a.Address == address && a.Credit >= least {
				return
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("consumers of %s gave less than %d credit", address, least)
}

func TestEveryOutcome(t *testing.T) {
	r := routertest.New(t)
	c := dial(t, r, nil)
	rcv := c.receiver(t, "outcomes", nil)
	snd := c.sender(t, "outcomes", nil)
	ctx := ctxT(t)
	cases := []struct {
		name    string
		dispose func(*amqp.Message) error
		check   func(amqp.DeliveryState) bool
	}{
		{"accepted", func(m *amqp.Message) error { return rcv.AcceptMessage(ctx, m) },
			func(s amqp.DeliveryState) bool { _, ok := s.(*amqp.StateAccepted); return ok }},
		{"rejected", func(m *amqp.Message) error {
			return rcv.RejectMessage(ctx, m, &amqp.Error{Condition: "app:bad", Description: "nope"})
		}, func(s amqp.DeliveryState) bool {
			r, ok := s.(*amqp.StateRejected)
			return ok && r.Error != nil && r.Error.Condition == "app:bad" && r.Error.Description == "nope"
		}},
		{"released", func(m *amqp.Message) error { return rcv.ReleaseMessage(ctx, m) },
			func(s amqp.DeliveryState) bool { _, ok := s.(*amqp.StateReleased); return ok }},
		{"modified", func(m *amqp.Message) error {
			return rcv.ModifyMessage(ctx, m, &amqp.ModifyMessageOptions{DeliveryFailed: true, UndeliverableHere: true})
		}, func(s amqp.DeliveryState) bool {
			m, ok := s.(*amqp.StateModified)
			return ok && m.DeliveryFailed && m.UndeliverableHere
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := sendAsync(ctx, snd, amqp.NewMessage([]byte(tc.name)))
			m := receive(t, rcv)
			if string(m.GetData()) != tc.name {
				t.Fatalf("got %q", m.GetData())
			}
			stillPending(t, res, 50*time.Millisecond)
			if err := tc.dispose(m); err != nil {
				t.Fatal(err)
			}
			got := <-res
			st, ok := got.(amqp.DeliveryState)
			if !ok || !tc.check(st) {
				t.Fatalf("sender saw %#v", got)
			}
		})
	}
	tot := r.Totals()
	if tot.Accepted != 1 || tot.Rejected != 1 || tot.Released != 1 || tot.Modified != 1 {
		t.Errorf("totals %+v", tot)
	}
}

// TestSendBlocksUntilConsumerSettles: C21 seen from the sender.
func TestSendBlocksUntilConsumerSettles(t *testing.T) {
	r := routertest.New(t)
	c := dial(t, r, nil)
	rcv := c.receiver(t, "e2e", &amqp.ReceiverOptions{Credit: 10})
	snd := c.sender(t, "e2e", nil)
	ctx := ctxT(t)
	done := make(chan error, 1)
	go func() { done <- snd.Send(ctx, amqp.NewMessage([]byte("x")), nil) }()
	m := receive(t, rcv)
	select {
	case err := <-done:
		t.Fatalf("Send returned (%v) before the consumer settled", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := rcv.AcceptMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestNoCreditWithoutConsumer(t *testing.T) {
	r := routertest.New(t)
	c := dial(t, r, nil)
	snd := c.sender(t, "nobody", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	// go-amqp reports the time-out waiting for credit as
	// amqp:link:transfer-limit-exceeded.
	err := snd.Send(ctx, amqp.NewMessage([]byte("x")), nil)
	if err == nil || r.Totals().Received != 0 {
		t.Fatalf("send without consumer: %v, %d received; want a time-out waiting for credit", err, r.Totals().Received)
	}
	// A consumer appears: credit flows and a new send goes through.
	rcv := c.receiver(t, "nobody", nil)
	res := sendAsync(ctxT(t), snd, amqp.NewMessage([]byte("y")))
	m := receive(t, rcv)
	for string(m.GetData()) != "y" { // the timed-out send may still have gone out
		rcv.AcceptMessage(ctxT(t), m)
		m = receive(t, rcv)
	}
	rcv.AcceptMessage(ctxT(t), m)
	if st, ok := (<-res).(*amqp.StateAccepted); !ok {
		t.Fatalf("got %v", st)
	}
}

// TestReleasedWithoutConsumer uses an anonymous sender, which always has
// credit: a message for an address without consumers comes back released.
func TestReleasedWithoutConsumer(t *testing.T) {
	r := routertest.New(t)
	c := dial(t, r, nil)
	snd := c.sender(t, "", nil)
	to := "nowhere"
	msg := amqp.NewMessage([]byte("x"))
	msg.Properties = &amqp.MessageProperties{To: &to}
	st := <-sendAsync(ctxT(t), snd, msg)
	if _, ok := st.(*amqp.StateReleased); !ok {
		t.Fatalf("got %#v, want released", st)
	}
	if n := r.Totals().ReleasedNoConsumer; n != 1 {
		t.Errorf("ReleasedNoConsumer = %d", n)
	}
	// With a consumer the anonymous sender's message gets there.
	rcv := c.receiver(t, "somewhere", nil)
	waitCredit(t, r, "somewhere")
	to = "somewhere"
	msg.Properties = &amqp.MessageProperties{To: &to}
	res := sendAsync(ctxT(t), snd, msg)
	m := receive(t, rcv)
	rcv.AcceptMessage(ctxT(t), m)
	if _, ok := (<-res).(*amqp.StateAccepted); !ok {
		t.Fatal("anonymous send not accepted")
	}
}

func TestPresettled(t *testing.T) {
	r := routertest.New(t)
	c := dial(t, r, nil)
	rcv := c.receiver(t, "pre", &amqp.ReceiverOptions{Credit: 50})
	mode := amqp.SenderSettleModeSettled
	snd := c.sender(t, "pre", &amqp.SenderOptions{SettlementMode: &mode})
	ctx := ctxT(t)
	for i := range 20 {
		if err := snd.Send(ctx, amqp.NewMessage(fmt.Appendf(nil, "m%d", i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		m := receive(t, rcv)
		if want := fmt.Sprintf("m%d", i); string(m.GetData()) != want {
			t.Fatalf("got %q, want %q", m.GetData(), want)
		}
		if err := rcv.AcceptMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	// Presettled receivers: the router sends settled copies.
	rmode := amqp.SenderSettleModeSettled
	rcv2 := c.receiver(t, "pre2", &amqp.ReceiverOptions{RequestedSenderSettleMode: &rmode})
	snd2 := c.sender(t, "pre2", nil)
	res := sendAsync(ctx, snd2, amqp.NewMessage([]byte("s")))
	if m := receive(t, rcv2); string(m.GetData()) != "s" {
		t.Fatalf("got %q", m.GetData())
	}
	if _, ok := (<-res).(*amqp.StateAccepted); !ok {
		t.Fatal("send to a presettled receiver not accepted")
	}
}

func TestLargeMessages(t *testing.T) {
	r := routertest.New(t)
	c := dial(t, r, nil)
	rcv := c.receiver(t, "big", nil)
	snd := c.sender(t, "big", nil)
	ctx := ctxT(t)
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	for i := range 3 {
		body[i] = 'X'
		res := sendAsync(ctx, snd, amqp.NewMessage(body))
		m := receive(t, rcv)
		if !bytes.Equal(m.GetData(), body) {
			t.Fatalf("message %d: body of %d bytes differs", i, len(m.GetData()))
		}
		rcv.AcceptMessage(ctx, m)
		if _, ok := (<-res).(*amqp.StateAccepted); !ok {
			t.Fatal("not accepted")
		}
	}
}

func TestMessageTooLarge(t *testing.T) {
	r := routertest.New(t, func(o *router.Options) { o.MaxMessageSize = 1000 })
	c := dial(t, r, nil)
	c.receiver(t, "limit", nil)
	snd := c.sender(t, "limit", nil)
	if snd.MaxMessageSize() != 1000 {
		t.Errorf("sender sees max-message-size %d", snd.MaxMessageSize())
	}
	// go-amqp checks the limit itself; a raw client is tested in the
	// hostile table.
	err := snd.Send(ctxT(t), amqp.NewMessage(make([]byte, 2000)), nil)
	if err == nil {
		t.Fatal("oversized message sent")
	}
}

func TestDynamicReceiver(t *testing.T) {
	r := routertest.New(t)
	c := dial(t, r, nil)
	rcv := c.receiver(t, "", &amqp.ReceiverOptions{DynamicAddress: true})
	addr := rcv.Address()
	if addr == "" {
		t.Fatal("dynamic receiver got no address")
	}
	if d := r.Distribution(addr); d != router.Closest {
		t.Errorf("dynamic address distribution %s", d)
	}
	other := dial(t, r, nil)
	snd := other.sender(t, addr, nil)
	res := sendAsync(ctxT(t), snd, amqp.NewMessage([]byte("reply")))
	m := receive(t, rcv)
	rcv.AcceptMessage(ctxT(t), m)
	if _, ok := (<-res).(*amqp.StateAccepted); !ok {
		t.Fatal("reply not accepted")
	}
	rcv2 := c.receiver(t, "", &amqp.ReceiverOptions{DynamicAddress: true})
	if rcv2.Address() == addr {
		t.Fatal("two dynamic receivers share an address")
	}
}

func TestCreditAndDrain(t *testing.T) {
	r := routertest.New(t)
	c := dial(t, r, nil)
	rcv := c.receiver(t, "credit", &amqp.ReceiverOptions{Credit: -1})
	mode := amqp.SenderSettleModeSettled
	snd := c.sender(t, "credit", &amqp.SenderOptions{SettlementMode: &mode})
	ctx := ctxT(t)
	// No credit from the consumer: the sender gets none either.
	short, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
	err := snd.Send(short, amqp.NewMessage([]byte("blocked")), nil)
	cancel()
	if err == nil || r.Totals().Received != 0 {
		t.Fatalf("send with no consumer credit: %v", err)
	}
	// The timed-out send may have been handed to go-amqp's link already;
	// credit 3 lets it and two more through.
	if err := rcv.IssueCredit(3); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := snd.Send(ctx, amqp.NewMessage(fmt.Appendf(nil, "m%d", i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	got := 0
	for got < 2 {
		m := receive(t, rcv)
		if bytes.HasPrefix(m.GetData(), []byte("m")) {
			got++
		}
	}
	// Drain what is left: the router holds nothing, so the drain completes
	// at once and the credit is used up.
	if err := rcv.DrainCredit(ctx, nil); err != nil {
		t.Fatalf("drain: %v", err)
	}
	if st := r.Stats(); len(st.Addresses) != 1 || st.Addresses[0].Consumers != 1 {
		t.Fatalf("stats %+v", st)
	}
	short, cancel = context.WithTimeout(ctx, 150*time.Millisecond)
	// Past a drain nothing reaches the consumer: the sender either waits
	// for credit or its message waits at the router for the consumer's.
	before := r.Totals().Forwarded
	snd.Send(short, amqp.NewMessage([]byte("after-drain")), nil)
	cancel()
	if r.Totals().Forwarded != before {
		t.Fatal("a message was forwarded past a drain")
	}
	if m := rcv.Prefetched(); m != nil {
		t.Fatalf("received %q past a drain", m.GetData())
	}
}

func TestDistributions(t *testing.T) {
	r := routertest.New(t)
	ctx := ctxT(t)
	prod := dial(t, r, nil)
	consume := func(addr string, n int) []*amqp.Receiver {
		var out []*amqp.Receiver
		for range n {
			out = append(out, dial(t, r, nil).receiver(t, addr, &amqp.ReceiverOptions{Credit: 50}))
		}
		return out
	}
	count := func(rcvs []*amqp.Receiver, want int) []int {
		t.Helper()
		counts := make([]int, len(rcvs))
		total := 0
		for total < want {
			progress := false
			for i, rc := range rcvs {
				m := rc.Prefetched()
				if m == nil {
					continue
				}
				rc.AcceptMessage(ctx, m)
				counts[i]++
				total++
				progress = true
			}
			if !progress {
				// Block on any receiver with a short wait.
				for i, rc := range rcvs {
					short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
					m, err := rc.Receive(short, nil)
					cancel()
					if err == nil {
						rc.AcceptMessage(ctx, m)
						counts[i]++
						total++
					}
				}
			}
			if ctx.Err() != nil {
				t.Fatalf("got %d of %d", total, want)
			}
		}
		return counts
	}

	t.Run("multicast", func(t *testing.T) {
		addr := "openstack.org/om/rpc/multicast/openstack/topic"
		rcvs := consume(addr, 3)
		waitCreditAtLeast(t, r, addr, 3*50)
		snd := prod.sender(t, addr, nil)
		res := sendAsync(ctx, snd, amqp.NewMessage([]byte("fan")))
		for _, rc := range rcvs {
			m := receive(t, rc)
			if string(m.GetData()) != "fan" {
				t.Fatalf("got %q", m.GetData())
			}
			stillPending(t, res, 10*time.Millisecond)
			rc.AcceptMessage(ctx, m)
		}
		if _, ok := (<-res).(*amqp.StateAccepted); !ok {
			t.Fatal("fanout not accepted")
		}
	})
	t.Run("multicast-outcomes", func(t *testing.T) {
		addr := "broadcast.openstack.t2.all"
		rcvs := consume(addr, 2)
		waitCreditAtLeast(t, r, addr, 2*50)
		snd := prod.sender(t, addr, nil)
		table := []struct {
			name string
			do   [2]string
			want string
		}{
			{"accept+release", [2]string{"accept", "release"}, "accepted"},
			{"accept+reject", [2]string{"accept", "reject"}, "rejected"},
			{"release+release", [2]string{"release", "release"}, "released"},
			{"release+modify", [2]string{"release", "modify"}, "modified"},
		}
		for _, tc := range table {
			res := sendAsync(ctx, snd, amqp.NewMessage([]byte(tc.name)))
			for i, rc := range rcvs {
				m := receive(t, rc)
				switch tc.do[i] {
				case "accept":
					rc.AcceptMessage(ctx, m)
				case "release":
					rc.ReleaseMessage(ctx, m)
				case "reject":
					rc.RejectMessage(ctx, m, nil)
				case "modify":
					rc.ModifyMessage(ctx, m, &amqp.ModifyMessageOptions{DeliveryFailed: true})
				}
			}
			got := <-res
			name := ""
			switch got.(type) {
			case *amqp.StateAccepted:
				name = "accepted"
			case *amqp.StateRejected:
				name = "rejected"
			case *amqp.StateReleased:
				name = "released"
			case *amqp.StateModified:
				name = "modified"
			}
			if name != tc.want {
				t.Errorf("%s: sender saw %#v, want %s", tc.name, got, tc.want)
			}
		}
	})
	t.Run("closest", func(t *testing.T) {
		addr := "openstack.org/om/rpc/unicast/openstack/topic/host"
		rcvs := consume(addr, 2)
		waitCreditAtLeast(t, r, addr, 2*50)
		mode := amqp.SenderSettleModeSettled
		snd := prod.sender(t, addr, &amqp.SenderOptions{SettlementMode: &mode})
		for i := range 20 {
			if err := snd.Send(ctx, amqp.NewMessage(fmt.Appendf(nil, "%d", i)), nil); err != nil {
				t.Fatal(err)
			}
		}
		counts := count(rcvs, 20)
		if counts[0]+counts[1] != 20 || counts[0] == 0 || counts[1] == 0 {
			t.Errorf("closest split %v", counts)
		}
	})
	t.Run("balanced", func(t *testing.T) {
		addr := "openstack.org/om/rpc/anycast/openstack/topic"
		rcvs := consume(addr, 2)
		waitCreditAtLeast(t, r, addr, 2*50)
		snd := prod.sender(t, addr, nil)
		// The first consumer keeps its message unsettled: the next goes to
		// the other one, which has fewer unsettled deliveries.
		r1 := sendAsync(ctx, snd, amqp.NewMessage([]byte("a")))
		var first *amqp.Message
		var firstRcv, other *amqp.Receiver
		for first == nil {
			for i, rc := range rcvs {
				short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
				m, err := rc.Receive(short, nil)
				cancel()
				if err == nil {
					first, firstRcv, other = m, rc, rcvs[1-i]
					break
				}
			}
			if ctx.Err() != nil {
				t.Fatal("first message never arrived")
			}
		}
		r2 := sendAsync(ctx, snd, amqp.NewMessage([]byte("b")))
		m := receive(t, other)
		if string(m.GetData()) != "b" {
			t.Fatalf("got %q", m.GetData())
		}
		other.AcceptMessage(ctx, m)
		firstRcv.AcceptMessage(ctx, first)
		<-r1
		<-r2
	})
	if d := r.Distribution("exclusive.openstack.topic.host"); d != router.Closest {
		t.Errorf("legacy exclusive: %s", d)
	}
	if d := r.Distribution("unicastish"); d != router.Balanced {
		t.Errorf("a prefix must end at a separator: %s", d)
	}
}

func TestConsumerDetachFailsUnsettled(t *testing.T) {
	r := routertest.New(t)
	c := dial(t, r, nil)
	cons := dial(t, r, nil)
	rcv := cons.receiver(t, "gone", nil)
	snd := c.sender(t, "gone", nil)
	res := sendAsync(ctxT(t), snd, amqp.NewMessage([]byte("x")))
	receive(t, rcv)
	cons.conn.Close() // without settling
	st := <-res
	m, ok := st.(*amqp.StateModified)
	if !ok || !m.DeliveryFailed {
		t.Fatalf("sender saw %#v, want modified delivery-failed", st)
	}
}

func TestSASL(t *testing.T) {
	r := routertest.New(t, routertest.WithUser("alice", "secret"), func(o *router.Options) { o.NoAnonymous = true })
	ctx := ctxT(t)
	conn, err := amqp.Dial(ctx, "amqp://"+r.Addr(), &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("alice", "secret")})
	if err != nil {
		t.Fatalf("PLAIN: %v", err)
	}
	conn.Close()
	if _, err := amqp.Dial(ctx, "amqp://"+r.Addr(), &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("alice", "wrong")}); err == nil {
		t.Fatal("wrong password accepted")
	}
	if _, err := amqp.Dial(ctx, "amqp://"+r.Addr(), &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous()}); err == nil {
		t.Fatal("ANONYMOUS accepted with NoAnonymous")
	}
	// The URL carries the credentials.
	c := dial(t, r, &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("alice", "secret")})
	if p := c.conn.Properties()["product"]; p != "qpid-dispatch-router" {
		t.Errorf("product %v", p)
	}
}

func TestIdleTimeoutKeepalives(t *testing.T) {
	r := routertest.New(t, func(o *router.Options) { o.IdleTimeout = 300 * time.Millisecond })
	// go-amqp keeps the connection alive with empty frames at half the
	// router's time-out, and the router does the same for the client's.
	sub := r.Subscribe()
	c := dial(t, r, &amqp.ConnOptions{IdleTimeout: 200 * time.Millisecond})
	rcv := c.receiver(t, "idle", nil)
	snd := c.sender(t, "idle", nil)
	// Idle for a second, three times the longer time-out: the connection
	// must not close meanwhile.
	idle, cancel := context.WithTimeout(ctxT(t), time.Second)
	defer cancel()
	if e, err := sub.WaitFor(idle, func(e router.Event) bool { return e.Type == router.EventConnectionClosed }); err == nil {
		t.Fatalf("closed while idle: %s", e)
	}
	res := sendAsync(ctxT(t), snd, amqp.NewMessage([]byte("still here")))
	m := receive(t, rcv)
	rcv.AcceptMessage(ctxT(t), m)
	if _, ok := (<-res).(*amqp.StateAccepted); !ok {
		t.Fatal("connection did not survive idling")
	}
}

// TestBacklog: a copy for a consumer without credit waits at the router
// until the consumer grants credit; the sender's outcome waits with it.
func TestBacklog(t *testing.T) {
	r := routertest.New(t)
	logEventsOnFailure(t, r)
	ctx := ctxT(t)
	c := dial(t, r, nil)
	t.Run("unicast", func(t *testing.T) {
		rcv := c.receiver(t, "slow", &amqp.ReceiverOptions{Credit: -1})
		anon := c.sender(t, "", nil)
		to := "slow"
		msg := amqp.NewMessage([]byte("wait"))
		msg.Properties = &amqp.MessageProperties{To: &to}
		res := sendAsync(ctx, anon, msg)
		stillPending(t, res, 100*time.Millisecond)
		if err := rcv.IssueCredit(1); err != nil {
			t.Fatal(err)
		}
		m := receive(t, rcv)
		rcv.AcceptMessage(ctx, m)
		if _, ok := (<-res).(*amqp.StateAccepted); !ok {
			t.Fatal("not accepted")
		}
	})
	t.Run("multicast", func(t *testing.T) {
		addr := "broadcast.openstack.backlog.all"
		fast := dial(t, r, nil).receiver(t, addr, &amqp.ReceiverOptions{Credit: 10})
		slowConn := dial(t, r, nil)
		slow := slowConn.receiver(t, addr, &amqp.ReceiverOptions{Credit: -1})
		waitCredit(t, r, addr)
		snd := c.sender(t, addr, nil)
		res := sendAsync(ctx, snd, amqp.NewMessage([]byte("both")))
		m := receive(t, fast)
		fast.RejectMessage(ctx, m, nil)
		stillPending(t, res, 100*time.Millisecond) // the slow copy is due
		slow.IssueCredit(1)
		m = receive(t, slow)
		slow.AcceptMessage(ctx, m)
		if _, ok := (<-res).(*amqp.StateRejected); !ok {
			t.Fatal("rejected by one copy: not rejected")
		}
		// A queued copy whose consumer leaves counts as released.
		res = sendAsync(ctx, snd, amqp.NewMessage([]byte("gone")))
		m = receive(t, fast)
		fast.AcceptMessage(ctx, m)
		stillPending(t, res, 50*time.Millisecond)
		slowConn.conn.Close()
		if _, ok := (<-res).(*amqp.StateAccepted); !ok {
			t.Fatal("accepted by one, released by the other: not accepted")
		}
	})
}
