package amqp1_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/amqp1"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
	"github.com/switchyard-dev/switchyard/internal/realbroker"
	"github.com/switchyard-dev/switchyard/internal/rpctest"
)

// fastConfig shortens reconnect and retry delays so failure tests stay
// quick.
func fastConfig() *drivers.Config {
	c := drivers.DefaultConfig()
	c.AMQP.ConnectionRetryInterval = 50 * time.Millisecond
	c.AMQP.ConnectionRetryIntervalMax = 200 * time.Millisecond
	c.AMQP.LinkRetryDelay = 100 * time.Millisecond
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

// server starts an RPC server on target that serve answers; it stops with
// the test.
func server(t *testing.T, d drivers.Driver, target drivers.Target) chan drivers.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	l, err := d.Listen(ctx, target, drivers.Batch{Size: 1})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	seen := make(chan drivers.Message, 64)
	wg := serve(ctx, t, l, seen)
	t.Cleanup(func() { cancel(); l.Stop(); wg.Wait(); l.Cleanup() })
	return seen
}

func call(ctx context.Context, d drivers.Driver, target drivers.Target, method string, args map[string]any, o drivers.SendOptions) (any, error) {
	o.WaitForReply = true
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	return d.Send(ctx, target, drivers.Context{"request_id": "req-go"}, drivers.Message{"method": method, "args": args}, o)
}

func expect(t *testing.T, seen <-chan drivers.Message, kind string) {
	t.Helper()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	for {
		select {
		case m := <-seen:
			if args, _ := m["args"].(map[string]any); args["kind"] == kind {
				return
			}
		case <-timer.C:
			t.Fatalf("%s not received", kind)
		}
	}
}

