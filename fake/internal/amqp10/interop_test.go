package amqp10

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"testing"
	"time"

	amqp "github.com/Azure/go-amqp"
)

// interopPeer is a minimal AMQP 1.0 server built only from this package's
// codec, enough to let go-amqp's client authenticate, open a session, send
// messages to one link and receive messages from another. It is a test
// harness, not an engine: one connection, one session, no error recovery.
type interopPeer struct {
	conn net.Conn
	r    *bufio.Reader
	out  []byte

	// received gets each complete message the client sent, decoded.
	received chan *Message
	// outcomes gets the state of each client disposition for our deliveries.
	outcomes chan DeliveryState
	// outgoing are the encoded messages to deliver on the client's receiver
	// link, each split into frames of at most chunk payload bytes.
	outgoing [][]byte
	chunk    int

	channel          uint16
	nextOutgoingID   uint32            // session transfer-id counter
	clientNextOut    uint32            // client's next-outgoing-id, from its begin
	handles          map[uint32]uint32 // client handle -> our handle
	senderHandle     *uint32           // our handle of the link we send on
	deliveryCount    uint32            // our delivery-count on that link
	credit           uint32            // credit the client granted on it
	partial          []byte            // payload of an incomplete incoming delivery
	partialID        uint32
	partialSettled   bool
	transfersFromCli int
}

const interopMaxFrame = 4096

func (p *interopPeer) send(t FrameType, body FrameBody) error {
	var err error
	if p.out, err = AppendFrame(p.out[:0], t, p.channel, body); err != nil {
		return err
	}
	if len(p.out) > interopMaxFrame && t == FrameTypeAMQP {
		return fmt.Errorf("frame of %d bytes exceeds the client's max frame size", len(p.out))
	}
	_, err = p.conn.Write(p.out)
	return err
}

func (p *interopPeer) expectHeader(want ProtocolHeader) error {
	got, err := ReadProtocolHeader(p.r)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("protocol header %v, want %v", got, want)
	}
	b := want.Bytes()
	_, err = p.conn.Write(b[:])
	return err
}

func (p *interopPeer) serve() error {
	// SASL layer: offer ANONYMOUS, accept it.
	if err := p.expectHeader(HeaderSASL); err != nil {
		return fmt.Errorf("SASL header: %w", err)
	}
	if err := p.send(FrameTypeSASL, &SASLMechanisms{Mechanisms: []Symbol{SASLMechanismAnonymous}}); err != nil {
		return err
	}
	f, err := ReadFrame(p.r, MinMaxFrameSize)
	if err != nil {
		return fmt.Errorf("sasl-init frame: %w", err)
	}
	body, err := DecodeFrameBody(f)
	if err != nil {
		return err
	}
	init, ok := body.(*SASLInit)
	if !ok || f.Type != FrameTypeSASL || init.Mechanism != SASLMechanismAnonymous {
		return fmt.Errorf("unexpected SASL frame %#v", body)
	}
	if err := p.send(FrameTypeSASL, &SASLOutcome{Code: SASLCodeOK}); err != nil {
		return err
	}
	if err := p.expectHeader(HeaderAMQP); err != nil {
		return fmt.Errorf("AMQP header: %w", err)
	}

	for {
		f, err := ReadFrame(p.r, interopMaxFrame)
		if err != nil {
			return fmt.Errorf("reading frame: %w", err)
		}
		body, err := DecodeFrameBody(f)
		if err != nil {
			return err
		}
		if body == nil {
			continue // keepalive
		}
		if f.Type != FrameTypeAMQP {
			return fmt.Errorf("SASL frame %T after SASL", body)
		}
		done, err := p.handle(f.Channel, body)
		if err != nil || done {
			return err
		}
	}
}

