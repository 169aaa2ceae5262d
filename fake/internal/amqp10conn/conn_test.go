package amqp10conn

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/switchyard-dev/switchyard/fake/internal/amqp10"
)

// recorder is an echoHandler that records the calls it gets.
type recorder struct {
	echoHandler
	mu    sync.Mutex
	calls []string
	done  chan struct{}
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, s)
}

func (r *recorder) Open(c *Conn) *amqp10.Error {
	r.add("open " + c.ContainerID())
	return nil
}
func (r *recorder) Attach(l *Link) *amqp10.Error {
	r.add("attach " + l.Name())
	return r.echoHandler.Attach(l)
}
func (r *recorder) Delivery(d *Incoming) {
	r.add(fmt.Sprintf("delivery %d bytes", len(d.Payload)))
	r.echoHandler.Delivery(d)
}
func (r *recorder) Detached(l *Link, _ *amqp10.Error) { r.add("detached " + l.Name()) }
func (r *recorder) Closed(*Conn, error) {
	r.add("closed")
	close(r.done)
}

// serve runs one engine connection with h over loopback TCP and returns
// the address to dial.
func serve(t *testing.T, h Handler, cfg Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		cfg.Handler = h
		New(nc, cfg).Run()
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

func TestHandlerCalls(t *testing.T) {
	rec := &recorder{done: make(chan struct{})}
	addr := serve(t, rec, Config{Properties: amqp10.Map{{Key: amqp10.Symbol("product"), Value: "engine-test"}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := amqp.Dial(ctx, "amqp://"+addr, &amqp.ConnOptions{ContainerID: "peer", SASLType: amqp.SASLTypeAnonymous()})
	if err != nil {
		t.Fatal(err)
	}
	if conn.Properties()["product"] != "engine-test" {
		t.Errorf("properties %v", conn.Properties())
	}
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	snd, err := sess.NewSender(ctx, "a", &amqp.SenderOptions{Name: "snd"})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := snd.Send(ctx, amqp.NewMessage([]byte("hello")), nil); err != nil {
			t.Fatal(err)
		}
	}
	rcv, err := sess.NewReceiver(ctx, "b", &amqp.ReceiverOptions{Name: "rcv", Credit: 1})
	if err != nil {
		t.Fatal(err)
	}
	m, err := rcv.Receive(ctx, nil)
	if err != nil || m.Value != "x" {
		t.Fatalf("receive: %v %v", m, err)
	}
	if err := rcv.AcceptMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := snd.Close(ctx); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	select {
	case <-rec.done:
	case <-ctx.Done():
		t.Fatal("Closed never came")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	got := strings.Join(rec.calls, "; ")
	want := "open peer; attach snd; delivery"
	if !strings.HasPrefix(got, want) {
		t.Fatalf("calls: %s", got)
	}
	count := func(prefix string) int {
		return len(slices.DeleteFunc(slices.Clone(rec.calls), func(s string) bool { return !strings.HasPrefix(s, prefix) }))
	}
	if count("delivery") != 2 || count("attach") != 2 || count("detached") != 2 || rec.calls[len(rec.calls)-1] != "closed" {
		t.Fatalf("calls: %s", got)
	}
}

// TestRefusedOpen: Handler.Open's error closes the connection with it.
func TestRefusedOpen(t *testing.T) {
	addr := serve(t, refuser{}, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := amqp.Dial(ctx, "amqp://"+addr, nil)
	if err == nil {
		_, err = conn.NewSession(ctx, nil)
		conn.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "unauthorized") {
		t.Fatalf("got %v, want the refusal", err)
	}
}

type refuser struct{ echoHandler }

func (refuser) Open(*Conn) *amqp10.Error {
	return &amqp10.Error{Condition: amqp10.CondUnauthorizedAccess, Description: "no"}
}
