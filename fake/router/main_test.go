package router_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"go.uber.org/goleak"

	"github.com/switchyard-dev/switchyard/fake/router"
	"github.com/switchyard-dev/switchyard/fake/routertest"
	"github.com/switchyard-dev/switchyard/internal/realbroker"
)

func TestMain(m *testing.M) {
	code := m.Run()
	realbroker.StopShared() // the proton broker of the benchmarks' reference
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// client is one go-amqp connection with a session.
type client struct {
	conn *amqp.Conn
	sess *amqp.Session
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// logEventsOnFailure logs the router's event log if the test fails.
func logEventsOnFailure(t testing.TB, r *router.Router) {
	t.Cleanup(func() {
		if t.Failed() {
			for _, e := range r.Events() {
				t.Log(e)
			}
		}
	})
}

func dial(t testing.TB, r *router.Router, opts *amqp.ConnOptions) *client {
	t.Helper()
	ctx := ctxT(t)
	conn, err := amqp.Dial(ctx, r.URL(), opts)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	return &client{conn: conn, sess: sess}
}

func (c *client) sender(t testing.TB, addr string, opts *amqp.SenderOptions) *amqp.Sender {
	t.Helper()
	s, err := c.sess.NewSender(ctxT(t), addr, opts)
	if err != nil {
		t.Fatalf("sender %q: %v", addr, err)
	}
	return s
}

func (c *client) receiver(t testing.TB, addr string, opts *amqp.ReceiverOptions) *amqp.Receiver {
	t.Helper()
	rcv, err := c.sess.NewReceiver(ctxT(t), addr, opts)
	if err != nil {
		t.Fatalf("receiver %q: %v", addr, err)
	}
	return rcv
}

func TestSmoke(t *testing.T) {
	r := routertest.New(t)
	c := dial(t, r, nil)
	rcv := c.receiver(t, "q1", nil)
	snd := c.sender(t, "q1", nil)
	ctx := ctxT(t)
	done := make(chan error, 1)
	go func() { done <- snd.Send(ctx, amqp.NewMessage([]byte("hello")), nil) }()
	m, err := rcv.Receive(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.GetData()) != "hello" {
		t.Fatalf("got %q", m.GetData())
	}
	if err := rcv.AcceptMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
