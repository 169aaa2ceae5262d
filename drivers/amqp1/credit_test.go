package amqp1_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
)

// TestCredit: a notification listener never holds more unacknowledged
// messages than notify_server_credit (C31); acknowledging lets more in.
func TestCredit(t *testing.T) {
	cfg := fastConfig()
	cfg.AMQP.NotifyServerCredit = 2
	d := open(t, brokerURL(t), cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := unique("sy_credit")
	for i := range 5 {
		n, _ := envelope.NewNotification("p", "e", "info", map[string]any{"i": i}).Message()
		if err := d.SendNotification(ctx, drivers.Target{Topic: topic + ".info"}, nil, n, "2.0", 0); err != nil {
			t.Fatal(err)
		}
	}
	l, err := d.ListenForNotifications(ctx, []drivers.TargetPriority{{Target: drivers.Target{Topic: topic}, Priority: "info"}}, "", drivers.Batch{Size: 10, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Cleanup()
	msgs, err := l.Poll(ctx)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("first poll: %d messages, %v; want the credit, 2", len(msgs), err)
	}
	pctx, pcancel := context.WithTimeout(ctx, 700*time.Millisecond)
	defer pcancel()
	if more, err := l.Poll(pctx); err == nil {
		t.Fatalf("%d more messages while 2 are unacknowledged", len(more))
	}
	total := 0
	for total < 5 {
		for _, m := range msgs {
			m.Acknowledge()
		}
		total += len(msgs)
		if total == 5 {
			break
		}
		if msgs, err = l.Poll(ctx); err != nil || len(msgs) > 2 {
			t.Fatalf("poll: %d messages, %v", len(msgs), err)
		}
	}
}
