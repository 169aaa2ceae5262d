// Package envelope is the oslo.messaging message format shared by
// Switchyard's drivers: the 2.0 envelope, context flattening, the
// underscore keys the rabbit driver adds (_msg_id, _reply_q, _timeout,
// _unique_id), reply and heartbeat bodies, serialized remote exceptions and
// the notification layout. It produces and reads exactly what Python
// oslo.messaging 14 sends, so Go and Python services understand each other.
package envelope

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/switchyard-dev/switchyard/drivers"
)

// Keys of the envelope and of the fields oslo adds to every message.
const (
	KeyVersion    = "oslo.version"
	KeyMessage    = "oslo.message"
	KeyMsgID      = "_msg_id"
	KeyReplyQueue = "_reply_q"
	KeyTimeout    = "_timeout"
	KeyUniqueID   = "_unique_id"
	ContextPrefix = "_context_"
)

// Version is the envelope version Switchyard writes and reads.
const Version = "2.0"

// Wrap reports whether a message sent with the given version goes inside
// the envelope: true for "2.0" (and "2" or "2.0.0"), false below 2.0 (bare,
// as oslo's "messaging" notification driver sends). Any other version is
// an error wrapping drivers.ErrUnsupportedVersion (C26).
func Wrap(version string) (bool, error) {
	major, minor, rev, err := parseVersion(version)
	if err != nil {
		return false, err
	}
	switch {
	case major < 2:
		return false, nil
	case major == 2 && minor == 0 && rev == 0:
		return true, nil
	}
	return false, fmt.Errorf("%w: %q (Switchyard writes envelope %s)", drivers.ErrUnsupportedVersion, version, Version)
}

// Compatible reports whether an envelope version can be read: same major
// as 2.0 and no newer minor or revision (oslo's version_is_compatible).
func Compatible(version string) bool {
	major, minor, rev, err := parseVersion(version)
	return err == nil && major == 2 && minor == 0 && rev == 0
}

func parseVersion(v string) (major, minor, rev int, err error) {
	parts := strings.Split(v, ".")
	if len(parts) > 3 || v == "" {
		return 0, 0, 0, fmt.Errorf("%w: %q is not a version", drivers.ErrUnsupportedVersion, v)
	}
	nums := [3]int{}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return 0, 0, 0, fmt.Errorf("%w: %q is not a version", drivers.ErrUnsupportedVersion, v)
		}
		nums[i] = n
	}
	return nums[0], nums[1], nums[2], nil
}

// Seal wraps inner, an encoded JSON message, in the 2.0 envelope:
// {"oslo.version": "2.0", "oslo.message": "<inner as a JSON string>"}.
func Seal(inner []byte) []byte {
	const head = `{"` + KeyVersion + `": "` + Version + `", "` + KeyMessage + `": `
	var b bytes.Buffer
	b.Grow(len(head) + len(inner) + len(inner)/4 + 4)
	b.WriteString(head)
	writeString(&b, string(inner))
	b.WriteByte('}')
	return b.Bytes()
}

// Open decodes a message body: it unwraps the envelope when both envelope
// keys are present and returns the inner object; any other JSON object is
// returned as it is (a bare message). wrapped says which it was. The body
// must be a JSON object; an incompatible envelope version is an error
// wrapping drivers.ErrUnsupportedVersion.
func Open(body []byte) (msg map[string]any, wrapped bool, err error) {
	v, err := UnmarshalJSON(body)
	if err != nil {
		return nil, false, fmt.Errorf("message body is not JSON: %w", err)
	}
	outer, ok := v.(map[string]any)
	if !ok {
		return nil, false, fmt.Errorf("message body is a JSON %s, not an object", jsonKind(v))
	}
	ver, hasV := outer[KeyVersion]
	inner, hasM := outer[KeyMessage]
	if !hasV || !hasM {
		return outer, false, nil
	}
	vs, ok := ver.(string)
	if !ok || !Compatible(vs) {
		return nil, true, fmt.Errorf("%w: envelope version %v", drivers.ErrUnsupportedVersion, ver)
	}
	text, ok := inner.(string)
	if !ok {
		return nil, true, fmt.Errorf("envelope %q is a JSON %s, not a string", KeyMessage, jsonKind(inner))
	}
	iv, err := UnmarshalJSON([]byte(text))
	if err != nil {
		return nil, true, fmt.Errorf("envelope %q is not JSON: %w", KeyMessage, err)
	}
	m, ok := iv.(map[string]any)
	if !ok {
		return nil, true, fmt.Errorf("envelope %q holds a JSON %s, not an object", KeyMessage, jsonKind(iv))
	}
	return m, true, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number, float64:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}
