package envelope

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
)

func TestWrap(t *testing.T) {
	cases := []struct {
		version string
		wrap    bool
		err     bool
	}{
		{"2.0", true, false}, {"2", true, false}, {"2.0.0", true, false},
		{"1.0", false, false}, {"1", false, false}, {"0.9", false, false},
		{"2.1", false, true}, {"3.0", false, true}, {"", false, true}, {"two", false, true}, {"2.0.1", false, true}, {"-1", false, true},
	}
	for _, c := range cases {
		wrap, err := Wrap(c.version)
		if wrap != c.wrap || (err != nil) != c.err {
			t.Errorf("Wrap(%q) = %v, %v; want %v, error %v", c.version, wrap, err, c.wrap, c.err)
		}
		if err != nil && !errors.Is(err, drivers.ErrUnsupportedVersion) {
			t.Errorf("Wrap(%q) error %v does not wrap ErrUnsupportedVersion", c.version, err)
		}
	}
}

func TestOpen(t *testing.T) {
	cases := []struct {
		name    string
		body    string
		want    map[string]any
		wrapped bool
		err     string
	}{
		{"envelope", `{"oslo.version": "2.0", "oslo.message": "{\"a\": 1}"}`, map[string]any{"a": json.Number("1")}, true, ""},
		{"bare", `{"a": 1}`, map[string]any{"a": json.Number("1")}, false, ""},
		{"version only is bare", `{"oslo.version": "2.0", "a": 1}`, map[string]any{"oslo.version": "2.0", "a": json.Number("1")}, false, ""},
		{"newer minor", `{"oslo.version": "2.1", "oslo.message": "{}"}`, nil, true, "unsupported envelope version"},
		{"major 3", `{"oslo.version": "3.0", "oslo.message": "{}"}`, nil, true, "unsupported envelope version"},
		{"numeric version", `{"oslo.version": 2.0, "oslo.message": "{}"}`, nil, true, "unsupported envelope version"},
		{"message not a string", `{"oslo.version": "2.0", "oslo.message": {}}`, nil, true, "not a string"},
		{"inner not JSON", `{"oslo.version": "2.0", "oslo.message": "{"}`, nil, true, "not JSON"},
		{"inner not object", `{"oslo.version": "2.0", "oslo.message": "[1]"}`, nil, true, "not an object"},
		{"body array", `[1, 2]`, nil, false, "not an object"},
		{"body garbage", `{"a": `, nil, false, "not JSON"},
		{"trailing data", `{"a": 1} {"b": 2}`, nil, false, "not JSON"},
		{"empty", ``, nil, false, "not JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, wrapped, err := Open([]byte(c.body))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil || wrapped != c.wrapped || !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %v, %v, %v", got, wrapped, err)
			}
		})
	}
}

