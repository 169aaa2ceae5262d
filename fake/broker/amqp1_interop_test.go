package broker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/switchyard-dev/switchyard/fake/broker"
	"github.com/switchyard-dev/switchyard/fake/brokertest"
	"github.com/switchyard-dev/switchyard/fake/fault"
)

// TestAMQP1To091 publishes over AMQP 1.0 and consumes over AMQP 0-9-1 from
// the same queue.
func TestAMQP1To091(t *testing.T) {
	b := newA1Broker(t)
	_, s := a1Dial(t, b, nil)
	snd := a1Sender(t, s, "shared", nil)
	id := "id-1"
	corr := "corr-1"
	replyTo := "replies"
	ctype := "application/json"
	msg := amqp.NewMessage([]byte(`{"x":1}`))
	msg.Properties = &amqp.MessageProperties{MessageID: id, CorrelationID: corr, ReplyTo: &replyTo, ContentType: &ctype}
	msg.ApplicationProperties = map[string]any{"k": "v", "n": int64(7)}
	msg.Header = &amqp.MessageHeader{Durable: true, Priority: 6}
	if err := snd.Send(a1ctx(t), msg, nil); err != nil {
		t.Fatal(err)
	}
	// An amqp-value string body, as oslo's drivers send.
	vmsg := &amqp.Message{Value: "text body"}
	if err := snd.Send(a1ctx(t), vmsg, nil); err != nil {
		t.Fatal(err)
	}
	_, ch := dialChannel(t, b)
	ds, err := ch.Consume("shared", "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := within(t, ds, "first delivery")
	if string(d.Body) != `{"x":1}` || d.MessageId != id || d.CorrelationId != corr || d.ReplyTo != replyTo ||
		d.ContentType != ctype || d.DeliveryMode != 2 || d.Priority != 6 || d.Headers["k"] != "v" || d.Headers["n"] != int64(7) {
		t.Fatalf("0-9-1 delivery %+v", d)
	}
	d.Ack(false)
	d = within(t, ds, "second delivery")
	if string(d.Body) != "text body" {
		t.Fatalf("amqp-value body as %q", d.Body)
	}
	d.Ack(false)
	waitQueue(t, b, "shared", "acked", func(q broker.QueueStats) bool { return q.Acked == 2 })
}

// TestAMQP091To1 publishes over AMQP 0-9-1 and consumes over AMQP 1.0,
// also a message that crossed the other way and was requeued.
func TestAMQP091To1(t *testing.T) {
	b := newA1Broker(t)
	_, ch := dialChannel(t, b)
	if _, err := ch.QueueDeclare("from091", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	confirms := ch.NotifyPublish(make(chan amqp091.Confirmation, 1))
	err := ch.PublishWithContext(a1ctx(t), "", "from091", false, false, amqp091.Publishing{
		Body: []byte("hello"), MessageId: "m1", CorrelationId: "c1", ContentType: "text/plain", DeliveryMode: 2,
		Headers: amqp091.Table{"h": "x", "table": amqp091.Table{"skipped": true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if c := within(t, confirms, "confirm"); !c.Ack {
		t.Fatal("nacked")
	}
	_, s := a1Dial(t, b, nil)
	r := a1Receiver(t, s, "from091", nil)
	m := a1Receive(t, r)
	if string(m.GetData()) != "hello" || m.Properties == nil || m.Properties.MessageID != "m1" || m.Properties.CorrelationID != "c1" ||
		*m.Properties.ContentType != "text/plain" || !m.Header.Durable || m.ApplicationProperties["h"] != "x" {
		t.Fatalf("AMQP 1.0 delivery %+v %+v %+v %v", m.Header, m.Properties, m.GetData(), m.ApplicationProperties)
	}
	if _, ok := m.ApplicationProperties["table"]; ok {
		t.Fatal("a nested table became an application property")
	}
	a1Accept(t, r, m)

	// A message published over AMQP 1.0, taken and requeued over 0-9-1,
	// reaches an AMQP 1.0 consumer intact.
	snd := a1Sender(t, s, "roundtrip", nil)
	if err := snd.Send(a1ctx(t), &amqp.Message{Value: "v", ApplicationProperties: map[string]any{"a": "b"}}, nil); err != nil {
		t.Fatal(err)
	}
	ds, err := ch.Consume("roundtrip", "c", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	within(t, ds, "0-9-1 delivery").Nack(false, true)
	within(t, ds, "0-9-1 redelivery")
	if err := ch.Cancel("c", false); err != nil {
		t.Fatal(err)
	}
	ch.Close() // requeues
	r2 := a1Receiver(t, s, "roundtrip", nil)
	m = a1Receive(t, r2)
	if m.Value != "v" || m.ApplicationProperties["a"] != "b" {
		t.Fatalf("round trip: value %v props %v", m.Value, m.ApplicationProperties)
	}
}

// TestAMQP1Events: the event log and connection counters see AMQP 1.0
// clients as they see AMQP 0-9-1 ones.
func TestAMQP1Events(t *testing.T) {
	b := newA1Broker(t)
	sub := b.Subscribe()
	c, s := a1Dial(t, b, &amqp.ConnOptions{ContainerID: "svc-1", SASLType: amqp.SASLTypePlain("guest", "guest")})
	a1Send(t, a1Sender(t, s, "ev", nil), "e")
	r := a1Receiver(t, s, "ev", nil)
	a1Accept(t, r, a1Receive(t, r))
	waitQueue(t, b, "ev", "acked", func(q broker.QueueStats) bool { return q.Acked == 1 })
	cs := b.Connections()
	if len(cs) != 1 || cs[0].Name != "svc-1" || cs[0].User != "guest" || cs[0].Published != 1 || cs[0].Confirmed != 1 || cs[0].Delivered != 1 || cs[0].Acked != 1 {
		t.Fatalf("connections %+v", cs)
	}
	if n := b.ConnectionsServing("svc-*", time.Now()); n != 1 {
		t.Fatalf("ConnectionsServing %d", n)
	}
	c.Close()
	ctx := a1ctx(t)
	want := []broker.EventType{broker.EventConnectionOpened, broker.EventQueueDeclared, broker.EventPublished, broker.EventRouted,
		broker.EventConfirmed, broker.EventDelivered, broker.EventAcked, broker.EventConnectionClosed}
	for _, w := range want {
		e, err := sub.WaitFor(ctx, func(e broker.Event) bool { return e.Type == w })
		if err != nil {
			t.Fatalf("no %s event: %v", w, err)
		}
		if e.Connection != "svc-1" {
			t.Fatalf("%s event for connection %q", w, e.Connection)
		}
	}
}

func newA1FaultBroker(t *testing.T) (*broker.Broker, *fault.Injector) {
	inj := fault.New(1)
	return newA1Broker(t, brokertest.WithFaults(inj)), inj
}

func enableFault(t *testing.T, inj *fault.Injector, f fault.Fault) fault.ID {
	t.Helper()
	id, err := inj.Enable(f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inj.Disable(id) })
	return id
}

func TestAMQP1FaultCloseConnections(t *testing.T) {
	b, inj := newA1FaultBroker(t)
	c, s := a1Dial(t, b, &amqp.ConnOptions{ContainerID: "victim", SASLType: amqp.SASLTypePlain("guest", "guest")})
	r := a1Receiver(t, s, "fq", nil)
	a1Dial(t, b, &amqp.ConnOptions{ContainerID: "bystander", SASLType: amqp.SASLTypePlain("guest", "guest")})
	enableFault(t, inj, fault.Fault{Kind: fault.CloseConnections, Scope: fault.Scope{Connection: "victim"}})
	_, err := r.Receive(a1ctx(t), nil)
	var ce *amqp.ConnError
	if !errors.As(err, &ce) || ce.RemoteErr == nil || ce.RemoteErr.Condition != amqp.ErrCondConnectionForced {
		t.Fatalf("receive on a force-closed connection: %v", err)
	}
	c.Close()
	deadline := time.Now().Add(a1Timeout)
	for b.ConnectionsServing("victim", time.Now()) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the closed connection is still served")
		}
		time.Sleep(2 * time.Millisecond)
	}
	if b.ConnectionsServing("bystander", time.Now()) != 1 {
		t.Fatal("the fault closed another connection")
	}
	// CloseConnections on the broker itself works the same way.
	c2, s2 := a1Dial(t, b, &amqp.ConnOptions{ContainerID: "second", SASLType: amqp.SASLTypePlain("guest", "guest")})
	r2 := a1Receiver(t, s2, "fq", nil)
	if n := b.CloseConnections("second", "test"); n != 1 {
		t.Fatalf("closed %d", n)
	}
	if _, err := r2.Receive(a1ctx(t), nil); !errors.As(err, &ce) {
		t.Fatalf("receive after CloseConnections: %v", err)
	}
	c2.Close()
}

func TestAMQP1FaultRefuseConnections(t *testing.T) {
	b, inj := newA1FaultBroker(t)
	id := enableFault(t, inj, fault.Fault{Kind: fault.RefuseConnections})
	// The broker answers open and closes at once: go-amqp may report it
	// at Dial or at the first session.
	c, err := amqp.Dial(a1ctx(t), "amqp://"+b.AMQP1Addr(), &amqp.ConnOptions{ContainerID: "refused", SASLType: amqp.SASLTypePlain("guest", "guest")})
	if err == nil {
		_, err = c.NewSession(a1ctx(t), nil)
		c.Close()
	}
	var ce *amqp.ConnError
	if !errors.As(err, &ce) || ce.RemoteErr == nil || ce.RemoteErr.Condition != amqp.ErrCondConnectionForced {
		t.Fatalf("a refused connection: %v", err)
	}
	if b.ConnectionAttempts("refused") != 1 {
		t.Fatalf("attempts %d", b.ConnectionAttempts("refused"))
	}
	inj.Disable(id)
	a1Dial(t, b, nil)
}

func TestAMQP1FaultPauseDeliveries(t *testing.T) {
	b, inj := newA1FaultBroker(t)
	_, s := a1Dial(t, b, nil)
	r := a1Receiver(t, s, "paused", nil)
	id := enableFault(t, inj, fault.Fault{Kind: fault.PauseDeliveries, Scope: fault.Scope{Queue: "paused"}})
	a1Send(t, a1Sender(t, s, "paused", nil), "held")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	if m, err := r.Receive(ctx, nil); err == nil {
		t.Fatalf("delivered while paused: %q", m.GetData())
	}
	cancel()
	inj.Disable(id)
	if m := a1Receive(t, r); string(m.GetData()) != "held" {
		t.Fatalf("got %q", m.GetData())
	}
}

func TestAMQP1FaultMutants(t *testing.T) {
	b, inj := newA1FaultBroker(t)
	_, s := a1Dial(t, b, nil)
	// lose-acknowledged: the send is accepted, the message never stored.
	id := enableFault(t, inj, fault.Fault{Kind: fault.LoseAcknowledged, Scope: fault.Scope{Queue: "lost"}})
	a1Send(t, a1Sender(t, s, "lost", nil), "gone")
	if d := b.QueueDepth("/", "lost"); d != 0 {
		t.Fatalf("lose-acknowledged stored the message: depth %d", d)
	}
	inj.Disable(id)
	// duplicate-delivery: one send, two copies.
	enableFault(t, inj, fault.Fault{Kind: fault.DuplicateDelivery, Scope: fault.Scope{Queue: "dup"}, Limit: 1})
	a1Send(t, a1Sender(t, s, "dup", nil), "twice")
	r := a1Receiver(t, s, "dup", nil)
	for range 2 {
		m := a1Receive(t, r)
		if string(m.GetData()) != "twice" {
			t.Fatalf("got %q", m.GetData())
		}
		a1Accept(t, r, m)
	}
}

// TestAMQP1FaultNackPublishes: a publish the broker does not store is
// rejected, so the sender learns it failed.
func TestAMQP1FaultNackPublishes(t *testing.T) {
	b, inj := newA1FaultBroker(t)
	_, s := a1Dial(t, b, nil)
	enableFault(t, inj, fault.Fault{Kind: fault.NackPublishes, Scope: fault.Scope{Queue: "nacked"}})
	err := a1Sender(t, s, "nacked", nil).Send(a1ctx(t), amqp.NewMessage([]byte("x")), nil)
	var ae *amqp.Error
	if !errors.As(err, &ae) {
		t.Fatalf("send under nack-publishes: %v", err)
	}
	if b.Stats().Totals.PublishNacked != 1 {
		t.Fatalf("totals %+v", b.Stats().Totals)
	}
}

// TestAMQP1QueueDeleted: a receiver whose queue is deleted over 0-9-1 is
// detached with amqp:resource-deleted.
func TestAMQP1QueueDeleted(t *testing.T) {
	b := newA1Broker(t)
	_, s := a1Dial(t, b, nil)
	r := a1Receiver(t, s, "doomed", nil)
	_, ch := dialChannel(t, b)
	if _, err := ch.QueueDelete("doomed", false, false, false); err != nil {
		t.Fatal(err)
	}
	_, err := r.Receive(a1ctx(t), nil)
	var le *amqp.LinkError
	if !errors.As(err, &le) || le.RemoteErr == nil || le.RemoteErr.Condition != amqp.ErrCondResourceDeleted {
		t.Fatalf("receive from a deleted queue: %v", err)
	}
}

// TestAMQP1Restart: Restart drops AMQP 1.0 clients and listens again on
// the same port.
func TestAMQP1Restart(t *testing.T) {
	b := newA1Broker(t)
	addr := b.AMQP1Addr()
	_, s := a1Dial(t, b, nil)
	r := a1Receiver(t, s, "restart", nil)
	if err := b.Restart(a1ctx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Receive(a1ctx(t), nil); err == nil {
		t.Fatal("receive went on across a restart")
	}
	if b.AMQP1Addr() != addr {
		t.Fatalf("address %s -> %s", addr, b.AMQP1Addr())
	}
	_, s2 := a1Dial(t, b, nil)
	a1Send(t, a1Sender(t, s2, "restart", nil), "again")
	r2 := a1Receiver(t, s2, "restart", nil)
	if m := a1Receive(t, r2); string(m.GetData()) != "again" {
		t.Fatalf("got %q", m.GetData())
	}
}

// TestAMQP1Auth: wrong credentials are refused; vhosts are chosen by the
// open's hostname.
func TestAMQP1Auth(t *testing.T) {
	b := newA1Broker(t, brokertest.WithUser("u", "p"), brokertest.WithVHosts("/", "other"))
	if _, err := amqp.Dial(a1ctx(t), "amqp://"+b.AMQP1Addr(), &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("u", "wrong")}); err == nil {
		t.Fatal("wrong password accepted")
	}
	_, s := a1Dial(t, b, &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("u", "p"), HostName: "other"})
	a1Send(t, a1Sender(t, s, "inother", nil), "x")
	if _, ok := b.Queue("other", "inother"); !ok {
		t.Fatal("the queue is not in vhost other")
	}
	// Anonymous clients are welcome unless NoAnonymous says otherwise.
	a1Dial(t, b, &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous()})
	strict := brokertest.New(t, brokertest.WithOptions(broker.Options{AMQP1Addr: "127.0.0.1:0", AMQP1: broker.AMQP1Options{NoAnonymous: true}}))
	c, err := amqp.Dial(a1ctx(t), "amqp://"+strict.AMQP1Addr(), &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous()})
	if err == nil {
		c.Close()
		t.Fatal("an anonymous client got in despite NoAnonymous")
	}
	a1Dial(t, strict, nil)
}

// TestAMQP1FaultConfirms: withheld and delayed confirms hold back the
// accepted outcome of an AMQP 1.0 send the same way.
func TestAMQP1FaultConfirms(t *testing.T) {
	b, inj := newA1FaultBroker(t)
	_, s := a1Dial(t, b, nil)
	snd := a1Sender(t, s, "held", nil)
	id := enableFault(t, inj, fault.Fault{Kind: fault.WithholdConfirms, Scope: fault.Scope{Queue: "held"}})
	done := make(chan error, 1)
	go func() { done <- snd.Send(context.Background(), amqp.NewMessage([]byte("x")), nil) }()
	waitQueue(t, b, "held", "stored", func(q broker.QueueStats) bool { return q.Ready == 1 })
	quiet(t, done, 50*time.Millisecond, "send under withhold-confirms")
	inj.Disable(id)
	if err := within(t, done, "send after the fault ended"); err != nil {
		t.Fatal(err)
	}
	enableFault(t, inj, fault.Fault{Kind: fault.DelayConfirms, Scope: fault.Scope{Queue: "held"}, Delay: 100 * time.Millisecond})
	start := time.Now()
	a1Send(t, snd, "y")
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("delayed confirm came after %v", d)
	}
}

