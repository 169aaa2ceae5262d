package amqp1_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
	_ "github.com/switchyard-dev/switchyard/drivers/rabbit"
	"github.com/switchyard-dev/switchyard/fake/brokertest"
	"github.com/switchyard-dev/switchyard/fake/routertest"
)

// TestHybridBackends runs one service the way the hybrid messaging
// deployments of the AMQP 1.0 guide do: RPC over an AMQP 1.0 router
// (Switchyard's fake router, amqp://) and notifications over a broker
// (the fake AMQP 0-9-1 broker, rabbit://, as [oslo_messaging_notifications]
// transport_url would name it). The service answers a call and, while
// handling it, emits a notification that a listener on the broker gets.
func TestHybridBackends(t *testing.T) {
	r := routertest.New(t)
	b := brokertest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	rpc := open(t, r.URL(), nil)
	notifier := open(t, b.URL(), nil)
	audit := open(t, b.URL(), nil)
	topic := unique("hybrid")

	notes, err := audit.ListenForNotifications(ctx, []drivers.TargetPriority{{Target: drivers.Target{Topic: topic}, Priority: "info"}}, "", drivers.Batch{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer notes.Cleanup()

	// The service: an RPC server on the router that notifies on the broker.
	l, err := rpc.Listen(ctx, drivers.Target{Topic: topic, Server: "svc"}, drivers.Batch{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Cleanup()
	served := make(chan error, 1)
	go func() {
		msgs, err := l.Poll(ctx)
		if err != nil {
			served <- err
			return
		}
		m := msgs[0].(drivers.RPCIncomingMessage)
		m.Acknowledge()
		args, _ := m.Message()["args"].(map[string]any)
		note := drivers.Message{"event_type": "hybrid.handled", "priority": "INFO", "payload": args, "publisher_id": "svc", "message_id": "n1", "timestamp": "2026-11-23 00:00:00.000000"}
		if err := notifier.SendNotification(ctx, drivers.Target{Topic: topic + ".info"}, nil, note, "2.0", 0); err != nil {
			served <- err
			return
		}
		m.Reply(ctx, map[string]any{"handled": args["id"]}, nil)
		served <- nil
	}()

	client := open(t, r.URL(), nil)
	reply, err := client.Send(ctx, drivers.Target{Topic: topic, Server: "svc"}, nil,
		drivers.Message{"method": "handle", "args": map[string]any{"id": "abc"}}, drivers.SendOptions{WaitForReply: true, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("call over the router: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("the service: %v", err)
	}
	if got, _ := reply.(map[string]any)["handled"]; got != "abc" {
		t.Fatalf("reply %v", reply)
	}
	msgs, err := notes.Poll(ctx)
	if err != nil {
		t.Fatalf("notification over the broker: %v", err)
	}
	msgs[0].Acknowledge()
	if got := msgs[0].Message()["event_type"]; got != "hybrid.handled" {
		t.Fatalf("notification %v", msgs[0].Message())
	}
	// Each backend carried only its own traffic.
	if st := b.Stats(); st.Totals.Published != 1 {
		t.Errorf("the broker saw %d publishes, want the 1 notification", st.Totals.Published)
	}
	if n := len(r.Stats().Connections); n == 0 {
		t.Error("the router saw no connection")
	}
}
