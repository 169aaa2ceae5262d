package amqp10

import (
	"encoding/binary"
	"math"
	"time"
)

// decoder reads AMQP values from a byte slice. It never reads past len(b),
// never panics on malformed input, and never allocates more elements than
// the remaining input could hold.
type decoder struct {
	b     []byte
	off   int
	depth int
	// zeroWidthLeft is how many more zero-width array elements (see
	// MaxZeroWidthElements) this decode may produce. Sub-decoders take a
	// copy and hand the rest back in done.
	zeroWidthLeft int
}

// MaxZeroWidthElements bounds the number of array elements with a
// zero-width constructor (null, true, false, uint0, ulong0, list0) that one
// decode call may produce. Such elements occupy no input bytes, so their
// count is the one thing input size cannot bound; a larger count is a
// decode error.
const MaxZeroWidthElements = 1 << 14

func newDecoder(b []byte) decoder { return decoder{b: b, zeroWidthLeft: MaxZeroWidthElements} }

func (d *decoder) remaining() int { return len(d.b) - d.off }

func errTruncated() error { return decodeErrorf("value truncated") }

func (d *decoder) readByte() (byte, error) {
	if d.off >= len(d.b) {
		return 0, errTruncated()
	}
	c := d.b[d.off]
	d.off++
	return c, nil
}

// readN returns the next n bytes as a sub-slice of the input whose capacity
// ends at its length, so appending to it never overwrites the input.
func (d *decoder) readN(n int) ([]byte, error) {
	if n < 0 || n > d.remaining() {
		return nil, errTruncated()
	}
	s := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return s, nil
}

func (d *decoder) read16() (uint16, error) {
	s, err := d.readN(2)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint16(s), nil
}

func (d *decoder) read32() (uint32, error) {
	s, err := d.readN(4)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(s), nil
}

func (d *decoder) read64() (uint64, error) {
	s, err := d.readN(8)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(s), nil
}

// peekNull reports whether the next value is a null constructor.
func (d *decoder) peekNull() bool { return d.off < len(d.b) && d.b[d.off] == codeNull }

func typeError(code byte, want string) error {
	return decodeErrorf("constructor 0x%02x is not a valid %s encoding", code, want)
}

func errNestingDecode() error { return decodeErrorf("values nested deeper than %d levels", maxNesting) }

// readValue decodes the next value into the Go data model.
func (d *decoder) readValue() (any, error) {
	code, err := d.readByte()
	if err != nil {
		return nil, err
	}
	if code == codeDescribed {
		return d.readDescribedBody()
	}
	return d.readBody(code)
}

// readDescribedBody decodes descriptor and value after a 0x00 constructor.
func (d *decoder) readDescribedBody() (any, error) {
	if d.depth >= maxNesting {
		return nil, errNestingDecode()
	}
	d.depth++
	defer func() { d.depth-- }()
	desc, err := d.readValue()
	if err != nil {
		return nil, err
	}
	v, err := d.readValue()
	if err != nil {
		return nil, err
	}
	return Described{Descriptor: desc, Value: v}, nil
}

