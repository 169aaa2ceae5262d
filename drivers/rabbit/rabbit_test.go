package rabbit_test

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
	_ "github.com/switchyard-dev/switchyard/drivers/rabbit"
	"github.com/switchyard-dev/switchyard/internal/realbroker"
	"github.com/switchyard-dev/switchyard/internal/rpctest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fastConfig shortens reconnect delays so failure tests stay quick.
func fastConfig() *drivers.Config {
	c := drivers.DefaultConfig()
	c.Rabbit.RabbitRetryInterval = 50 * time.Millisecond
	c.Rabbit.RabbitRetryBackoff = 50 * time.Millisecond
	c.Rabbit.RabbitIntervalMax = 200 * time.Millisecond
	c.Rabbit.KombuMissingConsumerRetryTimeout = 2 * time.Second
	return c
}

func open(t testing.TB, url string, cfg *drivers.Config) drivers.Driver {
	t.Helper()
	if cfg == nil {
		cfg = fastConfig()
	}
	d, err := drivers.Open(context.Background(), url, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func unique(prefix string) string { return rpctest.Unique(prefix) }

// serve is the shared RPC test server (internal/rpctest).
func serve(ctx context.Context, t *testing.T, l drivers.Listener, seen chan<- drivers.Message) *sync.WaitGroup {
	var r rpctest.Reporter
	if t != nil {
		r = t
	}
	return rpctest.Serve(ctx, r, l, seen)
}

func TestCallCastFanout(t *testing.T) {
	url := realbroker.RabbitURL(t)
	d := open(t, url, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := unique("sy_rpc")
	l1, err := d.Listen(ctx, drivers.Target{Topic: topic, Server: "h1"}, drivers.Batch{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l1.Cleanup()
	seen := make(chan drivers.Message, 16)
	sctx, stop := context.WithCancel(ctx)
	wg := serve(sctx, t, l1, seen)
	defer func() { stop(); l1.Stop(); wg.Wait() }()

	args := map[string]any{"text": "h\u00e9llo", "nested": map[string]any{"a": []any{1.0, nil}}}
	got, err := d.Send(ctx, drivers.Target{Topic: topic}, drivers.Context{"request_id": "r1"},
		drivers.Message{"method": "echo", "args": args}, drivers.SendOptions{WaitForReply: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(envelope.MustNormalize(got), envelope.MustNormalize(args)) {
		t.Fatalf("reply %v, want %v", got, args)
	}
	<-seen
	_, err = d.Send(ctx, drivers.Target{Topic: topic}, nil, drivers.Message{"method": "fail", "args": map[string]any{}},
		drivers.SendOptions{WaitForReply: true, Timeout: 5 * time.Second})
	var re *drivers.RemoteError
	if !errors.As(err, &re) || re.Class != "ValueError" || !re.Rebuilt {
		t.Fatalf("fail: %v", err)
	}
	<-seen
	for _, target := range []drivers.Target{{Topic: topic}, {Topic: topic, Server: "h1"}, {Topic: topic, Fanout: true}} {
		if _, err := d.Send(ctx, target, nil, drivers.Message{"method": "echo", "args": map[string]any{"t": target.String()}}, drivers.SendOptions{}); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-seen:
			if m["args"].(map[string]any)["t"] != target.String() {
				t.Fatalf("got %v for %s", m, target)
			}
		case <-ctx.Done():
			t.Fatalf("cast to %s not received", target)
		}
	}
}

func TestCallTimeoutAndMonitor(t *testing.T) {
	url := realbroker.RabbitURL(t)
	d := open(t, url, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err := d.Send(ctx, drivers.Target{Topic: unique("sy_nobody")}, nil, drivers.Message{"method": "x"}, drivers.SendOptions{WaitForReply: true, Timeout: time.Second})
	if el := time.Since(start); !errors.Is(err, drivers.ErrTimeout) || el < time.Second || el > 2*time.Second {
		t.Fatalf("timeout: %v after %v", err, el)
	}
	topic := unique("sy_slow")
	l, err := d.Listen(ctx, drivers.Target{Topic: topic, Server: "s"}, drivers.Batch{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Cleanup()
	sctx, stop := context.WithCancel(ctx)
	wg := serve(sctx, t, l, nil)
	defer func() { stop(); l.Stop(); wg.Wait() }()
	got, err := d.Send(ctx, drivers.Target{Topic: topic}, nil, drivers.Message{"method": "sleep", "args": map[string]any{"seconds": 3}},
		drivers.SendOptions{WaitForReply: true, Timeout: 10 * time.Second, CallMonitorTimeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("monitored call: %v", err)
	}
	if !reflect.DeepEqual(envelope.MustNormalize(got), envelope.MustNormalize(map[string]any{"slept": 3})) {
		t.Fatalf("got %v", got)
	}
}

func TestNotifications(t *testing.T) {
	url := realbroker.RabbitURL(t)
	d := open(t, url, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := unique("sy_notif")
	for _, v := range []string{"2.0", "1.0"} {
		n, _ := envelope.NewNotification("p", "e", "info", map[string]any{"v": v}).Message()
		if err := d.SendNotification(ctx, drivers.Target{Topic: topic + ".info"}, drivers.Context{"r": v}, n, v, 0); err != nil {
			t.Fatal(err)
		}
	}
	l, err := d.ListenForNotifications(ctx, []drivers.TargetPriority{{Target: drivers.Target{Topic: topic}, Priority: "info"}}, "", drivers.Batch{Size: 2, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Cleanup()
	msgs, err := l.Poll(ctx)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("poll: %d %v", len(msgs), err)
	}
	for i, m := range msgs {
		if m.Message()["payload"].(map[string]any)["v"] != []string{"2.0", "1.0"}[i] {
			t.Fatalf("message %d: %v", i, m.Message())
		}
		m.Acknowledge()
	}
}

// TestCloseEndsWaitingCalls: Close makes a call waiting for its reply and
// every later call return ErrClosed at once (C33).
func TestCloseEndsWaitingCalls(t *testing.T) {
	url := realbroker.RabbitURL(t)
	d, err := drivers.Open(context.Background(), url, fastConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := unique("sy_close")
	l, err := d.Listen(ctx, drivers.Target{Topic: topic}, drivers.Batch{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := d.Send(ctx, drivers.Target{Topic: topic}, nil, drivers.Message{"method": "never"}, drivers.SendOptions{WaitForReply: true, Timeout: 20 * time.Second})
		done <- err
	}()
	if _, err := l.Poll(ctx); err != nil { // the request arrived; nobody answers
		t.Fatal(err)
	}
	start := time.Now()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, drivers.ErrClosed) || time.Since(start) > time.Second {
		t.Fatalf("waiting call: %v after %v", err, time.Since(start))
	}
	if _, err := l.Poll(ctx); !errors.Is(err, drivers.ErrClosed) {
		t.Fatalf("poll after close: %v", err)
	}
	l.Cleanup()
	if _, err := d.Send(ctx, drivers.Target{Topic: topic}, nil, drivers.Message{}, drivers.SendOptions{}); !errors.Is(err, drivers.ErrClosed) {
		t.Fatalf("send after close: %v", err)
	}
	if _, err := d.Listen(ctx, drivers.Target{Topic: topic}, drivers.Batch{}); !errors.Is(err, drivers.ErrClosed) {
		t.Fatalf("listen after close: %v", err)
	}
	if err := d.RequireFeatures(drivers.Features{Requeue: true}); !errors.Is(err, drivers.ErrClosed) {
		t.Fatalf("require features after close: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}
