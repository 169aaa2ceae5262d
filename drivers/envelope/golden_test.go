package envelope

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
)

// goldenCase is one message from testdata/golden.json: the examples of
// WIRE.md §2.4-§2.7 and every message of the Python oslo.messaging 14
// capture on RabbitMQ.
type goldenCase struct {
	Name       string `json:"name"`
	Source     string `json:"source"`
	Exchange   string `json:"exchange"`
	RoutingKey string `json:"routing_key"`
	Body       string `json:"body"`
}

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

func decodeGolden(tb testing.TB, raw []byte) []goldenCase {
	tb.Helper()
	var cases []goldenCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		tb.Fatal(err)
	}
	return cases
}

func loadGolden(t *testing.T) map[string]goldenCase {
	t.Helper()
	cases := decodeGolden(t, mustRead(t, "testdata/golden.json"))
	m := map[string]goldenCase{}
	for _, c := range cases {
		m[c.Name] = c
	}
	return m
}

func kindOf(name string) string {
	switch {
	case strings.Contains(name, "reply"), strings.Contains(name, "heartbeat"), strings.Contains(name, "failure"):
		return "reply"
	case strings.Contains(name, "notification"):
		return "notification"
	}
	return "request"
}

// innerEqual compares two bodies as oslo would read them: same envelope
// shape and the same decoded inner message.
func innerEqual(t *testing.T, got, want []byte) {
	t.Helper()
	g, gw, err := Open(got)
	if err != nil {
		t.Fatalf("our body does not open: %v\n%s", err, got)
	}
	w, ww, err := Open(want)
	if err != nil {
		t.Fatalf("golden body does not open: %v", err)
	}
	if gw != ww {
		t.Fatalf("enveloped = %v, golden %v", gw, ww)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("inner message differs\n got: %v\nwant: %v", g, w)
	}
}

func TestGoldenRoundTrip(t *testing.T) {
	cases := loadGolden(t)
	if len(cases) < 21 {
		t.Fatalf("only %d golden cases", len(cases))
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			body := []byte(c.Body)
			switch kindOf(name) {
			case "reply":
				r, err := DecodeReply(body, nil)
				if err != nil {
					t.Fatal(err)
				}
				out, err := r.Encode()
				if err != nil {
					t.Fatal(err)
				}
				// Replies have a fixed key order and no context: unless
				// the result holds an object of several keys (whose
				// order Go maps do not keep), the bytes must be exactly
				// what Python sent.
				innerEqual(t, out, body)
				if !multiKeyObject(r.Result) && string(out) != c.Body {
					t.Fatalf("reply bytes differ from Python's\n got: %s\nwant: %s", out, c.Body)
				}
			default:
				in, err := Decode(body)
				if err != nil {
					t.Fatal(err)
				}
				version := "2.0"
				if !in.Wrapped {
					version = "1.0"
				}
				out, err := Outgoing{
					Message: in.Message, Context: in.Context, MsgID: in.MsgID,
					ReplyQueue: in.ReplyQueue, Timeout: in.Timeout, UniqueID: in.UniqueID,
				}.Encode(version)
				if err != nil {
					t.Fatal(err)
				}
				innerEqual(t, out, body)
			}
		})
	}
}

func TestGoldenCallValues(t *testing.T) {
	c := loadGolden(t)["wire-2.4-call"]
	in, err := Decode([]byte(c.Body))
	if err != nil {
		t.Fatal(err)
	}
	want := &Incoming{
		Message: drivers.Message{
			"method":  "get_info",
			"args":    map[string]any{"instance_id": "abc"},
			"version": "5.0",
		},
		Context: drivers.Context{
			"request_id": "req-1234", "user_id": "u1", "project_id": "p1", "is_admin": false,
		},
		MsgID:      "6c2b3e0f8f7b4a4e9d1f0a6b2c3d4e5f",
		ReplyQueue: "reply_0a1b2c3d4e5f40718293a4b5c6d7e8f9",
		Timeout:    30 * time.Second,
		UniqueID:   "f3e2d1c0b9a84766554433221100ffee",
		Wrapped:    true,
	}
	if !reflect.DeepEqual(in, want) {
		t.Fatalf("decoded\n got %#v\nwant %#v", in, want)
	}
}

