package amqp10

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"
)

// maxNesting bounds how deeply compound and described values may nest, both
// when encoding (guarding against self-referencing lists) and when decoding
// (guarding the stack against hostile input).
const maxNesting = 100

// AppendNull appends an AMQP null (0x40).
func AppendNull(b []byte) []byte { return append(b, codeNull) }

// AppendBool appends a boolean in its compact form: true 0x41, false 0x42.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, codeTrue)
	}
	return append(b, codeFalse)
}

// AppendUint8 appends a ubyte (0x50).
func AppendUint8(b []byte, v uint8) []byte { return append(b, codeUbyte, v) }

// AppendUint16 appends a ushort (0x60).
func AppendUint16(b []byte, v uint16) []byte {
	return binary.BigEndian.AppendUint16(append(b, codeUshort), v)
}

// AppendUint32 appends a uint in its smallest form: uint0 0x43, smalluint
// 0x52 or uint 0x70.
func AppendUint32(b []byte, v uint32) []byte {
	switch {
	case v == 0:
		return append(b, codeUint0)
	case v <= math.MaxUint8:
		return append(b, codeSmallUint, byte(v))
	}
	return binary.BigEndian.AppendUint32(append(b, codeUint), v)
}

// AppendUint64 appends a ulong in its smallest form: ulong0 0x44,
// smallulong 0x53 or ulong 0x80.
func AppendUint64(b []byte, v uint64) []byte {
	switch {
	case v == 0:
		return append(b, codeUlong0)
	case v <= math.MaxUint8:
		return append(b, codeSmallUlong, byte(v))
	}
	return binary.BigEndian.AppendUint64(append(b, codeUlong), v)
}

// AppendInt8 appends a byte (0x51).
func AppendInt8(b []byte, v int8) []byte { return append(b, codeByte, byte(v)) }

// AppendInt16 appends a short (0x61).
func AppendInt16(b []byte, v int16) []byte {
	return binary.BigEndian.AppendUint16(append(b, codeShort), uint16(v))
}

// AppendInt32 appends an int in its smallest form: smallint 0x54 or int 0x71.
func AppendInt32(b []byte, v int32) []byte {
	if v >= math.MinInt8 && v <= math.MaxInt8 {
		return append(b, codeSmallInt, byte(int8(v)))
	}
	return binary.BigEndian.AppendUint32(append(b, codeInt), uint32(v))
}

// AppendInt64 appends a long in its smallest form: smalllong 0x55 or long 0x81.
func AppendInt64(b []byte, v int64) []byte {
	if v >= math.MinInt8 && v <= math.MaxInt8 {
		return append(b, codeSmallLong, byte(int8(v)))
	}
	return binary.BigEndian.AppendUint64(append(b, codeLong), uint64(v))
}

// AppendFloat32 appends a float (0x72).
func AppendFloat32(b []byte, v float32) []byte {
	return binary.BigEndian.AppendUint32(append(b, codeFloat), math.Float32bits(v))
}

// AppendFloat64 appends a double (0x82).
func AppendFloat64(b []byte, v float64) []byte {
	return binary.BigEndian.AppendUint64(append(b, codeDouble), math.Float64bits(v))
}

// AppendDecimal32 appends a decimal32 (0x74).
func AppendDecimal32(b []byte, v Decimal32) []byte { return append(append(b, codeDecimal32), v[:]...) }

// AppendDecimal64 appends a decimal64 (0x84).
func AppendDecimal64(b []byte, v Decimal64) []byte { return append(append(b, codeDecimal64), v[:]...) }

// AppendDecimal128 appends a decimal128 (0x94).
func AppendDecimal128(b []byte, v Decimal128) []byte {
	return append(append(b, codeDecimal128), v[:]...)
}

// AppendChar appends a char (0x73).
func AppendChar(b []byte, v Char) []byte {
	return binary.BigEndian.AppendUint32(append(b, codeChar), uint32(v))
}

// AppendTimestamp appends a timestamp (0x83): milliseconds since the Unix
// epoch; sub-millisecond precision is truncated.
func AppendTimestamp(b []byte, t time.Time) []byte {
	return binary.BigEndian.AppendUint64(append(b, codeTimestamp), uint64(t.UnixMilli()))
}

// AppendUUID appends a uuid (0x98).
func AppendUUID(b []byte, v UUID) []byte { return append(append(b, codeUUID), v[:]...) }