func (p *interopPeer) handle(channel uint16, body FrameBody) (done bool, err error) {
	switch b := body.(type) {
	case *Open:
		if b.ContainerID == "" {
			return false, errors.New("open without container-id")
		}
		return false, p.send(FrameTypeAMQP, &Open{ContainerID: "switchyard-interop", MaxFrameSize: interopMaxFrame, ChannelMax: ptr(uint16(0))})
	case *Begin:
		p.channel = channel
		p.clientNextOut = b.NextOutgoingID
		return false, p.send(FrameTypeAMQP, &Begin{RemoteChannel: &channel, NextOutgoingID: p.nextOutgoingID, IncomingWindow: 1000, OutgoingWindow: 1000})
	case *Attach:
		ours := uint32(len(p.handles))
		p.handles[b.Handle] = ours
		reply := &Attach{Name: b.Name, Handle: ours, Source: b.Source, Target: b.Target, SenderSettleMode: b.SenderSettleMode, ReceiverSettleMode: b.ReceiverSettleMode}
		if b.Role == RoleSender {
			reply.Role = RoleReceiver
			if err := p.send(FrameTypeAMQP, reply); err != nil {
				return false, err
			}
			dc := b.InitialDeliveryCount
			return false, p.send(FrameTypeAMQP, &Flow{
				NextIncomingID: &p.clientNextOut, IncomingWindow: 1000, NextOutgoingID: p.nextOutgoingID, OutgoingWindow: 1000,
				Handle: &ours, DeliveryCount: &dc, LinkCredit: ptr(uint32(10)),
			})
		}
		reply.Role = RoleSender
		reply.InitialDeliveryCount = p.deliveryCount
		p.senderHandle = &ours
		return false, p.send(FrameTypeAMQP, reply)
	case *Flow:
		if b.Handle != nil && p.senderHandle != nil && p.handles[*b.Handle] == *p.senderHandle && b.LinkCredit != nil {
			dc := p.deliveryCount
			if b.DeliveryCount != nil {
				dc = *b.DeliveryCount
			}
			p.credit = dc + *b.LinkCredit - p.deliveryCount
		}
		return false, p.deliver()
	case *Transfer:
		return false, p.receiveTransfer(b)
	case *Disposition:
		if b.Role != RoleReceiver {
			return false, fmt.Errorf("disposition from the client's sender: %#v", b)
		}
		p.outcomes <- b.State
		return false, nil
	case *Detach:
		return false, p.send(FrameTypeAMQP, &Detach{Handle: p.handles[b.Handle], Closed: b.Closed})
	case *End:
		return false, p.send(FrameTypeAMQP, &End{})
	case *Close:
		return true, p.send(FrameTypeAMQP, &Close{})
	}
	return false, fmt.Errorf("unexpected performative %T", body)
}

// receiveTransfer collects the frames of a delivery, decodes the message
// when complete and accepts it.
func (p *interopPeer) receiveTransfer(t *Transfer) error {
	p.transfersFromCli++
	if p.partial == nil {
		if t.DeliveryID == nil || t.DeliveryTag == nil || t.MessageFormat == nil || *t.MessageFormat != 0 {
			return fmt.Errorf("first transfer lacks delivery-id, tag or format: %#v", t)
		}
		p.partialID = *t.DeliveryID
		p.partial = []byte{}
	}
	p.partial = append(p.partial, t.Payload...)
	p.partialSettled = p.partialSettled || t.Settled
	if t.More {
		return nil
	}
	payload := p.partial
	p.partial = nil
	var m Message
	if err := m.Unmarshal(payload); err != nil {
		return fmt.Errorf("decoding the client's message: %w", err)
	}
	p.received <- &m
	if p.partialSettled {
		return nil
	}
	return p.send(FrameTypeAMQP, &Disposition{Role: RoleReceiver, First: p.partialID, Settled: true, State: Accepted{}})
}

// deliver sends queued messages while the client grants credit, splitting
// each into transfers of at most p.chunk payload bytes.
func (p *interopPeer) deliver() error {
	for p.credit > 0 && len(p.outgoing) > 0 && p.senderHandle != nil {
		payload := p.outgoing[0]
		p.outgoing = p.outgoing[1:]
		deliveryID := p.deliveryCount // one session, one sending link: ids and counts coincide
		first := true
		for len(payload) > 0 || first {
			n := min(len(payload), p.chunk)
			t := &Transfer{Handle: *p.senderHandle, More: n < len(payload), Payload: payload[:n]}
			if first {
				t.DeliveryID = &deliveryID
				t.DeliveryTag = fmt.Appendf(nil, "tag-%d", deliveryID)
				t.MessageFormat = ptr(uint32(0))
			}
			if err := p.send(FrameTypeAMQP, t); err != nil {
				return err
			}
			p.nextOutgoingID++
			payload = payload[n:]
			first = false
		}
		p.deliveryCount++
		p.credit--
	}
	return nil
}

