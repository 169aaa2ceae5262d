package rabbit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
	"github.com/switchyard-dev/switchyard/drivers/rabbit"
	"github.com/switchyard-dev/switchyard/internal/realbroker"
)

func pikaURL(t testing.TB) string {
	t.Helper()
	u, err := drivers.ParseURL(realbroker.RabbitURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Scheme = "pika"
	return u.Secret()
}

func TestPikaRoundTrip(t *testing.T) {
	d := open(t, pikaURL(t), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := unique("sy_pika")
	l, err := d.Listen(ctx, drivers.Target{Topic: topic, Server: "h1"}, drivers.Batch{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Cleanup()
	seen := make(chan drivers.Message, 16)
	sctx, stop := context.WithCancel(ctx)
	wg := serve(sctx, t, l, seen)
	defer func() { stop(); l.Stop(); wg.Wait() }()

	for _, retry := range []int{-1, 0} {
		got, err := d.Send(ctx, drivers.Target{Topic: topic}, drivers.Context{"request_id": "r"}, drivers.Message{"method": "echo", "args": map[string]any{"x": 1}},
			drivers.SendOptions{WaitForReply: true, Timeout: 5 * time.Second, Retry: retry})
		if err != nil || envelope.MustNormalize(got).(map[string]any)["x"] != envelope.MustNormalize(1) {
			t.Fatalf("call retry %d: %v %v", retry, got, err)
		}
		<-seen
	}
	_, err = d.Send(ctx, drivers.Target{Topic: topic, Server: "h1"}, nil, drivers.Message{"method": "fail", "args": map[string]any{}},
		drivers.SendOptions{WaitForReply: true, Timeout: 5 * time.Second})
	var re *drivers.RemoteError
	if !errors.As(err, &re) || re.Class != "ValueError" || !re.Rebuilt || len(re.Args) != 1 {
		t.Fatalf("fail: %v", err)
	}
	<-seen
	for _, target := range []drivers.Target{{Topic: topic}, {Topic: topic, Server: "h1"}, {Topic: topic, Fanout: true}} {
		if _, err := d.Send(ctx, target, nil, drivers.Message{"method": "echo", "args": map[string]any{"t": target.String()}}, drivers.SendOptions{Retry: -1}); err != nil {
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

	// Notifications: the first publish finds no queue, declares it and
	// retries; the message waits for a listener.
	ntopic := unique("sy_pika_n")
	n, _ := envelope.NewNotification("p", "e", "info", map[string]any{"k": "v"}).Message()
	if err := d.SendNotification(ctx, drivers.Target{Topic: ntopic + ".info"}, drivers.Context{"r": "1"}, n, "2.0", -1); err != nil {
		t.Fatal(err)
	}
	nl, err := d.ListenForNotifications(ctx, []drivers.TargetPriority{{Target: drivers.Target{Topic: ntopic}, Priority: "info"}}, "", drivers.Batch{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Cleanup()
	msgs, err := nl.Poll(ctx)
	if err != nil || msgs[0].Message()["event_type"] != "e" || msgs[0].Context()["r"] != "1" {
		t.Fatalf("notification %v %v", msgs, err)
	}
	msgs[0].Acknowledge()
}

// TestRabbitAndPikaSideBySide: both dialects on one broker with the same
// topic names never see each other's messages and never disagree on a
// declaration.
func TestRabbitAndPikaSideBySide(t *testing.T) {
	rd := open(t, realbroker.RabbitURL(t), nil)
	pd := open(t, pikaURL(t), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := unique("sy_side")
	var stops []func()
	defer func() {
		for _, s := range stops {
			s()
		}
	}()
	seen := map[string]chan drivers.Message{}
	for name, d := range map[string]drivers.Driver{"rabbit": rd, "pika": pd} {
		l, err := d.Listen(ctx, drivers.Target{Topic: topic, Server: "h"}, drivers.Batch{Size: 1})
		if err != nil {
			t.Fatalf("%s listen: %v", name, err)
		}
		seen[name] = make(chan drivers.Message, 16)
		sctx, stop := context.WithCancel(ctx)
		wg := serve(sctx, t, l, seen[name])
		stops = append(stops, func() { stop(); l.Stop(); wg.Wait(); l.Cleanup() })
	}
	for name, d := range map[string]drivers.Driver{"rabbit": rd, "pika": pd} {
		for _, target := range []drivers.Target{{Topic: topic}, {Topic: topic, Fanout: true}} {
			if _, err := d.Send(ctx, target, nil, drivers.Message{"method": "echo", "args": map[string]any{"from": name}}, drivers.SendOptions{Retry: -1}); err != nil {
				t.Fatalf("%s send: %v", name, err)
			}
		}
		got, err := d.Send(ctx, drivers.Target{Topic: topic}, nil, drivers.Message{"method": "echo", "args": map[string]any{"from": name}},
			drivers.SendOptions{WaitForReply: true, Timeout: 5 * time.Second})
		if err != nil || got.(map[string]any)["from"] != name {
			t.Fatalf("%s call: %v %v", name, got, err)
		}
	}
	for name, ch := range seen {
		for range 3 {
			select {
			case m := <-ch:
				if from := m["args"].(map[string]any)["from"]; from != name {
					t.Fatalf("the %s listener got a %v message", name, from)
				}
			case <-ctx.Done():
				t.Fatalf("%s listener: missing messages", name)
			}
		}
	}
}

func TestPikaPool(t *testing.T) {
	url := pikaURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, _ := drivers.DefaultConfig().Expand()
	cfg.Pika.PoolMaxSize, cfg.Pika.PoolMaxOverflow = 1, 1
	cfg.Pika.PoolRecycle, cfg.Pika.PoolStale = 0, 0
	d := open(t, url, cfg)
	target := drivers.Target{Topic: unique("sy_pool")}
	// Pika sends are mandatory: a queue must exist.
	l, err := d.Listen(ctx, target, drivers.Batch{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Cleanup()
	// Two sends at once need two connections: one over the pool size,
	// closed when it comes back.
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := d.Send(ctx, target, nil, drivers.Message{"method": "m"}, drivers.SendOptions{Retry: 0})
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// Sequential sends reuse the one kept connection.
	for range 5 {
		if _, err := d.Send(ctx, target, nil, drivers.Message{"method": "m"}, drivers.SendOptions{Retry: 0}); err != nil {
			t.Fatal(err)
		}
	}
	dialed, _, _, overflow, _, open, idle := rabbit.PoolStats(d)
	if dialed > 2 || open != 1 || idle != 1 || (dialed == 2 && overflow != 1) {
		t.Fatalf("dialed %d overflow-closed %d open %d idle %d", dialed, overflow, open, idle)
	}
}