// AppendBinary appends a binary in its smallest form: vbin8 0xa0 up to 255
// bytes, vbin32 0xb0 beyond. It panics if v is longer than 4 GiB - 1, which
// no AMQP frame can carry; AppendValue reports that as an error instead.
func AppendBinary(b []byte, v []byte) []byte { return appendVariable(b, codeVbin8, codeVbin32, v) }

// AppendString appends a string in its smallest form: str8 0xa1 or str32
// 0xb1. It panics on strings longer than 4 GiB - 1, like AppendBinary.
func AppendString(b []byte, v string) []byte { return appendVariable(b, codeStr8, codeStr32, v) }

// AppendSymbol appends a symbol in its smallest form: sym8 0xa3 or sym32
// 0xb3. It panics on symbols longer than 4 GiB - 1, like AppendBinary.
func AppendSymbol(b []byte, v Symbol) []byte { return appendVariable(b, codeSym8, codeSym32, v) }

func appendVariable[T ~string | ~[]byte](b []byte, code8, code32 byte, v T) []byte {
	n := len(v)
	switch {
	case n <= math.MaxUint8:
		b = append(b, code8, byte(n))
	case uint64(n) <= math.MaxUint32:
		b = binary.BigEndian.AppendUint32(append(b, code32), uint32(n))
	default:
		panic("amqp10: variable-width value longer than 4 GiB")
	}
	return append(b, v...)
}

// appendVariableBody appends the length prefix and bytes of a variable-width
// value without constructor, as inside an array.
func appendVariableBody[T ~string | ~[]byte](b []byte, wide bool, v T) []byte {
	if wide {
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
	} else {
		b = append(b, byte(len(v)))
	}
	return append(b, v...)
}

// Marshal encodes one value of the Go data model (see the package
// documentation) in its smallest encoding.
func Marshal(v any) ([]byte, error) { return AppendValue(nil, v) }

// AppendValue appends the encoding of v to b, choosing the smallest encoding.
// Besides the types listed in the package documentation it accepts int and
// uint (encoded as long and ulong), []Symbol and []string (encoded as
// arrays), and map[string]any and map[Symbol]any (encoded as maps with keys
// in sorted order).
func AppendValue(b []byte, v any) ([]byte, error) { return appendValue(b, v, 0) }

func appendValue(b []byte, v any, depth int) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, codeNull), nil
	case bool:
		return AppendBool(b, v), nil
	case uint8:
		return AppendUint8(b, v), nil
	case uint16:
		return AppendUint16(b, v), nil
	case uint32:
		return AppendUint32(b, v), nil
	case uint64:
		return AppendUint64(b, v), nil
	case uint:
		return AppendUint64(b, uint64(v)), nil
	case int8:
		return AppendInt8(b, v), nil
	case int16:
		return AppendInt16(b, v), nil
	case int32:
		return AppendInt32(b, v), nil
	case int64:
		return AppendInt64(b, v), nil
	case int:
		return AppendInt64(b, int64(v)), nil
	case float32:
		return AppendFloat32(b, v), nil
	case float64:
		return AppendFloat64(b, v), nil
	case Decimal32:
		return AppendDecimal32(b, v), nil
	case Decimal64:
		return AppendDecimal64(b, v), nil
	case Decimal128:
		return AppendDecimal128(b, v), nil
	case Char:
		return AppendChar(b, v), nil
	case time.Time:
		return AppendTimestamp(b, v), nil
	case UUID:
		return AppendUUID(b, v), nil
	case []byte:
		if uint64(len(v)) > math.MaxUint32 {
			return b, errTooLarge("binary")
		}
		return AppendBinary(b, v), nil
	case string:
		if uint64(len(v)) > math.MaxUint32 {
			return b, errTooLarge("string")
		}
		return AppendString(b, v), nil
	case Symbol:
		if uint64(len(v)) > math.MaxUint32 {
			return b, errTooLarge("symbol")
		}
		return AppendSymbol(b, v), nil
	case Described:
		if depth >= maxNesting {
			return b, errNesting()
		}
		b = append(b, codeDescribed)
		b, err := appendValue(b, v.Descriptor, depth+1)
		if err != nil {
			return b, err
		}
		return appendValue(b, v.Value, depth+1)
	case []any:
		if len(v) == 0 {
			return append(b, codeList0), nil
		}
		return appendCompound(b, codeList32, codeList8, depth, func(b []byte) ([]byte, uint64, error) {
			return appendListItems(b, v, depth+1)
		})
	case Map:
		return appendMap(b, v, depth)
	case Array:
		return appendCompound(b, codeArray32, codeArray8, depth, func(b []byte) ([]byte, uint64, error) {
			b, err := appendArrayContent(b, v, depth+1)
			return b, uint64(len(v)), err
		})
	case []Symbol:
		return appendSymbolArray(b, v), nil
	case []string:
		return appendStringArray(b, v), nil
	case map[string]any:
		return appendGoMap(b, v, depth)
	case map[Symbol]any:
		return appendGoMap(b, v, depth)
	}
	return b, fmt.Errorf("amqp10: cannot encode Go type %T", v)
}

