package envelope

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/switchyard-dev/switchyard/drivers"
)

// MarshalJSON encodes v as Python's json.dumps does with its defaults, which
// is what oslo.messaging sends: ", " and ": " separators, non-ASCII escaped
// as \uXXXX (surrogate pairs above U+FFFF), no HTML escaping. Map keys are
// sorted; an *Object keeps its order. Values of other Go types are first
// converted through encoding/json.
func MarshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(128)
	if err := encodeValue(&b, v, 0); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// UnmarshalJSON decodes JSON text into maps, slices, strings, bools, nil and
// json.Number (so integers keep every digit). Python's NaN, Infinity and
// -Infinity literals are not accepted, as JSON forbids them.
func UnmarshalJSON(data []byte) (any, error) {
	r := jsonReader{data: data}
	return r.document()
}

// Object is a JSON object whose keys are written in the order given, the
// way a Python dict keeps insertion order.
type Object struct {
	Keys   []string
	Values map[string]any
}

// Set appends key (or replaces its value, keeping its place).
func (o *Object) Set(key string, v any) {
	if o.Values == nil {
		o.Values = map[string]any{}
	}
	if _, ok := o.Values[key]; !ok {
		o.Keys = append(o.Keys, key)
	}
	o.Values[key] = v
}

const maxDepth = 512

func encodeValue(b *bytes.Buffer, v any, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("value nested deeper than %d levels", maxDepth)
	}
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if x {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case string:
		writeString(b, x)
	case json.Number:
		if _, err := strconv.ParseFloat(string(x), 64); err != nil && !isBigInt(string(x)) {
			return fmt.Errorf("invalid number %q", string(x))
		}
		b.WriteString(string(x))
	case float64:
		return writeFloat(b, x)
	case float32:
		return writeFloat(b, float64(x))
	case int:
		b.WriteString(strconv.Itoa(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case int32:
		b.WriteString(strconv.FormatInt(int64(x), 10))
	case uint64:
		b.WriteString(strconv.FormatUint(x, 10))
	case uint32:
		b.WriteString(strconv.FormatUint(uint64(x), 10))
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			if err := encodeValue(b, e, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case []string:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			writeString(b, e)
		}
		b.WriteByte(']')
	case map[string]any:
		return writeMap(b, x, depth)
	case drivers.Message:
		return writeMap(b, x, depth)
	case drivers.Context:
		return writeMap(b, x, depth)
	case *Object:
		return writeObject(b, x.Keys, x.Values, depth)
	default:
		return encodeOther(b, v, depth)
	}
	return nil
}

// encodeOther handles named map/slice types (drivers.Message,
// drivers.Context) and arbitrary Go values via encoding/json.
func encodeOther(b *bytes.Buffer, v any, depth int) error {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Map:
		if rv.Type().Key().Kind() == reflect.String && rv.Type().Elem().Kind() == reflect.Interface {
			m := make(map[string]any, rv.Len())
			iter := rv.MapRange()
			for iter.Next() {
				m[iter.Key().String()] = iter.Value().Interface()
			}
			return encodeValue(b, m, depth)
		}
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Interface {
			s := make([]any, rv.Len())
			for i := range s {
				s[i] = rv.Index(i).Interface()
			}
			return encodeValue(b, s, depth)
		}
	case reflect.Pointer:
		if rv.IsNil() {
			b.WriteString("null")
			return nil
		}
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("value of type %T is not JSON-representable: %w", v, err)
	}
	generic, err := UnmarshalJSON(raw)
	if err != nil {
		return err
	}
	return encodeValue(b, generic, depth)
}

// writeMap writes m with its keys sorted.
func writeMap(b *bytes.Buffer, m map[string]any, depth int) error {
	var small [16]string
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return writeObject(b, keys, m, depth)
}

// objectWriter writes one JSON object member by member, in the order
// given, without building an Object first; the first error sticks.
type objectWriter struct {
	b   bytes.Buffer
	n   int
	err error
}

func newObjectWriter(size int) *objectWriter {
	w := &objectWriter{}
	w.b.Grow(size)
	return w
}

func (w *objectWriter) member(key string, v any) {
	if w.err != nil {
		return
	}
	if w.n == 0 {
		w.b.WriteByte('{')
	} else {
		w.b.WriteString(", ")
	}
	w.n++
	writeString(&w.b, key)
	w.b.WriteString(": ")
	w.err = encodeValue(&w.b, v, 1)
}

// end closes the object and returns its text.
func (w *objectWriter) end() ([]byte, error) {
	if w.err != nil {
		return nil, w.err
	}
	if w.n == 0 {
		w.b.WriteByte('{')
	}
	w.b.WriteByte('}')
	return w.b.Bytes(), nil
}

// writeObject writes the members keys names, in that order.
func writeObject(b *bytes.Buffer, keys []string, values map[string]any, depth int) error {
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		writeString(b, k)
		b.WriteString(": ")
		if err := encodeValue(b, values[k], depth+1); err != nil {
			return err
		}
	}
	b.WriteByte('}')
	return nil
}

func isBigInt(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '-' {
		s = s[1:]
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// writeFloat writes f as Python's float repr: shortest round-trip digits,
// always with a decimal point or exponent ("1.0", "1e+16", "1.5e-07").
func writeFloat(b *bytes.Buffer, f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("%v is not representable in JSON", f)
	}
	abs := math.Abs(f)
	if abs != 0 && (abs < 1e-4 || abs >= 1e16) {
		s := strconv.FormatFloat(f, 'e', -1, 64)
		// Go writes e-07 / e+16; Python writes e-07 / e+16 as well.
		b.WriteString(s)
		return nil
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	b.WriteString(s)
	if !bytes.ContainsAny([]byte(s), ".e") {
		b.WriteString(".0")
	}
	return nil
}

// writeString writes s with Python's ensure_ascii escaping. Runs of
// printable ASCII are copied in one piece.
func writeString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	plain := 0 // start of the current run of bytes that need no escape
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c <= '~' && c != '"' && c != '\\' {
			i++
			continue
		}
		b.WriteString(s[plain:i])
		if c < utf8.RuneSelf {
			switch c {
			case '"':
				b.WriteString(`\"`)
			case '\\':
				b.WriteString(`\\`)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			case '\b':
				b.WriteString(`\b`)
			case '\f':
				b.WriteString(`\f`)
			default:
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&15])
			}
			i++
			plain = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		plain = i
		writeU := func(u rune) {
			b.WriteString(`\u`)
			b.WriteByte(hex[u>>12&15])
			b.WriteByte(hex[u>>8&15])
			b.WriteByte(hex[u>>4&15])
			b.WriteByte(hex[u&15])
		}
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			writeU(r1)
			writeU(r2)
		} else {
			writeU(r)
		}
	}
	b.WriteString(s[plain:])
	b.WriteByte('"')
}

// MustNormalize returns v as our JSON decoder would give it back, for
// comparing values built in Go with values received; it panics on values
// that are not JSON-representable.
func MustNormalize(v any) any {
	b, err := MarshalJSON(v)
	if err != nil {
		panic(err)
	}
	n, err := UnmarshalJSON(b)
	if err != nil {
		panic(err)
	}
	return n
}
