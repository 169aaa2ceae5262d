package amqp1_test

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

// interopModes are the URLs both sides use: dynamic addressing (legacy on
// the proton broker, which advertises no product) and routable forced by
// the URL's query, which Python applies to its [oslo_messaging_amqp] too.
func interopModes(t *testing.T) map[string]string {
	url := brokerURL(t)
	return map[string]string{"dynamic": url, "routable": url + "?addressing_mode=routable"}
}

// TestInteropPythonClientGoServer: a Python oslo.messaging 14 amqp client
// calls and casts a Go server through the proton broker (C35).
func TestInteropPythonClientGoServer(t *testing.T) {
	pyoslo.Require(t)
	for mode, url := range interopModes(t) {
		t.Run(mode, func(t *testing.T) {
			d := open(t, url, nil)
			topic := unique("sy_pyclient")
			seen := server(t, d, drivers.Target{Topic: topic, Server: "gohost"})
			py := pyoslo.Start(t, pyoslo.RPCClientScript, url, topic, "gohost")
			line, err := py.Line(60 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			out := decodeLine(t, line)
			if got, want := normalize(out["echo"]), normalize(map[string]any{"text": "h\u00e9llo \u2603", "n": 3, "nested": map[string]any{"a": []any{1, 2, nil}}}); !reflect.DeepEqual(got, want) {
				t.Errorf("echo: %v", out["echo"])
			}
			if !reflect.DeepEqual(out["echo_server"], map[string]any{"via": "server"}) {
				t.Errorf("echo to server: %v", out["echo_server"])
			}
			if v, ok := out["null"]; !ok || v != nil {
				t.Errorf("null: %v", out["null"])
			}
			fail, _ := out["fail"].(map[string]any)
			if fail["type"] != "ValueError" || fail["module"] != "builtins" || fail["is_remote_error"] != false ||
				!strings.HasPrefix(fail["message"].(string), "bad value") {
				t.Errorf("Python did not rebuild the Go server's ValueError: %v", fail)
			}
			custom, _ := out["fail_custom"].(map[string]any)
			if custom["exc_type"] != "NovaError" || custom["value"] != "custom" {
				t.Errorf("Go's nova.exception.NovaError as Python sees it: %v", out["fail_custom"])
			}
			if got := normalize(out["sleep"]); !reflect.DeepEqual(got, normalize(map[string]any{"slept": 4})) {
				t.Errorf("monitored 4 s call: %v", out["sleep"])
			}
			if out["short_timeout"] != "MessagingTimeout" {
				t.Errorf("short timeout: %v", out["short_timeout"])
			}
			kinds := map[string]drivers.Message{}
			deadline := time.NewTimer(15 * time.Second)
			defer deadline.Stop()
			for len(kinds) < 3 {
				select {
				case m := <-seen:
					if k, ok := m["args"].(map[string]any)["kind"].(string); ok {
						kinds[k] = m
					}
				case <-deadline.C:
					t.Fatalf("casts received by the Go server: %v", kinds)
				}
			}
			for _, k := range []string{"cast-topic", "cast-server", "cast-fanout"} {
				if kinds[k] == nil || kinds[k]["method"] != "echo" {
					t.Errorf("missing %s", k)
				}
			}
		})
	}
}

// TestInteropGoClientPythonServer: a Go client calls and casts a Python
// oslo.messaging 14 amqp server through the proton broker (C35).
func TestInteropGoClientPythonServer(t *testing.T) {
	pyoslo.Require(t)
	for mode, url := range interopModes(t) {
		t.Run(mode, func(t *testing.T) {
			topic := unique("sy_pyserver")
			py := pyoslo.Start(t, pyoslo.RPCServerScript, url, topic, "pyhost")
			if err := py.WaitFor("READY", 30*time.Second); err != nil {
				t.Fatal(err)
			}
			d := open(t, url, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			mctx := drivers.Context{"request_id": "req-go", "user_id": "u-go"}
			gocall := func(target drivers.Target, method string, args map[string]any, o drivers.SendOptions) (any, error) {
				o.WaitForReply = true
				if o.Timeout == 0 {
					o.Timeout = 10 * time.Second
				}
				return d.Send(ctx, target, mctx, drivers.Message{"method": method, "args": args}, o)
			}
			args := map[string]any{"text": "h\u00e9llo \u2603", "n": 3, "nested": map[string]any{"a": []any{1, 2, nil}}}
			got, err := gocall(drivers.Target{Topic: topic}, "echo", args, drivers.SendOptions{})
			if err != nil || !reflect.DeepEqual(normalize(got), normalize(args)) {
				t.Fatalf("echo: %v %v", got, err)
			}
			if _, err := gocall(drivers.Target{Topic: topic, Server: "pyhost"}, "echo", map[string]any{"via": "server"}, drivers.SendOptions{}); err != nil {
				t.Fatalf("echo to server: %v", err)
			}
			_, err = gocall(drivers.Target{Topic: topic}, "fail", map[string]any{"message": "bad value"}, drivers.SendOptions{})
			var re *drivers.RemoteError
			if !errors.As(err, &re) || re.Class != "ValueError" || re.Module != "builtins" || re.Message != "bad value" || !re.Rebuilt ||
				len(re.Traceback) == 0 || !reflect.DeepEqual(re.Args, []any{"bad value"}) {
				t.Fatalf("Python's ValueError as Go sees it: %#v (%v)", re, err)
			}
			start := time.Now()
			got, err = gocall(drivers.Target{Topic: topic}, "sleep", map[string]any{"seconds": 4}, drivers.SendOptions{Timeout: 20 * time.Second, CallMonitorTimeout: 2 * time.Second})
			if err != nil || time.Since(start) < 4*time.Second {
				t.Fatalf("monitored 4 s call: %v %v after %v", got, err, time.Since(start))
			}
			targets := []drivers.Target{{Topic: topic}, {Topic: topic, Server: "pyhost"}, {Topic: topic, Fanout: true}}
			want := map[string]bool{}
			for _, target := range targets {
				want[target.String()] = true
				if _, err := d.Send(ctx, target, mctx, drivers.Message{"method": "echo", "args": map[string]any{"kind": target.String()}}, drivers.SendOptions{}); err != nil {
					t.Fatal(err)
				}
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
		})
	}
}

// TestInteropNotifications: Python notifier → Go listener and Go notifier
// → Python listener, versions 1.0 and 2.0 (C35).
func TestInteropNotifications(t *testing.T) {
	pyoslo.Require(t)
	for mode, url := range interopModes(t) {
		for _, driver := range []string{"messagingv2", "messaging"} {
			t.Run(mode+" python to go "+driver, func(t *testing.T) {
				d := open(t, url, nil)
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				topic := unique("sy_pynotif")
				l, err := d.ListenForNotifications(ctx, []drivers.TargetPriority{{Target: drivers.Target{Topic: topic}, Priority: "info"}}, "", drivers.Batch{Size: 1})
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
					!reflect.DeepEqual(normalize(n.Payload), normalize(map[string]any{"n": 1, "s": "\u00e9"})) {
					t.Fatalf("notification %+v %v", n, err)
				}
				if msgs[0].Context()["request_id"] != "req-py-notify" {
					t.Fatalf("context %v", msgs[0].Context())
				}
				msgs[0].Acknowledge()
			})
			t.Run(mode+" go to python "+driver, func(t *testing.T) {
				d := open(t, url, nil)
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				topic := unique("sy_gonotif")
				py := pyoslo.Start(t, pyoslo.NotifyScript, "listen", url, topic, "-", "1")
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
