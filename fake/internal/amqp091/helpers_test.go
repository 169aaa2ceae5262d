package amqp091

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"
)

// allMethods returns a zero value of every method the package knows, found
// by asking newMethod about every plausible pair of ids.
func allMethods() []Method {
	var ms []Method
	for c := range 256 {
		for m := range 256 {
			if x := newMethod(uint16(c), uint16(m)); x != nil {
				ms = append(ms, x)
			}
		}
	}
	return ms
}

// freshMethod returns a new zero value of the same type as m.
func freshMethod(m Method) Method {
	return newMethod(m.ClassID(), m.MethodID())
}

// deepEqual is reflect.DeepEqual except that floats compare by their bits
// (so NaN equals an identical NaN) and times compare by instant and
// location.
func deepEqual(a, b any) bool {
	return equalValue(reflect.ValueOf(a), reflect.ValueOf(b))
}

var timeType = reflect.TypeFor[time.Time]()

func equalValue(a, b reflect.Value) bool {
	if !a.IsValid() || !b.IsValid() {
		return a.IsValid() == b.IsValid()
	}
	if a.Type() != b.Type() {
		return false
	}
	if a.Type() == timeType {
		ta, tb := a.Interface().(time.Time), b.Interface().(time.Time)
		return ta.Equal(tb) && ta.Location() == tb.Location()
	}
	switch a.Kind() {
	case reflect.Float32:
		return math.Float32bits(float32(a.Float())) == math.Float32bits(float32(b.Float()))
	case reflect.Float64:
		return math.Float64bits(a.Float()) == math.Float64bits(b.Float())
	case reflect.Interface, reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return equalValue(a.Elem(), b.Elem())
	case reflect.Struct:
		for i := range a.NumField() {
			if !equalValue(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !equalValue(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return false
		}
		for _, k := range a.MapKeys() {
			bv := b.MapIndex(k)
			if !bv.IsValid() || !equalValue(a.MapIndex(k), bv) {
				return false
			}
		}
		return true
	case reflect.Bool:
		return a.Bool() == b.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return a.Int() == b.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return a.Uint() == b.Uint()
	case reflect.String:
		return a.String() == b.String()
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}

// wantCode fails t unless err is an *Error with the given code.
func wantCode(t testing.TB, err error, code uint16) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *Error with code %d", err, err, code)
	}
	if e.Code != code {
		t.Fatalf("error %v has code %d, want %d", err, e.Code, code)
	}
	return e
}

// sampleTable has one value of every field type, nested containers
// included, exactly as the decoder returns them.
func sampleTable() Table {
	return Table{
		"bool-true":  true,
		"bool-false": false,
		"int8":       int8(-8),
		"uint8":      uint8(200),
		"int16":      int16(-1600),
		"uint16":     uint16(60000),
		"int32":      int32(-320000),
		"uint32":     uint32(4000000000),
		"int64":      int64(-64 << 40),
		"float32":    float32(3.25),
		"float64":    float64(-6.5e100),
		"decimal":    Decimal{Scale: 2, Value: -1234},
		"string":     "héllo wörld",
		"bytes":      []byte{0, 1, 2, 0xff},
		"array":      []any{int32(1), "two", []any{true, nil}, Table{"k": uint8(3)}},
		"time":       time.Unix(1700000000, 0).UTC(),
		"table":      Table{"inner": Table{"deepest": "yes"}, "n": int64(7)},
		"void":       nil,
	}
}
