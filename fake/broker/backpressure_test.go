package broker_test

import (
	"context"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/switchyard-dev/switchyard/fake/brokertest"
	"github.com/switchyard-dev/switchyard/fake/internal/amqp091"
)

// TestSlowConsumerBackpressure checks that a no-ack consumer that does not
// read is not sent everything at once (the queue keeps the rest), and that
// every message arrives once it reads again.
func TestSlowConsumerBackpressure(t *testing.T) {
	b := brokertest.New(t)
	rc := dialRaw(t, b.Addr())
	rc.handshake()
	rc.send(1, &amqp091.QueueDeclare{Queue: "slow"})
	expect[*amqp091.QueueDeclareOk](rc)
	rc.send(1, &amqp091.BasicConsume{Queue: "slow", NoAck: true})
	expect[*amqp091.BasicConsumeOk](rc)

	const n, size = 30000, 1024
	c, ch := dialChannel(t, b)
	_ = c
	confirmChannel(t, ch)
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, n))
	body := make([]byte, size)
	for range n {
		if err := ch.PublishWithContext(context.Background(), "", "slow", false, false, amqp.Publishing{Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		select {
		case <-confirms:
		case <-time.After(waitTimeout):
			t.Fatalf("confirm %d missing", i)
		}
	}
	if depth := b.QueueDepth("/", "slow"); depth == 0 {
		t.Fatal("all 30 MB went to a consumer that reads nothing")
	} else {
		t.Logf("%d of %d messages held back in the queue", depth, n)
	}
	got := 0
	rc.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for got < n {
		f, err := rc.r.ReadFrame()
		if err != nil {
			t.Fatalf("after %d deliveries: %v", got, err)
		}
		if f.Type == amqp091.FrameBody {
			got++
		}
	}
	if depth := b.QueueDepth("/", "slow"); depth != 0 {
		t.Fatalf("depth %d after all deliveries", depth)
	}
}
