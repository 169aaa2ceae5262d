package inject

import (
	"context"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"

	"github.com/switchyard-dev/switchyard/fake/brokertest"
	"github.com/switchyard-dev/switchyard/fake/fault"
	"github.com/switchyard-dev/switchyard/fake/router"
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

// TestRouterFaults: router faults go to every router of a mesh, and a
// partition closes the links between the routers and re-opens them when
// it ends (or when the injector stops).
func TestRouterFaults(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var rs []*router.Router
	for _, id := range []string{"r0", "r1"} {
		r, err := router.Start(ctx, router.Options{ContainerID: id})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		rs = append(rs, r)
	}
	if err := router.Mesh(ctx, rs...); err != nil {
		t.Fatal(err)
	}
	faults := []scenario.Fault{
		{Kind: string(fault.WithholdCredit), Target: "rpc-server"},
		{Kind: scenario.Partition, For: time.Second},
	}
	in := New(Targets{Routers: rs}, faults)
	if err := in.Do(ctx, plan.Action{Fault: 0, On: true}); err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		on := r.Faults().Enabled()
		if len(on) != 1 || on[0].Fault.Kind != fault.WithholdCredit || on[0].Fault.Scope.Connection != "*:rpc-server" {
			t.Errorf("router %d: enabled faults %+v", i, on)
		}
	}
	if err := in.Do(ctx, plan.Action{Fault: 0, On: false}); err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		if on := r.Faults().Enabled(); len(on) != 0 {
			t.Errorf("router %d: still enabled after off: %+v", i, on)
		}
	}

	mesh := func(typ router.EventType) func(router.Event) bool {
		return func(ev router.Event) bool {
			return ev.Type == typ && strings.HasPrefix(ev.Connection, "switchyard-mesh/")
		}
	}
	subs := []*router.Subscription{rs[0].Subscribe(), rs[1].Subscribe()}
	if err := in.Do(ctx, plan.Action{Fault: 1, On: true}); err != nil {
		t.Fatal(err)
	}
	for i, s := range subs {
		if _, err := s.WaitFor(ctx, mesh(router.EventConnectionClosed)); err != nil {
			t.Fatalf("router %d: the partition closed no mesh connection: %v", i, err)
		}
	}
	// Stop ends the partition still on: the routers link up again.
	in.Stop(ctx)
	for i, s := range subs {
		if _, err := s.WaitFor(ctx, mesh(router.EventConnectionOpened)); err != nil {
			t.Fatalf("router %d: no mesh connection after the partition: %v", i, err)
		}
	}
	reps := in.Reports()
	if reps[1].Applied != 1 || reps[1].Acted != 2 || len(reps[1].Errors) != 0 {
		t.Errorf("partition report %+v", reps[1])
	}
}