// TestAMQP1FaultBlockPublishers: a blocked connection's senders get no
// credit until the fault ends.
func TestAMQP1FaultBlockPublishers(t *testing.T) {
	b, inj := newA1FaultBroker(t)
	_, s := a1Dial(t, b, &amqp.ConnOptions{ContainerID: "blocked", SASLType: amqp.SASLTypePlain("guest", "guest")})
	snd := a1Sender(t, s, "blockq", nil)
	id := enableFault(t, inj, fault.Fault{Kind: fault.BlockPublishers, Scope: fault.Scope{Connection: "blocked"}})
	sub := b.SubscribeAll()
	if _, err := sub.WaitFor(a1ctx(t), func(e broker.Event) bool { return e.Type == broker.EventConnectionBlocked }); err != nil {
		t.Fatal(err)
	}
	// go-amqp may have credit left from before; use it up, then a send
	// waits.
	done := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			if err := snd.Send(context.Background(), amqp.NewMessage([]byte("b")), nil); err != nil || b.QueueDepth("/", "blockq") > 300 {
				done <- err
				return
			}
		}
	}()
	deadline := time.Now().Add(a1Timeout)
	for {
		depth := b.QueueDepth("/", "blockq")
		quietFor := 100 * time.Millisecond
		select {
		case err := <-done:
			t.Fatalf("sends went on while blocked (depth %d): %v", b.QueueDepth("/", "blockq"), err)
		case <-time.After(quietFor):
		}
		if b.QueueDepth("/", "blockq") == depth {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("sends never stopped")
		}
	}
	// The credit granted before the block is all a blocked sender used.
	if d := b.QueueDepth("/", "blockq"); d > broker.DefaultAMQP1Credit {
		t.Fatalf("%d messages stored while blocked", d)
	}
	inj.Disable(id)
	waitQueue(t, b, "blockq", "sends resumed", func(q broker.QueueStats) bool { return q.Ready > 300 })
	if err := within(t, done, "sender"); err != nil {
		t.Fatal(err)
	}
}

