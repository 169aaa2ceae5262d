package rabbit_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
	"github.com/switchyard-dev/switchyard/internal/pyoslo"
	"github.com/switchyard-dev/switchyard/internal/realbroker"
)

func decodeLine(t *testing.T, line string) map[string]any {
	t.Helper()
	v, err := envelope.UnmarshalJSON([]byte(line))
	if err != nil {
		t.Fatalf("python printed %q: %v", line, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("python printed %q", line)
	}
	return m
}

// TestInteropPythonClientGoServer: a Python oslo.messaging 14 client calls
// and casts a Go server (C35).
func TestInteropPythonClientGoServer(t *testing.T) {
	pyoslo.Require(t)
	url := realbroker.RabbitURL(t)
	d := open(t, url, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topic := unique("sy_pyclient")
	l, err := d.Listen(ctx, drivers.Target{Topic: topic, Server: "gohost"}, drivers.Batch{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Cleanup()
	seen := make(chan drivers.Message, 32)
	sctx, stop := context.WithCancel(ctx)
	wg := serve(sctx, t, l, seen)
	defer func() { stop(); l.Stop(); wg.Wait() }()

	py := pyoslo.Start(t, pyoslo.RPCClientScript, url, topic, "gohost")
	line, err := py.Line(55 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	out := decodeLine(t, line)
	if got, want := envelope.MustNormalize(out["echo"]), envelope.MustNormalize(map[string]any{"text": "h\u00e9llo \u2603", "n": 3, "nested": map[string]any{"a": []any{1, 2, nil}}}); !reflect.DeepEqual(got, want) {
		t.Errorf("echo: %v", out["echo"])
	}
	if !reflect.DeepEqual(out["echo_server"], map[string]any{"via": "server"}) {
		t.Errorf("echo to server: %v", out["echo_server"])
	}
	fail, _ := out["fail"].(map[string]any)
	// Builtins cannot be re-typed, so Python raises a plain ValueError.
	if fail["type"] != "ValueError" || fail["module"] != "builtins" || fail["is_remote_error"] != false ||
		!strings.HasPrefix(fail["message"].(string), "bad value") {
		t.Errorf("Python did not rebuild the Go server's ValueError: %v", fail)
	}
	if got := envelope.MustNormalize(out["sleep"]); !reflect.DeepEqual(got, envelope.MustNormalize(map[string]any{"slept": 4})) {
		t.Errorf("monitored 4 s call: %v", out["sleep"])
	}
	if out["short_timeout"] != "MessagingTimeout" {
		t.Errorf("short timeout: %v", out["short_timeout"])
	}
	// The Go server saw every request with the Python context.
	kinds := map[string]bool{}
	deadline := time.After(10 * time.Second)
	for len(kinds) < 3 {
		select {
		case m := <-seen:
			if k, ok := m["args"].(map[string]any)["kind"].(string); ok {
				kinds[k] = true
			}
		case <-deadline:
			t.Fatalf("casts received by the Go server: %v", kinds)
		}
	}
	for _, k := range []string{"cast-topic", "cast-server", "cast-fanout"} {
		if !kinds[k] {
			t.Errorf("missing %s", k)
		}
	}
}

// TestInteropGoClientPythonServer: a Go client calls and casts a Python
// oslo.messaging 14 server (C35).
func TestInteropGoClientPythonServer(t *testing.T) {
	pyoslo.Require(t)
	url := realbroker.RabbitURL(t)
	topic := unique("sy_pyserver")
	py := pyoslo.Start(t, pyoslo.RPCServerScript, url, topic, "pyhost")
	if err := py.WaitFor("READY", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	d := open(t, url, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	mctx := drivers.Context{"request_id": "req-go", "user_id": "u-go"}
	call := func(target drivers.Target, method string, args map[string]any, o drivers.SendOptions) (any, error) {
		o.WaitForReply = true
		if o.Timeout == 0 {
			o.Timeout = 10 * time.Second
		}
		return d.Send(ctx, target, mctx, drivers.Message{"method": method, "args": args}, o)
	}
	args := map[string]any{"text": "h\u00e9llo \u2603", "n": 3, "nested": map[string]any{"a": []any{1, 2, nil}}}
	got, err := call(drivers.Target{Topic: topic}, "echo", args, drivers.SendOptions{})
	if err != nil || !reflect.DeepEqual(envelope.MustNormalize(got), envelope.MustNormalize(args)) {
		t.Fatalf("echo: %v %v", got, err)
	}
	if _, err := call(drivers.Target{Topic: topic, Server: "pyhost"}, "echo", map[string]any{"via": "server"}, drivers.SendOptions{}); err != nil {
		t.Fatalf("echo to server: %v", err)
	}
	_, err = call(drivers.Target{Topic: topic}, "fail", map[string]any{"message": "bad value"}, drivers.SendOptions{})
	var re *drivers.RemoteError
	if !errors.As(err, &re) || re.Class != "ValueError" || re.Module != "builtins" || re.Message != "bad value" || !re.Rebuilt ||
		len(re.Traceback) == 0 || !reflect.DeepEqual(re.Args, []any{"bad value"}) {
		t.Fatalf("Python's ValueError as Go sees it: %#v (%v)", re, err)
	}
	start := time.Now()
	got, err = call(drivers.Target{Topic: topic}, "sleep", map[string]any{"seconds": 4}, drivers.SendOptions{Timeout: 20 * time.Second, CallMonitorTimeout: 2 * time.Second})
	if err != nil || time.Since(start) < 4*time.Second {
		t.Fatalf("monitored 4 s call: %v %v after %v", got, err, time.Since(start))
	}
	for _, target := range []drivers.Target{{Topic: topic}, {Topic: topic, Server: "pyhost"}, {Topic: topic, Fanout: true}} {
		if _, err := d.Send(ctx, target, mctx, drivers.Message{"method": "echo", "args": map[string]any{"kind": target.String()}}, drivers.SendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// The Python server printed each request it got.
	want := map[string]bool{}
	for _, target := range []drivers.Target{{Topic: topic}, {Topic: topic, Server: "pyhost"}, {Topic: topic, Fanout: true}} {
		want[target.String()] = true
	}
	var methods []string
	for len(want) > 0 {
		line, err := py.Line(15 * time.Second)
		if err != nil {
			t.Fatalf("still waiting for casts %v: %v", want, err)
		}
		m := decodeLine(t, line)
		methods = append(methods, m["method"].(string))
		if c, _ := m["context"].(map[string]any); c["request_id"] != "req-go" {
			t.Errorf("python saw context %v", m["context"])
		}
		if k, ok := m["args"].(map[string]any)["kind"].(string); ok {
			delete(want, k)
		}
	}
	sort.Strings(methods)
	if strings.Join(methods, ",") != "echo,echo,echo,echo,echo,fail,sleep" {
		t.Errorf("python saw methods %v", methods)
	}
}

// TestInteropNotifications: Python notifier → Go listener and Go notifier
// → Python listener, versions 1.0 and 2.0, with and without a pool (C35).
func TestInteropNotifications(t *testing.T) {
	pyoslo.Require(t)
	url := realbroker.RabbitURL(t)
	d := open(t, url, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for _, pool := range []string{"", "sypool"} {
		for _, driver := range []string{"messagingv2", "messaging"} {
			name := driver + "/pool=" + pool
			t.Run("python to go "+name, func(t *testing.T) {
				topic := unique("sy_pynotif")
				pl := ""
				if pool != "" {
					pl = unique(pool)
				}
				l, err := d.ListenForNotifications(ctx, []drivers.TargetPriority{{Target: drivers.Target{Topic: topic}, Priority: "info"}}, pl, drivers.Batch{Size: 1})
				if err != nil {
					t.Fatal(err)
				}
				defer l.Cleanup()
				py := pyoslo.Start(t, pyoslo.NotifyScript, "send", url, topic, driver, `{"n": 1, "s": "\u00e9"}`)
				if err := py.WaitFor("SENT", 30*time.Second); err != nil {
					t.Fatal(err)
				}
				msgs, err := l.Poll(ctx)
				if err != nil {
					t.Fatal(err)
				}
				n, err := envelope.ParseNotification(msgs[0].Message())
				if err != nil || n.Priority != "INFO" || n.EventType != "py.event" || n.PublisherID != "py.host" ||
					!reflect.DeepEqual(envelope.MustNormalize(n.Payload), envelope.MustNormalize(map[string]any{"n": 1, "s": "\u00e9"})) {
					t.Fatalf("notification %+v %v", n, err)
				}
				if msgs[0].Context()["request_id"] != "req-py-notify" {
					t.Fatalf("context %v", msgs[0].Context())
				}
				msgs[0].Acknowledge()
			})
			t.Run("go to python "+name, func(t *testing.T) {
				topic := unique("sy_gonotif")
				pl := "-"
				if pool != "" {
					pl = unique(pool)
				}
				py := pyoslo.Start(t, pyoslo.NotifyScript, "listen", url, topic, pl, "1")
				if err := py.WaitFor("READY", 30*time.Second); err != nil {
					t.Fatal(err)
				}
				version := "2.0"
				if driver == "messaging" {
					version = "1.0"
				}
				n, _ := envelope.NewNotification("go.host", "go.event", "info", map[string]any{"n": 2}).Message()
				if err := d.SendNotification(ctx, drivers.Target{Topic: topic + ".info"}, drivers.Context{"request_id": "req-go-notify"}, n, version, -1); err != nil {
					t.Fatal(err)
				}
				line, err := py.Line(30 * time.Second)
				if err != nil {
					t.Fatal(err)
				}
				m := decodeLine(t, line)
				if m["publisher_id"] != "go.host" || m["event_type"] != "go.event" || m["payload"].(map[string]any)["n"] != json.Number("2") {
					t.Fatalf("python listener got %v", m)
				}
				if c, _ := m["context"].(map[string]any); c["request_id"] != "req-go-notify" {
					t.Fatalf("python listener context %v", m["context"])
				}
			})
		}
	}
}
