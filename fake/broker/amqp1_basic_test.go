package broker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/switchyard-dev/switchyard/fake/broker"
	"github.com/switchyard-dev/switchyard/fake/brokertest"
)

const a1Timeout = 10 * time.Second

func a1ctx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), a1Timeout)
	t.Cleanup(cancel)
	return ctx
}

// a1Dial opens an AMQP 1.0 connection and session to b's AMQP 1.0 port.
func a1Dial(t *testing.T, b *broker.Broker, opts *amqp.ConnOptions) (*amqp.Conn, *amqp.Session) {
	t.Helper()
	if opts == nil {
		opts = &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("guest", "guest")}
	}
	c, err := amqp.Dial(a1ctx(t), "amqp://"+b.AMQP1Addr(), opts)
	if err != nil {
		t.Fatalf("dial %s: %v", b.AMQP1Addr(), err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := c.NewSession(a1ctx(t), nil)
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	return c, s
}

func a1Sender(t *testing.T, s *amqp.Session, addr string, opts *amqp.SenderOptions) *amqp.Sender {
	t.Helper()
	snd, err := s.NewSender(a1ctx(t), addr, opts)
	if err != nil {
		t.Fatalf("sender %q: %v", addr, err)
	}
	return snd
}

func a1Receiver(t *testing.T, s *amqp.Session, addr string, opts *amqp.ReceiverOptions) *amqp.Receiver {
	t.Helper()
	r, err := s.NewReceiver(a1ctx(t), addr, opts)
	if err != nil {
		t.Fatalf("receiver %q: %v", addr, err)
	}
	return r
}

// a1Send sends a message with body data and returns the outcome.
func a1Send(t *testing.T, snd *amqp.Sender, data string) {
	t.Helper()
	if err := snd.Send(a1ctx(t), amqp.NewMessage([]byte(data)), nil); err != nil {
		t.Fatalf("send %q: %v", data, err)
	}
}

func a1Receive(t *testing.T, r *amqp.Receiver) *amqp.Message {
	t.Helper()
	m, err := r.Receive(a1ctx(t), nil)
	if err != nil {
		t.Fatalf("receive on %s: %v", r.Address(), err)
	}
	return m
}

func a1Accept(t *testing.T, r *amqp.Receiver, m *amqp.Message) {
	t.Helper()
	if err := r.AcceptMessage(a1ctx(t), m); err != nil {
		t.Fatalf("accept: %v", err)
	}
}

// waitQueue polls until cond holds for the queue's counters.
func waitQueue(t *testing.T, b *broker.Broker, name string, what string, cond func(broker.QueueStats) bool) broker.QueueStats {
	t.Helper()
	deadline := time.Now().Add(a1Timeout)
	for {
		qs, _ := b.Queue("/", name)
		if cond(qs) {
			return qs
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue %s: %s never held: %+v", name, what, qs)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func newA1Broker(t *testing.T, opts ...brokertest.Option) *broker.Broker {
	t.Helper()
	b := brokertest.New(t, append([]brokertest.Option{brokertest.WithAMQP1()}, opts...)...)
	if b.AMQP1Addr() == "" {
		t.Fatal("no AMQP 1.0 listener")
	}
	return b
}

func TestAMQP1URLAndProduct(t *testing.T) {
	b := newA1Broker(t)
	if want := "amqp://guest:guest@" + b.AMQP1Addr() + "/"; b.AMQP1URL() != want {
		t.Fatalf("AMQP1URL %q, want %q", b.AMQP1URL(), want)
	}
	c, _ := a1Dial(t, b, nil)
	if p := c.Properties()["product"]; p != "qpid-cpp" {
		t.Fatalf("product %v", p)
	}
	plain := brokertest.New(t)
	if plain.AMQP1URL() != "" || plain.AMQP1Addr() != "" {
		t.Fatal("a broker without AMQP1Addr has an AMQP 1.0 URL")
	}
	custom := brokertest.New(t, brokertest.WithOptions(broker.Options{AMQP1Addr: "127.0.0.1:0", AMQP1: broker.AMQP1Options{Product: "other"}}))
	c2, _ := a1Dial(t, custom, nil)
	if p := c2.Properties()["product"]; p != "other" {
		t.Fatalf("product %v", p)
	}
}

func TestAMQP1SendReceive(t *testing.T) {
	b := newA1Broker(t)
	_, s := a1Dial(t, b, nil)
	snd := a1Sender(t, s, "unicast.openstack.q1", nil)
	r := a1Receiver(t, s, "unicast.openstack.q1", nil)
	for i := range 5 {
		a1Send(t, snd, fmt.Sprint("m", i))
	}
	for i := range 5 {
		m := a1Receive(t, r)
		if got := string(m.GetData()); got != fmt.Sprint("m", i) {
			t.Fatalf("message %d: %q", i, got)
		}
		a1Accept(t, r, m)
	}
	qs := waitQueue(t, b, "unicast.openstack.q1", "all acked", func(q broker.QueueStats) bool { return q.Acked == 5 })
	if qs.Ready != 0 || qs.Unacked != 0 || qs.Enqueued != 5 || qs.Delivered != 5 {
		t.Fatalf("queue stats %+v", qs)
	}
	st := b.Stats().Totals
	if st.Published != 5 || st.Confirmed != 5 || st.Acked != 5 || st.ConnectionsOpened != 1 {
		t.Fatalf("totals %+v", st)
	}
}

// TestAMQP1StoreAndForward: a send with no consumer is accepted once
// stored; a receiver attached later gets it (C20).
func TestAMQP1StoreAndForward(t *testing.T) {
	b := newA1Broker(t)
	c, s := a1Dial(t, b, nil)
	snd := a1Sender(t, s, "exclusive.openstack.compute.host1", nil)
	a1Send(t, snd, "stored")
	if d := b.QueueDepth("/", "exclusive.openstack.compute.host1"); d != 1 {
		t.Fatalf("depth %d after an accepted send", d)
	}
	c.Close()
	_, s2 := a1Dial(t, b, nil)
	r := a1Receiver(t, s2, "exclusive.openstack.compute.host1", nil)
	m := a1Receive(t, r)
	if string(m.GetData()) != "stored" {
		t.Fatalf("got %q", m.GetData())
	}
	a1Accept(t, r, m)
	waitQueue(t, b, "exclusive.openstack.compute.host1", "acked", func(q broker.QueueStats) bool { return q.Acked == 1 && q.Ready == 0 })
}

func TestAMQP1CreditAndDrain(t *testing.T) {
	b := newA1Broker(t)
	_, s := a1Dial(t, b, nil)
	snd := a1Sender(t, s, "credit", nil)
	for i := range 10 {
		a1Send(t, snd, fmt.Sprint(i))
	}
	r := a1Receiver(t, s, "credit", &amqp.ReceiverOptions{Credit: -1})
	if err := r.IssueCredit(3); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		a1Accept(t, r, a1Receive(t, r))
	}
	qs := waitQueue(t, b, "credit", "3 acked", func(q broker.QueueStats) bool { return q.Acked == 3 })
	if qs.Delivered != 3 || qs.Ready != 7 {
		t.Fatalf("with 3 credit: %+v", qs)
	}
	if err := r.IssueCredit(4); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		a1Accept(t, r, a1Receive(t, r))
	}
	qs = waitQueue(t, b, "credit", "7 acked", func(q broker.QueueStats) bool { return q.Acked == 7 })
	if qs.Ready != 3 || qs.Delivered != 7 {
		t.Fatalf("after 4 more credit: %+v", qs)
	}
	// Drain with more credit than messages: the 3 left come, the rest of
	// the credit is used up, and a later message waits in the queue. (The
	// first receive makes go-amqp send the credit before the drain.)
	if err := r.IssueCredit(5); err != nil {
		t.Fatal(err)
	}
	a1Accept(t, r, a1Receive(t, r))
	if err := r.DrainCredit(a1ctx(t), nil); err != nil {
		t.Fatalf("drain: %v", err)
	}
	for range 2 {
		a1Accept(t, r, a1Receive(t, r))
	}
	a1Send(t, snd, "after-drain")
	qs = waitQueue(t, b, "credit", "10 acked", func(q broker.QueueStats) bool { return q.Acked == 10 })
	if qs.Ready != 1 || qs.Delivered != 10 {
		t.Fatalf("a message went to a drained link: %+v", qs)
	}
	// Drain on an empty link: the credit goes unused, nothing is lost.
	r2 := a1Receiver(t, s, "credit-empty", &amqp.ReceiverOptions{Credit: -1})
	if err := r2.IssueCredit(5); err != nil {
		t.Fatal(err)
	}
	if err := r2.DrainCredit(a1ctx(t), nil); err != nil {
		t.Fatalf("drain on an empty queue: %v", err)
	}
	a1Send(t, a1Sender(t, s, "credit-empty", nil), "late")
	if d := b.QueueDepth("/", "credit-empty"); d != 1 {
		t.Fatalf("a message went to a drained link: depth %d", d)
	}
	if err := r2.IssueCredit(1); err != nil {
		t.Fatal(err)
	}
	if m := a1Receive(t, r2); string(m.GetData()) != "late" {
		t.Fatalf("got %q", m.GetData())
	}
}

func TestAMQP1LargeMessage(t *testing.T) {
	b := newA1Broker(t)
	_, s := a1Dial(t, b, nil)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	snd := a1Sender(t, s, "large", nil)
	if err := snd.Send(a1ctx(t), amqp.NewMessage(big), nil); err != nil {
		t.Fatal(err)
	}
	r := a1Receiver(t, s, "large", nil)
	m := a1Receive(t, r)
	if !bytes.Equal(m.GetData(), big) {
		t.Fatalf("got %d bytes back", len(m.GetData()))
	}
	a1Accept(t, r, m)
}

func TestAMQP1Presettled(t *testing.T) {
	b := newA1Broker(t)
	_, s := a1Dial(t, b, nil)
	settled := amqp.SenderSettleModeSettled
	snd := a1Sender(t, s, "presettled", &amqp.SenderOptions{SettlementMode: &settled})
	for i := range 3 {
		a1Send(t, snd, fmt.Sprint(i))
	}
	waitQueue(t, b, "presettled", "3 stored", func(q broker.QueueStats) bool { return q.Ready == 3 })
	r := a1Receiver(t, s, "presettled", &amqp.ReceiverOptions{SettlementMode: new(amqp.ReceiverSettleModeFirst), RequestedSenderSettleMode: &settled})
	for i := range 3 {
		m := a1Receive(t, r)
		if string(m.GetData()) != fmt.Sprint(i) {
			t.Fatalf("got %q", m.GetData())
		}
	}
	qs := waitQueue(t, b, "presettled", "all gone", func(q broker.QueueStats) bool { return q.Ready == 0 && q.Unacked == 0 && q.Delivered == 3 })
	if qs.Acked != 0 {
		t.Fatalf("presettled deliveries counted as acked: %+v", qs)
	}
}

// TestAMQP1Outcomes covers every outcome a consumer can give.
func TestAMQP1Outcomes(t *testing.T) {
	b := newA1Broker(t)
	_, s := a1Dial(t, b, nil)
	snd := a1Sender(t, s, "outcomes", nil)
	r := a1Receiver(t, s, "outcomes", &amqp.ReceiverOptions{Credit: 1})
	sub := b.Subscribe()

	a1Send(t, snd, "x")
	m := a1Receive(t, r)
	// released: back in the queue, delivered again.
	if err := r.ReleaseMessage(a1ctx(t), m); err != nil {
		t.Fatal(err)
	}
	m = a1Receive(t, r)
	if string(m.GetData()) != "x" || m.Header != nil && m.Header.DeliveryCount != 0 {
		t.Fatalf("after release: %q %+v", m.GetData(), m.Header)
	}
	// modified with delivery-failed: requeued with delivery-count + 1.
	if err := r.ModifyMessage(a1ctx(t), m, &amqp.ModifyMessageOptions{DeliveryFailed: true, Annotations: amqp.Annotations{"x-note": "tried"}}); err != nil {
		t.Fatal(err)
	}
	m = a1Receive(t, r)
	if m.Header == nil || m.Header.DeliveryCount != 1 || m.Annotations["x-note"] != "tried" {
		t.Fatalf("after modified: header %+v annotations %v", m.Header, m.Annotations)
	}
	// modified undeliverable-here: dropped (no dead-letter exchange).
	if err := r.ModifyMessage(a1ctx(t), m, &amqp.ModifyMessageOptions{UndeliverableHere: true}); err != nil {
		t.Fatal(err)
	}
	waitQueue(t, b, "outcomes", "dropped", func(q broker.QueueStats) bool { return q.Ready == 0 && q.Unacked == 0 })
	// rejected: dropped.
	a1Send(t, snd, "y")
	m = a1Receive(t, r)
	if err := r.RejectMessage(a1ctx(t), m, nil); err != nil {
		t.Fatal(err)
	}
	// accepted: removed.
	a1Send(t, snd, "z")
	m = a1Receive(t, r)
	if string(m.GetData()) != "z" {
		t.Fatalf("a rejected message came back: %q", m.GetData())
	}
	a1Accept(t, r, m)
	qs := waitQueue(t, b, "outcomes", "settled", func(q broker.QueueStats) bool { return q.Acked == 1 })
	if qs.Ready != 0 || qs.Unacked != 0 || qs.Requeued != 2 || qs.Nacked != 4 || qs.Delivered != 5 {
		t.Fatalf("queue stats %+v", qs)
	}
	var kinds []broker.EventType
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		e, err := sub.Next(ctx)
		cancel()
		if err != nil {
			break
		}
		if e.Queue == "outcomes" {
			kinds = append(kinds, e.Type)
		}
		if e.Type == broker.EventAcked {
			break
		}
	}
	want := fmt.Sprint([]broker.EventType{
		broker.EventRouted, broker.EventDelivered, broker.EventNacked, broker.EventRequeued, broker.EventDelivered,
		broker.EventNacked, broker.EventRequeued, broker.EventDelivered, broker.EventNacked,
		broker.EventRouted, broker.EventDelivered, broker.EventNacked,
		broker.EventRouted, broker.EventDelivered, broker.EventAcked,
	})
	if fmt.Sprint(kinds) != want {
		t.Fatalf("events\n got %v\nwant %s", kinds, want)
	}
}

