package amqp1

import (
	"encoding/hex"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
	"github.com/switchyard-dev/switchyard/internal/pyoslo"
)

// pair is one captured message beside the Go one, as golden.py prints
// them.
type pair struct {
	Capture map[string]any `json:"capture"`
	Go      map[string]any `json:"go"`
}

func captureLines(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "MSG ") {
			out = append(out, l)
		}
	}
	return out
}

// pyRepr strips the quotes of a Python str repr without escapes.
func pyRepr(v any) string {
	s, _ := v.(string)
	return strings.Trim(s, "'")
}

func ordered(keys []string, vals map[string]any) *envelope.Object {
	o := &envelope.Object{}
	for _, k := range keys {
		o.Set(k, vals[k])
	}
	return o
}

// TestGoldenWire encodes every message of the captures of Python
// oslo.messaging 14's amqp driver as the Go driver would send it in the
// same situation, decodes it with Python's proton, and compares addresses,
// properties, header and body with what Python sent (C35).
func TestGoldenWire(t *testing.T) {
	pyoslo.Require(t)
	for _, tc := range []struct {
		file string
		mode Mode
	}{{"oslo14-amqp1-legacy.txt", Legacy}, {"oslo14-amqp1-routable.txt", Routable}} {
		t.Run(string(tc.mode), func(t *testing.T) {
			lines := captureLines(t, tc.file)
			if len(lines) != 13 {
				t.Fatalf("%d MSG lines in %s, want 13", len(lines), tc.file)
			}
			var in struct {
				Pairs []map[string]string `json:"pairs"`
			}
			for _, l := range lines {
				in.Pairs = append(in.Pairs, map[string]string{"capture": l})
			}
			var caps []pair
			pyoslo.Run(t, 30*time.Second, script(t, "golden.py"), in, &caps)

			o := drivers.DefaultConfig().AMQP
			a := newAddresser(tc.mode, o, "openstack", "")
			mctx := drivers.Context{"user_id": "u1", "project_id": "p1", "request_id": "req-cap-1", "is_admin": false}
			target := drivers.Target{Topic: "cap_topic"}
			args := func(i int) *envelope.Object {
				req := caps[i].Capture["body"].(map[string]any)["value"].(map[string]any)["request"].(map[string]any)
				a := req["args"].(map[string]any)
				var keys []string
				switch len(a) {
				case 3:
					keys = []string{"text", "n", "nested"}
				default:
					for k := range a {
						keys = append(keys, k)
					}
				}
				return ordered(keys, a)
			}
			request := func(i int, method string, monitor time.Duration) string {
				s, err := encodeRequest(drivers.Message{"method": method, "args": args(i), "version": "1.0"}, mctx, "1.0", monitor)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			field := func(i int, k string) string { return pyRepr(caps[i].Capture[k]) }
			replyTo := field(0, "reply_to")
			reply := func(i int, v any) sendSpec {
				s, err := encodeReply(v, nil)
				if err != nil {
					t.Fatal(err)
				}
				return sendSpec{address: replyTo, body: &s, corrID: field(i, "corr")}
			}
			notification := func(i int, version, topic string) (string, string) {
				req := caps[i].Capture["body"].(map[string]any)["value"].(map[string]any)["request"].(map[string]any)
				if version == "2.0" {
					v, err := envelope.UnmarshalJSON([]byte(req[envelope.KeyMessage].(string)))
					if err != nil {
						t.Fatal(err)
					}
					req = v.(map[string]any)
				}
				s, err := encodeRequest(drivers.Message(req), mctx, version, 0)
				if err != nil {
					t.Fatal(err)
				}
				return a.notifyAddress(drivers.TargetPriority{Target: drivers.Target{Topic: topic}, Priority: strings.ToLower(req["priority"].(string))}), s
			}
			failure := func(i int) sendSpec {
				f := caps[i].Capture["body"].(map[string]any)["value"].(map[string]any)["failure"].(string)
				re, err := envelope.DeserializeFailure(f, nil)
				if err != nil {
					t.Fatal(err)
				}
				s, err := encodeReply(nil, re)
				if err != nil {
					t.Fatal(err)
				}
				return sendSpec{address: replyTo, body: &s, corrID: field(i, "corr")}
			}
			str := func(s string) *string { return &s }
			nAddr1, nBody1 := notification(11, "2.0", "cap_notifications")
			nAddr2, nBody2 := notification(12, "1.0", "cap_notifications_v1")
			sends := []struct {
				addr string
				s    sendSpec
			}{
				{a.resolve(target, serviceRPC), sendSpec{body: str(request(0, "echo", 0)), msgID: field(0, "id"), ttl: 10 * time.Second}},
				{replyTo, reply(1, ordered([]string{"text", "n", "nested"}, caps[1].Capture["body"].(map[string]any)["value"].(map[string]any)["response"].(map[string]any)))},
				{a.resolve(target, serviceRPC), sendSpec{body: str(request(2, "echo", 0))}},
				{a.resolve(drivers.Target{Topic: "cap_topic", Server: "host1"}, serviceRPC), sendSpec{body: str(request(3, "echo", 0))}},
				{a.resolve(drivers.Target{Topic: "cap_topic", Fanout: true}, serviceRPC), sendSpec{body: str(request(4, "echo", 0))}},
				{a.resolve(target, serviceRPC), sendSpec{body: str(request(5, "boom", 0)), msgID: field(5, "id"), ttl: 10 * time.Second}},
				{replyTo, failure(6)},
				{a.resolve(target, serviceRPC), sendSpec{body: str(request(7, "slow", 2*time.Second)), msgID: field(7, "id"), ttl: 20 * time.Second}},
				{replyTo, sendSpec{corrID: field(8, "corr"), ttl: 2 * time.Second}},
				{replyTo, sendSpec{corrID: field(9, "corr"), ttl: 2 * time.Second}},
				{replyTo, reply(10, map[string]any{"slept": 3})},
				{nAddr1, sendSpec{body: &nBody1}},
				{nAddr2, sendSpec{body: &nBody2}},
			}
			for i, s := range sends {
				m := buildMessage(s.addr, s.s)
				if s.s.msgID != "" {
					m.Properties.ReplyTo = &replyTo // as the call's prepare does
				}
				b, err := m.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				in.Pairs[i]["hex"] = hex.EncodeToString(b)
			}
			var got []pair
			pyoslo.Run(t, 30*time.Second, script(t, "golden.py"), in, &got)
			for i, p := range got {
				for _, k := range []string{"to", "reply_to", "id", "corr", "subject", "ttl", "durable", "priority", "content_type", "app_props", "annotations"} {
					if p.Go[k] != p.Capture[k] {
						t.Errorf("message %d (%s): %s is %v, Python sent %v", i, lines[i][:60], k, p.Go[k], p.Capture[k])
					}
				}
				gb, cb := p.Go["body"].(map[string]any), p.Capture["body"].(map[string]any)
				if !reflect.DeepEqual(gb["keys"], cb["keys"]) || !reflect.DeepEqual(gb["value"], cb["value"]) || gb["null"] != cb["null"] {
					t.Errorf("message %d: body\n go:     %v\n python: %v", i, gb["text"], cb["text"])
				}
				if gb["request_text"] != cb["request_text"] {
					t.Errorf("message %d: request\n go:     %v\n python: %v", i, gb["request_text"], cb["request_text"])
				}
				cv, _ := cb["value"].(map[string]any)
				if _, hasCtx := cv["context"]; !hasCtx && gb["text"] != cb["text"] {
					t.Errorf("message %d: reply body not byte-identical\n go:     %v\n python: %v", i, gb["text"], cb["text"])
				}
			}
		})
	}
}

func script(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