// TestRoundTrips runs call, cast and fanout through the proton broker in
// both addressing modes (C01-C03, C06, C09, C10).
func TestRoundTrips(t *testing.T) {
	url := brokerURL(t)
	for _, mode := range []string{"dynamic", "legacy", "routable"} {
		t.Run(mode, func(t *testing.T) {
			cfg := fastConfig()
			cfg.AMQP.AddressingMode = mode
			d := open(t, url, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			topic := unique("sy_rt")
			seen := server(t, d, drivers.Target{Topic: topic, Server: "h1"})
			want := map[string]amqp1.Mode{"dynamic": amqp1.Legacy, "legacy": amqp1.Legacy, "routable": amqp1.Routable}[mode]
			if got := amqp1.CurrentMode(d); got != want && (mode != "dynamic" || os.Getenv(realbroker.EnvAMQP1URL) == "") {
				t.Fatalf("addressing mode %q, want %q (the proton broker advertises no product)", got, want)
			}
			for _, v := range []any{
				map[string]any{"text": "h\u00e9llo \u2603 \U0001F600", "nested": map[string]any{"a": []any{1, 2, nil, map[string]any{"b": true}}}},
				nil, "unicode \u00e9", []any{}, 3,
			} {
				got, err := call(ctx, d, drivers.Target{Topic: topic}, "echo", map[string]any{"value": v}, drivers.SendOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(normalize(got), normalize(v)) {
					t.Fatalf("reply %#v, want %#v", got, v)
				}
			}
			_, err := call(ctx, d, drivers.Target{Topic: topic, Server: "h1"}, "fail", map[string]any{}, drivers.SendOptions{})
			var re *drivers.RemoteError
			if !errors.As(err, &re) || re.Class != "ValueError" || re.Module != "builtins" || re.Message != "bad value" || !re.Rebuilt {
				t.Fatalf("fail: %v", err)
			}
			for _, target := range []drivers.Target{{Topic: topic}, {Topic: topic, Server: "h1"}, {Topic: topic, Fanout: true}} {
				if _, err := d.Send(ctx, target, nil, drivers.Message{"method": "echo", "args": map[string]any{"kind": target.String()}}, drivers.SendOptions{}); err != nil {
					t.Fatal(err)
				}
				expect(t, seen, target.String())
			}
			// A cast that waits for the broker's acknowledgement.
			cfg2 := fastConfig()
			cfg2.AMQP.AddressingMode = mode
			cfg2.AMQP.PreSettled = nil
			d2 := open(t, url, cfg2)
			if _, err := d2.Send(ctx, drivers.Target{Topic: topic}, nil, drivers.Message{"method": "echo", "args": map[string]any{"kind": "acked"}}, drivers.SendOptions{}); err != nil {
				t.Fatal(err)
			}
			expect(t, seen, "acked")
			if _, err := call(ctx, d2, drivers.Target{Topic: topic}, "echo", map[string]any{"value": "acked call"}, drivers.SendOptions{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCallTimeout: a call nobody answers fails with a timeout within
// [timeout, timeout+1 s] (C08, C13); a late reply is not delivered.
func TestCallTimeout(t *testing.T) {
	d := open(t, brokerURL(t), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err := call(ctx, d, drivers.Target{Topic: unique("sy_nobody")}, "x", nil, drivers.SendOptions{Timeout: time.Second})
	if el := time.Since(start); !errors.Is(err, drivers.ErrTimeout) || el < time.Second || el > 2*time.Second {
		t.Fatalf("timeout: %v after %v", err, el)
	}
	// The reply to a timed-out call is dropped; the next call gets its own.
	topic := unique("sy_late")
	server(t, d, drivers.Target{Topic: topic, Server: "s"})
	_, err = call(ctx, d, drivers.Target{Topic: topic}, "sleep", map[string]any{"seconds": 1.5}, drivers.SendOptions{Timeout: time.Second})
	if !errors.Is(err, drivers.ErrTimeout) {
		t.Fatalf("slow call: %v", err)
	}
	got, err := call(ctx, d, drivers.Target{Topic: topic}, "echo", map[string]any{"value": "mine"}, drivers.SendOptions{Timeout: 5 * time.Second})
	if err != nil || got != "mine" {
		t.Fatalf("next call: %v %v", got, err)
	}
}

// TestCallMonitor: heartbeats keep a 4 s call alive past a 2 s monitor; a
// server that stops heartbeating fails the call within monitor + 1 s (C12).
func TestCallMonitor(t *testing.T) {
	d := open(t, brokerURL(t), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := unique("sy_mon")
	server(t, d, drivers.Target{Topic: topic, Server: "s"})
	start := time.Now()
	got, err := call(ctx, d, drivers.Target{Topic: topic}, "sleep", map[string]any{"seconds": 4},
		drivers.SendOptions{Timeout: 20 * time.Second, CallMonitorTimeout: 2 * time.Second})
	if err != nil || time.Since(start) < 4*time.Second {
		t.Fatalf("monitored call: %v %v after %v", got, err, time.Since(start))
	}
	if !reflect.DeepEqual(normalize(got), normalize(map[string]any{"slept": 4})) {
		t.Fatalf("got %v", got)
	}
	start = time.Now()
	_, err = call(ctx, d, drivers.Target{Topic: topic}, "silent", nil,
		drivers.SendOptions{Timeout: 20 * time.Second, CallMonitorTimeout: 2 * time.Second})
	if el := time.Since(start); !errors.Is(err, drivers.ErrTimeout) || el < 2*time.Second || el > 3*time.Second {
		t.Fatalf("call to a silent server: %v after %v", err, el)
	}
}

// TestNotifications: versions 1.0 and 2.0 reach a listener of the
// priority and no other (C22, C26); batches follow C27; pools are not
// implemented (C25).
func TestNotifications(t *testing.T) {
	for _, mode := range []string{"legacy", "routable"} {
		t.Run(mode, func(t *testing.T) {
			cfg := fastConfig()
			cfg.AMQP.AddressingMode = mode
			d := open(t, brokerURL(t), cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			topic := unique("sy_notif")
			// Store and forward: sent before anyone listens.
			for _, v := range []string{"2.0", "1.0"} {
				n, _ := envelope.NewNotification("p", "e", "info", map[string]any{"v": v}).Message()
				if err := d.SendNotification(ctx, drivers.Target{Topic: topic + ".info"}, drivers.Context{"r": v}, n, v, 0); err != nil {
					t.Fatal(err)
				}
			}
			n, _ := envelope.NewNotification("p", "e", "error", map[string]any{"v": "err"}).Message()
			if err := d.SendNotification(ctx, drivers.Target{Topic: topic + ".error"}, nil, n, "2.0", 0); err != nil {
				t.Fatal(err)
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
				want := []string{"2.0", "1.0"}[i]
				if m.Message()["payload"].(map[string]any)["v"] != want || m.Context()["r"] != want || m.Message()["priority"] != "INFO" {
					t.Fatalf("message %d: %v %v", i, m.Message(), m.Context())
				}
				m.Acknowledge()
			}
			l.Cleanup() // the broker would hand the next message to l too
			// C27: one message and a 0.5 s batch timeout: returned after it.
			n, _ = envelope.NewNotification("p", "e", "info", map[string]any{"v": "batch"}).Message()
			start := time.Now()
			if err := d.SendNotification(ctx, drivers.Target{Topic: topic + ".info"}, nil, n, "2.0", 0); err != nil {
				t.Fatal(err)
			}
			l2, err := d.ListenForNotifications(ctx, []drivers.TargetPriority{{Target: drivers.Target{Topic: topic}, Priority: "info"}}, "", drivers.Batch{Size: 5, Timeout: 500 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer l2.Cleanup()
			msgs, err = l2.Poll(ctx)
			if el := time.Since(start); err != nil || len(msgs) != 1 || el < 500*time.Millisecond || el > 2*time.Second {
				t.Fatalf("batch poll: %d %v after %v", len(msgs), err, el)
			}
			msgs[0].Acknowledge()
			if _, err := d.ListenForNotifications(ctx, []drivers.TargetPriority{{Target: drivers.Target{Topic: topic}, Priority: "info"}}, "pool", drivers.Batch{}); !errors.Is(err, drivers.ErrNotImplemented) {
				t.Fatalf("pool: %v", err)
			}
		})
	}
}

// TestBatchFull: a batch returns as soon as Size messages are there
// (C27).
func TestBatchFull(t *testing.T) {
	d := open(t, brokerURL(t), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := unique("sy_batch")
	l, err := d.ListenForNotifications(ctx, []drivers.TargetPriority{{Target: drivers.Target{Topic: topic}, Priority: "info"}}, "", drivers.Batch{Size: 3, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Cleanup()
	start := time.Now()
	for i := range 3 {
		n, _ := envelope.NewNotification("p", "e", "info", map[string]any{"i": i}).Message()
		if err := d.SendNotification(ctx, drivers.Target{Topic: topic + ".info"}, nil, n, "2.0", 0); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := l.Poll(ctx)
	if err != nil || len(msgs) != 3 || time.Since(start) > 5*time.Second {
		t.Fatalf("poll: %d %v after %v", len(msgs), err, time.Since(start))
	}
	for i, m := range msgs { // C32: in send order
		if m.Message()["payload"].(map[string]any)["i"] != normalize(i) {
			t.Fatalf("message %d: %v", i, m.Message())
		}
		m.Acknowledge()
	}
}

// TestRequireFeatures: requeue is supported (C30); TestRequeue shows it.
func TestRequireFeatures(t *testing.T) {
	d := open(t, brokerURL(t), nil)
	if err := d.RequireFeatures(drivers.Features{Requeue: true}); err != nil {
		t.Fatal(err)
	}
}

// TestSenderIdleDetach: sender links unused for default_sender_link_timeout
// are detached.
func TestSenderIdleDetach(t *testing.T) {
	cfg := fastConfig()
	cfg.AMQP.DefaultSenderLinkTimeout = time.Second
	d := open(t, brokerURL(t), cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for range 3 {
		if _, err := d.Send(ctx, drivers.Target{Topic: unique("sy_idle")}, nil, drivers.Message{"method": "m"}, drivers.SendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := amqp1.SenderLinks(d); n != 3 {
		t.Fatalf("%d sender links after 3 casts, want 3", n)
	}
	waitUntil(t, 5*time.Second, "idle sender links detached", func() bool { return amqp1.SenderLinks(d) == 0 })
}

// TestCloseEndsWaitingCalls: Close makes a waiting call and every later
// call return ErrClosed at once (C33).
func TestCloseEndsWaitingCalls(t *testing.T) {
	d, err := drivers.Open(context.Background(), brokerURL(t), fastConfig())
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
		_, err := call(ctx, d, drivers.Target{Topic: topic}, "never", nil, drivers.SendOptions{Timeout: 20 * time.Second})
		done <- err
	}()
	if _, err := l.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, drivers.ErrClosed) || time.Since(start) > 2*time.Second {
		t.Fatalf("waiting call: %v after %v", err, time.Since(start))
	}
	if _, err := l.Poll(ctx); !errors.Is(err, drivers.ErrClosed) {
		t.Fatalf("poll after close: %v", err)
	}
	l.Cleanup()
	if _, err := d.Send(ctx, drivers.Target{Topic: topic}, nil, drivers.Message{}, drivers.SendOptions{}); !errors.Is(err, drivers.ErrClosed) {
		t.Fatalf("send after close: %v", err)
	}
	if err := d.SendNotification(ctx, drivers.Target{Topic: topic}, nil, drivers.Message{}, "2.0", 0); !errors.Is(err, drivers.ErrClosed) {
		t.Fatalf("notify after close: %v", err)
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

// normalize returns v as the JSON decoder gives it back (numbers as
// json.Number), for comparing values built in Go with values received.
func normalize(v any) any {
	b, err := envelope.MarshalJSON(v)
	if err != nil {
		panic(err)
	}
	out, err := envelope.UnmarshalJSON(b)
	if err != nil {
		panic(err)
	}
	return out
}

// TestLargeMessage: a 1 MiB nested value makes the round trip (C06),
// over many transfer frames.
func TestLargeMessage(t *testing.T) {
	d := open(t, brokerURL(t), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := unique("sy_large")
	server(t, d, drivers.Target{Topic: topic, Server: "s"})
	items := make([]any, 0, 1024)
	for i := range 1024 {
		items = append(items, map[string]any{"i": i, "s": strings.Repeat("\u00e9x", 256)})
	}
	v := map[string]any{"items": items}
	got, err := call(ctx, d, drivers.Target{Topic: topic}, "echo", map[string]any{"value": v}, drivers.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(normalize(got), normalize(v)) {
		t.Fatal("the 1 MiB reply differs from the request")
	}
}

// TestConcurrentCalls: 64 calls in flight from one driver to two servers
// answering in random order each get their own reply (C07).
func TestConcurrentCalls(t *testing.T) {
	d := open(t, brokerURL(t), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topic := unique("sy_many")
	server(t, d, drivers.Target{Topic: topic, Server: "a"})
	server(t, d, drivers.Target{Topic: topic, Server: "b"})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			method, args := "echo", map[string]any{"value": i}
			if i%4 == 0 { // answered later, so replies come out of order
				method, args = "sleep", map[string]any{"seconds": 0.2 + float64(i%3)/10}
			}
			got, err := call(ctx, d, drivers.Target{Topic: topic}, method, args, drivers.SendOptions{})
			switch {
			case err != nil:
				errs <- err
			case method == "echo" && !reflect.DeepEqual(normalize(got), normalize(i)):
				errs <- fmt.Errorf("call %d got %v", i, got)
			case method == "sleep" && !reflect.DeepEqual(normalize(got), normalize(map[string]any{"slept": args["seconds"]})):
				errs <- fmt.Errorf("call %d got %v", i, got)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
