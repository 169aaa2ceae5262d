package broker_test

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/switchyard-dev/switchyard/internal/realbroker"
)

// a1Backend is an AMQP 1.0 store-and-forward broker under test.
type a1Backend struct {
	name string
	addr string // host:port
}

// a1Backends returns the fake broker's AMQP 1.0 port and, where it is
// installed, the proton example broker, a real store-and-forward AMQP
// 1.0 broker written by the Qpid project.
func a1Backends(t *testing.T) []a1Backend {
	b := newA1Broker(t)
	out := []a1Backend{{"fake", b.AMQP1Addr()}}
	p, err := realbroker.StartProton(0)
	if err != nil {
		t.Logf("proton example broker not compared: %v", err)
		return out
	}
	t.Cleanup(p.Stop)
	u, err := url.Parse(p.URL())
	if err != nil {
		t.Fatal(err)
	}
	return append(out, a1Backend{"proton", u.Host})
}

func (be a1Backend) session(t *testing.T) *amqp.Session {
	t.Helper()
	c, err := amqp.Dial(a1ctx(t), "amqp://"+be.addr, &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous()})
	if err != nil {
		t.Fatalf("%s: dial: %v", be.name, err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := c.NewSession(a1ctx(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAMQP1LikeProton runs the behaviour the fake broker shares with the
// proton example broker against both: what passes on the real broker must
// pass on the fake one.
func TestAMQP1LikeProton(t *testing.T) {
	for _, be := range a1Backends(t) {
		t.Run(be.name, func(t *testing.T) {
			t.Run("store and forward, in order", func(t *testing.T) {
				s := be.session(t)
				snd := a1Sender(t, s, "sf-"+be.name, nil)
				for i := range 20 {
					a1Send(t, snd, fmt.Sprint("m", i))
				}
				r := a1Receiver(t, be.session(t), "sf-"+be.name, nil)
				for i := range 20 {
					m := a1Receive(t, r)
					if string(m.GetData()) != fmt.Sprint("m", i) {
						t.Fatalf("message %d: %q", i, m.GetData())
					}
					a1Accept(t, r, m)
				}
			})
			t.Run("dynamic receiver and anonymous sender", func(t *testing.T) {
				s := be.session(t)
				r, err := s.NewReceiver(a1ctx(t), "", &amqp.ReceiverOptions{DynamicAddress: true})
				if err != nil {
					t.Fatal(err)
				}
				addr := r.Address()
				if addr == "" {
					t.Fatal("no dynamic address")
				}
				msg := amqp.NewMessage([]byte("to-dynamic"))
				msg.Properties = &amqp.MessageProperties{To: &addr}
				if err := a1Sender(t, be.session(t), "", nil).Send(a1ctx(t), msg, nil); err != nil {
					t.Fatal(err)
				}
				if m := a1Receive(t, r); string(m.GetData()) != "to-dynamic" {
					t.Fatalf("got %q", m.GetData())
				}
			})
			t.Run("1 MiB message", func(t *testing.T) {
				s := be.session(t)
				big := bytes.Repeat([]byte{0, 1, 2, 3, 4, 5, 6, 7}, 1<<17)
				if err := a1Sender(t, s, "big-"+be.name, nil).Send(a1ctx(t), amqp.NewMessage(big), nil); err != nil {
					t.Fatal(err)
				}
				r := a1Receiver(t, s, "big-"+be.name, nil)
				if m := a1Receive(t, r); !bytes.Equal(m.GetData(), big) {
					t.Fatalf("got %d bytes", len(m.GetData()))
				}
			})
			t.Run("credit limits deliveries", func(t *testing.T) {
				s := be.session(t)
				snd := a1Sender(t, s, "cr-"+be.name, nil)
				for i := range 3 {
					a1Send(t, snd, fmt.Sprint(i))
				}
				r := a1Receiver(t, s, "cr-"+be.name, &amqp.ReceiverOptions{Credit: -1})
				if err := r.IssueCredit(2); err != nil {
					t.Fatal(err)
				}
				a1Accept(t, r, a1Receive(t, r))
				a1Accept(t, r, a1Receive(t, r))
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				defer cancel()
				if m, err := r.Receive(ctx, nil); err == nil {
					t.Fatalf("a delivery beyond credit: %q", m.GetData())
				}
			})
			t.Run("competing receivers share a queue", func(t *testing.T) {
				s := be.session(t)
				r1 := a1Receiver(t, s, "cc-"+be.name, &amqp.ReceiverOptions{Credit: 10})
				r2 := a1Receiver(t, be.session(t), "cc-"+be.name, &amqp.ReceiverOptions{Credit: 10})
				snd := a1Sender(t, s, "cc-"+be.name, nil)
				for i := range 10 {
					a1Send(t, snd, fmt.Sprint(i))
				}
				// Both receivers read at once until ten messages are in.
				ctx, cancel := context.WithTimeout(context.Background(), a1Timeout)
				defer cancel()
				msgs := make(chan string, 20)
				for _, r := range []*amqp.Receiver{r1, r2} {
					go func() {
						for {
							m, err := r.Receive(ctx, nil)
							if err != nil {
								return
							}
							msgs <- string(m.GetData())
						}
					}()
				}
				got := map[string]bool{}
				for len(got) < 10 {
					select {
					case m := <-msgs:
						got[m] = true
					case <-ctx.Done():
						t.Fatalf("received only %v", got)
					}
				}
				cancel()
				if len(got) != 10 {
					t.Fatalf("got %v", got)
				}
			})
		})
	}
}