func TestGoldenCaptureCallValues(t *testing.T) {
	in, err := Decode([]byte(loadGolden(t)["capture-call"].Body))
	if err != nil {
		t.Fatal(err)
	}
	args := in.Message["args"].(map[string]any)
	if args["text"] != "héllo" || args["n"] != json.Number("3") {
		t.Fatalf("args = %#v", args)
	}
	nested := args["nested"].(map[string]any)["a"].([]any)
	if len(nested) != 3 || nested[2] != nil {
		t.Fatalf("nested = %#v", nested)
	}
	if in.Timeout != 0 || in.ReplyQueue != "reply_75b2f58fb5164a78be0b32c903f88626" {
		t.Fatalf("timeout %v reply queue %q", in.Timeout, in.ReplyQueue)
	}
	mon, err := Decode([]byte(loadGolden(t)["capture-call-monitored"].Body))
	if err != nil {
		t.Fatal(err)
	}
	if mon.Timeout != 2*time.Second {
		t.Fatalf("call-monitor timeout = %v, want 2s", mon.Timeout)
	}
}

func TestGoldenReplies(t *testing.T) {
	g := loadGolden(t)
	r, err := DecodeReply([]byte(g["wire-2.5-reply"].Body), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Result, map[string]any{"state": "running"}) || !r.Ending || r.Failure != nil ||
		r.MsgID != "6c2b3e0f8f7b4a4e9d1f0a6b2c3d4e5f" || r.UniqueID != "0123456789abcdef0123456789abcdef" || r.IsHeartbeat() {
		t.Fatalf("reply = %#v", r)
	}
	for _, name := range []string{"wire-2.5-heartbeat", "capture-heartbeat-1", "capture-heartbeat-2"} {
		hb, err := DecodeReply([]byte(g[name].Body), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !hb.IsHeartbeat() {
			t.Fatalf("%s is not read as a heartbeat: %#v", name, hb)
		}
	}
	f, err := DecodeReply([]byte(g["wire-2.5-failure"].Body), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &drivers.RemoteError{
		Class: "ValueError", Module: "builtins", Message: "bad value",
		Traceback: []string{"Traceback (most recent call last):\n", "  File ...\n", "ValueError: bad value\n"},
		Args:      []any{"bad value"}, Kwargs: map[string]any{}, Rebuilt: true,
	}
	if !reflect.DeepEqual(f.Failure, want) || f.Result != nil {
		t.Fatalf("failure\n got %#v\nwant %#v", f.Failure, want)
	}
	cf, err := DecodeReply([]byte(g["capture-failure-reply"].Body), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cf.Failure.Class != "ValueError" || cf.Failure.Message != "kaboom" || !cf.Failure.Rebuilt ||
		len(cf.Failure.Traceback) < 3 || !strings.HasPrefix(cf.Failure.Traceback[0], "Traceback") {
		t.Fatalf("captured failure = %#v", cf.Failure)
	}
	var re *drivers.RemoteError
	if !errors.As(error(cf.Failure), &re) {
		t.Fatal("RemoteError does not satisfy errors.As")
	}
}

func TestGoldenNotifications(t *testing.T) {
	g := loadGolden(t)
	for _, name := range []string{"wire-2.7-notification-v2", "wire-2.7-notification-v1"} {
		in, err := Decode([]byte(g[name].Body))
		if err != nil {
			t.Fatal(err)
		}
		if in.Wrapped != strings.HasSuffix(name, "v2") {
			t.Fatalf("%s: wrapped = %v", name, in.Wrapped)
		}
		n, err := ParseNotification(in.Message)
		if err != nil {
			t.Fatal(err)
		}
		wantTS := time.Date(2024, 5, 1, 12, 0, 0, 123456000, time.UTC)
		if n.MessageID != "5f0c7e1a-2b3c-4d5e-8f90-a1b2c3d4e5f6" || n.PublisherID != "compute.host1" ||
			n.EventType != "compute.instance.create.end" || n.Priority != "INFO" ||
			!reflect.DeepEqual(n.Payload, map[string]any{"instance_id": "abc"}) || !n.Timestamp.Equal(wantTS) {
			t.Fatalf("%s: %#v", name, n)
		}
		if in.Context["request_id"] != "req-1" {
			t.Fatalf("%s: context %v", name, in.Context)
		}
		m, err := n.Message()
		if err != nil {
			t.Fatal(err)
		}
		if m["timestamp"] != "2024-05-01 12:00:00.123456" {
			t.Fatalf("timestamp re-encoded as %v", m["timestamp"])
		}
	}
	v1, err := Decode([]byte(g["capture-notification-v1"].Body))
	if err != nil {
		t.Fatal(err)
	}
	if v1.Wrapped || v1.Message["priority"] != "ERROR" || v1.UniqueID != "ab6d41f6b28b4c97b9e94244af243eec" {
		t.Fatalf("v1 = %#v", v1)
	}
}

func multiKeyObject(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		if len(x) > 1 {
			return true
		}
		for _, e := range x {
			if multiKeyObject(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if multiKeyObject(e) {
				return true
			}
		}
	}
	return false
}
