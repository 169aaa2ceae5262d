package router_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/fake/router"
	"github.com/switchyard-dev/switchyard/fake/routertest"
	"github.com/switchyard-dev/switchyard/internal/rpctest"
)

func meshOf(t *testing.T, n int) []*router.Router {
	t.Helper()
	var rs []*router.Router
	for i := range n {
		r := routertest.New(t, func(o *router.Options) { o.ContainerID = fmt.Sprintf("router-%d", i) })
		logEventsOnFailure(t, r)
		rs = append(rs, r)
	}
	if err := router.Mesh(ctxT(t), rs...); err != nil {
		t.Fatal(err)
	}
	return rs
}

// waitConsumers waits until r sees want consumers (its own clients' and
// other routers' subscriptions) of address.
func waitConsumers(t *testing.T, r *router.Router, address string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, a := range r.Stats().Addresses {
			if a.Address == address && a.Consumers >= want && a.Credit > 0 {
				return
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("%s: fewer than %d consumers of %s", r.Addr(), want, address)
}

func TestMeshEndToEnd(t *testing.T) {
	rs := meshOf(t, 3)
	ctx := ctxT(t)
	addr := "openstack.org/om/rpc/anycast/openstack/mesh"
	rcv := dial(t, rs[2], nil).receiver(t, addr, nil)
	waitConsumers(t, rs[0], addr, 1)
	snd := dial(t, rs[0], nil).sender(t, addr, nil)
	res := sendAsync(ctx, snd, amqp.NewMessage([]byte("far")))
	m := receive(t, rcv)
	if string(m.GetData()) != "far" {
		t.Fatalf("got %q", m.GetData())
	}
	stillPending(t, res, 100*time.Millisecond)
	rcv.RejectMessage(ctx, m, &amqp.Error{Condition: "app:no", Description: "across the mesh"})
	st, ok := (<-res).(*amqp.StateRejected)
	if !ok || st.Error == nil || st.Error.Condition != "app:no" {
		t.Fatalf("sender saw %#v", st)
	}
}

func TestMeshMulticastAndClosest(t *testing.T) {
	rs := meshOf(t, 2)
	ctx := ctxT(t)
	fan := "broadcast.openstack.mesh.all"
	a := dial(t, rs[0], nil).receiver(t, fan, &amqp.ReceiverOptions{Credit: 10})
	b := dial(t, rs[1], nil).receiver(t, fan, &amqp.ReceiverOptions{Credit: 10})
	waitConsumers(t, rs[0], fan, 2)
	snd := dial(t, rs[0], nil).sender(t, fan, nil)
	res := sendAsync(ctx, snd, amqp.NewMessage([]byte("all")))
	for _, rc := range []*amqp.Receiver{a, b} {
		m := receive(t, rc)
		rc.AcceptMessage(ctx, m)
	}
	if _, ok := (<-res).(*amqp.StateAccepted); !ok {
		t.Fatal("fanout not accepted")
	}
	for _, rc := range []*amqp.Receiver{a, b} {
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		if m, err := rc.Receive(short, nil); err == nil {
			t.Fatalf("a second copy: %q", m.GetData())
		}
		cancel()
	}

	// Closest: the sending router's own consumer gets everything.
	uni := "openstack.org/om/rpc/unicast/openstack/mesh/h"
	local := dial(t, rs[0], nil).receiver(t, uni, &amqp.ReceiverOptions{Credit: 50})
	remote := dial(t, rs[1], nil).receiver(t, uni, &amqp.ReceiverOptions{Credit: 50})
	waitConsumers(t, rs[0], uni, 2)
	mode := amqp.SenderSettleModeSettled
	usnd := dial(t, rs[0], nil).sender(t, uni, &amqp.SenderOptions{SettlementMode: &mode})
	for i := range 10 {
		if err := usnd.Send(ctx, amqp.NewMessage(fmt.Appendf(nil, "%d", i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	for range 10 {
		m := receive(t, local)
		local.AcceptMessage(ctx, m)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if m, err := remote.Receive(short, nil); err == nil {
		t.Fatalf("the remote consumer got %q though a local one had credit", m.GetData())
	}
}

// TestMeshDriverRPC: an amqp1 client on one router calls a server on
// another; the reply finds its way back to the client's dynamic address.
func TestMeshDriverRPC(t *testing.T) {
	rs := meshOf(t, 2)
	topic := rpctest.Unique("mesh")
	srv := openDriver(t, rs[1].URL(), driverConfig())
	rpcServer(t, srv, drivers.Target{Topic: topic, Server: "h1"})
	waitConsumers(t, rs[0], "openstack.org/om/rpc/anycast/openstack/"+topic, 1)
	cli := openDriver(t, rs[0].URL(), driverConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got any
	var err error
	// The client's reply address reaches the server's router a moment
	// after the client connected: retry the first call.
	for range 20 {
		got, err = cli.Send(ctx, drivers.Target{Topic: topic}, nil, drivers.Message{"method": "echo", "args": map[string]any{"value": "x"}},
			drivers.SendOptions{WaitForReply: true, Timeout: time.Second})
		if err == nil {
			break
		}
	}
	if err != nil || !reflect.DeepEqual(got, "x") {
		t.Fatalf("call across the mesh: %v %v", got, err)
	}
}