// readBody decodes the body of a value whose primitive constructor is code.
func (d *decoder) readBody(code byte) (any, error) {
	switch code {
	case codeNull:
		return nil, nil
	case codeTrue:
		return true, nil
	case codeFalse:
		return false, nil
	case codeBool:
		return d.boolBody()
	case codeUbyte:
		return d.readByte()
	case codeUshort:
		return d.read16()
	case codeUint, codeSmallUint, codeUint0:
		return d.uint32Body(code)
	case codeUlong, codeSmallUlong, codeUlong0:
		return d.uint64Body(code)
	case codeByte:
		c, err := d.readByte()
		return int8(c), err
	case codeShort:
		v, err := d.read16()
		return int16(v), err
	case codeInt, codeSmallInt:
		return d.int32Body(code)
	case codeLong, codeSmallLong:
		return d.int64Body(code)
	case codeFloat:
		v, err := d.read32()
		return math.Float32frombits(v), err
	case codeDouble:
		v, err := d.read64()
		return math.Float64frombits(v), err
	case codeDecimal32:
		var v Decimal32
		s, err := d.readN(len(v))
		copy(v[:], s)
		return v, err
	case codeDecimal64:
		var v Decimal64
		s, err := d.readN(len(v))
		copy(v[:], s)
		return v, err
	case codeDecimal128:
		var v Decimal128
		s, err := d.readN(len(v))
		copy(v[:], s)
		return v, err
	case codeChar:
		v, err := d.read32()
		return Char(v), err
	case codeTimestamp:
		return d.timestampBody()
	case codeUUID:
		var v UUID
		s, err := d.readN(len(v))
		copy(v[:], s)
		return v, err
	case codeVbin8, codeVbin32:
		return d.variableBody(code == codeVbin32)
	case codeStr8, codeStr32:
		s, err := d.variableBody(code == codeStr32)
		return string(s), err
	case codeSym8, codeSym32:
		s, err := d.variableBody(code == codeSym32)
		return Symbol(s), err
	case codeList0:
		return []any{}, nil
	case codeList8, codeList32:
		return d.listBody(code == codeList32)
	case codeMap8, codeMap32:
		return d.mapBody(code == codeMap32)
	case codeArray8, codeArray32:
		return d.arrayBody(code == codeArray32)
	}
	return nil, decodeErrorf("invalid constructor 0x%02x", code)
}

func (d *decoder) boolBody() (bool, error) {
	c, err := d.readByte()
	if err != nil {
		return false, err
	}
	switch c {
	case 0:
		return false, nil
	case 1:
		return true, nil
	}
	return false, decodeErrorf("invalid boolean byte 0x%02x", c)
}

func (d *decoder) uint32Body(code byte) (uint32, error) {
	switch code {
	case codeUint0:
		return 0, nil
	case codeSmallUint:
		c, err := d.readByte()
		return uint32(c), err
	}
	return d.read32()
}

func (d *decoder) uint64Body(code byte) (uint64, error) {
	switch code {
	case codeUlong0:
		return 0, nil
	case codeSmallUlong:
		c, err := d.readByte()
		return uint64(c), err
	}
	return d.read64()
}

func (d *decoder) int32Body(code byte) (int32, error) {
	if code == codeSmallInt {
		c, err := d.readByte()
		return int32(int8(c)), err
	}
	v, err := d.read32()
	return int32(v), err
}

func (d *decoder) int64Body(code byte) (int64, error) {
	if code == codeSmallLong {
		c, err := d.readByte()
		return int64(int8(c)), err
	}
	v, err := d.read64()
	return int64(v), err
}

func (d *decoder) timestampBody() (time.Time, error) {
	v, err := d.read64()
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(int64(v)).UTC(), nil
}

// variableBody reads the length prefix and bytes of vbin, str or sym.
func (d *decoder) variableBody(wide bool) ([]byte, error) {
	var n int
	if wide {
		v, err := d.read32()
		if err != nil {
			return nil, err
		}
		if uint64(v) > uint64(d.remaining()) {
			return nil, errTruncated()
		}
		n = int(v)
	} else {
		c, err := d.readByte()
		if err != nil {
			return nil, err
		}
		n = int(c)
	}
	return d.readN(n)
}

// sizeCount reads the size and count of a compound body and returns the
// offset where it ends. The size must fit in the remaining input and cover
// the count field.
func (d *decoder) sizeCount(wide bool) (end int, count uint32, err error) {
	if wide {
		size, err := d.read32()
		if err != nil {
			return 0, 0, err
		}
		if size < 4 || uint64(size) > uint64(d.remaining()) {
			return 0, 0, decodeErrorf("compound size %d does not fit the input", size)
		}
		end = d.off + int(size)
		count, err = d.read32()
		return end, count, err
	}
	size, err := d.readByte()
	if err != nil {
		return 0, 0, err
	}
	if size < 1 || int(size) > d.remaining() {
		return 0, 0, decodeErrorf("compound size %d does not fit the input", size)
	}
	end = d.off + int(size)
	c, err := d.readByte()
	return end, uint32(c), err
}