func errTooLarge(what string) error {
	return fmt.Errorf("amqp10: %s longer than 4 GiB cannot be encoded", what)
}

func errNesting() error {
	return fmt.Errorf("amqp10: values nested deeper than %d levels", maxNesting)
}

// appendCompound writes a compound value (list, map or array): it reserves
// the 32-bit header, lets content append the items, and then rewrites the
// header in the 8-bit form when size and count allow it.
func appendCompound(b []byte, code32, code8 byte, depth int, content func([]byte) ([]byte, uint64, error)) ([]byte, error) {
	if depth >= maxNesting {
		return b, errNesting()
	}
	start := len(b)
	b = append(b, code32, 0, 0, 0, 0, 0, 0, 0, 0)
	b, count, err := content(b)
	if err != nil {
		return b, err
	}
	return finishCompound(b, start, code8, count)
}

// finishCompound fills in the header reserved at b[start:start+9] (a 32-bit
// constructor, size and count) and compacts it to the 8-bit form when the
// content is at most 254 bytes and count at most 255.
func finishCompound(b []byte, start int, code8 byte, count uint64) ([]byte, error) {
	content := len(b) - start - 9
	if content+1 <= math.MaxUint8 && count <= math.MaxUint8 {
		b[start] = code8
		b[start+1] = byte(content + 1)
		b[start+2] = byte(count)
		copy(b[start+3:], b[start+9:])
		return b[:len(b)-6], nil
	}
	if uint64(content)+4 > math.MaxUint32 || count > math.MaxUint32 {
		return b, errTooLarge("compound value")
	}
	binary.BigEndian.PutUint32(b[start+1:], uint32(content+4))
	binary.BigEndian.PutUint32(b[start+5:], uint32(count))
	return b, nil
}

func appendListItems(b []byte, items []any, depth int) ([]byte, uint64, error) {
	var err error
	for _, it := range items {
		if b, err = appendValue(b, it, depth); err != nil {
			return b, 0, err
		}
	}
	return b, uint64(len(items)), nil
}

func appendMap(b []byte, m Map, depth int) ([]byte, error) {
	return appendCompound(b, codeMap32, codeMap8, depth, func(b []byte) ([]byte, uint64, error) {
		return appendMapItems(b, m, depth+1)
	})
}

func appendMapItems(b []byte, m Map, depth int) ([]byte, uint64, error) {
	var err error
	for _, e := range m {
		if b, err = appendValue(b, e.Key, depth); err != nil {
			return b, 0, err
		}
		if b, err = appendValue(b, e.Value, depth); err != nil {
			return b, 0, err
		}
	}
	return b, 2 * uint64(len(m)), nil
}

func appendGoMap[K string | Symbol](b []byte, m map[K]any, depth int) ([]byte, error) {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	entries := make(Map, len(keys))
	for i, k := range keys {
		entries[i] = MapEntry{Key: k, Value: m[k]}
	}
	return appendMap(b, entries, depth)
}

// appendSymbolArray appends syms as an array of sym8 or sym32. A nil or empty
// slice becomes an empty array.
func appendSymbolArray(b []byte, syms []Symbol) []byte {
	return appendStringlikeArray(b, codeSym8, codeSym32, syms)
}

func appendStringArray(b []byte, strs []string) []byte {
	return appendStringlikeArray(b, codeStr8, codeStr32, strs)
}

func appendStringlikeArray[T ~string](b []byte, code8, code32 byte, v []T) []byte {
	wide := false
	for _, s := range v {
		if len(s) > math.MaxUint8 {
			wide = true
			break
		}
	}
	code := code8
	if wide {
		code = code32
	}
	start := len(b)
	b = append(b, codeArray32, 0, 0, 0, 0, 0, 0, 0, 0, code)
	for _, s := range v {
		b = appendVariableBody(b, wide, s)
	}
	b, _ = finishCompound(b, start, codeArray8, uint64(len(v)))
	return b
}

