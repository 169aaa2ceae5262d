package amqp10conn

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/fake/internal/amqp10"
)

// echoHandler exercises the engine the way an intermediary does: it grants
// credit, accepts what arrives and sends a message whenever it has credit.
type echoHandler struct{}

func (echoHandler) Open(*Conn) *amqp10.Error { return nil }
func (echoHandler) Attach(l *Link) *amqp10.Error {
	if l.Role() == amqp10.RoleReceiver {
		l.Grant(3)
	}
	if l.Source != nil && l.Source.Address == "refuse" {
		return &amqp10.Error{Condition: amqp10.CondNotFound}
	}
	return nil
}
func (echoHandler) Flow(l *Link) {
	if l.Role() == amqp10.RoleSender && l.Credit() > 0 {
		l.Send([]byte{0x00, 0x53, 0x77, 0xa1, 0x01, 'x'}, false, nil)
	}
}
func (echoHandler) Delivery(d *Incoming) {
	d.Dispose(amqp10.Accepted{})
	d.Link().Grant(3)
}
func (echoHandler) Outcome(o *Outgoing, _ amqp10.DeliveryState, settled bool) {
	if !settled {
		o.Settle()
	}
}
func (echoHandler) Settled(*Incoming)             {}
func (echoHandler) Detached(*Link, *amqp10.Error) {}
func (echoHandler) Closed(*Conn, error)           {}

func frames(bodies ...amqp10.FrameBody) []byte {
	var b []byte
	for _, body := range bodies {
		var err error
		b, err = amqp10.AppendFrame(b, amqp10.FrameTypeAMQP, 0, body)
		if err != nil {
			panic(err)
		}
	}
	return b
}

// fuzzSeeds are conversations after the protocol header: each opens and
// then does something the engine must handle.
func fuzzSeeds() [][]byte {
	u32 := func(v uint32) *uint32 { return &v }
	open := &amqp10.Open{ContainerID: "fuzz", IdleTimeout: 1000}
	begin := &amqp10.Begin{IncomingWindow: 10, OutgoingWindow: 10}
	snd := &amqp10.Attach{Name: "s", Handle: 0, Role: amqp10.RoleSender, Target: &amqp10.Target{Address: "a"}}
	rcv := &amqp10.Attach{Name: "r", Handle: 1, Role: amqp10.RoleReceiver, Source: &amqp10.Source{Address: "a"}}
	msg := []byte{0x00, 0x53, 0x77, 0xa1, 0x02, 'h', 'i'}
	return [][]byte{
		frames(open),
		frames(open, begin, snd, &amqp10.Transfer{Handle: 0, DeliveryID: u32(0), DeliveryTag: []byte("t"), Payload: msg}),
		frames(open, begin, snd,
			&amqp10.Transfer{Handle: 0, DeliveryID: u32(0), DeliveryTag: []byte("t"), More: true, Payload: msg[:3]},
			&amqp10.Transfer{Handle: 0, Payload: msg[3:]},
			&amqp10.Disposition{Role: amqp10.RoleSender, First: 0, Last: u32(4), Settled: true}),
		frames(open, begin, rcv, &amqp10.Flow{NextIncomingID: u32(0), IncomingWindow: 10, OutgoingWindow: 10, Handle: u32(1), DeliveryCount: u32(0), LinkCredit: u32(2), Echo: true},
			&amqp10.Disposition{Role: amqp10.RoleReceiver, First: 0, Settled: true, State: amqp10.Accepted{}}),
		frames(open, begin, rcv, &amqp10.Flow{NextIncomingID: u32(0), IncomingWindow: 10, OutgoingWindow: 10, Handle: u32(1), DeliveryCount: u32(0), LinkCredit: u32(5), Drain: true}),
		frames(open, begin, snd, &amqp10.Detach{Handle: 0, Closed: true}, &amqp10.End{}, &amqp10.Close{}),
		frames(open, begin, begin),
		frames(open, begin, snd, snd),
		frames(open, begin, &amqp10.Attach{Name: "x", Handle: 2, Role: amqp10.RoleReceiver, Source: &amqp10.Source{Address: "refuse"}}),
		frames(open, begin, &amqp10.Attach{Name: "d", Handle: 3, Role: amqp10.RoleReceiver, Source: &amqp10.Source{Dynamic: true}}),
		append(frames(open), 0, 0, 0, 8, 2, 0, 0, 0),
		append(frames(open), 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0),
	}
}

// TestWriteFuzzCorpus regenerates the seed corpus under testdata/fuzz when
// AMQP10CONN_WRITE_CORPUS is set.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("AMQP10CONN_WRITE_CORPUS") == "" {
		t.Skip("set AMQP10CONN_WRITE_CORPUS=1 to regenerate the seed corpus")
	}
	for name, seeds := range map[string][][]byte{"FuzzFrames": fuzzSeeds(), "FuzzHandshake": handshakeSeeds()} {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range seeds {
			data := "go test fuzz v1\n[]byte(" + strconv.Quote(string(s)) + ")\n"
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%02d", i)), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// FuzzFrames feeds arbitrary bytes after the AMQP protocol header to a
// connection: it must end (or keep going) without panicking or hanging.
func FuzzFrames(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, b := net.Pipe()
		c := New(a, Config{Handler: echoHandler{}, CloseTimeout: 20 * time.Millisecond, HandshakeTimeout: time.Second, MaxFrameSize: 4096, MaxMessageSize: 1 << 16})
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.Run()
		}()
		go io.Copy(io.Discard, b)
		go func() {
			h := amqp10.HeaderAMQP.Bytes()
			b.Write(h[:])
			b.Write(data)
			b.Close()
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the connection did not end after its input did")
		}
	})
}

// handshakeSeeds are starts of connections, good and bad.
func handshakeSeeds() [][]byte {
	sasl := amqp10.HeaderSASL.Bytes()
	amqp := amqp10.HeaderAMQP.Bytes()
	initAnon, _ := amqp10.AppendFrame(nil, amqp10.FrameTypeSASL, 0, &amqp10.SASLInit{Mechanism: amqp10.SASLMechanismAnonymous})
	initPlain, _ := amqp10.AppendFrame(nil, amqp10.FrameTypeSASL, 0, &amqp10.SASLInit{Mechanism: amqp10.SASLMechanismPlain, InitialResponse: []byte("\x00u\x00p")})
	open := frames(&amqp10.Open{ContainerID: "fuzz"})
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	return [][]byte{
		cat(amqp[:], open),
		cat(sasl[:], initAnon, amqp[:], open),
		cat(sasl[:], initPlain, amqp[:], open),
		cat(sasl[:], initPlain[:10]),
		[]byte("AMQP\x00\x02\x00\x00"),
		[]byte("GET / HTTP/1.1\r\n"),
	}
}

// FuzzHandshake feeds arbitrary bytes from the very start: protocol
// headers, SASL and open.
func FuzzHandshake(f *testing.F) {
	for _, s := range handshakeSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, b := net.Pipe()
		c := New(a, Config{Handler: echoHandler{}, CloseTimeout: 20 * time.Millisecond, HandshakeTimeout: time.Second, Users: []User{{Name: "u", Password: "p"}}})
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.Run()
		}()
		go io.Copy(io.Discard, b)
		go func() {
			b.Write(data)
			b.Close()
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the connection did not end after its input did")
		}
	})
}
