package envelope

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
)

// NewID returns a fresh uuid4 in hex without dashes (32 characters), the
// form of _msg_id, _unique_id and reply queue names.
func NewID() string {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		panic("envelope: no randomness: " + err.Error())
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return hex.EncodeToString(u[:])
}

// appOrder is the order in which oslo builds the application dicts it
// sends: RPC requests, then notifications, then replies. Keys not listed
// follow, sorted.
var appOrder = []string{
	"method", "args", "namespace", "version",
	"message_id", "publisher_id", "event_type", "priority", "payload", "timestamp",
	"result", "failure", "ending",
}

// Outgoing is a request, cast or notification as the rabbit driver sends
// it: the application message, its context and oslo's bookkeeping keys.
type Outgoing struct {
	Message drivers.Message
	Context drivers.Context
	// MsgID and ReplyQueue make the message a call: they are written as
	// _msg_id and _reply_q, together with _timeout.
	MsgID      string
	ReplyQueue string
	// Timeout is the call-monitor timeout, written as _timeout (null when
	// zero); whole seconds are written as integers.
	Timeout time.Duration
	// UniqueID is written as _unique_id; empty means a fresh NewID().
	UniqueID string
}

// Encode returns the message body: the application keys, then _msg_id,
// _reply_q and _timeout for a call, then _unique_id, then the context
// flattened as _context_<key>; inside the envelope when version is 2.0,
// bare below (see Wrap). Keys of the message that oslo reserves (starting
// with "_") are refused, as they would be taken for oslo's own.
func (o Outgoing) Encode(version string) ([]byte, error) {
	wrap, err := Wrap(version)
	if err != nil {
		return nil, err
	}
	w := newObjectWriter(256)
	if err := writeApp(w, o.Message); err != nil {
		return nil, err
	}
	if o.MsgID != "" {
		w.member(KeyMsgID, o.MsgID)
		w.member(KeyReplyQueue, o.ReplyQueue)
		w.member(KeyTimeout, secondsValue(o.Timeout))
	}
	uid := o.UniqueID
	if uid == "" {
		uid = NewID()
	}
	w.member(KeyUniqueID, uid)
	for _, k := range sortedKeys(o.Context) {
		w.member(ContextPrefix+k, o.Context[k])
	}
	inner, err := w.end()
	if err != nil {
		return nil, err
	}
	if !wrap {
		return inner, nil
	}
	return Seal(inner), nil
}

// AppObject returns m as an ordered object with its keys in the order oslo
// builds them (method, args, namespace, version; notification and reply
// keys likewise), the rest sorted. Keys starting with "_" are refused: oslo
// uses them for its own fields.
func AppObject(m drivers.Message) (*Object, error) {
	var obj Object
	if err := addApp(&obj, m); err != nil {
		return nil, err
	}
	return &obj, nil
}

// writeApp writes m's members in the order addApp gives them.
func writeApp(w *objectWriter, m drivers.Message) error {
	for _, k := range appOrder {
		if v, ok := m[k]; ok {
			w.member(k, v)
		}
	}
	for _, k := range sortedKeys(m) {
		if slices.Contains(appOrder, k) {
			continue
		}
		if strings.HasPrefix(k, "_") {
			return fmt.Errorf("message key %q is reserved: oslo uses keys starting with \"_\" for its own fields", k)
		}
		w.member(k, m[k])
	}
	return nil
}

func addApp(obj *Object, m drivers.Message) error {
	for _, k := range appOrder {
		if v, ok := m[k]; ok {
			obj.Set(k, v)
		}
	}
	for _, k := range sortedKeys(m) {
		if _, done := obj.Values[k]; done {
			continue
		}
		if strings.HasPrefix(k, "_") {
			return fmt.Errorf("message key %q is reserved: oslo uses keys starting with \"_\" for its own fields", k)
		}
		obj.Set(k, m[k])
	}
	return nil
}