// appendArrayContent appends the element constructor and element bodies of
// an array. An empty array gets the sym8 constructor, the most common array
// element type on the wire.
func appendArrayContent(b []byte, elems []any, depth int) ([]byte, error) {
	if len(elems) == 0 {
		return append(b, codeSym8), nil
	}
	if first, ok := elems[0].(Described); ok {
		if depth >= maxNesting {
			return b, errNesting()
		}
		values := make([]any, len(elems))
		for i, e := range elems {
			d, ok := e.(Described)
			if !ok || !equalValues(d.Descriptor, first.Descriptor) {
				return b, fmt.Errorf("amqp10: array element %d does not share the descriptor of element 0", i)
			}
			values[i] = d.Value
		}
		b = append(b, codeDescribed)
		b, err := appendValue(b, first.Descriptor, depth+1)
		if err != nil {
			return b, err
		}
		return appendArrayContent(b, values, depth+1)
	}
	code, err := arrayElementCode(elems)
	if err != nil {
		return b, err
	}
	ctor := len(b)
	b = append(b, code)
	for i, e := range elems {
		if b, err = appendElementBody(b, code, e, depth); err != nil {
			return b, fmt.Errorf("amqp10: array element %d: %w", i, err)
		}
	}
	if code == codeList32 || code == codeMap32 || code == codeArray32 {
		var compacted bool
		if b, compacted = compactElementBodies(b, ctor+1); compacted {
			b[ctor] -= codeList32 - codeList8 // 0xd0->0xc0, 0xd1->0xc1, 0xf0->0xe0
		}
	}
	return b, nil
}

// arrayElementCode picks the element constructor for an array from the Go
// type of its first element. Integers use the one-byte forms (smalluint,
// smallulong, smallint, smalllong) when every element fits, variable-width
// elements the 8-bit length form when every element fits. The zero-width
// forms (true, false, uint0, ulong0, list0) are never used, as other peers
// rarely expect them inside arrays.
func arrayElementCode(elems []any) (byte, error) {
	switch elems[0].(type) {
	case nil:
		return codeNull, nil
	case bool:
		return codeBool, nil
	case uint8:
		return codeUbyte, nil
	case uint16:
		return codeUshort, nil
	case uint32:
		return narrowElementCode(elems, codeSmallUint, codeUint, func(v uint32) bool { return v <= math.MaxUint8 }), nil
	case uint64:
		return narrowElementCode(elems, codeSmallUlong, codeUlong, func(v uint64) bool { return v <= math.MaxUint8 }), nil
	case uint:
		return narrowElementCode(elems, codeSmallUlong, codeUlong, func(v uint) bool { return v <= math.MaxUint8 }), nil
	case int8:
		return codeByte, nil
	case int16:
		return codeShort, nil
	case int32:
		return narrowElementCode(elems, codeSmallInt, codeInt, func(v int32) bool { return v >= math.MinInt8 && v <= math.MaxInt8 }), nil
	case int64:
		return narrowElementCode(elems, codeSmallLong, codeLong, func(v int64) bool { return v >= math.MinInt8 && v <= math.MaxInt8 }), nil
	case int:
		return narrowElementCode(elems, codeSmallLong, codeLong, func(v int) bool { return v >= math.MinInt8 && v <= math.MaxInt8 }), nil
	case float32:
		return codeFloat, nil
	case float64:
		return codeDouble, nil
	case Decimal32:
		return codeDecimal32, nil
	case Decimal64:
		return codeDecimal64, nil
	case Decimal128:
		return codeDecimal128, nil
	case Char:
		return codeChar, nil
	case time.Time:
		return codeTimestamp, nil
	case UUID:
		return codeUUID, nil
	case []byte:
		return variableElementCode(elems, codeVbin8, codeVbin32, func(v any) (int, bool) { x, ok := v.([]byte); return len(x), ok })
	case string:
		return variableElementCode(elems, codeStr8, codeStr32, func(v any) (int, bool) { x, ok := v.(string); return len(x), ok })
	case Symbol:
		return variableElementCode(elems, codeSym8, codeSym32, func(v any) (int, bool) { x, ok := v.(Symbol); return len(x), ok })
	case []any:
		return codeList32, nil
	case Map:
		return codeMap32, nil
	case Array:
		return codeArray32, nil
	}
	return 0, fmt.Errorf("amqp10: cannot encode Go type %T as an array element", elems[0])
}

