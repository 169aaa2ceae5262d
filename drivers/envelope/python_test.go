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
	"github.com/switchyard-dev/switchyard/internal/pyoslo"
)

type peerFailure struct {
	Data    string   `json:"data"`
	Allowed []string `json:"allowed"`
}

type peerOut struct {
	Decoded []struct {
		Message map[string]any `json:"message"`
		Context map[string]any `json:"context"`
		Meta    map[string]any `json:"meta"`
	} `json:"decoded"`
	Failures []struct {
		Type          string  `json:"type"`
		Module        string  `json:"module"`
		Str           string  `json:"str"`
		IsRemoteError bool    `json:"is_remote_error"`
		ExcType       *string `json:"exc_type"`
		Value         *string `json:"value"`
		Reserialized  string  `json:"reserialized"`
	} `json:"failures"`
	Python map[string]string `json:"python"`
}

// normalize passes v through our JSON codec so numbers compare equal
// whichever decoder produced them.
func normalize(t *testing.T, v any) any {
	t.Helper()
	b, err := MarshalJSON(v)
	if err != nil {
		t.Fatal(err)
	}
	n, err := UnmarshalJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPythonInterop runs Python oslo.messaging 14's deserialize_msg and
// deserialize_remote_exception on what Go encoded, and Go's decoder on
// what Python's serialize_msg and serialize_remote_exception produced.
func TestPythonInterop(t *testing.T) {
	version := pyoslo.Require(t)
	t.Logf("Python oslo.messaging %s", version)
	script, err := os.ReadFile("testdata/oslo_peer.py")
	if err != nil {
		t.Fatal(err)
	}

	call := Outgoing{
		Message: drivers.Message{
			"method": "get_info", "version": "5.0", "namespace": "compute",
			"args": map[string]any{"text": "h\u00e9llo \u2603 \U0001d11e", "n": 3, "f": 0.1, "none": nil,
				"nested": map[string]any{"a": []any{1, 2, nil}}, "big": json.Number("1180591620717411303424")},
		},
		Context:    drivers.Context{"request_id": "req-1", "user_id": "u1", "is_admin": false},
		MsgID:      NewID(),
		ReplyQueue: "reply_" + NewID(),
		Timeout:    30 * time.Second,
	}
	cast := Outgoing{Message: drivers.Message{"method": "update", "args": map[string]any{}}, Context: drivers.Context{"request_id": "req-2"}}
	n, err := NewNotification("compute.host1", "compute.instance.create.end", "info", map[string]any{"id": "abc"}).Message()
	if err != nil {
		t.Fatal(err)
	}
	notifyV2 := Outgoing{Message: n, Context: drivers.Context{"request_id": "req-3"}}
	outgoing := []struct {
		o       Outgoing
		version string
	}{{call, "2.0"}, {cast, "2.0"}, {notifyV2, "2.0"}, {notifyV2, "1.0"}}
	var bodies []string
	for _, x := range outgoing {
		b, err := x.o.Encode(x.version)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, string(b))
	}

	plain := FailureOf(errors.New("disk full"))
	custom := &drivers.RemoteError{Class: "InstanceNotFound", Module: "nova.exception", Message: "instance abc not found",
		Traceback: []string{"Traceback (most recent call last):\n", "nova.exception.InstanceNotFound: instance abc not found\n"},
		Args:      []any{"instance abc not found"}, Kwargs: map[string]any{"instance_id": "abc"}}
	allowedTimeout := &drivers.RemoteError{Class: "MessagingTimeout", Module: "oslo_messaging.exceptions", Message: "too slow", Args: []any{"too slow"}}
	reraised := &drivers.RemoteError{Class: "ValueError_Remote", Module: "builtins_Remote", Message: "again", Args: []any{"again"}}
	var failures []peerFailure
	for _, f := range []struct {
		re      *drivers.RemoteError
		allowed []string
	}{{plain, nil}, {custom, nil}, {allowedTimeout, []string{"oslo_messaging.exceptions"}}, {reraised, nil}} {
		s, err := SerializeFailure(f.re)
		if err != nil {
			t.Fatal(err)
		}
		failures = append(failures, peerFailure{Data: s, Allowed: f.allowed})
	}

	var out peerOut
	pyoslo.Run(t, 60*time.Second, string(script), map[string]any{"bodies": bodies, "failures": failures}, &out)

	// Python read what Go sent.
	if len(out.Decoded) != len(outgoing) {
		t.Fatalf("python decoded %d messages, want %d", len(out.Decoded), len(outgoing))
	}
	for i, x := range outgoing {
		d := out.Decoded[i]
		if got, want := normalize(t, d.Message), normalize(t, x.o.Message); !reflect.DeepEqual(got, want) {
			t.Errorf("message %d: python read\n %v\nwant\n %v", i, got, want)
		}
		if got, want := normalize(t, d.Context), normalize(t, x.o.Context); !reflect.DeepEqual(got, want) {
			t.Errorf("context %d: python read %v, want %v", i, got, want)
		}
		if uid, _ := d.Meta["_unique_id"].(string); len(uid) != 32 {
			t.Errorf("message %d: _unique_id %q is not 32 hex", i, uid)
		}
	}
	if m := out.Decoded[0].Meta; m["_msg_id"] != call.MsgID || m["_reply_q"] != call.ReplyQueue || m["_timeout"] != json.Number("30") {
		t.Errorf("call meta as python read it: %v", m)
	}
	if m := out.Decoded[1].Meta; m["_msg_id"] != nil || m["_reply_q"] != nil {
		t.Errorf("a cast must carry no _msg_id/_reply_q: %v", m)
	}

	// Python rebuilt Go's failures as oslo would raise them.
	pf := out.Failures
	if len(pf) != 4 {
		t.Fatalf("python rebuilt %d failures", len(pf))
	}
	if pf[0].IsRemoteError || !strings.HasPrefix(pf[0].Type, "Exception") || !strings.Contains(pf[0].Str, "disk full") {
		t.Errorf("plain Go error as Python sees it: %+v", pf[0])
	}
	if !pf[1].IsRemoteError || pf[1].ExcType == nil || *pf[1].ExcType != "InstanceNotFound" || *pf[1].Value != "instance abc not found" {
		t.Errorf("non-allowed module must become RemoteError: %+v", pf[1])
	}
	if pf[2].IsRemoteError || pf[2].Type != "MessagingTimeout_Remote" || pf[2].Module != "oslo_messaging.exceptions_Remote" {
		t.Errorf("allowed module must be rebuilt: %+v", pf[2])
	}
	if pf[3].IsRemoteError || !strings.HasPrefix(pf[3].Type, "ValueError") {
		t.Errorf("_Remote suffix must be stripped: %+v", pf[3])
	}
	// Python's re-serialization of the rebuilt allowed exception strips
	// the suffix again, as SerializeFailure does.
	back, err := DeserializeFailure(pf[2].Reserialized, []string{"oslo_messaging.exceptions"})
	if err != nil || back.Class != "MessagingTimeout" || back.Module != "oslo_messaging.exceptions" || !back.Rebuilt {
		t.Errorf("python re-serialized %q → %+v, %v", pf[2].Reserialized, back, err)
	}

	// Go reads what Python sent, byte for byte.
	pyCall := out.Python["call"]
	in, err := Decode([]byte(pyCall))
	if err != nil {
		t.Fatal(err)
	}
	args := in.Message["args"].(map[string]any)
	if args["big"] != json.Number("1180591620717411303424") || args["text"] != "h\u00e9llo \u2603 \U0001d11e" || args["f"] != json.Number("1.5") {
		t.Errorf("python call args as Go read them: %#v", args)
	}
	if in.Timeout != 2*time.Second || in.Context["project_id"] != "p1" || in.MsgID != "e4b9361c5d254b5aaddc9f62792b1212" {
		t.Errorf("python call meta as Go read it: %+v", in)
	}
	again, err := Outgoing{Message: in.Message, Context: in.Context, MsgID: in.MsgID, ReplyQueue: in.ReplyQueue,
		Timeout: in.Timeout, UniqueID: in.UniqueID}.Encode("2.0")
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != pyCall {
		t.Errorf("Go's encoding differs from Python's bytes\n  go: %s\n  py: %s", again, pyCall)
	}
	ve, err := DeserializeFailure(out.Python["value_error"], nil)
	if err != nil {
		t.Fatal(err)
	}
	if ve.Class != "ValueError" || ve.Module != "builtins" || !ve.Rebuilt || !reflect.DeepEqual(ve.Args, []any{"bad value", json.Number("42")}) ||
		!strings.HasPrefix(ve.Traceback[0], "Traceback") {
		t.Errorf("python ValueError as Go read it: %+v", ve)
	}
	ce, err := DeserializeFailure(out.Python["custom"], nil)
	if err != nil {
		t.Fatal(err)
	}
	if ce.Class != "Custom" || ce.Module != "__main__" || ce.Rebuilt || ce.Kwargs["code"] != json.Number("7") || ce.Message != "it broke" {
		t.Errorf("python custom exception as Go read it: %+v", ce)
	}
	// And Go's serialization of Python's failure is byte-identical.
	if s, _ := SerializeFailure(ve); s != out.Python["value_error"] {
		t.Errorf("failure bytes differ\n  go: %s\n  py: %s", s, out.Python["value_error"])
	}
}
