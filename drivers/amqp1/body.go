package amqp1

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
)

// Keys of the JSON object every body holds (WIRE.md §4.3).
const (
	keyRequest  = "request"
	keyContext  = "context"
	keyMonitor  = "call_monitor_timeout"
	keyResponse = "response"
	keyFailure  = "failure"
)

// appOrder is the order in which oslo builds the dicts it sends: RPC
// requests, then notifications. Other keys follow, sorted.
var appOrder = []string{
	"method", "args", "namespace", "version",
	"message_id", "publisher_id", "event_type", "priority", "payload", "timestamp",
}

// appObject orders msg's keys as oslo writes them.
func appObject(m drivers.Message) *envelope.Object {
	var o envelope.Object
	o.Keys = []string{}
	for _, k := range appOrder {
		if v, ok := m[k]; ok {
			o.Set(k, v)
		}
	}
	rest := make([]string, 0, len(m))
	for k := range m {
		if _, done := o.Values[k]; !done {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	for _, k := range rest {
		o.Set(k, m[k])
	}
	return &o
}

// encodeRequest returns the JSON text of a request, cast or notification
// body: {"request": ..., "context": ..., "call_monitor_timeout": n}. The
// request goes inside the 2.0 envelope when version says so (envelope.Wrap;
// RPC passes "1.0": oslo's amqp driver never envelopes RPC). monitor is
// written only when positive, whole seconds as an integer.
func encodeRequest(msg drivers.Message, mctx drivers.Context, version string, monitor time.Duration) (string, error) {
	wrap, err := envelope.Wrap(version)
	if err != nil {
		return "", err
	}
	for k := range msg {
		if strings.HasPrefix(k, "_") {
			return "", fmt.Errorf("message key %q is reserved: oslo uses keys starting with \"_\" for its own fields", k)
		}
	}
	var req any = appObject(msg)
	if wrap {
		inner, err := envelope.MarshalJSON(req)
		if err != nil {
			return "", err
		}
		var env envelope.Object
		env.Set(envelope.KeyVersion, envelope.Version)
		env.Set(envelope.KeyMessage, string(inner))
		req = &env
	}
	var o envelope.Object
	o.Set(keyRequest, req)
	if mctx == nil {
		mctx = drivers.Context{}
	}
	o.Set(keyContext, map[string]any(mctx))
	if monitor > 0 {
		o.Set(keyMonitor, seconds(monitor))
	}
	b, err := envelope.MarshalJSON(&o)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// seconds renders d as oslo does: whole seconds as an integer, otherwise a
// float.
func seconds(d time.Duration) any {
	if d%time.Second == 0 {
		return int64(d / time.Second)
	}
	return d.Seconds()
}

// encodeReply returns the JSON text of a reply: {"response": result}, or
// {"failure": "<serialized exception>"} when failure is non-nil.
func encodeReply(result any, failure error) (string, error) {
	var o envelope.Object
	if failure != nil {
		s, err := envelope.SerializeFailure(envelope.FailureOf(failure))
		if err != nil {
			return "", err
		}
		o.Set(keyFailure, s)
	} else {
		o.Set(keyResponse, result)
	}
	b, err := envelope.MarshalJSON(&o)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// errNotText marks a body that is not a JSON text section.
var errNotText = errors.New("body is not an AMQP value holding a string (or a data section)")

// bodyText extracts the JSON text from a message body: an amqp-value
// string as oslo sends it, or, leniently, binary data. ok is false for a
// message without a body (a call-monitor heartbeat).
func bodyText(value any, data [][]byte) (text string, ok bool, err error) {
	switch v := value.(type) {
	case nil:
	case string:
		return v, true, nil
	case []byte:
		return string(v), true, nil
	default:
		return "", false, fmt.Errorf("%w: amqp-value of type %T", errNotText, value)
	}
	if len(data) == 0 {
		return "", false, nil
	}
	var b strings.Builder
	for _, d := range data {
		b.Write(d)
	}
	return b.String(), true, nil
}

// request is a decoded request, cast or notification body.
type request struct {
	Message drivers.Message
	Context drivers.Context
	// Monitor is the caller's call_monitor_timeout, zero when absent.
	Monitor time.Duration
}

// decodeRequest parses the JSON text of a request body, unwrapping a 2.0
// envelope around the request. Anything that is not such a body is an
// error; it never panics (FuzzDecode).
func decodeRequest(text string) (*request, error) {
	v, err := envelope.UnmarshalJSON([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("body is not JSON: %w", err)
	}
	top, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("body is not a JSON object")
	}
	r := &request{Context: drivers.Context{}}
	switch c := top[keyContext].(type) {
	case nil:
	case map[string]any:
		r.Context = c
	default:
		return nil, fmt.Errorf("body %q is not a JSON object", keyContext)
	}
	switch m := top[keyMonitor].(type) {
	case nil:
	case interface{ Float64() (float64, error) }:
		f, err := m.Float64()
		if err != nil || math.IsNaN(f) || f < 0 || f > 1e9 {
			return nil, fmt.Errorf("body %q is not a usable number of seconds", keyMonitor)
		}
		r.Monitor = time.Duration(f * float64(time.Second))
	default:
		return nil, fmt.Errorf("body %q is not a number", keyMonitor)
	}
	req, ok := top[keyRequest].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("body %q is missing or not a JSON object", keyRequest)
	}
	ver, hasV := req[envelope.KeyVersion]
	inner, hasM := req[envelope.KeyMessage]
	if hasV && hasM {
		vs, ok := ver.(string)
		if !ok || !envelope.Compatible(vs) {
			return nil, fmt.Errorf("%w: envelope version %v", drivers.ErrUnsupportedVersion, ver)
		}
		s, ok := inner.(string)
		if !ok {
			return nil, fmt.Errorf("envelope %q is not a string", envelope.KeyMessage)
		}
		iv, err := envelope.UnmarshalJSON([]byte(s))
		if err != nil {
			return nil, fmt.Errorf("envelope %q is not JSON: %w", envelope.KeyMessage, err)
		}
		if req, ok = iv.(map[string]any); !ok {
			return nil, fmt.Errorf("envelope %q is not a JSON object", envelope.KeyMessage)
		}
	}
	r.Message = req
	return r, nil
}

// reply is a decoded reply body.
type reply struct {
	Result  any
	Failure *drivers.RemoteError
}

// decodeReply parses the JSON text of a reply body; a "failure" string is
// rebuilt with allowed as oslo's deserialize_remote_exception does.
func decodeReply(text string, allowed []string) (*reply, error) {
	v, err := envelope.UnmarshalJSON([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("reply is not JSON: %w", err)
	}
	top, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("reply is not a JSON object")
	}
	switch f := top[keyFailure].(type) {
	case nil:
	case string:
		re, err := envelope.DeserializeFailure(f, allowed)
		if err != nil {
			return nil, err
		}
		return &reply{Failure: re}, nil
	default:
		return nil, fmt.Errorf("reply %q is not a string", keyFailure)
	}
	return &reply{Result: top[keyResponse]}, nil
}
