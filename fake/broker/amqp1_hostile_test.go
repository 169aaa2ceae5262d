package broker_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/fake/broker"
	"github.com/switchyard-dev/switchyard/fake/brokertest"
	"github.com/switchyard-dev/switchyard/fake/internal/amqp10"
)

// a1raw is a hand-driven AMQP 1.0 client for feeding the broker bad input.
type a1raw struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func a1RawDial(t *testing.T, b *broker.Broker) *a1raw {
	t.Helper()
	nc, err := net.DialTimeout("tcp", b.AMQP1Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(a1Timeout))
	return &a1raw{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *a1raw) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *a1raw) frame(ch uint16, body amqp10.FrameBody) {
	c.t.Helper()
	b, err := amqp10.AppendFrame(nil, amqp10.FrameTypeAMQP, ch, body)
	if err != nil {
		c.t.Fatal(err)
	}
	c.write(b)
}

func (c *a1raw) header() amqp10.ProtocolHeader {
	c.t.Helper()
	var b [8]byte
	if _, err := io.ReadFull(c.br, b[:]); err != nil {
		c.t.Fatalf("read header: %v", err)
	}
	h, _ := amqp10.ParseProtocolHeader(b)
	return h
}

func (c *a1raw) next() (amqp10.Frame, amqp10.FrameBody, error) {
	for {
		f, err := amqp10.ReadFrame(c.br, 0)
		if err != nil {
			return f, nil, err
		}
		if f.IsEmpty() {
			continue
		}
		body, err := amqp10.DecodeFrameBody(f)
		return f, body, err
	}
}

func (c *a1raw) open() {
	c.t.Helper()
	h := amqp10.HeaderAMQP.Bytes()
	c.write(h[:])
	if got := c.header(); got != amqp10.HeaderAMQP {
		c.t.Fatalf("header %v", got)
	}
	c.frame(0, &amqp10.Open{ContainerID: "raw"})
	if _, body, err := c.next(); err != nil {
		c.t.Fatalf("open: %v", err)
	} else if _, ok := body.(*amqp10.Open); !ok {
		c.t.Fatalf("got %T, want open", body)
	}
}

func (c *a1raw) begin(ch uint16) {
	c.t.Helper()
	c.frame(ch, &amqp10.Begin{IncomingWindow: 100, OutgoingWindow: 100})
	c.want("begin")
}

// attachSender attaches a link the client sends on and waits for the
// broker's attach.
func (c *a1raw) attachSender(ch uint16, handle uint32, target *amqp10.Target) {
	c.t.Helper()
	c.frame(ch, &amqp10.Attach{Name: fmt.Sprintf("raw-%d-%d", ch, handle), Handle: handle, Role: amqp10.RoleSender, Source: &amqp10.Source{}, Target: target})
	c.want("attach")
}

func a1Kind(body amqp10.FrameBody) string {
	switch body.(type) {
	case *amqp10.Open:
		return "open"
	case *amqp10.Begin:
		return "begin"
	case *amqp10.Attach:
		return "attach"
	case *amqp10.Flow:
		return "flow"
	case *amqp10.Transfer:
		return "transfer"
	case *amqp10.Disposition:
		return "disposition"
	case *amqp10.Detach:
		return "detach"
	case *amqp10.End:
		return "end"
	case *amqp10.Close:
		return "close"
	}
	return fmt.Sprintf("%T", body)
}

// want reads frames, skipping flows, until one of kind k arrives, and
// returns it with its error condition (for detach, end and close).
func (c *a1raw) want(k string) (amqp10.FrameBody, amqp10.Symbol) {
	c.t.Helper()
	for range 100 {
		_, body, err := c.next()
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", k, err)
		}
		got := a1Kind(body)
		if got == "flow" && k != "flow" {
			continue
		}
		if got != k {
			c.t.Fatalf("got %s (%+v), want %s", got, body, k)
		}
		var e *amqp10.Error
		switch b := body.(type) {
		case *amqp10.Detach:
			e = b.Error
		case *amqp10.End:
			e = b.Error
		case *amqp10.Close:
			e = b.Error
		}
		if e != nil {
			return body, e.Condition
		}
		return body, ""
	}
	c.t.Fatalf("no %s", k)
	return nil, ""
}

