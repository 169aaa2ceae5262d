package router_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
	"github.com/switchyard-dev/switchyard/fake/router"
	"github.com/switchyard-dev/switchyard/fake/routertest"
	"github.com/switchyard-dev/switchyard/internal/pyoslo"
	"github.com/switchyard-dev/switchyard/internal/rpctest"
)

func pyLine(t *testing.T, line string) map[string]any {
	t.Helper()
	v, err := envelope.UnmarshalJSON([]byte(line))
	m, ok := v.(map[string]any)
	if err != nil || !ok {
		t.Fatalf("python printed %q: %v", line, err)
	}
	return m
}

// checkPyClient checks what rpc_client.py printed (not fail_custom, which
// only the Go server raises).
func checkPyClient(t *testing.T, out map[string]any) {
	t.Helper()
	echo, _ := out["echo"].(map[string]any)
	if echo["text"] != "h\u00e9llo \u2603" {
		t.Errorf("echo: %v", out["echo"])
	}
	if !reflect.DeepEqual(out["echo_server"], map[string]any{"via": "server"}) {
		t.Errorf("echo to server: %v", out["echo_server"])
	}
	fail, _ := out["fail"].(map[string]any)
	if fail["type"] != "ValueError" || !strings.HasPrefix(fail["message"].(string), "bad value") {
		t.Errorf("fail: %v", out["fail"])
	}
	if sl, _ := out["sleep"].(map[string]any); sl == nil || sl["slept"] == nil {
		t.Errorf("monitored call: %v", out["sleep"])
	}
	if out["short_timeout"] != "MessagingTimeout" {
		t.Errorf("short timeout: %v", out["short_timeout"])
	}
}

// TestPythonClientGoServer: Python oslo.messaging 14's amqp driver calls
// and casts Switchyard's amqp1 server through the router; Python picks
// routable addressing from the router's product.
func TestPythonClientGoServer(t *testing.T) {
	pyoslo.Require(t)
	t.Parallel()
	r := routertest.New(t)
	logEventsOnFailure(t, r)
	sub := r.Subscribe()
	d := openDriver(t, r.URL(), driverConfig())
	topic := rpctest.Unique("pyc")
	seen := rpcServer(t, d, drivers.Target{Topic: topic, Server: "gohost"})
	py := pyoslo.Start(t, pyoslo.RPCClientScript, r.URL(), topic, "gohost")
	line, err := py.Line(90 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	checkPyClient(t, pyLine(t, line))
	// The casts went to three addresses: they may arrive in any order.
	want := map[string]bool{"cast-topic": true, "cast-server": true, "cast-fanout": true}
	timer := time.NewTimer(15 * time.Second)
	defer timer.Stop()
	for len(want) > 0 {
		select {
		case m := <-seen:
			if k, ok := m["args"].(map[string]any)["kind"].(string); ok {
				delete(want, k)
			}
		case <-timer.C:
			t.Fatalf("casts not received: %v", want)
		}
	}
	// Python's sender links used routable addresses.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := sub.WaitFor(ctx, func(e router.Event) bool {
		return e.Type == router.EventLinkAttached && e.Role == "sender" && strings.HasPrefix(e.Address, "openstack.org/om/rpc/anycast/")
	}); err != nil {
		t.Fatalf("no routable sender link from Python: %v", err)
	}
}