// sub returns a decoder bounded to d.b[:end] starting at d.off, one level
// deeper.
func (d *decoder) sub(end int) (decoder, error) {
	if d.depth >= maxNesting {
		return decoder{}, errNestingDecode()
	}
	return decoder{b: d.b[:end], off: d.off, depth: d.depth + 1, zeroWidthLeft: d.zeroWidthLeft}, nil
}

// compound reads the header of a list or map body and checks that count
// elements of at least one byte each fit inside it.
func (d *decoder) compound(wide bool) (decoder, uint32, error) {
	end, count, err := d.sizeCount(wide)
	if err != nil {
		return decoder{}, 0, err
	}
	if uint64(count) > uint64(end-d.off) {
		return decoder{}, 0, decodeErrorf("compound count %d exceeds its size", count)
	}
	s, err := d.sub(end)
	return s, count, err
}

// done checks that a bounded sub-decoder consumed exactly its bytes and moves
// the parent past them.
func (d *decoder) done(s *decoder) error {
	if s.off != len(s.b) {
		return decodeErrorf("compound size disagrees with its content (%d bytes left over)", len(s.b)-s.off)
	}
	d.off = s.off
	d.zeroWidthLeft = s.zeroWidthLeft
	return nil
}

func (d *decoder) listBody(wide bool) ([]any, error) {
	s, count, err := d.compound(wide)
	if err != nil {
		return nil, err
	}
	l := make([]any, count)
	for i := range l {
		if l[i], err = s.readValue(); err != nil {
			return nil, err
		}
	}
	return l, d.done(&s)
}

func (d *decoder) mapBody(wide bool) (Map, error) {
	s, count, err := d.compound(wide)
	if err != nil {
		return nil, err
	}
	if count%2 != 0 {
		return nil, decodeErrorf("map has odd element count %d", count)
	}
	m := make(Map, count/2)
	for i := range m {
		if m[i].Key, err = s.readValue(); err != nil {
			return nil, err
		}
		if m[i].Value, err = s.readValue(); err != nil {
			return nil, err
		}
	}
	return m, d.done(&s)
}

// elementConstructor is the shared constructor of array elements: zero or
// more descriptors (outermost first) and a primitive constructor code.
type elementConstructor struct {
	descriptors []any
	code        byte
}

// readElementConstructor reads an array's element constructor. Each
// descriptor in it counts as one nesting level, as it does for the encoder,
// and the element bodies are then read that many levels deeper.
func (d *decoder) readElementConstructor() (elementConstructor, error) {
	var ec elementConstructor
	base := d.depth
	defer func() { d.depth = base }()
	for {
		code, err := d.readByte()
		if err != nil {
			return ec, err
		}
		if code != codeDescribed {
			if constructorWidth(code) == widthUnknown {
				return ec, decodeErrorf("invalid array element constructor 0x%02x", code)
			}
			ec.code = code
			return ec, nil
		}
		if d.depth >= maxNesting {
			return ec, errNestingDecode()
		}
		d.depth++
		desc, err := d.readValue()
		if err != nil {
			return ec, err
		}
		ec.descriptors = append(ec.descriptors, desc)
	}
}

func (d *decoder) arrayBody(wide bool) (Array, error) {
	end, count, err := d.sizeCount(wide)
	if err != nil {
		return nil, err
	}
	s, err := d.sub(end)
	if err != nil {
		return nil, err
	}
	ec, err := s.readElementConstructor()
	if err != nil {
		return nil, err
	}
	if constructorWidth(ec.code) == 0 {
		// Zero-width elements take no input bytes; bound them by the
		// budget instead.
		if uint64(count) > uint64(s.zeroWidthLeft) {
			return nil, decodeErrorf("array of %d zero-width elements exceeds the limit of %d", count, MaxZeroWidthElements)
		}
		s.zeroWidthLeft -= int(count)
	} else if uint64(count) > uint64(s.remaining()) {
		return nil, decodeErrorf("array count %d exceeds its size", count)
	}
	a := make(Array, count)
	s.depth += len(ec.descriptors)
	for i := range a {
		v, err := s.readBody(ec.code)
		if err != nil {
			return nil, err
		}
		for j := len(ec.descriptors) - 1; j >= 0; j-- {
			v = Described{Descriptor: ec.descriptors[j], Value: v}
		}
		a[i] = v
	}
	return a, d.done(&s)
}

