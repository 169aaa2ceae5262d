package broker

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/fake/internal/amqp091"
)

// The fuzz targets feed arbitrary bytes to a connection of a running
// broker, over net.Pipe so that millions of connections cost no ports.
// They check that the broker neither panics nor hangs, that everything it
// sends back is well-formed frames, and that it keeps serving.

// fuzzTimeout bounds how long a connection may take to finish once its
// client has gone.
const fuzzTimeout = 5 * time.Second

func startFuzzBroker(f *testing.F) *Broker {
	b, err := Start(context.Background(), Options{HandshakeTimeout: time.Second, EventLogSize: 1024})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { b.Close() })
	return b
}

// fuzzFrame builds one frame.
func fuzzFrame(typ uint8, ch uint16, payload []byte) []byte {
	b := []byte{typ, byte(ch >> 8), byte(ch)}
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	b = append(b, payload...)
	return append(b, amqp091.FrameEnd)
}

func fuzzMethod(ch uint16, m amqp091.Method) []byte {
	p, err := m.MarshalBinary()
	if err != nil {
		panic(err)
	}
	return fuzzFrame(amqp091.FrameMethod, ch, p)
}

func fuzzContent(ch uint16, m amqp091.Method, body []byte) []byte {
	out := fuzzMethod(ch, m)
	h := amqp091.ContentHeader{ClassID: amqp091.ClassBasic, BodySize: uint64(len(body)), Properties: amqp091.Properties{MessageID: "id", DeliveryMode: 2}}
	hp, _ := h.MarshalBinary()
	out = append(out, fuzzFrame(amqp091.FrameHeader, ch, hp)...)
	if len(body) > 0 {
		out = append(out, fuzzFrame(amqp091.FrameBody, ch, body)...)
	}
	return out
}

// handshakeBytes is what a client sends to open a connection as guest,
// without heartbeats, and channel 1.
func handshakeBytes() []byte {
	out := []byte(amqp091.ProtocolHeader)
	out = append(out, fuzzMethod(0, &amqp091.ConnectionStartOk{
		ClientProperties: amqp091.Table{"capabilities": amqp091.Table{"consumer_cancel_notify": true, "connection.blocked": true}},
		Mechanism:        "PLAIN", Response: "\x00guest\x00guest", Locale: "en_US",
	})...)
	out = append(out, fuzzMethod(0, &amqp091.ConnectionTuneOk{ChannelMax: 16, FrameMax: 8192})...)
	out = append(out, fuzzMethod(0, &amqp091.ConnectionOpen{VirtualHost: "/"})...)
	return append(out, fuzzMethod(1, &amqp091.ChannelOpen{})...)
}

// fuzzSeeds are valid and invalid sessions to start from.
func fuzzSeeds() [][]byte {
	cat := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	return [][]byte{
		{},
		cat(fuzzMethod(1, &amqp091.QueueDeclare{Queue: "q"}), fuzzContent(1, &amqp091.BasicPublish{RoutingKey: "q"}, []byte("hello")),
			fuzzMethod(1, &amqp091.BasicGet{Queue: "q"}), fuzzMethod(1, &amqp091.BasicAck{DeliveryTag: 1})),
		cat(fuzzMethod(1, &amqp091.ConfirmSelect{}), fuzzMethod(1, &amqp091.QueueDeclare{Queue: "c", Arguments: amqp091.Table{"x-max-length": int32(1), "x-dead-letter-exchange": ""}}),
			fuzzContent(1, &amqp091.BasicPublish{RoutingKey: "c", Mandatory: true}, []byte("a")), fuzzContent(1, &amqp091.BasicPublish{RoutingKey: "none", Mandatory: true}, nil)),
		cat(fuzzMethod(1, &amqp091.BasicQos{PrefetchCount: 1}), fuzzMethod(1, &amqp091.QueueDeclare{Queue: "d", Exclusive: true}),
			fuzzMethod(1, &amqp091.BasicConsume{Queue: "d", ConsumerTag: "t"}), fuzzContent(1, &amqp091.BasicPublish{RoutingKey: "d"}, []byte("x")),
			fuzzMethod(1, &amqp091.BasicNack{DeliveryTag: 1, Requeue: true}), fuzzMethod(1, &amqp091.BasicCancel{ConsumerTag: "t"})),
		cat(fuzzMethod(1, &amqp091.TxSelect{}), fuzzContent(1, &amqp091.BasicPublish{RoutingKey: "q"}, []byte("t")), fuzzMethod(1, &amqp091.TxRollback{}), fuzzMethod(1, &amqp091.TxCommit{})),
		cat(fuzzMethod(1, &amqp091.ExchangeDeclare{Exchange: "t", Type: "topic"}), fuzzMethod(1, &amqp091.QueueDeclare{Queue: "e"}),
			fuzzMethod(1, &amqp091.QueueBind{Queue: "e", Exchange: "t", RoutingKey: "a.#"}), fuzzContent(1, &amqp091.BasicPublish{Exchange: "t", RoutingKey: "a.b"}, []byte("x")),
			fuzzMethod(1, &amqp091.ExchangeDelete{Exchange: "t"})),
		cat(fuzzMethod(2, &amqp091.ChannelOpen{}), fuzzMethod(2, &amqp091.ChannelClose{ReplyCode: 200}), fuzzMethod(1, &amqp091.ChannelFlow{Active: true})),
		cat(fuzzFrame(amqp091.FrameHeartbeat, 0, nil), fuzzMethod(0, &amqp091.ConnectionClose{ReplyCode: 200})),
		fuzzFrame(amqp091.FrameBody, 1, []byte("stray")),
		cat(fuzzMethod(1, &amqp091.BasicPublish{}), fuzzFrame(amqp091.FrameHeader, 1, []byte{0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0})),
		{1, 0, 1, 0xff, 0xff, 0xff, 0xff},
	}
}