// TestGoClientPythonServer: Switchyard's amqp1 client calls and casts a
// Python oslo.messaging 14 server through the router.
func TestGoClientPythonServer(t *testing.T) {
	pyoslo.Require(t)
	t.Parallel()
	r := routertest.New(t)
	topic := rpctest.Unique("pys")
	py := pyoslo.Start(t, pyoslo.RPCServerScript, r.URL(), topic, "pyhost")
	if err := py.WaitFor("READY", 60*time.Second); err != nil {
		t.Fatal(err)
	}
	d := openDriver(t, r.URL(), driverConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	call := func(target drivers.Target, method string, args map[string]any, o drivers.SendOptions) (any, error) {
		o.WaitForReply = true
		if o.Timeout == 0 {
			o.Timeout = 20 * time.Second
		}
		return d.Send(ctx, target, drivers.Context{"request_id": "req-go"}, drivers.Message{"method": method, "args": args}, o)
	}
	// The Python server's links may attach a moment after READY.
	var got any
	var err error
	for range 100 {
		got, err = call(drivers.Target{Topic: topic}, "echo", map[string]any{"text": "h\u00e9llo"}, drivers.SendOptions{Timeout: 2 * time.Second})
		if err == nil {
			break
		}
	}
	if err != nil || !reflect.DeepEqual(got, map[string]any{"text": "h\u00e9llo"}) {
		t.Fatalf("echo: %v %v", got, err)
	}
	if _, err := call(drivers.Target{Topic: topic, Server: "pyhost"}, "echo", map[string]any{"via": "server"}, drivers.SendOptions{}); err != nil {
		t.Fatalf("echo to server: %v", err)
	}
	_, err = call(drivers.Target{Topic: topic}, "fail", map[string]any{"message": "bad value"}, drivers.SendOptions{})
	if re, ok := err.(*drivers.RemoteError); !ok || re.Class != "ValueError" {
		t.Fatalf("fail: %v", err)
	}
	start := time.Now()
	if _, err := call(drivers.Target{Topic: topic}, "sleep", map[string]any{"seconds": 3}, drivers.SendOptions{CallMonitorTimeout: 2 * time.Second}); err != nil || time.Since(start) < 3*time.Second {
		t.Fatalf("monitored call: %v", err)
	}
	want := map[string]bool{}
	for _, target := range []drivers.Target{{Topic: topic}, {Topic: topic, Server: "pyhost"}, {Topic: topic, Fanout: true}} {
		want[target.String()] = true
		if _, err := d.Send(ctx, target, nil, drivers.Message{"method": "echo", "args": map[string]any{"kind": target.String()}}, drivers.SendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for len(want) > 0 {
		line, err := py.Line(20 * time.Second)
		if err != nil {
			t.Fatalf("casts still missing %v: %v", want, err)
		}
		if k, ok := pyLine(t, line)["args"].(map[string]any)["kind"].(string); ok {
			delete(want, k)
		}
	}
}

// TestPythonThroughRouter: a Python client and a Python server, both
// oslo.messaging 14's amqp driver, talk through the router as through
// qdrouterd: with routable addressing (product qpid-dispatch-router) and
// with legacy addressing (product qpid-cpp).
func TestPythonThroughRouter(t *testing.T) {
	pyoslo.Require(t)
	for _, tc := range []struct{ product, fanoutPrefix string }{
		{"", "openstack.org/om/rpc/multicast/"},
		{"qpid-cpp", "broadcast."},
	} {
		t.Run("product="+tc.product, func(t *testing.T) {
			t.Parallel()
			r := routertest.New(t, routertest.WithProduct(tc.product))
			topic := rpctest.Unique("pyp")
			srv := pyoslo.Start(t, pyoslo.RPCServerScript, r.URL(), topic, "pyhost")
			if err := srv.WaitFor("READY", 60*time.Second); err != nil {
				t.Fatal(err)
			}
			cli := pyoslo.Start(t, pyoslo.RPCClientScript, r.URL(), topic, "pyhost")
			// The client's first output line is its results; the server
			// prints a line per request.
			line, err := cli.Line(90 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			checkPyClient(t, pyLine(t, line))
			want := map[string]bool{"cast-topic": true, "cast-server": true, "cast-fanout": true}
			for len(want) > 0 {
				line, err := srv.Line(20 * time.Second)
				if err != nil {
					t.Fatalf("casts still missing %v: %v", want, err)
				}
				if k, ok := pyLine(t, line)["args"].(map[string]any)["kind"].(string); ok {
					delete(want, k)
				}
			}
			fanout := false
			for _, e := range r.Events() {
				if e.Type == router.EventReceived && strings.HasPrefix(e.Address, tc.fanoutPrefix) {
					fanout = true
				}
			}
			if !fanout {
				t.Errorf("no fanout to an address starting %q", tc.fanoutPrefix)
			}
		})
	}
}

// TestPythonNotifierGoListener: a Python notifier reaches Switchyard's
// listener through the router, acknowledged end to end.
func TestPythonNotifierGoListener(t *testing.T) {
	pyoslo.Require(t)
	t.Parallel()
	r := routertest.New(t)
	d := openDriver(t, r.URL(), driverConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topic := rpctest.Unique("pyn")
	l, err := d.ListenForNotifications(ctx, []drivers.TargetPriority{{Target: drivers.Target{Topic: topic}, Priority: "info"}}, "", drivers.Batch{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Cleanup()
	waitCredit(t, r, "openstack.org/om/notify/anycast/openstack/"+topic+".info")
	py := pyoslo.Start(t, pyoslo.NotifyScript, "send", r.URL(), topic, "messagingv2", `{"n": 1}`)
	msgs, err := l.Poll(ctx)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("poll: %v", err)
	}
	n, err := envelope.ParseNotification(msgs[0].Message())
	if err != nil || n.EventType != "py.event" {
		t.Fatalf("notification %+v %v", n, err)
	}
	msgs[0].Acknowledge()
	if err := py.WaitFor("SENT", 30*time.Second); err != nil {
		t.Fatal(err)
	}
}