// narrowElementCode returns small when every element is a T that fits,
// wide otherwise (type mismatches are reported when the bodies are written).
func narrowElementCode[T any](elems []any, small, wide byte, fits func(T) bool) byte {
	for _, e := range elems {
		v, ok := e.(T)
		if !ok || !fits(v) {
			return wide
		}
	}
	return small
}

// compactElementBodies rewrites the 32-bit compound element bodies in
// b[start:] (each size4 count4 content) to the 8-bit form (size1 count1
// content) when every one of them fits, and reports whether it did.
func compactElementBodies(b []byte, start int) ([]byte, bool) {
	for r := start; r < len(b); {
		size := binary.BigEndian.Uint32(b[r:])
		count := binary.BigEndian.Uint32(b[r+4:])
		if size-3 > math.MaxUint8 || count > math.MaxUint8 {
			return b, false
		}
		r += 4 + int(size)
	}
	w := start
	for r := start; r < len(b); {
		size := int(binary.BigEndian.Uint32(b[r:]))
		b[w] = byte(size - 3) // the content plus the one-byte count
		b[w+1] = b[r+7]
		n := copy(b[w+2:], b[r+8:r+4+size])
		w += 2 + n
		r += 4 + size
	}
	return b[:w], true
}

func variableElementCode(elems []any, code8, code32 byte, length func(any) (int, bool)) (byte, error) {
	code := code8
	for i, e := range elems {
		n, ok := length(e)
		if !ok {
			return 0, fmt.Errorf("amqp10: array element %d has type %T, unlike element 0", i, e)
		}
		if uint64(n) > math.MaxUint32 {
			return 0, errTooLarge("array element")
		}
		if n > math.MaxUint8 {
			code = code32
		}
	}
	return code, nil
}