// fuzzSession runs one connection whose client sends input and then goes
// away, and checks the broker's side.
func fuzzSession(t *testing.T, b *Broker, input []byte) {
	client, server := net.Pipe()
	done := b.serveConn(server)
	if done == nil {
		t.Fatal("broker closed")
	}
	// Read and check everything the broker sends until the pipe closes.
	readErr := make(chan error, 1)
	go func() {
		br := bufio.NewReader(client)
		if p, err := br.Peek(8); err == nil && string(p[:4]) == "AMQP" {
			br.Discard(8)
		}
		r := amqp091.NewReader(br, 0)
		for {
			f, err := r.ReadFrame()
			if err != nil {
				var ae *amqp091.Error
				if errors.As(err, &ae) {
					readErr <- err
				} else {
					readErr <- nil
				}
				return
			}
			if f.Type == amqp091.FrameMethod {
				if _, err := amqp091.DecodeMethod(f.Payload); err != nil {
					readErr <- err
					return
				}
			}
		}
	}()
	client.SetWriteDeadline(time.Now().Add(fuzzTimeout))
	client.Write(input) // fails early once the broker hangs up: fine
	client.Close()
	select {
	case <-done:
	case <-time.After(fuzzTimeout):
		t.Fatalf("the broker did not finish the connection within %v", fuzzTimeout)
	}
	if err := <-readErr; err != nil {
		t.Fatalf("the broker sent a malformed frame: %v", err)
	}
}

// FuzzConnection feeds arbitrary frames to an open connection.
func FuzzConnection(f *testing.F) {
	b := startFuzzBroker(f)
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	hs := handshakeBytes()
	checkServing(f, b)
	n := 0
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzSession(t, b, append(append([]byte{}, hs...), data...))
		if n++; n%256 == 0 {
			checkServing(t, b)
		}
	})
}

// FuzzHandshake feeds arbitrary bytes from the very first byte.
func FuzzHandshake(f *testing.F) {
	b := startFuzzBroker(f)
	hs := handshakeBytes()
	f.Add(hs)
	f.Add(hs[:8])
	f.Add([]byte("AMQP\x00\x00\x09\x01\x01\x00\x00\x00\x00\x00\x04\x00\x0a\x00\x0b\xce"))
	f.Add([]byte("GET / HTTP/1.0\r\n\r\n"))
	f.Add(append([]byte(amqp091.ProtocolHeader), fuzzMethod(0, &amqp091.ConnectionStartOk{Mechanism: "AMQPLAIN", Response: "\x05LOGINS\x00\x00\x00\x05guest\x08PASSWORDS\x00\x00\x00\x05guest"})...))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzSession(t, b, data)
	})
}

// checkServing checks that a well-behaved session still works.
func checkServing(t testing.TB, b *Broker) {
	client, server := net.Pipe()
	done := b.serveConn(server)
	defer func() {
		client.Close()
		<-done
	}()
	client.SetDeadline(time.Now().Add(fuzzTimeout))
	go func() {
		client.Write(handshakeBytes())
		client.Write(fuzzMethod(1, &amqp091.QueueDeclare{Queue: "", Exclusive: true}))
	}()
	r := amqp091.NewReader(bufio.NewReader(client), 0)
	for i := 0; i < 10; i++ {
		f, err := r.ReadFrame()
		if err != nil {
			t.Fatalf("serving check: %v", err)
		}
		if m, err := amqp091.DecodeMethod(f.Payload); err == nil {
			if _, ok := m.(*amqp091.QueueDeclareOk); ok {
				return
			}
		}
	}
	t.Fatal("serving check: no queue.declare-ok")
}
