package inject

import (
	"context"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"

	"github.com/switchyard-dev/switchyard/fake/brokertest"
	"github.com/switchyard-dev/switchyard/fake/fault"
	"github.com/switchyard-dev/switchyard/internal/chaos/plan"
	"github.com/switchyard-dev/switchyard/internal/chaos/scenario"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestBrokerFaults(t *testing.T) {
	b := brokertest.New(t)
	faults := []scenario.Fault{
		{Kind: string(fault.PauseDeliveries), Target: "queue:work*"},
		{Kind: scenario.Restart, For: time.Second},
		{Kind: scenario.DeleteQueue, Target: "queue:reply_*"},
		{Kind: string(fault.CloseConnections), Target: "connection:keep-*"},
	}
	in := New(Targets{Broker: b, AMQPURL: b.AMQPURL(), VHost: "/"}, faults)
	ctx := context.Background()

	conn, err := amqp.DialConfig(b.AMQPURL(), amqp.Config{Properties: amqp.Table{"connection_name": "keep-me"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"reply_1", "reply_2", "work"} {
		if _, err := ch.QueueDeclare(q, false, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
	}

	if err := in.Do(ctx, plan.Action{Fault: 0, On: true}); err != nil {
		t.Fatal(err)
	}
	on := b.Faults().Enabled()
	if len(on) != 1 || on[0].Fault.Kind != fault.PauseDeliveries || on[0].Fault.Scope.Queue != "work*" {
		t.Fatalf("enabled faults %+v", on)
	}
	if err := in.Do(ctx, plan.Action{Fault: 0, On: false}); err != nil {
		t.Fatal(err)
	}
	if on := b.Faults().Enabled(); len(on) != 0 {
		t.Fatalf("still enabled after off: %+v", on)
	}

	if err := in.Do(ctx, plan.Action{Fault: 2, On: true}); err != nil {
		t.Fatal(err)
	}
	names := b.QueueNames("/")
	if len(names) != 1 || names[0] != "work" {
		t.Errorf("queues after delete-queue reply_*: %v", names)
	}

	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	if err := in.Do(ctx, plan.Action{Fault: 3, On: true}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("close-connections did not close the matching connection")
	}

	if err := in.Do(ctx, plan.Action{Fault: 1, On: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := amqp.Dial(b.AMQPURL()); err == nil {
		t.Error("a connection was accepted while the restarted broker should refuse them")
	}
	in.Stop(ctx)
	c2, err := amqp.Dial(b.AMQPURL())
	if err != nil {
		t.Fatalf("after Stop the broker still refuses: %v", err)
	}
	c2.Close()

	rs := in.Reports()
	if rs[0].Applied != 1 || rs[2].Acted != 2 || rs[3].Acted != 1 || rs[1].Applied != 1 {
		t.Errorf("reports %+v", rs)
	}
	for _, r := range rs {
		if len(r.Errors) > 0 {
			t.Errorf("fault %s: %v", r.Kind, r.Errors)
		}
	}
}

func TestNeedsTheirTarget(t *testing.T) {
	in := New(Targets{}, []scenario.Fault{{Kind: string(fault.PauseDeliveries)}, {Kind: scenario.Latency, Stream: "downstream"}})
	if err := in.Do(context.Background(), plan.Action{Fault: 0, On: true}); err == nil {
		t.Error("a broker fault without the embedded broker succeeded")
	}
	if err := in.Do(context.Background(), plan.Action{Fault: 1, On: true}); err == nil {
		t.Error("a TCP fault without a proxy succeeded")
	}
	if err := in.Do(context.Background(), plan.Action{Fault: 1, On: false}); err == nil {
		t.Error("ending a TCP fault without a proxy succeeded")
	}
	if rs := in.Reports(); len(rs[0].Errors) != 1 {
		t.Errorf("the failure is not in the report: %+v", rs)
	}
}
