package amqp10

import "time"

// Reader decodes a sequence of AMQP values from a byte slice with typed
// reads. Each typed read accepts every encoding of its AMQP type, including
// the compact ones (a ReadUint32 accepts uint, smalluint and uint0), and
// fails on any other constructor, including null; use IsNull or ReadNull
// for optional values. A failed read leaves the position unchanged.
// Byte slices returned by ReadBinary alias the input.
type Reader struct {
	d decoder
}

// NewReader returns a Reader positioned at the start of data.
func NewReader(data []byte) *Reader {
	return &Reader{d: newDecoder(data)}
}

// Len returns the number of unread bytes.
func (r *Reader) Len() int { return r.d.remaining() }

// Offset returns the number of bytes consumed so far.
func (r *Reader) Offset() int { return r.d.off }

// IsNull reports whether the next value is an AMQP null, without consuming it.
func (r *Reader) IsNull() bool { return r.d.peekNull() }

// ReadNull consumes a null; it fails if the next value is not null.
func (r *Reader) ReadNull() error {
	if !r.d.peekNull() {
		if r.d.remaining() == 0 {
			return errTruncated()
		}
		return typeError(r.d.b[r.d.off], "null")
	}
	r.d.off++
	return nil
}

// Skip advances past the next value without decoding it.
func (r *Reader) Skip() error {
	start := r.d.off
	err := r.d.skipValue()
	if err != nil {
		r.d.off = start
	}
	return err
}

func readAt[T any](r *Reader, read func(*decoder) (T, error)) (T, error) {
	start := r.d.off
	v, err := read(&r.d)
	if err != nil {
		r.d.off = start
		r.d.depth = 0
		var zero T
		return zero, err
	}
	return v, nil
}

// ReadValue decodes the next value of any type into the Go data model.
func (r *Reader) ReadValue() (any, error) { return readAt(r, (*decoder).readValue) }

// ReadBool reads a boolean (0x56, 0x41 or 0x42).
func (r *Reader) ReadBool() (bool, error) { return readAt(r, (*decoder).readBool) }

// ReadUint8 reads a ubyte.
func (r *Reader) ReadUint8() (uint8, error) { return readAt(r, (*decoder).readUint8) }

// ReadUint16 reads a ushort.
func (r *Reader) ReadUint16() (uint16, error) { return readAt(r, (*decoder).readUint16) }

// ReadUint32 reads a uint (uint, smalluint or uint0).
func (r *Reader) ReadUint32() (uint32, error) { return readAt(r, (*decoder).readUint32) }

// ReadUint64 reads a ulong (ulong, smallulong or ulong0).
func (r *Reader) ReadUint64() (uint64, error) { return readAt(r, (*decoder).readUint64) }

// ReadInt8 reads a byte.
func (r *Reader) ReadInt8() (int8, error) { return readAt(r, (*decoder).readInt8) }

// ReadInt16 reads a short.
func (r *Reader) ReadInt16() (int16, error) { return readAt(r, (*decoder).readInt16) }

// ReadInt32 reads an int (int or smallint).
func (r *Reader) ReadInt32() (int32, error) { return readAt(r, (*decoder).readInt32) }

// ReadInt64 reads a long (long or smalllong).
func (r *Reader) ReadInt64() (int64, error) { return readAt(r, (*decoder).readInt64) }

// ReadFloat32 reads a float.
func (r *Reader) ReadFloat32() (float32, error) { return readAt(r, (*decoder).readFloat32) }

// ReadFloat64 reads a double.
func (r *Reader) ReadFloat64() (float64, error) { return readAt(r, (*decoder).readFloat64) }

// ReadChar reads a char.
func (r *Reader) ReadChar() (Char, error) { return readAt(r, (*decoder).readChar) }

// ReadTimestamp reads a timestamp as a UTC time.
func (r *Reader) ReadTimestamp() (time.Time, error) { return readAt(r, (*decoder).readTimestamp) }

// ReadUUID reads a uuid.
func (r *Reader) ReadUUID() (UUID, error) { return readAt(r, (*decoder).readUUID) }

// ReadBinary reads a binary (vbin8 or vbin32); the result aliases the input.
func (r *Reader) ReadBinary() ([]byte, error) { return readAt(r, (*decoder).readBinary) }

// ReadString reads a string (str8 or str32).
func (r *Reader) ReadString() (string, error) { return readAt(r, (*decoder).readString) }

// ReadSymbol reads a symbol (sym8 or sym32).
func (r *Reader) ReadSymbol() (Symbol, error) { return readAt(r, (*decoder).readSymbol) }

// ReadSymbols reads a multiple-symbol field: one symbol or an array of symbols.
func (r *Reader) ReadSymbols() ([]Symbol, error) { return readAt(r, (*decoder).readSymbols) }

// ReadList reads a list (list0, list8 or list32).
func (r *Reader) ReadList() ([]any, error) { return readAt(r, (*decoder).readList) }

// ReadMap reads a map (map8 or map32).
func (r *Reader) ReadMap() (Map, error) { return readAt(r, (*decoder).readMap) }

// ReadArray reads an array (array8 or array32).
func (r *Reader) ReadArray() (Array, error) { return readAt(r, (*decoder).readArray) }

// ReadDescriptor reads the constructor and descriptor of a described value,
// returning the numeric descriptor code (symbolic descriptors known to this
// package are mapped to their codes); the described value follows.
func (r *Reader) ReadDescriptor() (uint64, error) {
	return readAt(r, (*decoder).readDescriptorCode)
}