// skipValue advances past the next value without decoding it.
func (d *decoder) skipValue() error {
	code, err := d.readByte()
	if err != nil {
		return err
	}
	if code == codeDescribed {
		if d.depth >= maxNesting {
			return errNestingDecode()
		}
		d.depth++
		defer func() { d.depth-- }()
		if err := d.skipValue(); err != nil {
			return err
		}
		return d.skipValue()
	}
	var n int
	switch w := constructorWidth(code); w {
	case widthUnknown:
		return decodeErrorf("invalid constructor 0x%02x", code)
	case widthVar8:
		c, err := d.readByte()
		if err != nil {
			return err
		}
		n = int(c)
	case widthVar32:
		v, err := d.read32()
		if err != nil {
			return err
		}
		if uint64(v) > uint64(d.remaining()) {
			return errTruncated()
		}
		n = int(v)
	case widthCompound:
		end, _, err := d.sizeCount(code == codeList32 || code == codeMap32 || code == codeArray32)
		if err != nil {
			return err
		}
		d.off = end
		return nil
	default:
		n = w
	}
	_, err = d.readN(n)
	return err
}

// Typed readers. Each accepts every encoding of its AMQP type (including
// the compact forms) and rejects everything else, including null.

func (d *decoder) readBool() (bool, error) {
	code, err := d.readByte()
	if err != nil {
		return false, err
	}
	switch code {
	case codeTrue:
		return true, nil
	case codeFalse:
		return false, nil
	case codeBool:
		return d.boolBody()
	}
	return false, typeError(code, "boolean")
}

func (d *decoder) readUint8() (uint8, error) {
	code, err := d.readByte()
	if err != nil {
		return 0, err
	}
	if code != codeUbyte {
		return 0, typeError(code, "ubyte")
	}
	return d.readByte()
}

func (d *decoder) readUint16() (uint16, error) {
	code, err := d.readByte()
	if err != nil {
		return 0, err
	}
	if code != codeUshort {
		return 0, typeError(code, "ushort")
	}
	return d.read16()
}

func (d *decoder) readUint32() (uint32, error) {
	code, err := d.readByte()
	if err != nil {
		return 0, err
	}
	switch code {
	case codeUint, codeSmallUint, codeUint0:
		return d.uint32Body(code)
	}
	return 0, typeError(code, "uint")
}

func (d *decoder) readUint64() (uint64, error) {
	code, err := d.readByte()
	if err != nil {
		return 0, err
	}
	switch code {
	case codeUlong, codeSmallUlong, codeUlong0:
		return d.uint64Body(code)
	}
	return 0, typeError(code, "ulong")
}

func (d *decoder) readInt8() (int8, error) {
	code, err := d.readByte()
	if err != nil {
		return 0, err
	}
	if code != codeByte {
		return 0, typeError(code, "byte")
	}
	c, err := d.readByte()
	return int8(c), err
}

func (d *decoder) readInt16() (int16, error) {
	code, err := d.readByte()
	if err != nil {
		return 0, err
	}
	if code != codeShort {
		return 0, typeError(code, "short")
	}
	v, err := d.read16()
	return int16(v), err
}

func (d *decoder) readInt32() (int32, error) {
	code, err := d.readByte()
	if err != nil {
		return 0, err
	}
	if code != codeInt && code != codeSmallInt {
		return 0, typeError(code, "int")
	}
	return d.int32Body(code)
}

func (d *decoder) readInt64() (int64, error) {
	code, err := d.readByte()
	if err != nil {
		return 0, err
	}
	if code != codeLong && code != codeSmallLong {
		return 0, typeError(code, "long")
	}
	return d.int64Body(code)
}

func (d *decoder) readFloat32() (float32, error) {
	code, err := d.readByte()
	if err != nil {
		return 0, err
	}
	if code != codeFloat {
		return 0, typeError(code, "float")
	}
	v, err := d.read32()
	return math.Float32frombits(v), err
}

func (d *decoder) readFloat64() (float64, error) {
	code, err := d.readByte()
	if err != nil {
		return 0, err
	}
	if code != codeDouble {
		return 0, typeError(code, "double")
	}
	v, err := d.read64()
	return math.Float64frombits(v), err
}

