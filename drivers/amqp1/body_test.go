package amqp1

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
)

func TestBodies(t *testing.T) {
	msg := drivers.Message{"method": "m", "args": map[string]any{"x": "\u00e9"}, "version": "1.2", "namespace": "ns"}
	s, err := encodeRequest(msg, drivers.Context{"b": 1, "a": nil}, "1.0", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"request": {"method": "m", "args": {"x": "\u00e9"}, "namespace": "ns", "version": "1.2"}, "context": {"a": null, "b": 1}, "call_monitor_timeout": 2}`
	if s != want {
		t.Fatalf("request\n got %s\nwant %s", s, want)
	}
	r, err := decodeRequest(s)
	if err != nil || r.Monitor != 2*time.Second || r.Message["method"] != "m" || len(r.Context) != 2 {
		t.Fatalf("decode: %+v %v", r, err)
	}
	s, _ = encodeRequest(msg, nil, "1.0", 1500*time.Millisecond)
	if r, err := decodeRequest(s); err != nil || r.Monitor != 1500*time.Millisecond {
		t.Fatalf("fractional monitor: %s %+v %v", s, r, err)
	}
	n := drivers.Message{"message_id": "id", "priority": "INFO"}
	s, _ = encodeRequest(n, nil, "2.0", 0)
	if want := `{"request": {"oslo.version": "2.0", "oslo.message": "{\"message_id\": \"id\", \"priority\": \"INFO\"}"}, "context": {}}`; s != want {
		t.Fatalf("notification\n got %s\nwant %s", s, want)
	}
	if r, err := decodeRequest(s); err != nil || !reflect.DeepEqual(r.Message, n) {
		t.Fatalf("decode notification: %+v %v", r, err)
	}
	if _, err := encodeRequest(n, nil, "3.0", 0); !errors.Is(err, drivers.ErrUnsupportedVersion) {
		t.Fatalf("version 3.0: %v", err)
	}
	if _, err := encodeRequest(drivers.Message{"_msg_id": 1}, nil, "1.0", 0); err == nil {
		t.Fatal("reserved key accepted")
	}
	if _, err := decodeRequest(`{"request": {"oslo.version": "3.0", "oslo.message": "{}"}}`); !errors.Is(err, drivers.ErrUnsupportedVersion) {
		t.Fatalf("envelope 3.0: %v", err)
	}
	s, _ = encodeReply(nil, errors.New("boom"))
	rep, err := decodeReply(s, nil)
	if err != nil || rep.Failure == nil || rep.Failure.Class != "Exception" || rep.Failure.Message != "boom" {
		t.Fatalf("failure reply %s: %+v %v", s, rep, err)
	}
	s, _ = encodeReply(nil, nil)
	if rep, err := decodeReply(s, nil); s != `{"response": null}` || err != nil || rep.Result != nil || rep.Failure != nil {
		t.Fatalf("null reply %s: %+v %v", s, rep, err)
	}
	if _, ok, err := bodyText(nil, nil); ok || err != nil {
		t.Fatal("a heartbeat has no body")
	}
	if txt, ok, err := bodyText(nil, [][]byte{[]byte("{"), []byte("}")}); !ok || err != nil || txt != "{}" {
		t.Fatal("data sections")
	}
	if _, _, err := bodyText(int64(3), nil); !errors.Is(err, errNotText) {
		t.Fatal("an int body")
	}
}

// FuzzDecode feeds arbitrary text to the body decoders: they return an
// error or a value, never panic, and a decoded request encodes back to
// the same request.
func FuzzDecode(f *testing.F) {
	f.Add(`{"request": {"method": "echo", "args": {}}, "context": {}}`)
	f.Fuzz(func(t *testing.T, text string) {
		_, _ = decodeReply(text, []string{"m"})
		r, err := decodeRequest(text)
		if err != nil {
			return
		}
		if r.Message == nil || r.Context == nil {
			t.Fatalf("nil message or context from %q", text)
		}
		if _, nested := r.Message[envelope.KeyVersion]; nested {
			return
		}
		s, err := encodeRequest(r.Message, r.Context, "1.0", 0)
		if err != nil {
			return // keys oslo reserves, or values JSON cannot hold
		}
		r2, err := decodeRequest(s)
		if err != nil {
			t.Fatalf("re-encoded %q does not decode: %v", s, err)
		}
		if !reflect.DeepEqual(normalize(map[string]any(r.Message)), normalize(map[string]any(r2.Message))) ||
			!reflect.DeepEqual(normalize(map[string]any(r.Context)), normalize(map[string]any(r2.Context))) {
			t.Fatalf("round trip changed %q into %q", text, s)
		}
	})
}

// normalize returns v as the JSON decoder gives it back.
func normalize(v any) any {
	b, err := envelope.MarshalJSON(v)
	if err != nil {
		panic(err)
	}
	out, err := envelope.UnmarshalJSON(b)
	if err != nil {
		panic(err)
	}
	return out
}
