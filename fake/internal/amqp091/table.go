package amqp091

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// Table is an AMQP field table: method arguments, peer properties and
// message headers. Values have these Go types, one per RabbitMQ field type:
//
//	't' bool        'b' int8      'B' uint8     's' int16
//	'u' uint16      'I' int32     'i' uint32    'l' int64
//	'f' float32     'd' float64   'D' Decimal   'S' string
//	'x' []byte      'A' []any     'T' time.Time 'F' Table
//	'V' nil
//
// Decoding always yields exactly these types; an empty table, array or
// byte array decodes as a nil Table, []any or []byte. For convenience the
// encoder also takes int (written as 'l') and map[string]any (as 'F').
// Timestamps are whole seconds and decode in UTC.
type Table map[string]any

// Decimal is the AMQP decimal field type: Value scaled down by Scale
// decimal places, so {Scale: 2, Value: 1234} is 12.34.
type Decimal struct {
	Scale uint8 // number of decimal places
	Value int32 // unscaled value
}

// AppendTable appends the wire form of t (a 32-bit length and its entries)
// to b. It fails for a key longer than 255 bytes, a value of a type not
// listed on Table, nesting deeper than 64 levels or a size over 2^32-1.
func AppendTable(b []byte, t Table) ([]byte, error) {
	return appendTable(b, t, 1)
}

// DecodeTable decodes a field table in wire form (a 32-bit length and the
// entries) that must fill data exactly.
func DecodeTable(data []byte) (Table, error) {
	d := newDecoder(data)
	t := d.table()
	if err := d.finish(0, 0); err != nil {
		return nil, err
	}
	return t, nil
}

func appendTable(b []byte, t Table, depth int) ([]byte, error) {
	if depth > maxTableDepth {
		return b, newError(SyntaxError, "field tables nested too deeply")
	}
	at := len(b)
	b = append(b, 0, 0, 0, 0)
	var err error
	for k, v := range t {
		if len(k) > maxShortstr {
			return b[:at], newError(SyntaxError, fmt.Sprintf("field table key of %d bytes exceeds 255", len(k)))
		}
		b = append(b, byte(len(k)))
		b = append(b, k...)
		if b, err = appendFieldValue(b, v, depth); err != nil {
			return b[:at], err
		}
	}
	return patchLength(b, at)
}

func appendArray(b []byte, a []any, depth int) ([]byte, error) {
	if depth > maxTableDepth {
		return b, newError(SyntaxError, "field arrays nested too deeply")
	}
	at := len(b)
	b = append(b, 0, 0, 0, 0)
	var err error
	for _, v := range a {
		if b, err = appendFieldValue(b, v, depth); err != nil {
			return b[:at], err
		}
	}
	return patchLength(b, at)
}

// patchLength writes the size of what follows b[at:at+4] into those four
// bytes.
func patchLength(b []byte, at int) ([]byte, error) {
	n := len(b) - at - 4
	if uint64(n) > math.MaxUint32 {
		return b[:at], newError(SyntaxError, "field table larger than 2^32-1 bytes")
	}
	binary.BigEndian.PutUint32(b[at:], uint32(n))
	return b, nil
}

// appendFieldValue writes a type octet and value. depth is that of the
// table or array holding the value.
func appendFieldValue(b []byte, v any, depth int) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, 'V'), nil
	case bool:
		if v {
			return append(b, 't', 1), nil
		}
		return append(b, 't', 0), nil
	case int8:
		return append(b, 'b', byte(v)), nil
	case uint8:
		return append(b, 'B', v), nil
	case int16:
		return binary.BigEndian.AppendUint16(append(b, 's'), uint16(v)), nil
	case uint16:
		return binary.BigEndian.AppendUint16(append(b, 'u'), v), nil
	case int32:
		return binary.BigEndian.AppendUint32(append(b, 'I'), uint32(v)), nil
	case uint32:
		return binary.BigEndian.AppendUint32(append(b, 'i'), v), nil
	case int64:
		return binary.BigEndian.AppendUint64(append(b, 'l'), uint64(v)), nil
	case int:
		return binary.BigEndian.AppendUint64(append(b, 'l'), uint64(v)), nil
	case float32:
		return binary.BigEndian.AppendUint32(append(b, 'f'), math.Float32bits(v)), nil
	case float64:
		return binary.BigEndian.AppendUint64(append(b, 'd'), math.Float64bits(v)), nil
	case Decimal:
		return binary.BigEndian.AppendUint32(append(b, 'D', v.Scale), uint32(v.Value)), nil
	case string:
		return appendLongstr(append(b, 'S'), v, "field value")
	case []byte:
		if uint64(len(v)) > math.MaxUint32 {
			return b, newError(SyntaxError, "byte array larger than 2^32-1 bytes")
		}
		b = binary.BigEndian.AppendUint32(append(b, 'x'), uint32(len(v)))
		return append(b, v...), nil
	case time.Time:
		return binary.BigEndian.AppendUint64(append(b, 'T'), uint64(v.Unix())), nil
	case Table:
		return appendTable(append(b, 'F'), v, depth+1)
	case map[string]any:
		return appendTable(append(b, 'F'), Table(v), depth+1)
	case []any:
		return appendArray(append(b, 'A'), v, depth+1)
	}
	return b, newError(SyntaxError, fmt.Sprintf("field value of unsupported type %T", v))
}

// table reads a field table. Entries are read with the decoder's end
// narrowed to the table, so no entry can run past it.
func (d *decoder) table() Table {
	n := d.length()
	if n == 0 {
		return nil
	}
	d.depth++
	if d.depth > maxTableDepth {
		d.fail(SyntaxError, "field tables nested too deeply")
		return nil
	}
	outer := d.end
	d.end = d.off + n
	t := make(Table)
	for d.off < d.end {
		k := d.shortstr()
		v := d.fieldValue()
		if d.err != nil {
			return nil
		}
		t[k] = v
	}
	if d.err != nil {
		return nil
	}
	d.end = outer
	d.depth--
	return t
}

func (d *decoder) array() []any {
	n := d.length()
	if n == 0 {
		return nil
	}
	d.depth++
	if d.depth > maxTableDepth {
		d.fail(SyntaxError, "field arrays nested too deeply")
		return nil
	}
	outer := d.end
	d.end = d.off + n
	var a []any
	for d.off < d.end {
		v := d.fieldValue()
		if d.err != nil {
			return nil
		}
		a = append(a, v)
	}
	if d.err != nil {
		return nil
	}
	d.end = outer
	d.depth--
	return a
}

func (d *decoder) fieldValue() any {
	switch typ := d.octet(); typ {
	case 't':
		return d.octet() != 0
	case 'b':
		return int8(d.octet())
	case 'B':
		return d.octet()
	case 's':
		return int16(d.short())
	case 'u':
		return d.short()
	case 'I':
		return int32(d.long())
	case 'i':
		return d.long()
	case 'l':
		return int64(d.longlong())
	case 'f':
		return math.Float32frombits(d.long())
	case 'd':
		return math.Float64frombits(d.longlong())
	case 'D':
		scale := d.octet()
		return Decimal{Scale: scale, Value: int32(d.long())}
	case 'S':
		return d.longstr()
	case 'x':
		return d.bytesN(d.length())
	case 'A':
		return d.array()
	case 'T':
		return d.timestamp()
	case 'F':
		return d.table()
	case 'V':
		return nil
	default:
		if d.err == nil {
			d.fail(SyntaxError, fmt.Sprintf("unknown field value type %q", typ))
		}
		return nil
	}
}