func (d *decoder) readChar() (Char, error) {
	code, err := d.readByte()
	if err != nil {
		return 0, err
	}
	if code != codeChar {
		return 0, typeError(code, "char")
	}
	v, err := d.read32()
	return Char(v), err
}

func (d *decoder) readTimestamp() (time.Time, error) {
	code, err := d.readByte()
	if err != nil {
		return time.Time{}, err
	}
	if code != codeTimestamp {
		return time.Time{}, typeError(code, "timestamp")
	}
	return d.timestampBody()
}

func (d *decoder) readUUID() (UUID, error) {
	var u UUID
	code, err := d.readByte()
	if err != nil {
		return u, err
	}
	if code != codeUUID {
		return u, typeError(code, "uuid")
	}
	s, err := d.readN(len(u))
	copy(u[:], s)
	return u, err
}

func (d *decoder) readBinary() ([]byte, error) {
	code, err := d.readByte()
	if err != nil {
		return nil, err
	}
	if code != codeVbin8 && code != codeVbin32 {
		return nil, typeError(code, "binary")
	}
	return d.variableBody(code == codeVbin32)
}

func (d *decoder) readString() (string, error) {
	code, err := d.readByte()
	if err != nil {
		return "", err
	}
	if code != codeStr8 && code != codeStr32 {
		return "", typeError(code, "string")
	}
	s, err := d.variableBody(code == codeStr32)
	return string(s), err
}

func (d *decoder) readSymbol() (Symbol, error) {
	code, err := d.readByte()
	if err != nil {
		return "", err
	}
	if code != codeSym8 && code != codeSym32 {
		return "", typeError(code, "symbol")
	}
	s, err := d.variableBody(code == codeSym32)
	return Symbol(s), err
}

// readAddress reads an address field: a string, or leniently a symbol.
func (d *decoder) readAddress() (string, error) {
	if d.off < len(d.b) && (d.b[d.off] == codeSym8 || d.b[d.off] == codeSym32) {
		s, err := d.readSymbol()
		return string(s), err
	}
	return d.readString()
}

// readSymbols reads a multiple-symbol field: a single symbol or an array of
// symbols.
func (d *decoder) readSymbols() ([]Symbol, error) {
	if d.off < len(d.b) {
		switch d.b[d.off] {
		case codeSym8, codeSym32:
			s, err := d.readSymbol()
			if err != nil {
				return nil, err
			}
			return []Symbol{s}, nil
		}
	}
	code, err := d.readByte()
	if err != nil {
		return nil, err
	}
	if code != codeArray8 && code != codeArray32 {
		return nil, typeError(code, "symbol or symbol array")
	}
	end, count, err := d.sizeCount(code == codeArray32)
	if err != nil {
		return nil, err
	}
	s, err := d.sub(end)
	if err != nil {
		return nil, err
	}
	elem, err := s.readByte()
	if err != nil {
		return nil, err
	}
	if elem != codeSym8 && elem != codeSym32 {
		return nil, typeError(elem, "symbol array element")
	}
	if uint64(count) > uint64(s.remaining()) {
		return nil, decodeErrorf("array count %d exceeds its size", count)
	}
	syms := make([]Symbol, count)
	for i := range syms {
		v, err := s.variableBody(elem == codeSym32)
		if err != nil {
			return nil, err
		}
		syms[i] = Symbol(v)
	}
	return syms, d.done(&s)
}

func (d *decoder) readList() ([]any, error) {
	code, err := d.readByte()
	if err != nil {
		return nil, err
	}
	switch code {
	case codeList0:
		return []any{}, nil
	case codeList8, codeList32:
		return d.listBody(code == codeList32)
	}
	return nil, typeError(code, "list")
}

func (d *decoder) readMap() (Map, error) {
	code, err := d.readByte()
	if err != nil {
		return nil, err
	}
	if code != codeMap8 && code != codeMap32 {
		return nil, typeError(code, "map")
	}
	return d.mapBody(code == codeMap32)
}

