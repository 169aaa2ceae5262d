package amqp1_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/fake/fault"
	"github.com/switchyard-dev/switchyard/fake/router"
	"github.com/switchyard-dev/switchyard/fake/routertest"
)

// TestPeerWithoutDynamicSources: a call through a peer that refuses
// dynamic sources (as RabbitMQ 3.10's AMQP 1.0 plugin does) cannot open
// its reply link; it fails with an error, within its timeout, instead of
// hanging, and casts still work.
func TestPeerWithoutDynamicSources(t *testing.T) {
	r := routertest.New(t, func(o *router.Options) { o.NoDynamic = true })
	d := open(t, r.URL(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	target := drivers.Target{Topic: unique("nodyn")}
	l, err := d.Listen(ctx, target, drivers.Batch{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Cleanup()
	start := time.Now()
	_, err = d.Send(ctx, target, nil, drivers.Message{"method": "ping"}, drivers.SendOptions{WaitForReply: true, Timeout: 3 * time.Second})
	if err == nil {
		t.Fatal("a call without a reply link succeeded")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the call failed after %v, beyond its 3 s timeout: %v", took, err)
	}
	t.Logf("call without dynamic sources: %v (after %v)", err, time.Since(start).Round(time.Millisecond))
	if _, err := d.Send(ctx, target, nil, drivers.Message{"method": "ping"}, drivers.SendOptions{}); err != nil {
		t.Fatalf("a cast failed too: %v", err)
	}
}

// TestAddressRefused: a send to an address the router refuses fails with
// a delivery failure within its deadline, and the driver keeps working for
// other addresses.
func TestAddressRefused(t *testing.T) {
	r := routertest.New(t, func(o *router.Options) {
		o.RefuseAddresses = []string{"openstack.org/om/rpc/anycast/openstack/forbidden"}
	})
	d := open(t, r.URL(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sendCtx, sendCancel := context.WithTimeout(ctx, 3*time.Second)
	defer sendCancel()
	start := time.Now()
	_, err := d.Send(sendCtx, drivers.Target{Topic: "forbidden"}, nil, drivers.Message{"method": "ping"}, drivers.SendOptions{Retry: 0})
	if err == nil {
		t.Fatal("a send to a refused address succeeded")
	}
	if !errors.Is(err, drivers.ErrDeliveryFailure) && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("send to a refused address = %v, want a delivery failure", err)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Fatalf("the send failed after %v", took)
	}
	t.Logf("send to a refused address: %v", err)
	target := drivers.Target{Topic: unique("allowed")}
	l, err := d.Listen(ctx, target, drivers.Batch{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Cleanup()
	if _, err := d.Send(ctx, target, nil, drivers.Message{"method": "ping"}, drivers.SendOptions{}); err != nil {
		t.Fatalf("the driver no longer sends elsewhere: %v", err)
	}
}

// TestDetachForcedMidSend: the router force-detaches every link while a
// stream of casts is under way; each cast succeeds or fails with an
// error, none hangs, the server gets no cast twice, and casting works
// afterwards.
func TestDetachForcedMidSend(t *testing.T) {
	r := routertest.New(t)
	cfg := fastConfig()
	cfg.AMQP.PreSettled = []string{"rpc-reply"} // casts wait for the server's outcome
	d := open(t, r.URL(), cfg)
	srv := open(t, r.URL(), cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	target := drivers.Target{Topic: unique("detach")}
	seen := server(t, srv, target)
	const n = 20
	ok := map[int]bool{}
	for i := range n {
		if i == n/2 {
			r.Faults().MustEnable(fault.Fault{Kind: fault.DetachLinks})
		}
		sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := d.Send(sctx, target, nil, drivers.Message{"method": "echo", "args": map[string]any{"value": i}}, drivers.SendOptions{Retry: 3})
		scancel()
		if err != nil {
			t.Logf("cast %d: %v", i, err)
		} else {
			ok[i] = true
		}
	}
	got := map[int]int{}
	deadline := time.After(5 * time.Second)
collect:
	for {
		select {
		case m := <-seen:
			args, _ := m["args"].(map[string]any)
			if v, err := args["value"].(json.Number).Int64(); err == nil {
				got[int(v)]++
			}
		case <-deadline:
			break collect
		}
		if arrived(got, ok) {
			break
		}
	}
	if !arrived(got, ok) {
		t.Errorf("casts whose send succeeded never reached the server (got %v)", got)
	}
	for v, c := range got {
		if c > 1 {
			t.Errorf("cast %v reached the server %d times", v, c)
		}
	}
	if _, err := d.Send(ctx, target, nil, drivers.Message{"method": "echo", "args": map[string]any{"value": "after"}}, drivers.SendOptions{}); err != nil {
		t.Fatalf("casting after the detach: %v", err)
	}
}

// arrived reports whether every cast in ok reached the server.
func arrived(got map[int]int, ok map[int]bool) bool {
	for i := range ok {
		if got[i] == 0 {
			return false
		}
	}
	return true
}