// rejected waits for the disposition of delivery id and checks it is
// rejected with cond.
func (c *a1raw) rejected(id uint32, cond amqp10.Symbol) {
	c.t.Helper()
	body, _ := c.want("disposition")
	d := body.(*amqp10.Disposition)
	r, ok := d.State.(amqp10.Rejected)
	if !ok || d.First != id || r.Error == nil || r.Error.Condition != cond {
		c.t.Fatalf("disposition %+v, want delivery %d rejected with %s", d, id, cond)
	}
}

// eof expects the broker to hang up.
func (c *a1raw) eof() {
	c.t.Helper()
	for range 100 {
		if _, _, err := c.next(); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "reset") {
				return
			}
			var derr *amqp10.DecodeError
			if errors.As(err, &derr) {
				continue
			}
			c.t.Fatalf("waiting for the broker to hang up: %v", err)
		}
	}
	c.t.Fatal("the broker did not hang up")
}

func a1FrameBytes(size uint32, doff byte, typ byte, ch uint16, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, size)
	b = append(b, doff, typ)
	b = binary.BigEndian.AppendUint16(b, ch)
	return append(b, body...)
}

// TestAMQP1HostileInput feeds the AMQP 1.0 listener malformed and
// unexpected input: each case ends with the error the protocol asks for,
// scoped to the connection, session, link or delivery concerned, and the
// broker keeps serving everyone else.
func TestAMQP1HostileInput(t *testing.T) {
	b := newA1Broker(t, brokertest.WithOptions(broker.Options{MaxMessageSize: 4096, AMQP1Addr: "127.0.0.1:0"}))
	u32 := func(v uint32) *uint32 { return &v }
	nullMsg := []byte{0x00, 0x53, 0x77, 0x40} // amqp-value null
	cases := []struct {
		name  string
		scope string // "eof", "connection", "session", "link" or "none"
		cond  amqp10.Symbol
		run   func(c *a1raw)
	}{
		{"HTTP request", "eof", "", func(c *a1raw) {
			c.write([]byte("GET / HTTP/1.1\r\n\r\n"))
			if h := c.header(); h != amqp10.HeaderAMQP {
				t.Errorf("answered %v", h)
			}
		}},
		{"AMQP 0-9-1 header", "eof", "", func(c *a1raw) {
			c.write([]byte("AMQP\x00\x00\x09\x01"))
			c.header()
		}},
		{"TLS header", "eof", "", func(c *a1raw) {
			c.write([]byte("AMQP\x02\x01\x00\x00"))
			c.header()
		}},
		{"SASL wrong password", "eof", "", func(c *a1raw) {
			h := amqp10.HeaderSASL.Bytes()
			c.write(h[:])
			c.header()
			c.next() // mechanisms
			b, _ := amqp10.AppendFrame(nil, amqp10.FrameTypeSASL, 0, &amqp10.SASLInit{Mechanism: "PLAIN", InitialResponse: []byte("\x00guest\x00nope")})
			c.write(b)
			_, body, _ := c.next()
			if o, ok := body.(*amqp10.SASLOutcome); !ok || o.Code != amqp10.SASLCodeAuth {
				t.Errorf("got %+v", body)
			}
		}},
		{"truncated frame", "eof", "", func(c *a1raw) {
			c.open()
			c.write(a1FrameBytes(100, 2, 0, 0, []byte{0x00, 0x53}))
			c.nc.(*net.TCPConn).CloseWrite()
		}},
		{"oversize frame", "connection", amqp10.CondFramingError, func(c *a1raw) {
			c.open()
			c.write(a1FrameBytes(1<<30, 2, 0, 0, nil))
		}},
		{"bad doff", "connection", amqp10.CondFramingError, func(c *a1raw) {
			c.open()
			c.write(a1FrameBytes(12, 1, 0, 0, []byte{0, 0, 0, 0}))
		}},
		{"undecodable performative", "connection", amqp10.CondDecodeError, func(c *a1raw) {
			c.open()
			body := []byte{0x00, 0x53, 0x11, 0xc0, 0xff, 0x09}
			c.write(a1FrameBytes(uint32(8+len(body)), 2, 0, 0, body))
		}},
		{"open twice", "connection", amqp10.CondNotAllowed, func(c *a1raw) {
			c.open()
			c.frame(0, &amqp10.Open{ContainerID: "again"})
		}},
		{"attach on a channel without session", "connection", amqp10.CondNotAllowed, func(c *a1raw) {
			c.open()
			c.frame(5, &amqp10.Attach{Name: "x", Handle: 0, Role: amqp10.RoleSender})
		}},
		{"attach with a handle in use", "session", amqp10.CondHandleInUse, func(c *a1raw) {
			c.open()
			c.begin(0)
			c.attachSender(0, 0, &amqp10.Target{Address: "h1"})
			c.frame(0, &amqp10.Attach{Name: "other", Handle: 0, Role: amqp10.RoleSender, Target: &amqp10.Target{Address: "h2"}})
		}},
		{"transfer on an unattached handle", "session", amqp10.CondUnattachedHandle, func(c *a1raw) {
			c.open()
			c.begin(0)
			c.frame(0, &amqp10.Transfer{Handle: 7, DeliveryID: u32(0), DeliveryTag: []byte("t"), Payload: nullMsg})
		}},
		{"receiving link without a source", "link", amqp10.CondInvalidField, func(c *a1raw) {
			c.open()
			c.begin(0)
			c.frame(0, &amqp10.Attach{Name: "nosrc", Handle: 0, Role: amqp10.RoleReceiver, Target: &amqp10.Target{}})
			c.want("attach")
		}},
		{"receiving link without an address", "link", amqp10.CondInvalidField, func(c *a1raw) {
			c.open()
			c.begin(0)
			c.frame(0, &amqp10.Attach{Name: "noaddr", Handle: 0, Role: amqp10.RoleReceiver, Source: &amqp10.Source{}, Target: &amqp10.Target{}})
			c.want("attach")
		}},
		{"receiving from a gone dynamic address", "link", amqp10.CondNotFound, func(c *a1raw) {
			c.open()
			c.begin(0)
			c.frame(0, &amqp10.Attach{Name: "gone", Handle: 0, Role: amqp10.RoleReceiver, Source: &amqp10.Source{Address: "amq.gen-nothere"}, Target: &amqp10.Target{}})
			c.want("attach")
		}},
		{"transfer without delivery-id", "link", amqp10.CondInvalidField, func(c *a1raw) {
			c.open()
			c.begin(0)
			c.attachSender(0, 0, &amqp10.Target{Address: "h"})
			c.frame(0, &amqp10.Transfer{Handle: 0, DeliveryTag: []byte("t"), Payload: nullMsg})
		}},
		{"delivery tag over 32 bytes", "link", amqp10.CondInvalidField, func(c *a1raw) {
			c.open()
			c.begin(0)
			c.attachSender(0, 0, &amqp10.Target{Address: "h"})
			c.frame(0, &amqp10.Transfer{Handle: 0, DeliveryID: u32(0), DeliveryTag: make([]byte, 40), Payload: nullMsg})
		}},
		{"message over max-message-size", "link", amqp10.CondMessageSizeExceeded, func(c *a1raw) {
			c.open()
			c.begin(0)
			c.attachSender(0, 0, &amqp10.Target{Address: "h"})
			for i := range 3 {
				tr := &amqp10.Transfer{Handle: 0, More: true, Payload: make([]byte, 2000)}
				if i == 0 {
					tr.DeliveryID, tr.DeliveryTag = u32(0), []byte("t")
				}
				c.frame(0, tr)
			}
		}},
		{"transfer on a receiving link", "link", amqp10.CondNotAllowed, func(c *a1raw) {
			c.open()
			c.begin(0)
			c.frame(0, &amqp10.Attach{Name: "rcv", Handle: 0, Role: amqp10.RoleReceiver, Source: &amqp10.Source{Address: "hq"}, Target: &amqp10.Target{}})
			c.want("attach")
			c.frame(0, &amqp10.Transfer{Handle: 0, DeliveryID: u32(0), DeliveryTag: []byte("t"), Payload: nullMsg})
		}},
		{"undecodable message", "none", "", func(c *a1raw) {
			c.open()
			c.begin(0)
			c.attachSender(0, 0, &amqp10.Target{Address: "h"})
			c.frame(0, &amqp10.Transfer{Handle: 0, DeliveryID: u32(0), DeliveryTag: []byte("t"), Payload: []byte{0x00, 0x53, 0x75, 0xb0, 0xff, 0xff, 0xff, 0xff}})
			c.rejected(0, amqp10.CondDecodeError)
		}},
		{"unknown message format", "none", "", func(c *a1raw) {
			c.open()
			c.begin(0)
			c.attachSender(0, 0, &amqp10.Target{Address: "h"})
			c.frame(0, &amqp10.Transfer{Handle: 0, DeliveryID: u32(0), DeliveryTag: []byte("t"), MessageFormat: u32(7), Payload: nullMsg})
			c.rejected(0, amqp10.CondNotImplemented)
		}},
		{"anonymous link, message without to", "none", "", func(c *a1raw) {
			c.open()
			c.begin(0)
			c.attachSender(0, 0, nil)
			c.frame(0, &amqp10.Transfer{Handle: 0, DeliveryID: u32(0), DeliveryTag: []byte("t"), Payload: nullMsg})
			c.rejected(0, amqp10.CondInvalidField)
		}},
		{"anonymous link, to a gone dynamic address", "none", "", func(c *a1raw) {
			c.open()
			c.begin(0)
			c.attachSender(0, 0, nil)
			msg, err := (&amqp10.Message{Properties: &amqp10.Properties{To: "amq.gen-gone"}, Value: "x"}).Marshal(nil)
			if err != nil {
				t.Fatal(err)
			}
			c.frame(0, &amqp10.Transfer{Handle: 0, DeliveryID: u32(0), DeliveryTag: []byte("t"), Payload: msg})
			c.rejected(0, amqp10.CondNotFound)
		}},
		{"aborted message, then a good one", "none", "", func(c *a1raw) {
			c.open()
			c.begin(0)
			c.attachSender(0, 0, &amqp10.Target{Address: "h"})
			c.frame(0, &amqp10.Transfer{Handle: 0, DeliveryID: u32(0), DeliveryTag: []byte("a"), More: true, Payload: nullMsg[:2]})
			c.frame(0, &amqp10.Transfer{Handle: 0, Aborted: true})
			c.frame(0, &amqp10.Transfer{Handle: 0, DeliveryID: u32(1), DeliveryTag: []byte("b"), Payload: nullMsg})
			body, _ := c.want("disposition")
			if d := body.(*amqp10.Disposition); d.First != 1 || !d.Settled {
				t.Fatalf("disposition %+v", d)
			} else if _, ok := d.State.(amqp10.Accepted); !ok {
				t.Fatalf("disposition %+v, want accepted", d)
			}
		}},
		{"disposition for a delivery never sent", "none", "", func(c *a1raw) {
			c.open()
			c.begin(0)
			c.frame(0, &amqp10.Disposition{Role: amqp10.RoleReceiver, First: 1000, Last: u32(2000), Settled: true, State: amqp10.Accepted{}})
			c.attachSender(0, 0, &amqp10.Target{Address: "h"})
		}},
		{"credit far beyond the queue", "none", "", func(c *a1raw) {
			c.open()
			c.begin(0)
			c.frame(0, &amqp10.Attach{Name: "greedy", Handle: 0, Role: amqp10.RoleReceiver, Source: &amqp10.Source{Address: "greedy"}, Target: &amqp10.Target{}})
			c.want("attach")
			c.frame(0, &amqp10.Flow{NextIncomingID: u32(0), IncomingWindow: 10, OutgoingWindow: 10, Handle: u32(0), DeliveryCount: u32(0), LinkCredit: u32(1<<32 - 1), Drain: true})
			c.want("flow")
		}},
	}
	if len(cases) < 20 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := a1RawDial(t, b)
			c.t = t
			tc.run(c)
			switch tc.scope {
			case "eof":
				c.eof()
			case "connection":
				if _, got := c.want("close"); got != tc.cond {
					t.Fatalf("close with %q, want %q", got, tc.cond)
				}
				c.frame(0, &amqp10.Close{})
				c.eof()
			case "session":
				if _, got := c.want("end"); got != tc.cond {
					t.Fatalf("end with %q, want %q", got, tc.cond)
				}
				c.begin(1) // the connection lives on
			case "link":
				if _, got := c.want("detach"); got != tc.cond {
					t.Fatalf("detach with %q, want %q", got, tc.cond)
				}
				c.attachSender(0, 1, &amqp10.Target{Address: "h"}) // the session lives on
			}
			other := a1RawDial(t, b)
			other.open()
		})
	}
	// Real clients on both protocols still get messages through.
	_, s := a1Dial(t, b, nil)
	a1Send(t, a1Sender(t, s, "after", nil), "ok")
	r := a1Receiver(t, s, "after", nil)
	if m := a1Receive(t, r); string(m.GetData()) != "ok" {
		t.Fatalf("got %q", m.GetData())
	}
	_, ch := dialChannel(t, b)
	if _, err := ch.QueueDeclare("after091", false, false, false, false, nil); err != nil {
		t.Fatalf("AMQP 0-9-1 after the hostile input: %v", err)
	}
}