// appendElementBody appends one array element without its constructor.
func appendElementBody(b []byte, code byte, v any, depth int) ([]byte, error) {
	bad := func() ([]byte, error) {
		return b, fmt.Errorf("type %T does not match constructor 0x%02x", v, code)
	}
	switch code {
	case codeNull:
		if v != nil {
			return bad()
		}
		return b, nil
	case codeBool:
		x, ok := v.(bool)
		if !ok {
			return bad()
		}
		if x {
			return append(b, 1), nil
		}
		return append(b, 0), nil
	case codeUbyte:
		x, ok := v.(uint8)
		if !ok {
			return bad()
		}
		return append(b, x), nil
	case codeUshort:
		x, ok := v.(uint16)
		if !ok {
			return bad()
		}
		return binary.BigEndian.AppendUint16(b, x), nil
	case codeUint:
		x, ok := v.(uint32)
		if !ok {
			return bad()
		}
		return binary.BigEndian.AppendUint32(b, x), nil
	case codeSmallUint:
		x, ok := v.(uint32)
		if !ok {
			return bad()
		}
		return append(b, byte(x)), nil
	case codeUlong:
		switch x := v.(type) {
		case uint64:
			return binary.BigEndian.AppendUint64(b, x), nil
		case uint:
			return binary.BigEndian.AppendUint64(b, uint64(x)), nil
		}
		return bad()
	case codeSmallUlong:
		switch x := v.(type) {
		case uint64:
			return append(b, byte(x)), nil
		case uint:
			return append(b, byte(x)), nil
		}
		return bad()
	case codeSmallInt:
		x, ok := v.(int32)
		if !ok {
			return bad()
		}
		return append(b, byte(x)), nil
	case codeSmallLong:
		switch x := v.(type) {
		case int64:
			return append(b, byte(x)), nil
		case int:
			return append(b, byte(x)), nil
		}
		return bad()
	case codeByte:
		x, ok := v.(int8)
		if !ok {
			return bad()
		}
		return append(b, byte(x)), nil
	case codeShort:
		x, ok := v.(int16)
		if !ok {
			return bad()
		}
		return binary.BigEndian.AppendUint16(b, uint16(x)), nil
	case codeInt:
		x, ok := v.(int32)
		if !ok {
			return bad()
		}
		return binary.BigEndian.AppendUint32(b, uint32(x)), nil
	case codeLong:
		switch x := v.(type) {
		case int64:
			return binary.BigEndian.AppendUint64(b, uint64(x)), nil
		case int:
			return binary.BigEndian.AppendUint64(b, uint64(x)), nil
		}
		return bad()
	case codeFloat:
		x, ok := v.(float32)
		if !ok {
			return bad()
		}
		return binary.BigEndian.AppendUint32(b, math.Float32bits(x)), nil
	case codeDouble:
		x, ok := v.(float64)
		if !ok {
			return bad()
		}
		return binary.BigEndian.AppendUint64(b, math.Float64bits(x)), nil
	case codeDecimal32:
		x, ok := v.(Decimal32)
		if !ok {
			return bad()
		}
		return append(b, x[:]...), nil
	case codeDecimal64:
		x, ok := v.(Decimal64)
		if !ok {
			return bad()
		}
		return append(b, x[:]...), nil
	case codeDecimal128:
		x, ok := v.(Decimal128)
		if !ok {
			return bad()
		}
		return append(b, x[:]...), nil
	case codeChar:
		x, ok := v.(Char)
		if !ok {
			return bad()
		}
		return binary.BigEndian.AppendUint32(b, uint32(x)), nil
	case codeTimestamp:
		x, ok := v.(time.Time)
		if !ok {
			return bad()
		}
		return binary.BigEndian.AppendUint64(b, uint64(x.UnixMilli())), nil
	case codeUUID:
		x, ok := v.(UUID)
		if !ok {
			return bad()
		}
		return append(b, x[:]...), nil
	case codeVbin8, codeVbin32:
		x, ok := v.([]byte)
		if !ok {
			return bad()
		}
		return appendVariableBody(b, code == codeVbin32, x), nil
	case codeStr8, codeStr32:
		x, ok := v.(string)
		if !ok {
			return bad()
		}
		return appendVariableBody(b, code == codeStr32, x), nil
	case codeSym8, codeSym32:
		x, ok := v.(Symbol)
		if !ok {
			return bad()
		}
		return appendVariableBody(b, code == codeSym32, x), nil
	case codeList32:
		x, ok := v.([]any)
		if !ok {
			return bad()
		}
		return appendBody32(b, depth, func(b []byte) ([]byte, uint64, error) { return appendListItems(b, x, depth+1) })
	case codeMap32:
		x, ok := v.(Map)
		if !ok {
			return bad()
		}
		return appendBody32(b, depth, func(b []byte) ([]byte, uint64, error) { return appendMapItems(b, x, depth+1) })
	case codeArray32:
		x, ok := v.(Array)
		if !ok {
			return bad()
		}
		return appendBody32(b, depth, func(b []byte) ([]byte, uint64, error) {
			b, err := appendArrayContent(b, x, depth+1)
			return b, uint64(len(x)), err
		})
	}
	return bad()
}

// appendBody32 appends a 32-bit compound body (size, count, content) without
// constructor, as an element of an array.
func appendBody32(b []byte, depth int, content func([]byte) ([]byte, uint64, error)) ([]byte, error) {
	if depth >= maxNesting {
		return b, errNesting()
	}
	start := len(b)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0)
	b, count, err := content(b)
	if err != nil {
		return b, err
	}
	size := uint64(len(b) - start - 4)
	if size > math.MaxUint32 || count > math.MaxUint32 {
		return b, errTooLarge("compound value")
	}
	binary.BigEndian.PutUint32(b[start:], uint32(size))
	binary.BigEndian.PutUint32(b[start+4:], uint32(count))
	return b, nil
}

// compositeWriter encodes the described list of a composite type field by
// field. It writes the 32-bit list header first and, on finish, drops
// trailing null fields and compacts the header to list8 or list0. The first
// error sticks and is returned by finish.
type compositeWriter struct {
	b         []byte
	start     int    // index of the list constructor
	count     uint64 // fields written so far
	keepLen   int    // len(b) after the last non-null field
	keepCount uint64 // count after the last non-null field
	err       error
}

// beginComposite appends the descriptor of a composite type (as smallulong;
// every descriptor code here is below 256) and reserves the list header.
func beginComposite(b []byte, code uint64) compositeWriter {
	b = append(b, codeDescribed, codeSmallUlong, byte(code))
	start := len(b)
	b = append(b, codeList32, 0, 0, 0, 0, 0, 0, 0, 0)
	return compositeWriter{b: b, start: start, keepLen: len(b)}
}