func sortedKeys[M ~map[string]any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func secondsValue(d time.Duration) any {
	if d <= 0 {
		return nil
	}
	if d%time.Second == 0 {
		return int64(d / time.Second)
	}
	return d.Seconds()
}

// Incoming is a decoded request, cast or notification.
type Incoming struct {
	Message    drivers.Message // the application keys
	Context    drivers.Context // rebuilt from the _context_ keys
	MsgID      string          // empty for casts and notifications
	ReplyQueue string
	Timeout    time.Duration // the caller's call-monitor timeout; 0 if none
	UniqueID   string
	Wrapped    bool // the body came in the 2.0 envelope
}

// Decode reads a message body as oslo's listener does: it opens the
// envelope (or takes the bare object), pops _msg_id, _reply_q, _timeout
// and _unique_id, and moves the _context_ keys into Context.
func Decode(body []byte) (*Incoming, error) {
	m, wrapped, err := Open(body)
	if err != nil {
		return nil, err
	}
	// The decoded object becomes the message once oslo's own keys are
	// taken out of it.
	in := &Incoming{Message: m, Context: drivers.Context{}, Wrapped: wrapped}
	for k, v := range m {
		switch {
		case strings.HasPrefix(k, ContextPrefix):
			in.Context[k[len(ContextPrefix):]] = v
		case k == KeyMsgID:
			in.MsgID, err = optString(k, v)
		case k == KeyReplyQueue:
			in.ReplyQueue, err = optString(k, v)
		case k == KeyUniqueID:
			in.UniqueID, err = optString(k, v)
		case k == KeyTimeout:
			in.Timeout, err = optSeconds(k, v)
		default:
			continue
		}
		if err != nil {
			return nil, err
		}
		delete(m, k)
	}
	return in, nil
}

func optString(key string, v any) (string, error) {
	switch s := v.(type) {
	case nil:
		return "", nil
	case string:
		return s, nil
	}
	return "", fmt.Errorf("%s is a JSON %s, not a string", key, jsonKind(v))
}

func optSeconds(key string, v any) (time.Duration, error) {
	var f float64
	switch n := v.(type) {
	case nil:
		return 0, nil
	case json.Number:
		var err error
		if f, err = n.Float64(); err != nil {
			return 0, fmt.Errorf("%s %q is not a number of seconds", key, n)
		}
	case float64:
		f = n
	default:
		return 0, fmt.Errorf("%s is a JSON %s, not a number of seconds", key, jsonKind(v))
	}
	if f < 0 || math.IsNaN(f) || f > float64(math.MaxInt64/int64(time.Second)) {
		return 0, fmt.Errorf("%s %v is out of range", key, f)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// Reply is an RPC reply, a call-monitor heartbeat (Result and Failure nil,
// Ending false) or, from oslo before 4.0, half of a two-message reply.
type Reply struct {
	Result any
	// Failure is the server's exception; the reply then carries no result.
	Failure *drivers.RemoteError
	// Ending is true on the final message of a reply.
	Ending bool
	// EndingPresent is false for pre-4.0 replies that sent the result
	// without "ending" and then {"ending": true} alone.
	EndingPresent bool
	MsgID         string
	UniqueID      string // empty means a fresh NewID() when encoding
}

// IsHeartbeat reports whether r is a call-monitor heartbeat.
func (r *Reply) IsHeartbeat() bool {
	return r.EndingPresent && !r.Ending && r.Result == nil && r.Failure == nil
}

// Heartbeat returns the heartbeat for the call msgID.
func Heartbeat(msgID string) Reply {
	return Reply{MsgID: msgID, EndingPresent: true}
}

// Encode returns the reply body, always enveloped as oslo sends replies:
// {"result", "failure", "ending", "_msg_id", "_unique_id"}, the failure as
// a serialized exception string.
func (r Reply) Encode() ([]byte, error) {
	w := newObjectWriter(192)
	if r.Failure != nil {
		f, err := SerializeFailure(r.Failure)
		if err != nil {
			return nil, err
		}
		w.member("result", nil)
		w.member("failure", f)
	} else {
		w.member("result", r.Result)
		w.member("failure", nil)
	}
	w.member("ending", r.Ending)
	w.member(KeyMsgID, r.MsgID)
	uid := r.UniqueID
	if uid == "" {
		uid = NewID()
	}
	w.member(KeyUniqueID, uid)
	inner, err := w.end()
	if err != nil {
		return nil, err
	}
	return Seal(inner), nil
}

// DecodeReply reads a reply body. allowed lists the modules whose
// exceptions are rebuilt as themselves (see DeserializeFailure).
func DecodeReply(body []byte, allowed []string) (*Reply, error) {
	m, _, err := Open(body)
	if err != nil {
		return nil, err
	}
	r := &Reply{Result: m["result"]}
	if r.MsgID, err = optString(KeyMsgID, m[KeyMsgID]); err != nil {
		return nil, err
	}
	if r.UniqueID, err = optString(KeyUniqueID, m[KeyUniqueID]); err != nil {
		return nil, err
	}
	if e, ok := m["ending"]; ok {
		r.EndingPresent = true
		b, isBool := e.(bool)
		if !isBool && e != nil {
			return nil, fmt.Errorf("reply \"ending\" is a JSON %s, not a boolean", jsonKind(e))
		}
		r.Ending = b
	}
	switch f := m["failure"].(type) {
	case nil:
	case string:
		if r.Failure, err = DeserializeFailure(f, allowed); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("reply \"failure\" is a JSON %s, not a serialized exception string", jsonKind(f))
	}
	return r, nil
}
