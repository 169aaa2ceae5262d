package broker_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
	_ "github.com/switchyard-dev/switchyard/drivers/rabbit"
	"github.com/switchyard-dev/switchyard/fake/broker"
	"github.com/switchyard-dev/switchyard/fake/brokertest"
)

// The rabbit driver, unchanged, against the fake broker.

func driverConfig() *drivers.Config {
	c := drivers.DefaultConfig()
	c.Rabbit.RabbitRetryInterval = 50 * time.Millisecond
	c.Rabbit.RabbitRetryBackoff = 50 * time.Millisecond
	c.Rabbit.RabbitIntervalMax = 200 * time.Millisecond
	c.Rabbit.KombuMissingConsumerRetryTimeout = 2 * time.Second
	return c
}

func openDriver(t *testing.T, b *broker.Broker) drivers.Driver {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := drivers.Open(ctx, b.URL(), driverConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// echoServer answers "echo" calls on l and reports every request on seen
// until ctx ends.
func echoServer(ctx context.Context, t *testing.T, l drivers.Listener, seen chan<- drivers.Message) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			msgs, err := l.Poll(ctx)
			if err != nil {
				return
			}
			for _, m := range msgs {
				if seen != nil {
					select {
					case seen <- m.Message():
					case <-ctx.Done():
						return
					}
				}
				if rm, ok := m.(drivers.RPCIncomingMessage); ok {
					rm.Reply(ctx, m.Message()["args"], nil)
				} else {
					m.Acknowledge()
				}
			}
		}
	}()
	return &wg
}

func TestRabbitDriverRoundTrips(t *testing.T) {
	b := brokertest.New(t)
	d := openDriver(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := "sy_rpc_" + envelope.NewID()[:8]
	l, err := d.Listen(ctx, drivers.Target{Topic: topic, Server: "h1"}, drivers.Batch{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan drivers.Message, 16)
	sctx, stop := context.WithCancel(ctx)
	wg := echoServer(sctx, t, l, seen)
	defer func() { stop(); l.Stop(); wg.Wait(); l.Cleanup() }()

	// Call.
	args := map[string]any{"text": "h\u00e9llo", "n": 1.5}
	got, err := d.Send(ctx, drivers.Target{Topic: topic}, drivers.Context{"request_id": "r1"},
		drivers.Message{"method": "echo", "args": args}, drivers.SendOptions{WaitForReply: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(envelope.MustNormalize(got)) != fmt.Sprint(envelope.MustNormalize(args)) {
		t.Fatalf("reply %v, want %v", got, args)
	}
	<-seen
	// Casts: to the topic, the server and fanout.
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
	// A call nobody answers times out.
	_, err = d.Send(ctx, drivers.Target{Topic: topic + "_nobody"}, nil, drivers.Message{"method": "x"}, drivers.SendOptions{WaitForReply: true, Timeout: 500 * time.Millisecond})
	if !errors.Is(err, drivers.ErrTimeout) {
		t.Fatalf("call to nobody: %v", err)
	}
	// The broker saw the topology oslo declares.
	if _, ok := b.Queue("/", topic); !ok {
		t.Errorf("no queue %q; queues: %v", topic, b.QueueNames("/"))
	}
	if _, ok := b.Queue("/", topic+".h1"); !ok {
		t.Errorf("no queue %q", topic+".h1")
	}
}

func TestRabbitDriverNotifications(t *testing.T) {
	b := brokertest.New(t)
	d := openDriver(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := "sy_notif_" + envelope.NewID()[:8]
	// Sent before any listener: stored and forwarded (C23).
	for _, v := range []string{"2.0", "1.0"} {
		n, _ := envelope.NewNotification("p", "e", "info", map[string]any{"v": v}).Message()
		if err := d.SendNotification(ctx, drivers.Target{Topic: topic + ".info"}, drivers.Context{"r": v}, n, v, 0); err != nil {
			t.Fatal(err)
		}
	}
	if n := b.QueueDepth("/", topic+".info"); n != 2 {
		t.Fatalf("queue depth %d before any listener, want 2", n)
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
	sub := b.SubscribeAll()
	wctx, wcancel := context.WithTimeout(ctx, waitTimeout)
	defer wcancel()
	acked := 0
	if _, err := sub.WaitFor(wctx, func(e broker.Event) bool {
		if e.Type == broker.EventAcked && e.Queue == topic+".info" {
			acked++
		}
		return acked == 2
	}); err != nil {
		t.Fatalf("waiting for two acks in the event log: %v", err)
	}
	l.Stop()
}

func TestRabbitDriverSurvivesRestart(t *testing.T) {
	b := brokertest.New(t, brokertest.WithDir(t.TempDir()))
	d := openDriver(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topic := "sy_restart_" + envelope.NewID()[:8]
	l, err := d.Listen(ctx, drivers.Target{Topic: topic, Server: "s"}, drivers.Batch{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	wg := echoServer(sctx, t, l, nil)
	defer func() { stop(); l.Stop(); wg.Wait(); l.Cleanup() }()
	call := func() error {
		_, err := d.Send(ctx, drivers.Target{Topic: topic}, nil, drivers.Message{"method": "echo", "args": map[string]any{}},
			drivers.SendOptions{WaitForReply: true, Timeout: 2 * time.Second, Retry: -1})
		return err
	}
	if err := call(); err != nil {
		t.Fatal(err)
	}
	if err := b.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	// The listener and the reply consumer reconnect with back-off; a call
	// succeeds once they have.
	var last error
	for i := 0; i < 20; i++ {
		if last = call(); last == nil {
			return
		}
	}
	t.Fatalf("no successful call after the restart: %v", last)
}
