package amqp091

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// This file checks that the codec interoperates with a real client: a tiny
// broker built only on this package serves github.com/rabbitmq/amqp091-go
// over a loopback socket. The broker knows just enough to answer the
// client's calls; what matters is that every frame it sends is understood
// and every frame it receives decodes to what the client meant.

// serverMessage is a message as the test broker decoded it.
type serverMessage struct {
	exchange, routingKey string
	props                Properties
	body                 []byte
	bodyFrames           int
}

type consumerReg struct {
	channel uint16
	queue   string
	tag     string
}

// testBroker is the server side of the interop test. All its fields are
// used only by its own goroutine until done is closed.
type testBroker struct {
	conn net.Conn
	r    *Reader
	w    *Writer

	queues    map[string][]*serverMessage
	confirm   map[uint16]uint64 // channel -> last publish sequence number, in confirm mode
	delivery  map[uint16]uint64 // channel -> last delivery tag
	consumers []consumerReg

	// What the client sent, checked by the test after done is closed.
	startOk   ConnectionStartOk
	tuneOk    ConnectionTuneOk
	open      ConnectionOpen
	declares  []QueueDeclare
	published []*serverMessage
	acks      []BasicAck
	nacks     []BasicNack
	closed    bool
	err       error
}

const testFrameMax = 4096

func (b *testBroker) fail(format string, args ...any) error {
	return fmt.Errorf(format, args...)
}

// next returns the next method, skipping heartbeats. For a method with
// content it also reads the header and body frames.
func (b *testBroker) next() (uint16, Method, *serverMessage, error) {
	for {
		f, err := b.r.ReadFrame()
		if err != nil {
			return 0, nil, nil, err
		}
		switch f.Type {
		case FrameHeartbeat:
			continue
		case FrameMethod:
		default:
			return 0, nil, nil, b.fail("unexpected frame type %d", f.Type)
		}
		m, err := DecodeMethod(f.Payload)
		if err != nil {
			return 0, nil, nil, err
		}
		if !m.HasContent() {
			return f.Channel, m, nil, nil
		}
		ch := f.Channel
		hf, err := b.r.ReadFrame()
		if err != nil {
			return 0, nil, nil, err
		}
		if hf.Type != FrameHeader || hf.Channel != ch {
			return 0, nil, nil, b.fail("expected a header frame on channel %d, got type %d on %d", ch, hf.Type, hf.Channel)
		}
		var h ContentHeader
		if err := h.UnmarshalBinary(hf.Payload); err != nil {
			return 0, nil, nil, err
		}
		if h.ClassID != m.ClassID() {
			return 0, nil, nil, b.fail("header class %d for %s", h.ClassID, m.Name())
		}
		msg := &serverMessage{props: h.Properties}
		for uint64(len(msg.body)) < h.BodySize {
			bf, err := b.r.ReadFrame()
			if err != nil {
				return 0, nil, nil, err
			}
			if bf.Type != FrameBody || bf.Channel != ch {
				return 0, nil, nil, b.fail("expected a body frame on channel %d, got type %d on %d", ch, bf.Type, bf.Channel)
			}
			msg.body = append(msg.body, bf.Payload...)
			msg.bodyFrames++
		}
		if uint64(len(msg.body)) != h.BodySize {
			return 0, nil, nil, b.fail("body of %d bytes, header said %d", len(msg.body), h.BodySize)
		}
		return ch, m, msg, nil
	}
}

func (b *testBroker) send(ch uint16, m Method) error {
	return b.w.WriteMethod(ch, m)
}

// expect reads the next method and stores it in into, which must be of the
// same type.
func (b *testBroker) expect(into Method) error {
	ch, m, _, err := b.next()
	if err != nil {
		return err
	}
	if ch != 0 || m.Name() != into.Name() {
		return b.fail("got %s on channel %d, want %s on channel 0", m.Name(), ch, into.Name())
	}
	payload, err := m.MarshalBinary()
	if err != nil {
		return err
	}
	return into.UnmarshalBinary(payload)
}