func (w *compositeWriter) null() {
	w.b = append(w.b, codeNull)
	w.count++
}

// kept records that a non-null field was just appended.
func (w *compositeWriter) kept() {
	w.count++
	w.keepLen = len(w.b)
	w.keepCount = w.count
}

func (w *compositeWriter) finish() ([]byte, error) {
	if w.err != nil {
		return w.b, w.err
	}
	b := w.b[:w.keepLen]
	if w.keepCount == 0 {
		b[w.start] = codeList0
		return b[:w.start+1], nil
	}
	return finishCompound(b, w.start, codeList8, w.keepCount)
}

func (w *compositeWriter) uint32(v uint32) { w.b = AppendUint32(w.b, v); w.kept() }
func (w *compositeWriter) uint64(v uint64) { w.b = AppendUint64(w.b, v); w.kept() }
func (w *compositeWriter) uint16(v uint16) { w.b = AppendUint16(w.b, v); w.kept() }
func (w *compositeWriter) uint8(v uint8)   { w.b = AppendUint8(w.b, v); w.kept() }
func (w *compositeWriter) bool(v bool)     { w.b = AppendBool(w.b, v); w.kept() }
func (w *compositeWriter) string(v string) { w.b = AppendString(w.b, v); w.kept() }
func (w *compositeWriter) symbol(v Symbol) { w.b = AppendSymbol(w.b, v); w.kept() }
func (w *compositeWriter) binary(v []byte) { w.b = AppendBinary(w.b, v); w.kept() }

// optUint32 writes null when v is zero, the field's absent value.
func (w *compositeWriter) optUint32(v uint32) {
	if v == 0 {
		w.null()
		return
	}
	w.uint32(v)
}

func (w *compositeWriter) optUint64(v uint64) {
	if v == 0 {
		w.null()
		return
	}
	w.uint64(v)
}

func (w *compositeWriter) ptrUint32(p *uint32) {
	if p == nil {
		w.null()
		return
	}
	w.uint32(*p)
}

func (w *compositeWriter) ptrUint16(p *uint16) {
	if p == nil {
		w.null()
		return
	}
	w.uint16(*p)
}

func (w *compositeWriter) ptrUint8(p *uint8) {
	if p == nil {
		w.null()
		return
	}
	w.uint8(*p)
}

// flag writes a boolean whose default is false, using null for false.
func (w *compositeWriter) flag(v bool) {
	if !v {
		w.null()
		return
	}
	w.bool(true)
}

func (w *compositeWriter) optString(v string) {
	if v == "" {
		w.null()
		return
	}
	w.string(v)
}

func (w *compositeWriter) optSymbol(v Symbol) {
	if v == "" {
		w.null()
		return
	}
	w.symbol(v)
}

// optBinary writes null for a nil slice; an empty non-nil slice is written.
func (w *compositeWriter) optBinary(v []byte) {
	if v == nil {
		w.null()
		return
	}
	w.binary(v)
}

func (w *compositeWriter) timestamp(t time.Time) {
	if t.IsZero() {
		w.null()
		return
	}
	w.b = AppendTimestamp(w.b, t)
	w.kept()
}

// symbols writes a multiple-symbol field: null for nil, otherwise an array.
func (w *compositeWriter) symbols(v []Symbol) {
	if v == nil {
		w.null()
		return
	}
	w.b = appendSymbolArray(w.b, v)
	w.kept()
}

// optMap writes null for a nil Map, otherwise the map.
func (w *compositeWriter) optMap(m Map) {
	if m == nil {
		w.null()
		return
	}
	if w.err != nil {
		return
	}
	w.b, w.err = appendMap(w.b, m, 1)
	w.kept()
}

// value writes an arbitrary value; nil is written as null.
func (w *compositeWriter) value(v any) {
	if v == nil {
		w.null()
		return
	}
	if w.err != nil {
		return
	}
	w.b, w.err = appendValue(w.b, v, 1)
	w.kept()
}

func (w *compositeWriter) state(s DeliveryState) {
	if s == nil {
		w.null()
		return
	}
	if w.err != nil {
		return
	}
	w.b, w.err = s.Marshal(w.b)
	w.kept()
}

func (w *compositeWriter) errorField(e *Error) {
	if e == nil {
		w.null()
		return
	}
	if w.err != nil {
		return
	}
	w.b, w.err = e.Marshal(w.b)
	w.kept()
}