func TestMarshalJSONPythonStyle(t *testing.T) {
	obj := &Object{}
	obj.Set("b", 1)
	obj.Set("a", []any{true, false, nil, 1.0, 1.5, 1e16, 1.5e-7, 0.0001, math.Copysign(0, -1), json.Number("12345678901234567890123")})
	obj.Set("s", "é\u2603\U0001d11e\"\\\n\t\x01\x7f</script>&")
	obj.Set("m", map[string]any{"z": 1, "y": map[string]any{}})
	got, err := MarshalJSON(obj)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"b": 1, "a": [true, false, null, 1.0, 1.5, 1e+16, 1.5e-07, 0.0001, -0.0, 12345678901234567890123], ` +
		`"s": "\u00e9\u2603\ud834\udd1e\"\\\n\t\u0001\u007f</script>&", "m": {"y": {}, "z": 1}}`
	if string(got) != want {
		t.Fatalf("\n got %s\nwant %s", got, want)
	}
	for _, bad := range []any{func() {}, make(chan int), json.Number("1x")} {
		if _, err := MarshalJSON(bad); err == nil {
			t.Errorf("MarshalJSON(%T) succeeded", bad)
		}
	}
	type point struct {
		X int `json:"x"`
	}
	if b, err := MarshalJSON(drivers.Message{"p": point{3}, "c": drivers.Context{"k": "v"}}); err != nil || string(b) != `{"c": {"k": "v"}, "p": {"x": 3}}` {
		t.Fatalf("named types: %s, %v", b, err)
	}
}

func TestMarshalJSONDepthLimit(t *testing.T) {
	var v any = "x"
	for range maxDepth + 2 {
		v = []any{v}
	}
	if _, err := MarshalJSON(v); err == nil || !strings.Contains(err.Error(), "nested") {
		t.Fatalf("err = %v", err)
	}
}

func TestOutgoingEncode(t *testing.T) {
	o := Outgoing{
		Message: drivers.Message{"args": map[string]any{}, "method": "ping"},
		Context: drivers.Context{"user_id": "u", "request_id": "r"},
		MsgID:   "m1", ReplyQueue: "reply_q", Timeout: 2500 * time.Millisecond, UniqueID: "u1",
	}
	got, err := o.Encode("2.0")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"oslo.version": "2.0", "oslo.message": "{\"method\": \"ping\", \"args\": {}, \"_msg_id\": \"m1\", \"_reply_q\": \"reply_q\", \"_timeout\": 2.5, \"_unique_id\": \"u1\", \"_context_request_id\": \"r\", \"_context_user_id\": \"u\"}"}`
	if string(got) != want {
		t.Fatalf("\n got %s\nwant %s", got, want)
	}
	o.Timeout = 0
	got, _ = o.Encode("1.0")
	if !strings.Contains(string(got), `"_timeout": null`) || strings.Contains(string(got), "oslo.version") {
		t.Fatalf("bare call: %s", got)
	}
	cast := Outgoing{Message: drivers.Message{"method": "x"}}
	got, _ = cast.Encode("2.0")
	in, err := Decode(got)
	if err != nil || in.MsgID != "" || len(in.UniqueID) != 32 || strings.Contains(string(got), "_reply_q") {
		t.Fatalf("cast: %s %v", got, err)
	}
	if _, err := (Outgoing{Message: drivers.Message{"_msg_id": "x"}}).Encode("2.0"); err == nil {
		t.Fatal("reserved key accepted")
	}
	if _, err := cast.Encode("3.0"); !errors.Is(err, drivers.ErrUnsupportedVersion) {
		t.Fatalf("version 3.0: %v", err)
	}
}

func TestDecodeRejectsBadFields(t *testing.T) {
	for _, body := range []string{
		`{"_msg_id": 5}`, `{"_reply_q": []}`, `{"_unique_id": {}}`, `{"_timeout": "x"}`, `{"_timeout": -1}`, `{"_timeout": 1e300}`,
	} {
		if _, err := Decode([]byte(body)); err == nil {
			t.Errorf("Decode(%s) accepted", body)
		}
	}
	for _, body := range []string{
		`{"ending": "yes"}`, `{"failure": 3}`, `{"failure": "not json"}`, `{"failure": "[]"}`,
		`{"failure": "{\"tb\": \"x\"}"}`, `{"failure": "{\"args\": {}}"}`, `{"failure": "{\"kwargs\": []}"}`, `{"failure": "{\"class\": 1}"}`,
	} {
		if _, err := DecodeReply([]byte(body), nil); err == nil {
			t.Errorf("DecodeReply(%s) accepted", body)
		}
	}
}