func (b *testBroker) serve() error {
	br := bufio.NewReader(b.conn)
	bw := bufio.NewWriter(b.conn)
	b.r = NewReader(br, FrameMinSize)
	b.w = NewWriter(bw, FrameMinSize)
	if err := ReadProtocolHeader(br); err != nil {
		return err
	}
	err := b.send(0, &ConnectionStart{
		VersionMajor: 0,
		VersionMinor: 9,
		ServerProperties: Table{
			"product": "switchyard-test",
			"version": "0.0.0",
			"capabilities": Table{
				"publisher_confirms":         true,
				"basic.nack":                 true,
				"consumer_cancel_notify":     true,
				"connection.blocked":         true,
				"exchange_exchange_bindings": true,
			},
		},
		Mechanisms: "PLAIN AMQPLAIN",
		Locales:    "en_US",
	})
	if err != nil {
		return err
	}
	if err := b.w.Flush(); err != nil {
		return err
	}
	if err := b.expect(&b.startOk); err != nil {
		return err
	}
	if err := b.send(0, &ConnectionTune{ChannelMax: 16, FrameMax: testFrameMax, Heartbeat: 0}); err != nil {
		return err
	}
	if err := b.w.Flush(); err != nil {
		return err
	}
	if err := b.expect(&b.tuneOk); err != nil {
		return err
	}
	b.r.SetMaxFrame(b.tuneOk.FrameMax)
	b.w.SetMaxFrame(b.tuneOk.FrameMax)
	if err := b.expect(&b.open); err != nil {
		return err
	}
	if err := b.send(0, &ConnectionOpenOk{}); err != nil {
		return err
	}
	if err := b.w.Flush(); err != nil {
		return err
	}
	for {
		ch, m, msg, err := b.next()
		if err != nil {
			return err
		}
		done, err := b.handle(ch, m, msg)
		if err != nil {
			return err
		}
		if err := b.w.Flush(); err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

func (b *testBroker) handle(ch uint16, m Method, msg *serverMessage) (bool, error) {
	switch m := m.(type) {
	case *ChannelOpen:
		return false, b.send(ch, &ChannelOpenOk{})
	case *ChannelClose:
		return false, b.send(ch, &ChannelCloseOk{})
	case *ChannelCloseOk:
		return false, nil
	case *QueueDeclare:
		b.declares = append(b.declares, *m)
		switch m.Queue {
		case "trigger-blocked":
			if err := b.send(0, &ConnectionBlocked{Reason: "low on memory"}); err != nil {
				return false, err
			}
			if err := b.send(0, &ConnectionUnblocked{}); err != nil {
				return false, err
			}
		case "trigger-cancel":
			for _, c := range b.consumers {
				if err := b.send(c.channel, &BasicCancel{ConsumerTag: c.tag, NoWait: true}); err != nil {
					return false, err
				}
			}
			b.consumers = nil
		}
		if _, ok := b.queues[m.Queue]; !ok && m.Passive {
			return false, b.send(ch, &ChannelClose{
				ReplyCode:      NotFound,
				ReplyText:      (&Error{Code: NotFound, Text: fmt.Sprintf("no queue '%s'", m.Queue)}).ReplyText(),
				FailedClassID:  m.ClassID(),
				FailedMethodID: m.MethodID(),
			})
		}
		if _, ok := b.queues[m.Queue]; !ok {
			b.queues[m.Queue] = nil
		}
		return false, b.send(ch, &QueueDeclareOk{Queue: m.Queue, MessageCount: uint32(len(b.queues[m.Queue]))})
	case *ConfirmSelect:
		b.confirm[ch] = 0
		if m.NoWait {
			return false, nil
		}
		return false, b.send(ch, &ConfirmSelectOk{})
	case *BasicPublish:
		msg.exchange, msg.routingKey = m.Exchange, m.RoutingKey
		b.published = append(b.published, msg)
		if m.Exchange == "" {
			b.queues[m.RoutingKey] = append(b.queues[m.RoutingKey], msg)
		}
		if seq, ok := b.confirm[ch]; ok {
			b.confirm[ch] = seq + 1
			if err := b.send(ch, &BasicAck{DeliveryTag: seq + 1}); err != nil {
				return false, err
			}
		}
		return false, b.dispatch()
	case *BasicGet:
		q := b.queues[m.Queue]
		if len(q) == 0 {
			return false, b.send(ch, &BasicGetEmpty{})
		}
		head := q[0]
		b.queues[m.Queue] = q[1:]
		b.delivery[ch]++
		get := &BasicGetOk{
			DeliveryTag:  b.delivery[ch],
			Exchange:     head.exchange,
			RoutingKey:   head.routingKey,
			MessageCount: uint32(len(q) - 1),
		}
		return false, b.w.WriteContent(ch, get, &head.props, head.body)
	case *BasicConsume:
		b.consumers = append(b.consumers, consumerReg{channel: ch, queue: m.Queue, tag: m.ConsumerTag})
		if !m.NoWait {
			if err := b.send(ch, &BasicConsumeOk{ConsumerTag: m.ConsumerTag}); err != nil {
				return false, err
			}
		}
		return false, b.dispatch()
	case *BasicCancel:
		b.consumers = slices.DeleteFunc(b.consumers, func(c consumerReg) bool { return c.tag == m.ConsumerTag })
		if m.NoWait {
			return false, nil
		}
		return false, b.send(ch, &BasicCancelOk{ConsumerTag: m.ConsumerTag})
	case *BasicAck:
		b.acks = append(b.acks, *m)
		return false, nil
	case *BasicNack:
		b.nacks = append(b.nacks, *m)
		return false, nil
	case *ConnectionClose:
		b.closed = true
		return true, b.send(0, &ConnectionCloseOk{})
	}
	return false, b.fail("test broker got unexpected %s", m.Name())
}

// dispatch delivers queued messages to consumers.
func (b *testBroker) dispatch() error {
	for _, c := range b.consumers {
		for len(b.queues[c.queue]) > 0 {
			msg := b.queues[c.queue][0]
			b.queues[c.queue] = b.queues[c.queue][1:]
			b.delivery[c.channel]++
			d := &BasicDeliver{
				ConsumerTag: c.tag,
				DeliveryTag: b.delivery[c.channel],
				Exchange:    msg.exchange,
				RoutingKey:  msg.routingKey,
			}
			if err := b.w.WriteContent(c.channel, d, &msg.props, msg.body); err != nil {
				return err
			}
		}
	}
	return nil
}

// fromClient converts a value decoded by amqp091-go into the types this
// package decodes to, so the two can be compared.
func fromClient(v any) any {
	switch v := v.(type) {
	case amqp.Table:
		if len(v) == 0 {
			return Table(nil)
		}
		t := Table{}
		for k, x := range v {
			t[k] = fromClient(x)
		}
		return t
	case []any:
		if len(v) == 0 {
			return []any(nil)
		}
		a := make([]any, len(v))
		for i, x := range v {
			a[i] = fromClient(x)
		}
		return a
	case []byte:
		if len(v) == 0 {
			return []byte(nil)
		}
		return v
	case amqp.Decimal:
		return Decimal{Scale: v.Scale, Value: v.Value}
	case time.Time:
		return v.UTC()
	}
	return v
}

// clientHeaders has a value of every type amqp091-go can send.
func clientHeaders() amqp.Table {
	return amqp.Table{
		"bool-true":  true,
		"bool-false": false,
		"int8":       int8(-8),
		"uint8":      uint8(200),
		"int16":      int16(-1600),
		"uint16":     uint16(60000),
		"int32":      int32(-320000),
		"uint32":     uint32(4000000000),
		"int64":      int64(-64 << 40),
		"float32":    float32(3.25),
		"float64":    float64(-6.5e100),
		"decimal":    amqp.Decimal{Scale: 2, Value: -1234},
		"string":     "héllo wörld",
		"bytes":      []byte{0, 1, 2, 0xff},
		"array":      []any{int32(1), "two", []any{true, nil}, amqp.Table{"k": uint8(3)}},
		"time":       time.Unix(1700000000, 0),
		"table":      amqp.Table{"inner": amqp.Table{"deepest": "yes"}, "n": int64(7)},
		"void":       nil,
	}
}

func TestInteropWithAMQP091Go(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	deadline := time.Now().Add(20 * time.Second)
	broker := &testBroker{
		queues:   map[string][]*serverMessage{},
		confirm:  map[uint16]uint64{},
		delivery: map[uint16]uint64{},
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			broker.err = err
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(deadline)
		broker.conn = conn
		broker.err = broker.serve()
	}()
	// If the client fails early, closing the listener and waiting ends the
	// broker goroutine; its socket deadline bounds it in any case.
	defer func() { ln.Close(); <-done }()

	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	// wait receives from c or fails the test at the deadline.
	wait := func(what string, c <-chan struct{}) {
		t.Helper()
		select {
		case <-c:
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		}
	}

	conn, err := amqp.DialConfig(fmt.Sprintf("amqp://guest:guest@%s/", ln.Addr()), amqp.Config{
		Dial: func(network, addr string) (net.Conn, error) {
			c, err := net.DialTimeout(network, addr, 5*time.Second)
			if err == nil {
				_ = c.SetDeadline(deadline)
			}
			return c, err
		},
		Properties: amqp.Table{"product": "interop-test"},
	})
	if err != nil {
		ln.Close()
		wait("broker", done)
		t.Fatalf("dial: %v (broker: %v)", err, broker.err)
	}
	defer conn.Close()
	if conn.Major != 0 || conn.Minor != 9 || conn.Properties["product"] != "switchyard-test" {
		t.Fatalf("server properties %v %d.%d", conn.Properties, conn.Major, conn.Minor)
	}
	if caps, _ := conn.Properties["capabilities"].(amqp.Table); caps["publisher_confirms"] != true {
		t.Fatalf("capabilities %v", conn.Properties["capabilities"])
	}
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 2))

	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	args := amqp.Table{"x-max-length": int32(100), "x-queue-type": "classic"}
	q, err := ch.QueueDeclare("interop", true, false, false, false, args)
	if err != nil || q.Name != "interop" {
		t.Fatalf("declare: %+v %v", q, err)
	}

	// connection.blocked and connection.unblocked.
	if _, err := ch.QueueDeclare("trigger-blocked", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	for _, want := range []amqp.Blocking{{Active: true, Reason: "low on memory"}, {Active: false}} {
		select {
		case got := <-blocked:
			if got != want {
				t.Fatalf("blocking notice %+v, want %+v", got, want)
			}
		case <-ctx.Done():
			t.Fatal("no blocking notice")
		}
	}

	// Publish with every property and a body over three frames, in
	// confirm mode.
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 4))
	body := make([]byte, 10000)
	for i := range body {
		body[i] = byte(i % 251)
	}
	pub := amqp.Publishing{
		Headers:         clientHeaders(),
		ContentType:     "application/octet-stream",
		ContentEncoding: "identity",
		DeliveryMode:    amqp.Persistent,
		Priority:        5,
		CorrelationId:   "corr",
		ReplyTo:         "reply.queue",
		Expiration:      "60000",
		MessageId:       "id-1",
		Timestamp:       time.Unix(1700000999, 0),
		Type:            "kind",
		UserId:          "guest",
		AppId:           "interop",
		Body:            body,
	}
	if err := ch.PublishWithContext(ctx, "", "interop", false, false, pub); err != nil {
		t.Fatal(err)
	}
	waitConfirm := func(tag uint64) {
		t.Helper()
		select {
		case c := <-confirms:
			if !c.Ack || c.DeliveryTag != tag {
				t.Fatalf("confirmation %+v, want ack of %d", c, tag)
			}
		case <-ctx.Done():
			t.Fatal("no confirmation")
		}
	}
	waitConfirm(1)

	// basic.get returns it, re-encoded by the broker.
	msg, ok, err := ch.Get("interop", false)
	if err != nil || !ok {
		t.Fatalf("get: %v %v", ok, err)
	}
	if !bytes.Equal(msg.Body, body) {
		t.Fatal("body changed on the way")
	}
	if msg.DeliveryTag != 1 || msg.MessageCount != 0 || msg.RoutingKey != "interop" || msg.Exchange != "" {
		t.Fatalf("get-ok fields %+v", msg)
	}
	if msg.ContentType != pub.ContentType || msg.ContentEncoding != pub.ContentEncoding ||
		msg.DeliveryMode != pub.DeliveryMode || msg.Priority != pub.Priority ||
		msg.CorrelationId != pub.CorrelationId || msg.ReplyTo != pub.ReplyTo ||
		msg.Expiration != pub.Expiration || msg.MessageId != pub.MessageId ||
		!msg.Timestamp.Equal(pub.Timestamp) || msg.Type != pub.Type ||
		msg.UserId != pub.UserId || msg.AppId != pub.AppId {
		t.Fatalf("properties changed on the way: %+v", msg)
	}
	if !deepEqual(fromClient(msg.Headers), fromClient(pub.Headers)) {
		t.Fatalf("headers changed on the way:\n got %#v\nwant %#v", msg.Headers, pub.Headers)
	}
	if err := msg.Ack(false); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := ch.Get("interop", true); ok || err != nil {
		t.Fatalf("second get: %v %v", ok, err)
	}

	// A consumer gets the next message as basic.deliver; nack it.
	deliveries, err := ch.Consume("interop", "my-consumer", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	cancels := ch.NotifyCancel(make(chan string, 1))
	if err := ch.PublishWithContext(ctx, "", "interop", false, false, amqp.Publishing{Body: []byte("second")}); err != nil {
		t.Fatal(err)
	}
	waitConfirm(2)
	select {
	case d := <-deliveries:
		if string(d.Body) != "second" || d.ConsumerTag != "my-consumer" || d.DeliveryTag != 2 || d.RoutingKey != "interop" || d.Redelivered {
			t.Fatalf("delivery %+v", d)
		}
		if err := d.Nack(false, true); err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("no delivery")
	}

	// The broker cancels the consumer (basic.cancel from the server).
	if _, err := ch.QueueDeclare("trigger-cancel", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case tag := <-cancels:
		if tag != "my-consumer" {
			t.Fatalf("cancelled %q", tag)
		}
	case <-ctx.Done():
		t.Fatal("no cancel notice")
	}

	// A passive declare of a missing queue gets channel.close 404.
	_, err = ch.QueueDeclarePassive("missing", false, false, false, false, nil)
	var aerr *amqp.Error
	if !errors.As(err, &aerr) || aerr.Code != NotFound || aerr.Reason != "NOT_FOUND - no queue 'missing'" || !aerr.Server {
		t.Fatalf("passive declare: %#v", err)
	}

	// A fresh channel, closed by the client.
	ch2, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	wait("broker", done)
	if broker.err != nil {
		t.Fatalf("broker: %v", broker.err)
	}

	// What the broker decoded from the client.
	if broker.startOk.Mechanism != "PLAIN" || broker.startOk.Response != "\x00guest\x00guest" || broker.startOk.Locale != "en_US" {
		t.Errorf("start-ok %+v", broker.startOk)
	}
	if broker.startOk.ClientProperties["product"] != "interop-test" {
		t.Errorf("client properties %v", broker.startOk.ClientProperties)
	}
	if caps, _ := broker.startOk.ClientProperties["capabilities"].(Table); caps["publisher_confirms"] != true || caps["connection.blocked"] != true {
		t.Errorf("client capabilities %v", broker.startOk.ClientProperties["capabilities"])
	}
	if broker.tuneOk.FrameMax != testFrameMax || broker.tuneOk.ChannelMax != 16 {
		t.Errorf("tune-ok %+v", broker.tuneOk)
	}
	if broker.open.VirtualHost != "/" {
		t.Errorf("open %+v", broker.open)
	}
	if d := broker.declares[0]; d.Queue != "interop" || !d.Durable || d.AutoDelete || d.Exclusive || d.NoWait || d.Passive ||
		!deepEqual(d.Arguments, fromClient(args)) {
		t.Errorf("queue.declare %+v", d)
	}
	if last := broker.declares[len(broker.declares)-1]; last.Queue != "missing" || !last.Passive {
		t.Errorf("passive queue.declare %+v", last)
	}
	if len(broker.published) != 2 {
		t.Fatalf("%d messages published", len(broker.published))
	}
	first := broker.published[0]
	if first.bodyFrames != 3 || !bytes.Equal(first.body, body) {
		t.Errorf("first body in %d frames", first.bodyFrames)
	}
	wantProps := Properties{
		Flags:           propertyMask &^ FlagClusterID,
		Headers:         fromClient(pub.Headers).(Table),
		ContentType:     pub.ContentType,
		ContentEncoding: pub.ContentEncoding,
		DeliveryMode:    pub.DeliveryMode,
		Priority:        pub.Priority,
		CorrelationID:   pub.CorrelationId,
		ReplyTo:         pub.ReplyTo,
		Expiration:      pub.Expiration,
		MessageID:       pub.MessageId,
		Timestamp:       pub.Timestamp.UTC(),
		Type:            pub.Type,
		UserID:          pub.UserId,
		AppID:           pub.AppId,
	}
	if !deepEqual(first.props, wantProps) {
		t.Errorf("decoded properties\n got %#v\nwant %#v", first.props, wantProps)
	}
	if second := broker.published[1]; string(second.body) != "second" || second.props.Flags != 0 || second.bodyFrames != 1 {
		t.Errorf("second message %+v", second)
	}
	if !slices.Equal(broker.acks, []BasicAck{{DeliveryTag: 1}}) {
		t.Errorf("acks %+v", broker.acks)
	}
	if !slices.Equal(broker.nacks, []BasicNack{{DeliveryTag: 2, Requeue: true}}) {
		t.Errorf("nacks %+v", broker.nacks)
	}
	if !broker.closed {
		t.Error("connection.close not seen")
	}
}