// TestAMQP1FaultCloseChannels: closing channels detaches AMQP 1.0 links
// with amqp:link:detach-forced and requeues what they held.
func TestAMQP1FaultCloseChannels(t *testing.T) {
	b, inj := newA1FaultBroker(t)
	_, s := a1Dial(t, b, &amqp.ConnOptions{ContainerID: "chans", SASLType: amqp.SASLTypePlain("guest", "guest")})
	a1Send(t, a1Sender(t, s, "cq", nil), "x")
	r := a1Receiver(t, s, "cq", nil)
	a1Receive(t, r)
	enableFault(t, inj, fault.Fault{Kind: fault.CloseChannels, Scope: fault.Scope{Connection: "chans", Queue: "cq"}, Limit: 1})
	_, err := r.Receive(a1ctx(t), nil)
	var le *amqp.LinkError
	if !errors.As(err, &le) || le.RemoteErr == nil || le.RemoteErr.Condition != amqp.ErrCondDetachForced {
		t.Fatalf("receive on a closed channel's link: %v", err)
	}
	waitQueue(t, b, "cq", "requeued", func(q broker.QueueStats) bool { return q.Ready == 1 && q.Unacked == 0 })
}

// TestAMQP1FaultLinks: the link faults of the router act on the broker's
// AMQP 1.0 links too: detach-links detaches with detach-forced (requeuing
// what the link held) and withhold-credit stops senders.
func TestAMQP1FaultLinks(t *testing.T) {
	b, inj := newA1FaultBroker(t)
	_, s := a1Dial(t, b, nil)
	a1Send(t, a1Sender(t, s, "lq", nil), "x")
	r := a1Receiver(t, s, "lq", nil)
	a1Receive(t, r)
	enableFault(t, inj, fault.Fault{Kind: fault.DetachLinks, Scope: fault.Scope{Queue: "lq"}})
	_, err := r.Receive(a1ctx(t), nil)
	var le *amqp.LinkError
	if !errors.As(err, &le) || le.RemoteErr == nil || le.RemoteErr.Condition != amqp.ErrCondDetachForced {
		t.Fatalf("receive on a detached link: %v", err)
	}
	waitQueue(t, b, "lq", "requeued", func(q broker.QueueStats) bool { return q.Ready == 1 && q.Unacked == 0 })

	id := enableFault(t, inj, fault.Fault{Kind: fault.WithholdCredit, Scope: fault.Scope{Queue: "starved"}})
	// A new connection: go-amqp may reuse the detached link's handle
	// before it has answered the detach.
	_, s2 := a1Dial(t, b, nil)
	snd := a1Sender(t, s2, "starved", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	err = snd.Send(ctx, amqp.NewMessage([]byte("y")), nil)
	cancel()
	if err == nil {
		t.Fatal("a send went through without credit")
	}
	inj.Disable(id)
	a1Send(t, snd, "z")
	waitQueue(t, b, "starved", "stored", func(q broker.QueueStats) bool { return q.Ready >= 1 })
}

// TestAMQP1SenderOutlivesQueue: a sending link whose queue is deleted
// stores its next message in a queue made again, as a new attach would.
func TestAMQP1SenderOutlivesQueue(t *testing.T) {
	b := newA1Broker(t)
	_, s := a1Dial(t, b, nil)
	snd := a1Sender(t, s, "phoenix", nil)
	a1Send(t, snd, "first")
	_, ch := dialChannel(t, b)
	if _, err := ch.QueueDelete("phoenix", false, false, false); err != nil {
		t.Fatal(err)
	}
	a1Send(t, snd, "second")
	if d := b.QueueDepth("/", "phoenix"); d != 1 {
		t.Fatalf("depth %d after the queue came back", d)
	}
}
