package router_test

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
	"github.com/switchyard-dev/switchyard/fake/router"
	"github.com/switchyard-dev/switchyard/fake/routertest"
	"github.com/switchyard-dev/switchyard/internal/rpctest"
)

func driverConfig() *drivers.Config {
	c := drivers.DefaultConfig()
	c.AMQP.ConnectionRetryInterval = 50 * time.Millisecond
	c.AMQP.ConnectionRetryIntervalMax = 200 * time.Millisecond
	c.AMQP.LinkRetryDelay = 100 * time.Millisecond
	return c
}

func openDriver(t *testing.T, url string, cfg *drivers.Config) drivers.Driver {
	t.Helper()
	d, err := drivers.Open(context.Background(), url, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func rpcServer(t *testing.T, d drivers.Driver, target drivers.Target) chan drivers.Message {
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

func waitSeen(t *testing.T, seen <-chan drivers.Message, kind string) {
	t.Helper()
	timer := time.NewTimer(10 * time.Second)
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

// TestAMQP1Driver runs Switchyard's amqp1 driver through the router:
// call, failing call, casts, fanout and notifications, in routable
// addressing (picked from the product property) and legacy.
func TestAMQP1Driver(t *testing.T) {
	for _, tc := range []struct {
		product string
		prefix  string
	}{
		{"", "openstack.org/om/rpc/"},
		{"qpid-cpp", "unicast."},
	} {
		name := tc.product
		if name == "" {
			name = "qpid-dispatch-router"
		}
		t.Run(name, func(t *testing.T) {
			r := routertest.New(t, func(o *router.Options) { o.Product = tc.product })
			logEventsOnFailure(t, r)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			sub := r.Subscribe()
			topic := rpctest.Unique("rt")
			srv := openDriver(t, r.URL(), driverConfig())
			seen := rpcServer(t, srv, drivers.Target{Topic: topic, Server: "h1"})
			ev, err := sub.WaitFor(ctx, func(e router.Event) bool {
				return e.Type == router.EventLinkAttached && strings.Contains(e.Address, topic)
			})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(ev.Address, strings.TrimSuffix(tc.prefix, "unicast.")) {
				t.Fatalf("server subscribed to %q, want the %s addressing", ev.Address, tc.prefix)
			}
			cli := openDriver(t, r.URL(), driverConfig())
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
			_, err = call(drivers.Target{Topic: topic, Server: "h1"}, "fail", map[string]any{})
			var re *drivers.RemoteError
			if !errors.As(err, &re) || re.Class != "ValueError" {
				t.Fatalf("fail: %v", err)
			}
			// Casts: topic, server, and fanout to two servers.
			srv2 := openDriver(t, r.URL(), driverConfig())
			seen2 := rpcServer(t, srv2, drivers.Target{Topic: topic, Server: "h2"})
			for _, target := range []drivers.Target{{Topic: topic, Server: "h1"}, {Topic: topic, Fanout: true}} {
				if _, err := cli.Send(ctx, target, nil, drivers.Message{"method": "echo", "args": map[string]any{"kind": target.String()}}, drivers.SendOptions{}); err != nil {
					t.Fatal(err)
				}
				waitSeen(t, seen, target.String())
			}
			waitSeen(t, seen2, drivers.Target{Topic: topic, Fanout: true}.String())

			// Notifications: delivered to a listener, acknowledged end to end.
			ntopic := rpctest.Unique("notif")
			l, err := srv.ListenForNotifications(ctx, []drivers.TargetPriority{{Target: drivers.Target{Topic: ntopic}, Priority: "info"}}, "", drivers.Batch{Size: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Cleanup()
			n, _ := envelope.NewNotification("p", "e", "info", map[string]any{"v": 1}).Message()
			sent := make(chan error, 1)
			go func() { sent <- cli.SendNotification(ctx, drivers.Target{Topic: ntopic + ".info"}, nil, n, "2.0", 0) }()
			msgs, err := l.Poll(ctx)
			if err != nil || len(msgs) != 1 {
				t.Fatalf("poll: %d %v", len(msgs), err)
			}
			msgs[0].Acknowledge()
			if err := <-sent; err != nil {
				t.Fatalf("notification: %v", err)
			}
		})
	}
}

// TestAMQP1DriverNoListener: C21/C24 with a router: a notification nobody
// listens for is reported failed, never sent.
func TestAMQP1DriverNoListener(t *testing.T) {
	r := routertest.New(t)
	cfg := driverConfig()
	cfg.AMQP.DefaultNotifyTimeout = 5 * time.Second
	cli := openDriver(t, r.URL(), cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	n, _ := envelope.NewNotification("p", "e", "info", nil).Message()
	err := cli.SendNotification(ctx, drivers.Target{Topic: rpctest.Unique("none") + ".info"}, nil, n, "2.0", 0)
	if err == nil {
		t.Fatal("a notification with no listener was reported sent")
	}
	if got := r.Totals().Accepted; got != 0 {
		t.Fatalf("%d accepted", got)
	}
}
