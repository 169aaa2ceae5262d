package router_test

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

	"github.com/Azure/go-amqp"

	"github.com/switchyard-dev/switchyard/fake/internal/amqp10"
	"github.com/switchyard-dev/switchyard/fake/router"
	"github.com/switchyard-dev/switchyard/fake/routertest"
)

// raw is a hand-driven AMQP 1.0 client for feeding the router bad input.
type raw struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func rawDial(t *testing.T, r *router.Router) *raw {
	t.Helper()
	nc, err := net.DialTimeout("tcp", r.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &raw{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *raw) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *raw) frame(ch uint16, body amqp10.FrameBody) {
	c.t.Helper()
	b, err := amqp10.AppendFrame(nil, amqp10.FrameTypeAMQP, ch, body)
	if err != nil {
		c.t.Fatal(err)
	}
	c.write(b)
}

func (c *raw) header() amqp10.ProtocolHeader {
	c.t.Helper()
	var b [8]byte
	if _, err := io.ReadFull(c.br, b[:]); err != nil {
		c.t.Fatalf("read header: %v", err)
	}
	h, _ := amqp10.ParseProtocolHeader(b)
	return h
}

func (c *raw) next() (amqp10.Frame, amqp10.FrameBody, error) {
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

// open does the protocol header and open exchange.
func (c *raw) open(o *amqp10.Open) {
	c.t.Helper()
	h := amqp10.HeaderAMQP.Bytes()
	c.write(h[:])
	if got := c.header(); got != amqp10.HeaderAMQP {
		c.t.Fatalf("header %v", got)
	}
	if o == nil {
		o = &amqp10.Open{ContainerID: "raw"}
	}
	c.frame(0, o)
	if _, body, err := c.next(); err != nil {
		c.t.Fatalf("open: %v", err)
	} else if _, ok := body.(*amqp10.Open); !ok {
		c.t.Fatalf("got %T, want open", body)
	}
}

func (c *raw) begin(ch uint16) {
	c.t.Helper()
	c.frame(ch, &amqp10.Begin{IncomingWindow: 100, OutgoingWindow: 100})
	c.want("begin")
}

func (c *raw) attachSender(ch uint16, handle uint32, addr string) {
	c.t.Helper()
	c.frame(ch, &amqp10.Attach{Name: fmt.Sprintf("raw-%d-%d", ch, handle), Handle: handle, Role: amqp10.RoleSender, Source: &amqp10.Source{}, Target: &amqp10.Target{Address: addr}})
	c.want("attach")
}

func kind(body amqp10.FrameBody) string {
	switch body.(type) {
	case *amqp10.Open:
		return "open"
	case *amqp10.Begin:
		return "begin"
	case *amqp10.Attach:
		return "attach"
	case *amqp10.Flow:
		return "flow"
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
// returns its error condition (for detach, end and close).
func (c *raw) want(k string) amqp10.Symbol {
	c.t.Helper()
	for range 100 {
		_, body, err := c.next()
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", k, err)
		}
		got := kind(body)
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
			return e.Condition
		}
		return ""
	}
	c.t.Fatalf("no %s", k)
	return ""
}

// eof expects the router to hang up.
func (c *raw) eof() {
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
			c.t.Fatalf("waiting for the router to hang up: %v", err)
		}
	}
	c.t.Fatal("the router did not hang up")
}

func frameBytes(size uint32, doff byte, typ byte, ch uint16, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, size)
	b = append(b, doff, typ)
	b = binary.BigEndian.AppendUint16(b, ch)
	return append(b, body...)
}

