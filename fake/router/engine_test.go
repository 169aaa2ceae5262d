package router_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/switchyard-dev/switchyard/fake/internal/amqp10"
	"github.com/switchyard-dev/switchyard/fake/router"
	"github.com/switchyard-dev/switchyard/fake/routertest"
)

// TestSessionWindow: the router sends no more transfer frames than the
// client's session incoming window allows, and goes on when it grows; a
// message larger than the client's max-frame-size arrives in several
// frames.
func TestSessionWindow(t *testing.T) {
	r := routertest.New(t)
	c := rawDial(t, r)
	c.open(&amqp10.Open{ContainerID: "win", MaxFrameSize: 512})
	c.frame(0, &amqp10.Begin{IncomingWindow: 1, OutgoingWindow: 100})
	c.want("begin")
	c.frame(0, &amqp10.Attach{Name: "w", Handle: 0, Role: amqp10.RoleReceiver, Source: &amqp10.Source{Address: "win"}, Target: &amqp10.Target{}})
	c.want("attach")
	u32 := func(v uint32) *uint32 { return &v }
	c.frame(0, &amqp10.Flow{NextIncomingID: u32(0), IncomingWindow: 1, OutgoingWindow: 100, Handle: u32(0), DeliveryCount: u32(0), LinkCredit: u32(1)})
	waitCredit(t, r, "win")

	snd := dial(t, r, nil).sender(t, "win", nil)
	body := bytes.Repeat([]byte("w"), 2000)
	res := sendAsync(ctxT(t), snd, amqp.NewMessage(body))

	readTransfer := func() *amqp10.Transfer {
		t.Helper()
		for {
			_, b, err := c.next()
			if err != nil {
				t.Fatal(err)
			}
			if tr, ok := b.(*amqp10.Transfer); ok {
				return tr
			}
		}
	}
	first := readTransfer()
	if !first.More || first.DeliveryID == nil {
		t.Fatalf("first transfer %+v", first)
	}
	payload := append([]byte(nil), first.Payload...)
	// The window is used up: nothing more comes until the client opens it.
	c.nc.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
	if _, b, err := c.next(); err == nil {
		t.Fatalf("got %T beyond the session window", b)
	}
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	c.br.Reset(c.nc)
	c.frame(0, &amqp10.Flow{NextIncomingID: u32(1), IncomingWindow: 100, OutgoingWindow: 100})
	frames := 1
	for {
		tr := readTransfer()
		frames++
		payload = append(payload, tr.Payload...)
		if !tr.More {
			break
		}
	}
	if frames < 4 {
		t.Errorf("a 2000-byte message in %d frames of at most 512 bytes", frames)
	}
	var m amqp10.Message
	if err := m.Unmarshal(payload); err != nil || len(m.Data) != 1 || !bytes.Equal(m.Data[0], body) {
		t.Fatalf("reassembled message: %v", err)
	}
	c.frame(0, &amqp10.Disposition{Role: amqp10.RoleReceiver, First: *first.DeliveryID, Settled: true, State: amqp10.Accepted{}})
	if _, ok := (<-res).(*amqp.StateAccepted); !ok {
		t.Fatal("not accepted")
	}
}

// TestIdleTimeoutEnforced: a client silent for longer than the router's
// idle time-out is closed with amqp:resource-limit-exceeded.
func TestIdleTimeoutEnforced(t *testing.T) {
	r := routertest.New(t, func(o *router.Options) { o.IdleTimeout = 200 * time.Millisecond })
	c := rawDial(t, r)
	start := time.Now()
	c.open(nil)
	if got := c.want("close"); got != amqp10.CondResourceLimitExceeded {
		t.Fatalf("close with %q", got)
	}
	if el := time.Since(start); el < 200*time.Millisecond {
		t.Fatalf("closed after %v", el)
	}
}

