package broker_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
	_ "github.com/switchyard-dev/switchyard/drivers/amqp1"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
	"github.com/switchyard-dev/switchyard/fake/broker"
	"github.com/switchyard-dev/switchyard/internal/rpctest"
)

func a1DriverConfig() *drivers.Config {
	c := drivers.DefaultConfig()
	c.AMQP.ConnectionRetryInterval = 50 * time.Millisecond
	c.AMQP.ConnectionRetryIntervalMax = 200 * time.Millisecond
	c.AMQP.LinkRetryDelay = 100 * time.Millisecond
	return c
}

func openA1Driver(t *testing.T, b *broker.Broker, mode ...string) drivers.Driver {
	t.Helper()
	cfg := a1DriverConfig()
	if len(mode) > 0 {
		cfg.AMQP.AddressingMode = mode[0]
	}
	d, err := drivers.Open(a1ctx(t), b.AMQP1URL(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func a1RPCServer(t *testing.T, d drivers.Driver, target drivers.Target) chan drivers.Message {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l, err := d.Listen(ctx, target, drivers.Batch{Size: 1})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	seen := make(chan drivers.Message, 64)
	wg := rpctest.Serve(ctx, t, l, seen)
	t.Cleanup(func() { cancel(); l.Stop(); wg.Wait(); l.Cleanup() })
	return seen
}

func a1WaitSeen(t *testing.T, seen <-chan drivers.Message, kind string) {
	t.Helper()
	timer := time.NewTimer(a1Timeout)
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

// TestAMQP1Driver runs Switchyard's amqp1 driver against the broker's AMQP
// 1.0 port: in dynamic mode it picks legacy addressing from the qpid-cpp
// product; routable addressing works too. Call, failing call, casts,
// fanout and notifications work, with notifications stored before any
// listener exists (C20, C23).
func TestAMQP1Driver(t *testing.T) {
	for _, tc := range []struct {
		mode                 string
		rpcQueue, notifQueue func(topic string) string
	}{
		{"dynamic", func(topic string) string { return "unicast.openstack." + topic },
			func(topic string) string { return "unicast.openstack." + topic + ".info" }},
		{"routable", func(topic string) string { return "openstack.org/om/rpc/anycast/openstack/" + topic },
			func(topic string) string { return "openstack.org/om/notify/anycast/openstack/" + topic + ".info" }},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			b := newA1Broker(t)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			topic := rpctest.Unique("bt")
			srv := openA1Driver(t, b, tc.mode)
			seen := a1RPCServer(t, srv, drivers.Target{Topic: topic, Server: "h1"})
			cli := openA1Driver(t, b, tc.mode)
			call := func(target drivers.Target, method string, args map[string]any) (any, error) {
				return cli.Send(ctx, target, drivers.Context{"request_id": "req"}, drivers.Message{"method": method, "args": args},
					drivers.SendOptions{WaitForReply: true, Timeout: 10 * time.Second})
			}
			v := map[string]any{"text": "h\u00e9llo", "list": []any{"a", true, nil}}
			got, err := call(drivers.Target{Topic: topic}, "echo", map[string]any{"value": v})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, v) {
				t.Fatalf("reply %#v", got)
			}
			if names := b.QueueNames("/"); !slices.Contains(names, tc.rpcQueue(topic)) {
				t.Fatalf("no queue %s among %v", tc.rpcQueue(topic), names)
			}
			if _, err := call(drivers.Target{Topic: topic, Server: "h1"}, "fail", map[string]any{}); err == nil {
				t.Fatal("a failing call succeeded")
			} else if re := (*drivers.RemoteError)(nil); !errors.As(err, &re) || re.Class != "ValueError" {
				t.Fatalf("fail: %v", err)
			}
			// Casts: to a server, and fanout to two servers.
			srv2 := openA1Driver(t, b, tc.mode)
			seen2 := a1RPCServer(t, srv2, drivers.Target{Topic: topic, Server: "h2"})
			waitA1Consumers(t, b, "h2")
			for _, target := range []drivers.Target{{Topic: topic, Server: "h1"}, {Topic: topic, Fanout: true}} {
				if _, err := cli.Send(ctx, target, nil, drivers.Message{"method": "echo", "args": map[string]any{"kind": target.String()}}, drivers.SendOptions{}); err != nil {
					t.Fatal(err)
				}
				a1WaitSeen(t, seen, target.String())
			}
			a1WaitSeen(t, seen2, drivers.Target{Topic: topic, Fanout: true}.String())

			// A notification sent before anyone listens is stored, then
			// delivered.
			ntopic := rpctest.Unique("notif")
			n, _ := envelope.NewNotification("p", "e", "info", map[string]any{"v": 1.0}).Message()
			if err := cli.SendNotification(ctx, drivers.Target{Topic: ntopic + ".info"}, nil, n, "2.0", 0); err != nil {
				t.Fatalf("notification with no listener: %v", err)
			}
			nq := tc.notifQueue(ntopic)
			if d := b.QueueDepth("/", nq); d != 1 {
				t.Fatalf("stored notification: depth %d; queues %v", d, b.QueueNames("/"))
			}
			l, err := srv.ListenForNotifications(ctx, []drivers.TargetPriority{{Target: drivers.Target{Topic: ntopic}, Priority: "info"}}, "", drivers.Batch{Size: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Cleanup()
			msgs, err := l.Poll(ctx)
			if err != nil || len(msgs) != 1 {
				t.Fatalf("poll: %d %v", len(msgs), err)
			}
			if msgs[0].Message()["event_type"] != "e" {
				t.Fatalf("notification %v", msgs[0].Message())
			}
			msgs[0].Acknowledge()
			waitQueue(t, b, nq, "acked", func(q broker.QueueStats) bool { return q.Acked == 1 })
		})
	}
}

// waitA1Consumers waits until a queue whose name ends in suffix has a
// consumer.
func waitA1Consumers(t *testing.T, b *broker.Broker, suffix string) {
	t.Helper()
	deadline := time.Now().Add(a1Timeout)
	for {
		for _, q := range b.Stats().Queues {
			if strings.HasSuffix(q.Name, suffix) && q.Consumers > 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no consumer on a queue ending in %s", suffix)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