func (d *decoder) readArray() (Array, error) {
	code, err := d.readByte()
	if err != nil {
		return nil, err
	}
	if code != codeArray8 && code != codeArray32 {
		return nil, typeError(code, "array")
	}
	return d.arrayBody(code == codeArray32)
}

// readDescriptorCode reads the 0x00 constructor and a descriptor, returning
// its numeric code. Symbolic descriptors are mapped to codes; an unknown
// symbol is an error.
func (d *decoder) readDescriptorCode() (uint64, error) {
	code, err := d.readByte()
	if err != nil {
		return 0, err
	}
	if code != codeDescribed {
		return 0, decodeErrorf("expected a described type, got constructor 0x%02x", code)
	}
	code, err = d.readByte()
	if err != nil {
		return 0, err
	}
	switch code {
	case codeUlong, codeSmallUlong, codeUlong0:
		return d.uint64Body(code)
	case codeSym8, codeSym32:
		s, err := d.variableBody(code == codeSym32)
		if err != nil {
			return 0, err
		}
		if c, ok := descriptorCodes[string(s)]; ok {
			return c, nil
		}
		return 0, decodeErrorf("unknown descriptor %q", s)
	}
	return 0, typeError(code, "descriptor")
}

// fieldReader reads the fields of a composite type's list in order. The
// first error sticks: later reads return zero values and finish returns it.
type fieldReader struct {
	d    decoder // bounded to the list body
	left uint32  // fields not yet read
	name string  // composite name, for error messages
	err  error
}

// composite reads the descriptor and list header of the composite type with
// the given descriptor code.
func (d *decoder) composite(code uint64, name string) fieldReader {
	f := fieldReader{name: name}
	got, err := d.readDescriptorCode()
	if err != nil {
		f.err = wrapDecodeError(err, name)
		return f
	}
	if got != code {
		f.err = decodeErrorf("%s: unexpected descriptor 0x%x", name, got)
		return f
	}
	c, err := d.readByte()
	if err != nil {
		f.err = wrapDecodeError(err, name)
		return f
	}
	switch c {
	case codeList0:
		f.d = decoder{b: d.b[:d.off], off: d.off, zeroWidthLeft: d.zeroWidthLeft}
		return f
	case codeList8, codeList32:
		f.d, f.left, err = d.compound(c == codeList32)
		if err != nil {
			f.err = wrapDecodeError(err, name)
		}
		return f
	}
	f.err = decodeErrorf("%s: expected a list, got constructor 0x%02x", name, c)
	return f
}

// next reports whether another field is present and not null, consuming a
// null field.
func (f *fieldReader) next() bool {
	if f.err != nil || f.left == 0 {
		return false
	}
	f.left--
	if f.d.peekNull() {
		f.d.off++
		return false
	}
	return true
}

func (f *fieldReader) fail(field string, err error) {
	if f.err == nil {
		f.err = wrapDecodeError(err, f.name, "field", field)
	}
}

// require records an error when a mandatory field is absent.
func (f *fieldReader) require(present bool, field string) {
	if !present && f.err == nil {
		f.err = decodeErrorf("%s: mandatory field %s is missing", f.name, field)
	}
}

// finish skips fields beyond the ones this package knows (added by later
// versions of the spec), checks the list was consumed exactly and moves
// parent, the decoder composite was called on, past it.
func (f *fieldReader) finish(parent *decoder) error {
	for f.err == nil && f.left > 0 {
		f.left--
		if err := f.d.skipValue(); err != nil {
			f.fail("(extra)", err)
		}
	}
	if f.err != nil {
		return f.err
	}
	if err := parent.done(&f.d); err != nil {
		return wrapDecodeError(err, f.name)
	}
	return nil
}

// The typed field readers below call the decoder directly rather than
// through function values, which would make the decoder escape to the heap.

func (f *fieldReader) bool(field string) (bool, bool) {
	if !f.next() {
		return false, false
	}
	v, err := f.d.readBool()
	return v, f.check(field, err)
}

func (f *fieldReader) uint8(field string) (uint8, bool) {
	if !f.next() {
		return 0, false
	}
	v, err := f.d.readUint8()
	return v, f.check(field, err)
}