// startInteropPeer listens on loopback and serves one connection.
func startInteropPeer(t *testing.T, outgoing []*Message) (*interopPeer, string, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := &interopPeer{
		received: make(chan *Message, 10),
		outcomes: make(chan DeliveryState, 10),
		handles:  map[uint32]uint32{},
		chunk:    1000,
	}
	for _, m := range outgoing {
		enc, err := m.Marshal(nil)
		if err != nil {
			t.Fatal(err)
		}
		p.outgoing = append(p.outgoing, enc)
	}
	errc := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			errc <- err
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
		p.conn = conn
		p.r = bufio.NewReader(conn)
		errc <- p.serve()
	}()
	return p, ln.Addr().String(), errc
}

func recv[T any](t *testing.T, ctx context.Context, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-ctx.Done():
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func TestInteropGoAMQP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	big := bytes.Repeat([]byte("0123456789"), 1000) // spans several frames
	toClient := []*Message{
		{
			Header:                &Header{Durable: true, Priority: ptr(uint8(7))},
			MessageAnnotations:    Map{{Symbol("x-opt-route"), "r1"}},
			Properties:            &Properties{MessageID: UUID{1, 2, 3, 4}, CorrelationID: uint64(77), Subject: "to-client", ContentType: "text/plain", CreationTime: time.UnixMilli(1700000000000).UTC()},
			ApplicationProperties: Map{{"color", "blue"}, {"count", int32(3)}},
			Data:                  [][]byte{[]byte("hello from switchyard")},
		},
		{
			Properties: &Properties{MessageID: "big-value"},
			Value:      string(big),
		},
	}
	peer, addr, errc := startInteropPeer(t, toClient)

	conn, err := amqp.Dial(ctx, "amqp://"+addr, &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous(), ContainerID: "go-amqp-client"})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer conn.Close()
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}

	// Client -> server: go-amqp sends, our codec decodes.
	snd, err := sess.NewSender(ctx, "queue-in", nil)
	if err != nil {
		t.Fatalf("NewSender: %v", err)
	}
	subject, to := "greeting", "queue-in"
	sent := &amqp.Message{
		Header:                &amqp.MessageHeader{Durable: true, TTL: 5 * time.Second},
		Annotations:           amqp.Annotations{"x-opt-a": "b"},
		Properties:            &amqp.MessageProperties{MessageID: "msg-1", Subject: &subject, To: &to},
		ApplicationProperties: map[string]any{"k": "v", "n": int64(7)},
		Data:                  [][]byte{[]byte("hello from go-amqp")},
	}
	if err := snd.Send(ctx, sent, nil); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := recv(t, ctx, peer.received, "the client's first message")
	if !bytes.Equal(bytes.Join(got.Data, nil), []byte("hello from go-amqp")) {
		t.Errorf("body %q", got.Data)
	}
	if got.Header == nil || !got.Header.Durable || got.Header.TTL != 5000 {
		t.Errorf("header %#v", got.Header)
	}
	if got.Properties == nil || got.Properties.MessageID != "msg-1" || got.Properties.Subject != subject || got.Properties.To != to {
		t.Errorf("properties %#v", got.Properties)
	}
	if v, _ := got.ApplicationProperties.Get("k"); v != "v" {
		t.Errorf("application property k = %#v", v)
	}
	if v, _ := got.ApplicationProperties.Get("n"); v != int64(7) {
		t.Errorf("application property n = %#v", v)
	}
	if v, _ := got.MessageAnnotations.Get(Symbol("x-opt-a")); v != "b" {
		t.Errorf("annotation = %#v in %#v", v, got.MessageAnnotations)
	}

	// A message larger than the server's max frame size arrives in pieces.
	if err := snd.Send(ctx, &amqp.Message{Value: int64(-5), Properties: &amqp.MessageProperties{MessageID: uint64(2)},
		ApplicationProperties: map[string]any{"pad": string(big)}}, nil); err != nil {
		t.Fatalf("Send big: %v", err)
	}
	got = recv(t, ctx, peer.received, "the client's second message")
	if !got.HasValue || got.Value != int64(-5) || got.Properties.MessageID != uint64(2) {
		t.Errorf("second message %#v / %#v", got.Value, got.Properties)
	}
	if v, _ := got.ApplicationProperties.Get("pad"); v != string(big) {
		t.Errorf("large application property lost")
	}
	if peer.transfersFromCli < 3 {
		t.Errorf("client sent %d transfers; the large message should have been split", peer.transfersFromCli)
	}

	// Server -> client: our codec encodes, go-amqp decodes.
	rcv, err := sess.NewReceiver(ctx, "queue-out", &amqp.ReceiverOptions{Credit: 5})
	if err != nil {
		t.Fatalf("NewReceiver: %v", err)
	}
	m, err := rcv.Receive(ctx, nil)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	if string(m.GetData()) != "hello from switchyard" {
		t.Errorf("client body %q", m.GetData())
	}
	if m.Header == nil || !m.Header.Durable || m.Header.Priority != 7 {
		t.Errorf("client header %#v", m.Header)
	}
	if m.Properties == nil || m.Properties.MessageID != amqp.UUID(UUID{1, 2, 3, 4}) ||
		m.Properties.CorrelationID != uint64(77) || m.Properties.Subject == nil || *m.Properties.Subject != "to-client" ||
		m.Properties.ContentType == nil || *m.Properties.ContentType != "text/plain" ||
		m.Properties.CreationTime == nil || !m.Properties.CreationTime.Equal(time.UnixMilli(1700000000000)) {
		t.Errorf("client properties %#v", m.Properties)
	}
	if !reflect.DeepEqual(m.ApplicationProperties, map[string]any{"color": "blue", "count": int32(3)}) {
		t.Errorf("client application properties %#v", m.ApplicationProperties)
	}
	if m.Annotations["x-opt-route"] != "r1" {
		t.Errorf("client annotations %#v", m.Annotations)
	}
	if err := rcv.AcceptMessage(ctx, m); err != nil {
		t.Fatalf("AcceptMessage: %v", err)
	}
	if s := recv(t, ctx, peer.outcomes, "the client's disposition"); !reflect.DeepEqual(s, Accepted{}) {
		t.Errorf("client disposition state %#v", s)
	}

	m, err = rcv.Receive(ctx, nil)
	if err != nil {
		t.Fatalf("Receive multi-frame: %v", err)
	}
	if m.Value != string(big) || m.Properties.MessageID != "big-value" {
		t.Errorf("multi-frame message: value of %d bytes, id %v", len(fmt.Sprint(m.Value)), m.Properties.MessageID)
	}
	if err := rcv.RejectMessage(ctx, m, &amqp.Error{Condition: amqp.ErrCondNotAllowed, Description: "test"}); err != nil {
		t.Fatalf("RejectMessage: %v", err)
	}
	s := recv(t, ctx, peer.outcomes, "the client's reject")
	if r, ok := s.(Rejected); !ok || r.Error == nil || r.Error.Condition != CondNotAllowed || r.Error.Description != "test" {
		t.Errorf("client reject state %#v", s)
	}

	if err := rcv.Close(ctx); err != nil {
		t.Fatalf("receiver Close: %v", err)
	}
	if err := snd.Close(ctx); err != nil {
		t.Fatalf("sender Close: %v", err)
	}
	if err := sess.Close(ctx); err != nil {
		t.Fatalf("session Close: %v", err)
	}
	if err := conn.Close(); err != nil {
		t.Fatalf("conn Close: %v", err)
	}
	if err := recv(t, ctx, errc, "the server loop to finish"); err != nil {
		t.Fatalf("server: %v", err)
	}
}