func TestFailures(t *testing.T) {
	f := FailureOf(errors.New("boom"))
	if f.Class != "Exception" || f.Module != "builtins" || f.Message != "boom" || !reflect.DeepEqual(f.Args, []any{"boom"}) {
		t.Fatalf("FailureOf = %+v", f)
	}
	re := &drivers.RemoteError{Class: "X", Module: "m"}
	if got := FailureOf(errorsWrap(re)); got != re {
		t.Fatal("FailureOf does not unwrap a *RemoteError")
	}
	s, err := SerializeFailure(&drivers.RemoteError{Class: "KeyError_Remote", Module: "builtins_Remote", Message: "k"})
	if err != nil || !strings.HasPrefix(s, `{"class": "KeyError", "module": "builtins", "message": "k", "tb": [], "args": [], "kwargs": {}}`) {
		t.Fatalf("serialize: %s %v", s, err)
	}
	s, _ = SerializeFailure(&drivers.RemoteError{Class: "KeyError_Remote", Module: "builtins"})
	if !strings.Contains(s, `"KeyError_Remote"`) {
		t.Fatalf("suffix must be kept unless both carry it: %s", s)
	}
	for _, c := range []struct {
		module  string
		allowed []string
		rebuilt bool
	}{
		{"builtins", nil, true}, {"exceptions", nil, true}, {"nova.exception", nil, false},
		{"nova.exception", []string{"nova.exception"}, true}, {"nova", []string{"nova.exception"}, false},
	} {
		data, _ := SerializeFailure(&drivers.RemoteError{Class: "E", Module: c.module})
		got, err := DeserializeFailure(data, c.allowed)
		if err != nil || got.Rebuilt != c.rebuilt {
			t.Errorf("module %s allowed %v: rebuilt %v, %v", c.module, c.allowed, got.Rebuilt, err)
		}
	}
	got, _ := DeserializeFailure(`{}`, nil)
	if got.Rebuilt || got.Class != "" || got.Kwargs == nil {
		t.Fatalf("empty failure: %+v", got)
	}
}

type wrapped struct{ err error }

func (w wrapped) Error() string { return "wrapped: " + w.err.Error() }
func (w wrapped) Unwrap() error { return w.err }

func errorsWrap(err error) error { return wrapped{err} }

func TestReplies(t *testing.T) {
	hb := Heartbeat("m1")
	b, err := hb.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeReply(b, nil)
	if err != nil || !back.IsHeartbeat() || back.MsgID != "m1" {
		t.Fatalf("heartbeat round trip: %+v %v", back, err)
	}
	old, err := DecodeReply([]byte(`{"oslo.version": "2.0", "oslo.message": "{\"result\": 5, \"failure\": null, \"_msg_id\": \"m\"}"}`), nil)
	if err != nil || old.EndingPresent || old.IsHeartbeat() || old.Result != json.Number("5") {
		t.Fatalf("pre-4.0 reply: %+v %v", old, err)
	}
	fr := Reply{Result: "ignored", Failure: FailureOf(errors.New("x")), Ending: true, MsgID: "m"}
	b, _ = fr.Encode()
	back, _ = DecodeReply(b, nil)
	if back.Result != nil || back.Failure == nil || back.Failure.Message != "x" {
		t.Fatalf("failure reply: %+v", back)
	}
}

func TestNotificationLayout(t *testing.T) {
	n := NewNotification("p", "e", "warn", nil)
	if len(n.MessageID) != 36 || n.MessageID[14] != '4' || n.Priority != "WARN" {
		t.Fatalf("%+v", n)
	}
	if _, err := (Notification{Priority: "LOUD"}).Message(); err == nil {
		t.Fatal("unknown priority accepted")
	}
	if got := FormatTimestamp(time.Date(2024, 5, 1, 12, 0, 0, 0, time.FixedZone("x", 3600))); got != "2024-05-01 11:00:00" {
		t.Fatalf("whole second: %s", got)
	}
	if got := FormatTimestamp(time.Date(2024, 5, 1, 12, 0, 0, 1500, time.UTC)); got != "2024-05-01 12:00:00.000001" {
		t.Fatalf("microseconds: %s", got)
	}
	if _, err := ParseTimestamp("yesterday"); err == nil {
		t.Fatal("bad timestamp accepted")
	}
	if _, err := ParseNotification(drivers.Message{"message_id": 1}); err == nil {
		t.Fatal("bad notification accepted")
	}
	if id := NewID(); len(id) != 32 || id[12] != '4' || strings.Trim(id, "0123456789abcdef") != "" {
		t.Fatalf("NewID = %q", id)
	}
}