// TestKeepalivesToClient: with the client's idle-time-out set, the router
// sends empty frames while it has nothing else to say.
func TestKeepalivesToClient(t *testing.T) {
	r := routertest.New(t)
	c := rawDial(t, r)
	c.open(&amqp10.Open{ContainerID: "ka", IdleTimeout: 100})
	for i := range 3 {
		f, err := amqp10.ReadFrame(c.br, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !f.IsEmpty() {
			t.Fatalf("frame %d is not empty", i)
		}
	}
}

// TestReceiverSettleModeSecond: the sender asks the router to settle only
// after it has; the outcome still comes from the consumer.
func TestReceiverSettleModeSecond(t *testing.T) {
	r := routertest.New(t)
	c := dial(t, r, nil)
	rcv := c.receiver(t, "second", nil)
	mode := amqp.ReceiverSettleModeSecond
	snd := c.sender(t, "second", &amqp.SenderOptions{RequestedReceiverSettleMode: &mode})
	res := sendAsync(ctxT(t), snd, amqp.NewMessage([]byte("2")))
	m := receive(t, rcv)
	stillPending(t, res, 50*time.Millisecond)
	rcv.RejectMessage(ctxT(t), m, nil)
	if _, ok := (<-res).(*amqp.StateRejected); !ok {
		t.Fatal("not rejected")
	}
}

// TestHandshakeTimeout: a client that never sends its header is dropped.
func TestHandshakeTimeout(t *testing.T) {
	r := routertest.New(t, func(o *router.Options) { o.HandshakeTimeout = 100 * time.Millisecond })
	c := rawDial(t, r)
	c.eof()
}

// TestRequireSASL: a client that skips SASL gets the SASL header back and
// is dropped.
func TestRequireSASL(t *testing.T) {
	r := routertest.New(t, func(o *router.Options) { o.RequireSASL = true })
	c := rawDial(t, r)
	h := amqp10.HeaderAMQP.Bytes()
	c.write(h[:])
	if got := c.header(); got != amqp10.HeaderSASL {
		t.Fatalf("answered %v", got)
	}
	c.eof()
	roundTrip(t, dial(t, r, &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous()}), "sasl")
}

// rawConsumer attaches a receiving link on a raw connection with credit.
func rawConsumer(t *testing.T, r *router.Router, address string, mode amqp10.ReceiverSettleMode, credit uint32) *raw {
	t.Helper()
	c := rawDial(t, r)
	c.open(nil)
	c.frame(0, &amqp10.Begin{IncomingWindow: 1000, OutgoingWindow: 1000})
	c.want("begin")
	c.frame(0, &amqp10.Attach{Name: "rc", Handle: 0, Role: amqp10.RoleReceiver, ReceiverSettleMode: mode,
		Source: &amqp10.Source{Address: address}, Target: &amqp10.Target{}})
	c.want("attach")
	u32 := func(v uint32) *uint32 { return &v }
	c.frame(0, &amqp10.Flow{NextIncomingID: u32(0), IncomingWindow: 1000, OutgoingWindow: 1000, Handle: u32(0), DeliveryCount: u32(0), LinkCredit: u32(credit)})
	waitCredit(t, r, address)
	return c
}

func (c *raw) transfer() *amqp10.Transfer {
	c.t.Helper()
	for {
		_, b, err := c.next()
		if err != nil {
			c.t.Fatal(err)
		}
		if tr, ok := b.(*amqp10.Transfer); ok {
			return tr
		}
	}
}

// TestDispositionRanges: one disposition settles several deliveries, also
// with a range far wider than what is outstanding.
func TestDispositionRanges(t *testing.T) {
	r := routertest.New(t)
	for _, wide := range []bool{false, true} {
		addr := fmt.Sprintf("ranges-%v", wide)
		c := rawConsumer(t, r, addr, amqp10.ReceiverSettleModeFirst, 10)
		snd := dial(t, r, nil).sender(t, addr, nil)
		var results []<-chan any
		var first, last uint32
		for i := range 3 {
			results = append(results, sendAsync(ctxT(t), snd, amqp.NewMessage([]byte("r"))))
			tr := c.transfer()
			if i == 0 {
				first = *tr.DeliveryID
			}
			last = *tr.DeliveryID
		}
		if wide {
			first, last = first-100, last+1<<30
		}
		c.frame(0, &amqp10.Disposition{Role: amqp10.RoleReceiver, First: first, Last: &last, Settled: true, State: amqp10.Accepted{}})
		for i, res := range results {
			if _, ok := (<-res).(*amqp.StateAccepted); !ok {
				t.Fatalf("wide=%v: send %d not accepted", wide, i)
			}
		}
	}
}

// TestConsumerSettlesSecond: a consumer in receiver-settle-mode second
// gives its outcome unsettled; the router passes it on and settles.
func TestConsumerSettlesSecond(t *testing.T) {
	r := routertest.New(t)
	c := rawConsumer(t, r, "second-consumer", amqp10.ReceiverSettleModeSecond, 5)
	snd := dial(t, r, nil).sender(t, "second-consumer", nil)
	res := sendAsync(ctxT(t), snd, amqp.NewMessage([]byte("s")))
	tr := c.transfer()
	c.frame(0, &amqp10.Disposition{Role: amqp10.RoleReceiver, First: *tr.DeliveryID, State: amqp10.Released{}})
	for {
		_, b, err := c.next()
		if err != nil {
			t.Fatal(err)
		}
		if d, ok := b.(*amqp10.Disposition); ok {
			if d.Role != amqp10.RoleSender || !d.Settled || d.First != *tr.DeliveryID {
				t.Fatalf("router's disposition %+v", d)
			}
			break
		}
	}
	if _, ok := (<-res).(*amqp.StateReleased); !ok {
		t.Fatal("not released")
	}
}
