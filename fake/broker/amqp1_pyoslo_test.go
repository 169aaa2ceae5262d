package broker_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
	"github.com/switchyard-dev/switchyard/fake/broker"
	"github.com/switchyard-dev/switchyard/internal/pyoslo"
	"github.com/switchyard-dev/switchyard/internal/rpctest"
)

func a1PyLine(t *testing.T, line string) map[string]any {
	t.Helper()
	v, err := envelope.UnmarshalJSON([]byte(line))
	m, ok := v.(map[string]any)
	if err != nil || !ok {
		t.Fatalf("python printed %q: %v", line, err)
	}
	return m
}

// TestAMQP1PythonThroughBroker: a Python client and a Python server, both
// oslo.messaging 14's amqp driver, talk through the broker's AMQP 1.0
// port as through qpidd: legacy addressing, picked from the product.
func TestAMQP1PythonThroughBroker(t *testing.T) {
	pyoslo.Require(t)
	b := newA1Broker(t)
	topic := rpctest.Unique("pyb")
	srv := pyoslo.Start(t, pyoslo.RPCServerScript, b.AMQP1URL(), topic, "pyhost")
	if err := srv.WaitFor("READY", 60*time.Second); err != nil {
		t.Fatal(err)
	}
	cli := pyoslo.Start(t, pyoslo.RPCClientScript, b.AMQP1URL(), topic, "pyhost")
	line, err := cli.Line(90 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	out := a1PyLine(t, line)
	if echo, _ := out["echo"].(map[string]any); echo["text"] != "h\u00e9llo \u2603" {
		t.Errorf("echo: %v", out["echo"])
	}
	if !reflect.DeepEqual(out["echo_server"], map[string]any{"via": "server"}) {
		t.Errorf("echo to server: %v", out["echo_server"])
	}
	if fail, _ := out["fail"].(map[string]any); fail["type"] != "ValueError" {
		t.Errorf("fail: %v", out["fail"])
	}
	if out["short_timeout"] != "MessagingTimeout" {
		t.Errorf("short timeout: %v", out["short_timeout"])
	}
	want := map[string]bool{"cast-topic": true, "cast-server": true, "cast-fanout": true}
	for len(want) > 0 {
		line, err := srv.Line(20 * time.Second)
		if err != nil {
			t.Fatalf("casts still missing %v: %v", want, err)
		}
		if k, ok := a1PyLine(t, line)["args"].(map[string]any)["kind"].(string); ok {
			delete(want, k)
		}
	}
	names := strings.Join(b.QueueNames("/"), " ")
	if !strings.Contains(names, "unicast.openstack."+topic) || !strings.Contains(names, "exclusive.openstack."+topic+".pyhost") {
		t.Errorf("queues %s: not legacy addresses", names)
	}
}

// TestAMQP1GoClientPythonServer: Switchyard's amqp1 driver calls a Python
// oslo.messaging 14 server through the broker.
func TestAMQP1GoClientPythonServer(t *testing.T) {
	pyoslo.Require(t)
	b := newA1Broker(t)
	topic := rpctest.Unique("pys")
	py := pyoslo.Start(t, pyoslo.RPCServerScript, b.AMQP1URL(), topic, "pyhost")
	if err := py.WaitFor("READY", 60*time.Second); err != nil {
		t.Fatal(err)
	}
	d := openA1Driver(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// Store and forward: the call waits in the queue if the server's link
	// is not attached yet.
	got, err := d.Send(ctx, drivers.Target{Topic: topic}, drivers.Context{"request_id": "req-go"},
		drivers.Message{"method": "echo", "args": map[string]any{"text": "h\u00e9llo"}}, drivers.SendOptions{WaitForReply: true, Timeout: 30 * time.Second})
	if err != nil || !reflect.DeepEqual(got, map[string]any{"text": "h\u00e9llo"}) {
		t.Fatalf("echo: %v %v", got, err)
	}
	_, err = d.Send(ctx, drivers.Target{Topic: topic, Server: "pyhost"}, nil,
		drivers.Message{"method": "fail", "args": map[string]any{"message": "bad value"}}, drivers.SendOptions{WaitForReply: true, Timeout: 20 * time.Second})
	if re, ok := err.(*drivers.RemoteError); !ok || re.Class != "ValueError" {
		t.Fatalf("fail: %v", err)
	}
}

// TestAMQP1PythonNotifierStored: a Python notifier's notification is
// stored with no listener (C20, C23) and reaches Switchyard's listener
// later.
func TestAMQP1PythonNotifierStored(t *testing.T) {
	pyoslo.Require(t)
	b := newA1Broker(t)
	topic := rpctest.Unique("pyn")
	py := pyoslo.Start(t, pyoslo.NotifyScript, "send", b.AMQP1URL(), topic, "messagingv2", `{"n": 1}`)
	if err := py.WaitFor("SENT", 60*time.Second); err != nil {
		t.Fatal(err)
	}
	q := "unicast.openstack." + topic + ".info"
	waitQueue(t, b, q, "stored", func(s broker.QueueStats) bool { return s.Ready == 1 })
	d := openA1Driver(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := d.ListenForNotifications(ctx, []drivers.TargetPriority{{Target: drivers.Target{Topic: topic}, Priority: "info"}}, "", drivers.Batch{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Cleanup()
	msgs, err := l.Poll(ctx)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("poll: %v", err)
	}
	n, err := envelope.ParseNotification(msgs[0].Message())
	if err != nil || n.EventType != "py.event" {
		t.Fatalf("notification %+v %v", n, err)
	}
	msgs[0].Acknowledge()
	waitQueue(t, b, q, "acked", func(s broker.QueueStats) bool { return s.Acked == 1 })
}
