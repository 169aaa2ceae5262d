package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/google/uuid"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
)

// readJSON parses a JSON argument; "-" reads it from stdin. Numbers keep
// every digit (json.Number). what names the argument in errors.
func (a *app) readJSON(what, text string) (any, error) {
	if text == "-" {
		data, err := io.ReadAll(io.LimitReader(a.stdin, maxInput+1))
		if err != nil {
			return nil, usageErrorf("%s: read stdin: %v", what, err)
		}
		if len(data) > maxInput {
			return nil, usageErrorf("%s: more than %d bytes on stdin", what, maxInput)
		}
		text = string(data)
	}
	v, err := envelope.UnmarshalJSON([]byte(text))
	if err != nil {
		return nil, usageErrorf("%s is not valid JSON: %v", what, err)
	}
	return v, nil
}

// readObject is readJSON for arguments that must be a JSON object.
func (a *app) readObject(what, text string) (map[string]any, error) {
	v, err := a.readJSON(what, text)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, usageErrorf("%s must be a JSON object, not %s", what, jsonKind(v))
	}
	return m, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("a %T", v)
}

// requestContext parses --context (a JSON object, "" meaning {}) and adds
// a request_id of oslo's form "req-<uuid4>" when it has none.
func (a *app) requestContext(text string) (drivers.Context, error) {
	c := drivers.Context{}
	if strings.TrimSpace(text) != "" {
		m, err := a.readObject("--context", text)
		if err != nil {
			return nil, err
		}
		c = m
	}
	if _, ok := c["request_id"]; !ok {
		c["request_id"] = "req-" + uuid.NewString()
	}
	return c, nil
}

// writeJSONLine writes v as one line of compact JSON, without HTML
// escaping.
func writeJSONLine(w io.Writer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}
