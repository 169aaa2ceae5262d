package rabbit_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
	"github.com/switchyard-dev/switchyard/internal/realbroker"
)

// TestTopologyMatchesPython re-declares, non-passively, what the driver
// declared with the exact arguments Python oslo.messaging 14 used on
// RabbitMQ (captures/oslo14-rabbit.json): RabbitMQ answers
// PRECONDITION_FAILED unless both agree.
func TestTopologyMatchesPython(t *testing.T) {
	url := realbroker.RabbitURL(t)
	d := open(t, url, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := unique("sy_topo")
	l, err := d.Listen(ctx, drivers.Target{Topic: topic, Server: "host1"}, drivers.Batch{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Cleanup()
	nl, err := d.ListenForNotifications(ctx, []drivers.TargetPriority{
		{Target: drivers.Target{Topic: topic + "_n"}, Priority: "info"},
		{Target: drivers.Target{Topic: topic + "_n"}, Priority: "error"},
	}, topic+"_pool", drivers.Batch{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Cleanup()
	n, _ := envelope.NewNotification("p", "e", "info", nil).Message()
	if err := d.SendNotification(ctx, drivers.Target{Topic: topic + "_v.info"}, nil, n, "2.0", 0); err != nil {
		t.Fatal(err)
	}
	// Learn the reply queue's name from a call nobody answers.
	ch := raw(t, url)
	if _, err := ch.QueueDeclare(topic+"_spy", false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(topic+"_spy", topic+"_spy", "openstack", false, nil); err != nil {
		t.Fatal(err)
	}
	_, _ = d.Send(ctx, drivers.Target{Topic: topic + "_spy"}, nil, drivers.Message{"method": "m"}, drivers.SendOptions{WaitForReply: true, Timeout: 200 * time.Millisecond})
	del, ok, err := ch.Get(topic+"_spy", true)
	if err != nil || !ok {
		t.Fatalf("no request on the spy queue: %v", err)
	}
	in, err := envelope.Decode(del.Body)
	if err != nil {
		t.Fatal(err)
	}
	if del.ContentType != "application/json" || del.ContentEncoding != "utf-8" || del.DeliveryMode != 2 || del.Expiration != "200" {
		t.Errorf("request properties %+v", del)
	}

	// As captured from Python oslo.messaging 14 with default options.
	declares := []struct {
		name string
		args amqp.Table
	}{
		{topic, nil},
		{topic + ".host1", nil},
		{topic + "_pool", nil},
		{topic + "_v.info", nil},
		{in.ReplyQueue, amqp.Table{"x-expires": int32(1800000)}},
	}
	for _, q := range declares {
		c := raw(t, url)
		if _, err := c.QueueDeclare(q.name, false, false, false, false, q.args); err != nil {
			t.Errorf("queue %s does not match Python's declaration: %v", q.name, err)
		}
	}
	c := raw(t, url)
	if err := c.ExchangeDeclare("openstack", "topic", false, false, false, false, nil); err != nil {
		t.Errorf("exchange openstack: %v", err)
	}
	if err := c.ExchangeDeclare(topic+"_fanout", "fanout", false, true, false, false, nil); err != nil {
		t.Errorf("fanout exchange: %v", err)
	}
	if !strings.HasPrefix(in.ReplyQueue, "reply_") || len(in.ReplyQueue) != len("reply_")+32 {
		t.Errorf("reply queue %q", in.ReplyQueue)
	}
	// The pool's queue is bound to every <topic>.<priority> key.
	for _, key := range []string{topic + "_n.info", topic + "_n.error"} {
		if err := c.PublishWithContext(ctx, "openstack", key, true, false, amqp.Publishing{Body: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		q, err := raw(t, url).QueueDeclarePassive(topic+"_pool", false, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if q.Messages+q.Consumers >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the pool queue got nothing")
		}
		time.Sleep(50 * time.Millisecond) // polling the broker's counters, with a deadline
	}
}

// TestListenerSurvivesConnectionLoss closes the listener's and the reply
// consumer's connections on the broker side; both come back (C18).
func TestListenerSurvivesConnectionLoss(t *testing.T) {
	url := realbroker.RabbitURL(t)
	if _, err := exec.LookPath("rabbitmqctl"); err != nil {
		realbroker.Unavailable(t, "rabbitmqctl", "install rabbitmq-server on this machine")
	}
	cfg := fastConfig()
	d := open(t, url, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topic := unique("sy_reconnect")
	l, err := d.Listen(ctx, drivers.Target{Topic: topic, Server: "h"}, drivers.Batch{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Cleanup()
	sctx, stop := context.WithCancel(ctx)
	wg := serve(sctx, t, l, nil)
	defer func() { stop(); l.Stop(); wg.Wait() }()
	call := func() error {
		_, err := d.Send(ctx, drivers.Target{Topic: topic}, nil, drivers.Message{"method": "echo", "args": map[string]any{}},
			drivers.SendOptions{WaitForReply: true, Timeout: 3 * time.Second})
		return err
	}
	if err := call(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, "rabbitmqctl", "-q", "list_connections", "pid", "client_properties").CombinedOutput()
	if err != nil {
		t.Fatalf("rabbitmqctl: %v %s", err, out)
	}
	closed := 0
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.Contains(line, ":rpc-server") && !strings.Contains(line, ":reply") && !strings.Contains(line, ":send") {
			continue
		}
		pid := strings.SplitN(line, "\t", 2)[0]
		if err := exec.CommandContext(ctx, "rabbitmqctl", "-q", "close_connection", pid, "test: connection loss").Run(); err == nil {
			closed++
		}
	}
	if closed == 0 {
		t.Fatalf("found no connection of ours to close in:\n%s", out)
	}
	// Calls succeed again once the subscriptions are restored.
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := call()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery after closing %d connections: %v", closed, err)
		}
	}
}

// TestFanoutQueueDeletedOnStop: a listener's own fanout queue goes away
// with it, as oslo deletes its fanout queues on close.
func TestFanoutQueueDeletedOnStop(t *testing.T) {
	url := realbroker.RabbitURL(t)
	d := open(t, url, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := unique("sy_fanout_gone")
	l, err := d.Listen(ctx, drivers.Target{Topic: topic, Server: "h"}, drivers.Batch{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Find the fanout queue through a fanout cast and the broker's counts.
	out, err := exec.CommandContext(ctx, "rabbitmqctl", "-q", "list_queues", "name").CombinedOutput()
	if err != nil {
		realbroker.Unavailable(t, "rabbitmqctl", string(out))
	}
	var fanoutQ string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, topic+"_fanout_") {
			fanoutQ = strings.TrimSpace(line)
		}
	}
	if fanoutQ == "" {
		t.Fatalf("no fanout queue for %s in:\n%s", topic, out)
	}
	l.Stop()
	l.Cleanup()
	if _, err := raw(t, url).QueueDeclarePassive(fanoutQ, false, false, false, false, nil); err == nil {
		t.Fatalf("fanout queue %s still exists after Cleanup", fanoutQ)
	}
}
