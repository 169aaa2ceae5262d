package broker_test

import (
	"context"
	"errors"
	"reflect"
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

func openA1Driver(t *testing.T, b *broker.Broker) drivers.Driver {
	t.Helper()
	d, err := drivers.Open(a1ctx(t), b.AMQP1URL(), a1DriverConfig())
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
// 1.0 port: it picks legacy addressing from the qpid-cpp product, and
// call, failing call, casts, fanout and notifications work, with
// notifications stored before any listener exists (C20, C23).
func TestAMQP1Driver(t *testing.T) {
	b := newA1Broker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topic := rpctest.Unique("bt")
	srv := openA1Driver(t, b)
	seen := a1RPCServer(t, srv, drivers.Target{Topic: topic, Server: "h1"})
	cli := openA1Driver(t, b)
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
	// Legacy addresses: the server's queues are there.
	names := strings.Join(b.QueueNames("/"), " ")
	for _, want := range []string{"unicast.openstack." + topic, "exclusive.openstack." + topic + ".h1"} {
		if !strings.Contains(names, want) {
			t.Fatalf("no queue %s among %s", want, names)
		}
	}
	if _, err := call(drivers.Target{Topic: topic, Server: "h1"}, "fail", map[string]any{}); err == nil {
		t.Fatal("a failing call succeeded")
	} else if re := (*drivers.RemoteError)(nil); !errors.As(err, &re) || re.Class != "ValueError" {
		t.Fatalf("fail: %v", err)
	}
	// Casts: to a server, and fanout to two servers.
	srv2 := openA1Driver(t, b)
	seen2 := a1RPCServer(t, srv2, drivers.Target{Topic: topic, Server: "h2"})
	waitQueue(t, b, "exclusive.openstack."+topic+".h2", "a consumer", func(q broker.QueueStats) bool { return q.Consumers > 0 })
	for _, target := range []drivers.Target{{Topic: topic, Server: "h1"}, {Topic: topic, Fanout: true}} {
		if _, err := cli.Send(ctx, target, nil, drivers.Message{"method": "echo", "args": map[string]any{"kind": target.String()}}, drivers.SendOptions{}); err != nil {
			t.Fatal(err)
		}
		a1WaitSeen(t, seen, target.String())
	}
	a1WaitSeen(t, seen2, drivers.Target{Topic: topic, Fanout: true}.String())

	// A notification sent before anyone listens is stored, then delivered.
	ntopic := rpctest.Unique("notif")
	n, _ := envelope.NewNotification("p", "e", "info", map[string]any{"v": 1.0}).Message()
	if err := cli.SendNotification(ctx, drivers.Target{Topic: ntopic + ".info"}, nil, n, "2.0", 0); err != nil {
		t.Fatalf("notification with no listener: %v", err)
	}
	if d := b.QueueDepth("/", "unicast.openstack."+ntopic+".info"); d != 1 {
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
	waitQueue(t, b, "unicast.openstack."+ntopic+".info", "acked", func(q broker.QueueStats) bool { return q.Acked == 1 })
}