func (f *fieldReader) uint16(field string) (uint16, bool) {
	if !f.next() {
		return 0, false
	}
	v, err := f.d.readUint16()
	return v, f.check(field, err)
}

func (f *fieldReader) uint32(field string) (uint32, bool) {
	if !f.next() {
		return 0, false
	}
	v, err := f.d.readUint32()
	return v, f.check(field, err)
}

func (f *fieldReader) uint64(field string) (uint64, bool) {
	if !f.next() {
		return 0, false
	}
	v, err := f.d.readUint64()
	return v, f.check(field, err)
}

func (f *fieldReader) string(field string) (string, bool) {
	if !f.next() {
		return "", false
	}
	v, err := f.d.readString()
	return v, f.check(field, err)
}

func (f *fieldReader) address(field string) string {
	if !f.next() {
		return ""
	}
	v, err := f.d.readAddress()
	f.check(field, err)
	return v
}

func (f *fieldReader) symbol(field string) (Symbol, bool) {
	if !f.next() {
		return "", false
	}
	v, err := f.d.readSymbol()
	return v, f.check(field, err)
}

func (f *fieldReader) binary(field string) ([]byte, bool) {
	if !f.next() {
		return nil, false
	}
	v, err := f.d.readBinary()
	return v, f.check(field, err)
}

func (f *fieldReader) timestamp(field string) time.Time {
	if !f.next() {
		return time.Time{}
	}
	v, err := f.d.readTimestamp()
	f.check(field, err)
	return v
}

func (f *fieldReader) symbols(field string) ([]Symbol, bool) {
	if !f.next() {
		return nil, false
	}
	v, err := f.d.readSymbols()
	return v, f.check(field, err)
}

func (f *fieldReader) fieldsMap(field string) Map {
	if !f.next() {
		return nil
	}
	v, err := f.d.readMap()
	f.check(field, err)
	return v
}

func (f *fieldReader) messageID(field string) any {
	if !f.next() {
		return nil
	}
	v, err := f.d.readMessageID()
	f.check(field, err)
	return v
}

func (f *fieldReader) state(field string) DeliveryState {
	if !f.next() {
		return nil
	}
	v, err := f.d.readDeliveryState()
	if !f.check(field, err) {
		return nil
	}
	return v
}

func (f *fieldReader) errorField(field string) *Error {
	if !f.next() {
		return nil
	}
	e := new(Error)
	if !f.check(field, e.decode(&f.d)) {
		return nil
	}
	return e
}

func (f *fieldReader) source(field string) *Source {
	if !f.next() {
		return nil
	}
	s := new(Source)
	if !f.check(field, s.decode(&f.d)) {
		return nil
	}
	return s
}

func (f *fieldReader) target(field string) *Target {
	if !f.next() {
		return nil
	}
	t := new(Target)
	if !f.check(field, t.decode(&f.d)) {
		return nil
	}
	return t
}

// check records err (if any) as the error of field and reports whether the
// read succeeded.
func (f *fieldReader) check(field string, err error) bool {
	if err != nil {
		f.fail(field, err)
		return false
	}
	return true
}

// end checks that the whole input was consumed.
func (d *decoder) end() error {
	if d.off != len(d.b) {
		return decodeErrorf("%d trailing bytes after value", len(d.b)-d.off)
	}
	return nil
}

// Unmarshal decodes data, which must hold exactly one encoded value, into
// the Go data model described in the package documentation. Described types
// decode to Described, whatever their descriptor.
func Unmarshal(data []byte) (any, error) {
	d := newDecoder(data)
	v, err := d.readValue()
	if err != nil {
		return nil, err
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	return v, nil
}

// DecodeValue decodes the first value in data and returns it with the
// number of bytes it occupied.
func DecodeValue(data []byte) (v any, n int, err error) {
	d := newDecoder(data)
	v, err = d.readValue()
	if err != nil {
		return nil, 0, err
	}
	return v, d.off, nil
}

// PeekDescriptor returns the numeric descriptor code of the described value
// at the start of data, mapping known symbolic descriptors to their codes.
// Engines use it to dispatch a frame body to the right Unmarshal.
func PeekDescriptor(data []byte) (uint64, error) {
	d := newDecoder(data)
	return d.readDescriptorCode()
}