func TestHostileInput(t *testing.T) {
	r := routertest.New(t, func(o *router.Options) {
		o.MaxMessageSize = 4096
		o.Users = []router.User{{Name: "u", Password: "p"}}
	})
	badUTF8 := string([]byte{0xff, 0xfe, 'x'})
	u32 := func(v uint32) *uint32 { return &v }
	cases := []struct {
		name  string
		scope string // "eof", "connection", "session", "link" or "none"
		cond  amqp10.Symbol
		run   func(c *raw)
	}{
		{"garbage", "eof", "", func(c *raw) {
			c.write([]byte("GET / HTTP/1.1\r\n\r\n"))
			if h := c.header(); h != amqp10.HeaderAMQP {
				t.Errorf("answered %v", h)
			}
		}},
		{"wrong version", "eof", "", func(c *raw) {
			c.write([]byte("AMQP\x00\x02\x00\x00"))
			c.header()
		}},
		{"TLS header", "eof", "", func(c *raw) {
			c.write([]byte("AMQP\x02\x01\x00\x00"))
			c.header()
		}},
		{"SASL unknown mechanism", "eof", "", func(c *raw) {
			h := amqp10.HeaderSASL.Bytes()
			c.write(h[:])
			c.header()
			c.next() // mechanisms
			b, _ := amqp10.AppendFrame(nil, amqp10.FrameTypeSASL, 0, &amqp10.SASLInit{Mechanism: "CRAM-MD5"})
			c.write(b)
			_, body, _ := c.next()
			if o, ok := body.(*amqp10.SASLOutcome); !ok || o.Code != amqp10.SASLCodeAuth {
				t.Errorf("got %+v", body)
			}
		}},
		{"SASL malformed PLAIN", "eof", "", func(c *raw) {
			h := amqp10.HeaderSASL.Bytes()
			c.write(h[:])
			c.header()
			c.next()
			b, _ := amqp10.AppendFrame(nil, amqp10.FrameTypeSASL, 0, &amqp10.SASLInit{Mechanism: "PLAIN", InitialResponse: []byte("no-nuls")})
			c.write(b)
			_, body, _ := c.next()
			if o, ok := body.(*amqp10.SASLOutcome); !ok || o.Code != amqp10.SASLCodeAuth {
				t.Errorf("got %+v", body)
			}
		}},
		{"truncated frame", "eof", "", func(c *raw) {
			c.open(nil)
			c.write(frameBytes(100, 2, 0, 0, []byte{0x00, 0x53}))
			c.nc.(*net.TCPConn).CloseWrite()
		}},
		{"oversize frame", "connection", amqp10.CondFramingError, func(c *raw) {
			c.open(nil)
			c.write(frameBytes(1<<30, 2, 0, 0, nil))
		}},
		{"frame smaller than its header", "connection", amqp10.CondFramingError, func(c *raw) {
			c.open(nil)
			c.write(frameBytes(4, 2, 0, 0, nil))
		}},
		{"bad doff", "connection", amqp10.CondFramingError, func(c *raw) {
			c.open(nil)
			c.write(frameBytes(12, 1, 0, 0, []byte{0, 0, 0, 0}))
		}},
		{"undecodable performative", "connection", amqp10.CondDecodeError, func(c *raw) {
			c.open(nil)
			body := []byte{0x00, 0x53, 0x11, 0xc0, 0xff, 0x09} // a begin list claiming 255 bytes
			c.write(frameBytes(uint32(8+len(body)), 2, 0, 0, body))
		}},
		{"first frame not open", "connection", amqp10.CondIllegalState, func(c *raw) {
			h := amqp10.HeaderAMQP.Bytes()
			c.write(h[:])
			c.header()
			c.frame(0, &amqp10.Begin{IncomingWindow: 1, OutgoingWindow: 1})
			c.want("open")
		}},
		{"open twice", "connection", amqp10.CondNotAllowed, func(c *raw) {
			c.open(nil)
			c.frame(0, &amqp10.Open{ContainerID: "again"})
		}},
		{"open max-frame-size below 512", "connection", amqp10.CondInvalidField, func(c *raw) {
			h := amqp10.HeaderAMQP.Bytes()
			c.write(h[:])
			c.header()
			c.frame(0, &amqp10.Open{ContainerID: "tiny", MaxFrameSize: 100})
			c.want("open")
		}},
		{"invalid UTF-8 container-id", "connection", amqp10.CondDecodeError, func(c *raw) {
			h := amqp10.HeaderAMQP.Bytes()
			c.write(h[:])
			c.header()
			c.frame(0, &amqp10.Open{ContainerID: badUTF8})
			c.want("open")
		}},
		{"SASL frame after open", "connection", amqp10.CondFramingError, func(c *raw) {
			c.open(nil)
			b, _ := amqp10.AppendFrame(nil, amqp10.FrameTypeSASL, 0, &amqp10.SASLInit{Mechanism: "ANONYMOUS"})
			c.write(b)
		}},
		{"begin twice on a channel", "connection", amqp10.CondNotAllowed, func(c *raw) {
			c.open(nil)
			c.begin(0)
			c.frame(0, &amqp10.Begin{IncomingWindow: 1, OutgoingWindow: 1})
		}},
		{"begin beyond channel-max", "connection", amqp10.CondNotAllowed, func(c *raw) {
			c.open(nil)
			c.frame(60000, &amqp10.Begin{IncomingWindow: 1, OutgoingWindow: 1})
		}},
		{"begin with remote-channel", "connection", amqp10.CondNotAllowed, func(c *raw) {
			c.open(nil)
			rc := uint16(3)
			c.frame(0, &amqp10.Begin{RemoteChannel: &rc, IncomingWindow: 1, OutgoingWindow: 1})
		}},
		{"attach on a channel without session", "connection", amqp10.CondNotAllowed, func(c *raw) {
			c.open(nil)
			c.frame(5, &amqp10.Attach{Name: "x", Handle: 0, Role: amqp10.RoleSender})
		}},
		{"disposition with last before first", "connection", amqp10.CondInvalidField, func(c *raw) {
			c.open(nil)
			c.begin(0)
			c.frame(0, &amqp10.Disposition{Role: amqp10.RoleReceiver, First: 10, Last: u32(5), Settled: true})
		}},
		{"invalid UTF-8 link name", "connection", amqp10.CondDecodeError, func(c *raw) {
			c.open(nil)
			c.begin(0)
			c.frame(0, &amqp10.Attach{Name: badUTF8, Handle: 0, Role: amqp10.RoleSender, Target: &amqp10.Target{Address: "a"}})
		}},
		{"attach with a handle in use", "session", amqp10.CondHandleInUse, func(c *raw) {
			c.open(nil)
			c.begin(0)
			c.attachSender(0, 0, "a")
			c.frame(0, &amqp10.Attach{Name: "other", Handle: 0, Role: amqp10.RoleSender, Target: &amqp10.Target{Address: "b"}})
		}},
		{"attach beyond handle-max", "session", amqp10.CondNotAllowed, func(c *raw) {
			c.open(nil)
			c.begin(0)
			c.frame(0, &amqp10.Attach{Name: "big", Handle: 1 << 30, Role: amqp10.RoleSender, Target: &amqp10.Target{Address: "b"}})
		}},
		{"transfer on an unattached handle", "session", amqp10.CondUnattachedHandle, func(c *raw) {
			c.open(nil)
			c.begin(0)
			c.frame(0, &amqp10.Transfer{Handle: 7, DeliveryID: u32(0), DeliveryTag: []byte("t"), Payload: []byte{0x00, 0x53, 0x77, 0x40}})
		}},
		{"flow for an unknown handle", "session", amqp10.CondUnattachedHandle, func(c *raw) {
			c.open(nil)
			c.begin(0)
			c.frame(0, &amqp10.Flow{NextIncomingID: u32(0), IncomingWindow: 10, OutgoingWindow: 10, Handle: u32(9), DeliveryCount: u32(0), LinkCredit: u32(5)})
		}},
		{"detach for an unknown handle", "session", amqp10.CondUnattachedHandle, func(c *raw) {
			c.open(nil)
			c.begin(0)
			c.frame(0, &amqp10.Detach{Handle: 4, Closed: true})
		}},
		{"transfer without credit", "link", amqp10.CondTransferLimitExceeded, func(c *raw) {
			c.open(nil)
			c.begin(0)
			c.attachSender(0, 0, "nobody-listens")
			c.frame(0, &amqp10.Transfer{Handle: 0, DeliveryID: u32(0), DeliveryTag: []byte("t"), Payload: []byte{0x00, 0x53, 0x77, 0x40}})
		}},
		{"transfer without delivery-id", "link", amqp10.CondInvalidField, func(c *raw) {
			c.open(nil)
			c.begin(0)
			c.attachSender(0, 0, "")
			c.frame(0, &amqp10.Transfer{Handle: 0, DeliveryTag: []byte("t"), Payload: []byte{0x00, 0x53, 0x77, 0x40}})
		}},
		{"delivery tag over 32 bytes", "link", amqp10.CondInvalidField, func(c *raw) {
			c.open(nil)
			c.begin(0)
			c.attachSender(0, 0, "")
			c.frame(0, &amqp10.Transfer{Handle: 0, DeliveryID: u32(0), DeliveryTag: make([]byte, 40), Payload: []byte{0x00, 0x53, 0x77, 0x40}})
		}},
		{"message over max-message-size", "link", amqp10.CondMessageSizeExceeded, func(c *raw) {
			c.open(nil)
			c.begin(0)
			c.attachSender(0, 0, "")
			for i := range 3 {
				tr := &amqp10.Transfer{Handle: 0, More: true, Payload: make([]byte, 2000)}
				if i == 0 {
					tr.DeliveryID, tr.DeliveryTag = u32(0), []byte("t")
				}
				c.frame(0, tr)
			}
		}},
		{"delivery-id changes mid-message", "link", amqp10.CondInvalidField, func(c *raw) {
			c.open(nil)
			c.begin(0)
			c.attachSender(0, 0, "")
			c.frame(0, &amqp10.Transfer{Handle: 0, DeliveryID: u32(0), DeliveryTag: []byte("t"), More: true, Payload: []byte{0x00}})
			c.frame(0, &amqp10.Transfer{Handle: 0, DeliveryID: u32(5), Payload: []byte{0x53, 0x77, 0x40}})
		}},
		{"aborted message, then a good one", "none", "", func(c *raw) {
			c.open(nil)
			c.begin(0)
			c.attachSender(0, 0, "")
			c.frame(0, &amqp10.Transfer{Handle: 0, DeliveryID: u32(0), DeliveryTag: []byte("a"), More: true, Payload: []byte{0x00, 0x53}})
			c.frame(0, &amqp10.Transfer{Handle: 0, Aborted: true})
			msg, err := (&amqp10.Message{Properties: &amqp10.Properties{To: "nowhere"}, Value: "x"}).Marshal(nil)
			if err != nil {
				t.Fatal(err)
			}
			c.frame(0, &amqp10.Transfer{Handle: 0, DeliveryID: u32(1), DeliveryTag: []byte("b"), Payload: msg})
			for {
				_, body, err := c.next()
				if err != nil {
					t.Fatal(err)
				}
				if d, ok := body.(*amqp10.Disposition); ok {
					if _, rel := d.State.(amqp10.Released); !rel || d.First != 1 || !d.Settled {
						t.Fatalf("disposition %+v, want delivery 1 released", d)
					}
					return
				}
				if k := kind(body); k != "flow" {
					t.Fatalf("got %s", k)
				}
			}
		}},
		{"transfer on a receiving link", "link", amqp10.CondNotAllowed, func(c *raw) {
			c.open(nil)
			c.begin(0)
			c.frame(0, &amqp10.Attach{Name: "rcv", Handle: 0, Role: amqp10.RoleReceiver, Source: &amqp10.Source{Address: "q"}, Target: &amqp10.Target{}})
			c.want("attach")
			c.frame(0, &amqp10.Transfer{Handle: 0, DeliveryID: u32(0), DeliveryTag: []byte("t"), Payload: []byte{0x00, 0x53, 0x77, 0x40}})
		}},
	}
	if len(cases) < 20 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := rawDial(t, r)
			c.t = t
			tc.run(c)
			switch tc.scope {
			case "eof":
				c.eof()
			case "connection":
				if got := c.want("close"); got != tc.cond {
					t.Fatalf("close with %q, want %q", got, tc.cond)
				}
				c.frame(0, &amqp10.Close{})
				c.eof()
			case "session":
				if got := c.want("end"); got != tc.cond {
					t.Fatalf("end with %q, want %q", got, tc.cond)
				}
				// The connection lives on: a new session works.
				c.begin(1)
			case "link":
				if got := c.want("detach"); got != tc.cond {
					t.Fatalf("detach with %q, want %q", got, tc.cond)
				}
				// The session lives on: a new link works.
				c.attachSender(0, 1, "")
			}
			// The router keeps serving other clients.
			other := rawDial(t, r)
			other.open(nil)
		})
	}
	// And a real client still gets messages through.
	cl := dial(t, r, &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("u", "p")})
	rcv := cl.receiver(t, "after", nil)
	snd := cl.sender(t, "after", nil)
	res := sendAsync(ctxT(t), snd, amqp.NewMessage([]byte("ok")))
	m := receive(t, rcv)
	rcv.AcceptMessage(ctxT(t), m)
	if _, ok := (<-res).(*amqp.StateAccepted); !ok {
		t.Fatal("router stopped working after the hostile input")
	}
}