// TestAMQP1RejectDeadLetters: a rejected message goes to the queue's
// dead-letter exchange when it has one.
func TestAMQP1RejectDeadLetters(t *testing.T) {
	b := newA1Broker(t)
	_, ch := dialChannel(t, b)
	if err := ch.ExchangeDeclare("dlx", "fanout", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare("dead", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind("dead", "", "dlx", false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare("with-dlx", false, false, false, false, map[string]any{"x-dead-letter-exchange": "dlx"}); err != nil {
		t.Fatal(err)
	}
	_, s := a1Dial(t, b, nil)
	a1Send(t, a1Sender(t, s, "with-dlx", nil), "bad")
	r := a1Receiver(t, s, "with-dlx", nil)
	if err := r.RejectMessage(a1ctx(t), a1Receive(t, r), nil); err != nil {
		t.Fatal(err)
	}
	waitQueue(t, b, "dead", "dead-lettered", func(q broker.QueueStats) bool { return q.Ready == 1 })
	r2 := a1Receiver(t, s, "dead", nil)
	if m := a1Receive(t, r2); string(m.GetData()) != "bad" {
		t.Fatalf("dead-lettered %q", m.GetData())
	}
}

// TestAMQP1UnsettledReturnOnDetach: deliveries a receiver never settled
// go back to the queue when its link or connection goes.
func TestAMQP1UnsettledReturnOnDetach(t *testing.T) {
	b := newA1Broker(t)
	c, s := a1Dial(t, b, nil)
	snd := a1Sender(t, s, "unsettled", nil)
	for i := range 4 {
		a1Send(t, snd, fmt.Sprint(i))
	}
	r := a1Receiver(t, s, "unsettled", &amqp.ReceiverOptions{Credit: 2})
	a1Receive(t, r)
	a1Receive(t, r)
	waitQueue(t, b, "unsettled", "2 unacked", func(q broker.QueueStats) bool { return q.Unacked == 2 && q.Ready == 2 })
	if err := r.Close(a1ctx(t)); err != nil {
		t.Fatal(err)
	}
	waitQueue(t, b, "unsettled", "requeued on detach", func(q broker.QueueStats) bool { return q.Unacked == 0 && q.Ready == 4 })

	r = a1Receiver(t, s, "unsettled", &amqp.ReceiverOptions{Credit: 3})
	for range 3 {
		a1Receive(t, r)
	}
	waitQueue(t, b, "unsettled", "3 unacked", func(q broker.QueueStats) bool { return q.Unacked == 3 })
	c.Close()
	qs := waitQueue(t, b, "unsettled", "requeued on close", func(q broker.QueueStats) bool { return q.Unacked == 0 && q.Ready == 4 })
	if qs.Consumers != 0 {
		t.Fatalf("consumers left: %+v", qs)
	}
	_, s2 := a1Dial(t, b, nil)
	r2 := a1Receiver(t, s2, "unsettled", nil)
	for i := range 4 {
		m := a1Receive(t, r2)
		if string(m.GetData()) != fmt.Sprint(i) {
			t.Fatalf("redelivery %d: %q", i, m.GetData())
		}
		if i < 3 && (m.Header == nil || m.Header.FirstAcquirer) {
			t.Fatalf("redelivered message %d claims first acquirer", i)
		}
		a1Accept(t, r2, m)
	}
}

func TestAMQP1DynamicReceiver(t *testing.T) {
	b := newA1Broker(t)
	_, s := a1Dial(t, b, nil)
	r, err := s.NewReceiver(a1ctx(t), "", &amqp.ReceiverOptions{DynamicAddress: true})
	if err != nil {
		t.Fatal(err)
	}
	addr := r.Address()
	if addr == "" {
		t.Fatal("no dynamic address")
	}
	if _, ok := b.Queue("/", addr); !ok {
		t.Fatalf("no queue %q", addr)
	}
	// A reply through an anonymous link, routed by "to", and through a
	// link to the address.
	anon := a1Sender(t, s, "", nil)
	msg := amqp.NewMessage([]byte("reply"))
	msg.Properties = &amqp.MessageProperties{To: &addr}
	if err := anon.Send(a1ctx(t), msg, nil); err != nil {
		t.Fatal(err)
	}
	a1Send(t, a1Sender(t, s, addr, nil), "reply2")
	for _, want := range []string{"reply", "reply2"} {
		m := a1Receive(t, r)
		if string(m.GetData()) != want {
			t.Fatalf("got %q, want %q", m.GetData(), want)
		}
		a1Accept(t, r, m)
	}
	if err := r.Close(a1ctx(t)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(a1Timeout)
	for {
		if _, ok := b.Queue("/", addr); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dynamic queue %q outlived its link", addr)
		}
		time.Sleep(2 * time.Millisecond)
	}
	// A send to the gone address is refused, not stored.
	err = anon.Send(a1ctx(t), msg, nil)
	var ae *amqp.Error
	if !errors.As(err, &ae) || ae.Condition != amqp.ErrCondNotFound {
		t.Fatalf("send to a deleted dynamic address: %v", err)
	}
}

// TestAMQP1Broadcast: every receiver of a topic address gets its own copy.
func TestAMQP1Broadcast(t *testing.T) {
	b := newA1Broker(t)
	_, s := a1Dial(t, b, nil)
	const addr = "broadcast.openstack.compute.all"
	var rs []*amqp.Receiver
	for range 3 {
		rs = append(rs, a1Receiver(t, s, addr, nil))
	}
	snd := a1Sender(t, s, addr, nil)
	a1Send(t, snd, "fan")
	for i, r := range rs {
		m := a1Receive(t, r)
		if string(m.GetData()) != "fan" {
			t.Fatalf("receiver %d got %q", i, m.GetData())
		}
		a1Accept(t, r, m)
	}
	for _, n := range b.QueueNames("/") {
		if n == addr {
			t.Fatal("a topic address became a queue")
		}
	}
	// Routable multicast addresses are topics too.
	const raddr = "openstack.org/om/rpc/multicast/openstack/compute"
	r1, r2 := a1Receiver(t, s, raddr, nil), a1Receiver(t, s, raddr, nil)
	a1Send(t, a1Sender(t, s, raddr, nil), "rfan")
	for _, r := range []*amqp.Receiver{r1, r2} {
		if m := a1Receive(t, r); string(m.GetData()) != "rfan" {
			t.Fatalf("got %q", m.GetData())
		}
	}
	// Closing a subscriber deletes its subscription queue.
	before := len(b.QueueNames("/"))
	if err := r1.Close(a1ctx(t)); err != nil {
		t.Fatal(err)
	}
	if after := len(b.QueueNames("/")); after != before-1 {
		t.Fatalf("queues %d -> %d after closing a subscriber", before, after)
	}
}

// TestAMQP1CompetingConsumers: receivers of a queue address share its
// messages.
func TestAMQP1CompetingConsumers(t *testing.T) {
	b := newA1Broker(t)
	_, s := a1Dial(t, b, nil)
	const addr = "unicast.openstack.compute"
	r1, r2 := a1Receiver(t, s, addr, &amqp.ReceiverOptions{Credit: 10}), a1Receiver(t, s, addr, &amqp.ReceiverOptions{Credit: 10})
	waitQueue(t, b, addr, "2 consumers", func(q broker.QueueStats) bool { return q.Consumers == 2 })
	snd := a1Sender(t, s, addr, nil)
	for i := range 4 {
		a1Send(t, snd, fmt.Sprint(i))
	}
	got := map[string]bool{}
	for _, r := range []*amqp.Receiver{r1, r2} {
		for range 2 {
			m := a1Receive(t, r)
			got[string(m.GetData())] = true
			a1Accept(t, r, m)
		}
	}
	if len(got) != 4 {
		t.Fatalf("got %v", got)
	}
}

// TestAMQP1Patterns: topic and queue patterns are configurable; the
// longer match wins.
func TestAMQP1Patterns(t *testing.T) {
	b := brokertest.New(t, brokertest.WithOptions(broker.Options{AMQP1Addr: "127.0.0.1:0", AMQP1: broker.AMQP1Options{
		TopicPatterns: []string{"news"}, QueuePatterns: []string{"news/local"},
	}}))
	_, s := a1Dial(t, b, nil)
	r1, r2 := a1Receiver(t, s, "news.sport", nil), a1Receiver(t, s, "news.sport", nil)
	a1Send(t, a1Sender(t, s, "news.sport", nil), "goal")
	for _, r := range []*amqp.Receiver{r1, r2} {
		if m := a1Receive(t, r); string(m.GetData()) != "goal" {
			t.Fatalf("got %q", m.GetData())
		}
	}
	// Below a queue pattern longer than the topic one: a queue.
	a1Send(t, a1Sender(t, s, "news/local/weather", nil), "rain")
	if d := b.QueueDepth("/", "news/local/weather"); d != 1 {
		t.Fatalf("news/local/weather depth %d", d)
	}
	// "broadcast" is no topic prefix here, and "newsroom" does not lie
	// below "news": both are queues.
	for _, addr := range []string{"broadcast.x.all", "newsroom"} {
		a1Send(t, a1Sender(t, s, addr, nil), "q")
		if d := b.QueueDepth("/", addr); d != 1 {
			t.Fatalf("%s depth %d", addr, d)
		}
	}
}

// TestAMQP1DynamicTarget: a sending link with a dynamic target gets a
// temporary queue of its own, and other connections cannot consume from
// a connection's dynamic queues.
func TestAMQP1DynamicTarget(t *testing.T) {
	b := newA1Broker(t)
	_, s := a1Dial(t, b, nil)
	snd, err := s.NewSender(a1ctx(t), "", &amqp.SenderOptions{DynamicAddress: true})
	if err != nil {
		t.Fatal(err)
	}
	addr := snd.Address()
	if _, ok := b.Queue("/", addr); !ok || addr == "" {
		t.Fatalf("no queue for the dynamic target %q", addr)
	}
	a1Send(t, snd, "to-temp")
	r := a1Receiver(t, s, addr, nil)
	if m := a1Receive(t, r); string(m.GetData()) != "to-temp" {
		t.Fatalf("got %q", m.GetData())
	}
	_, other := a1Dial(t, b, nil)
	_, err = other.NewReceiver(a1ctx(t), addr, nil)
	var ae *amqp.Error
	if !errors.As(err, &ae) || ae.Condition != amqp.ErrCondResourceLocked {
		t.Fatalf("consuming another connection's dynamic queue: %v", err)
	}
	if err := snd.Close(a1ctx(t)); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Queue("/", addr); ok {
		t.Fatal("the dynamic target's queue outlived its link")
	}
}

// TestAMQP1TTL: a message's header ttl expires it in the queue.
func TestAMQP1TTL(t *testing.T) {
	b := newA1Broker(t)
	sub := b.Subscribe()
	_, s := a1Dial(t, b, nil)
	msg := amqp.NewMessage([]byte("short-lived"))
	msg.Header = &amqp.MessageHeader{TTL: 20 * time.Millisecond}
	if err := a1Sender(t, s, "ttl", nil).Send(a1ctx(t), msg, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.WaitFor(a1ctx(t), func(e broker.Event) bool { return e.Type == broker.EventExpired && e.Queue == "ttl" }); err != nil {
		t.Fatalf("no expiry: %v", err)
	}
	if d := b.QueueDepth("/", "ttl"); d != 0 {
		t.Fatalf("depth %d after expiry", d)
	}
}

// TestAMQP1SettleSecond: a receiver in receiver-settle-mode second
// settles after the broker; the message is acknowledged once.
func TestAMQP1SettleSecond(t *testing.T) {
	b := newA1Broker(t)
	_, s := a1Dial(t, b, nil)
	a1Send(t, a1Sender(t, s, "second", nil), "x")
	r := a1Receiver(t, s, "second", &amqp.ReceiverOptions{SettlementMode: new(amqp.ReceiverSettleModeSecond)})
	a1Accept(t, r, a1Receive(t, r))
	qs := waitQueue(t, b, "second", "acked", func(q broker.QueueStats) bool { return q.Acked == 1 })
	if qs.Ready != 0 || qs.Unacked != 0 {
		t.Fatalf("queue %+v", qs)
	}
}
