package amqp091

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// Method is implemented by every generated method struct, such as
// *BasicPublish. A broker type-switches on the value DecodeMethod returns.
type Method interface {
	// ClassID returns the method's class id, such as ClassBasic.
	ClassID() uint16
	// MethodID returns the method's id within its class.
	MethodID() uint16
	// Name returns the dotted method name, such as "basic.publish".
	Name() string
	// HasContent reports whether a content header and body follow.
	HasContent() bool
	// Synchronous reports whether the method expects a reply.
	Synchronous() bool
	// AppendBinary appends the full method frame payload to b.
	AppendBinary(b []byte) ([]byte, error)
	// MarshalBinary returns the full method frame payload.
	MarshalBinary() ([]byte, error)
	// UnmarshalBinary decodes a full method frame payload of this method.
	UnmarshalBinary(payload []byte) error
}

// MethodIDs returns the class and method ids at the start of a method frame
// payload without decoding the arguments.
func MethodIDs(payload []byte) (classID, methodID uint16, err error) {
	if len(payload) < 4 {
		return 0, 0, shortMethodPayload(len(payload))
	}
	return binary.BigEndian.Uint16(payload), binary.BigEndian.Uint16(payload[2:]), nil
}

// methodDecoder checks the ids at the start of payload and returns a
// decoder positioned at the arguments.
func methodDecoder(payload []byte, classID, methodID uint16) (decoder, error) {
	c, m, err := MethodIDs(payload)
	if err != nil {
		return decoder{}, withMethod(err, classID, methodID)
	}
	if c != classID || m != methodID {
		return decoder{}, &Error{
			Code:     CommandInvalid,
			Text:     fmt.Sprintf("payload holds class %d method %d, not %s", c, m, MethodName(classID, methodID)),
			ClassID:  classID,
			MethodID: methodID,
		}
	}
	return newDecoder(payload[4:]), nil
}

const (
	maxShortstr = 255
	// maxTableDepth bounds how deeply tables and arrays may nest, both when
	// encoding (which also stops a table that contains itself) and when
	// decoding (which keeps hostile input from recursing deeply).
	maxTableDepth = 64
)

// decoder reads AMQP primitives from buf[off:end]. Errors are sticky: the
// first failure is kept in err and every later read returns a zero value,
// so generated code can read all fields and check once at the end.
//
// Strings are sliced out of one string copy of the rest of the payload,
// made on the first non-empty string, so a method with several string
// fields costs one allocation rather than one per field.
type decoder struct {
	buf    []byte
	off    int
	end    int
	str    string // copy of buf[strOff:], made lazily
	strOff int
	depth  int
	err    *Error
}

func newDecoder(buf []byte) decoder {
	return decoder{buf: buf, end: len(buf)}
}

func (d *decoder) fail(code uint16, text string) {
	if d.err == nil {
		d.err = newError(code, text)
	}
	// Make every further read fail.
	d.off, d.end = 0, 0
}

func (d *decoder) truncated() {
	d.fail(FrameError, "arguments end early")
}

// finish reports the first error, or trailing bytes after the last field.
func (d *decoder) finish(classID, methodID uint16) error {
	if d.err == nil && d.off != len(d.buf) {
		d.fail(FrameError, fmt.Sprintf("%d unexpected bytes after the last field", len(d.buf)-d.off))
	}
	if d.err != nil {
		d.err.ClassID, d.err.MethodID = classID, methodID
		return d.err
	}
	return nil
}

func (d *decoder) remaining() int { return d.end - d.off }

func (d *decoder) skip(n int) {
	if n > d.remaining() {
		d.truncated()
		return
	}
	d.off += n
}

func (d *decoder) octet() uint8 {
	if d.off < d.end {
		v := d.buf[d.off]
		d.off++
		return v
	}
	d.truncated()
	return 0
}

func (d *decoder) short() uint16 {
	if d.remaining() >= 2 {
		v := binary.BigEndian.Uint16(d.buf[d.off:])
		d.off += 2
		return v
	}
	d.truncated()
	return 0
}

func (d *decoder) long() uint32 {
	if d.remaining() >= 4 {
		v := binary.BigEndian.Uint32(d.buf[d.off:])
		d.off += 4
		return v
	}
	d.truncated()
	return 0
}

func (d *decoder) longlong() uint64 {
	if d.remaining() >= 8 {
		v := binary.BigEndian.Uint64(d.buf[d.off:])
		d.off += 8
		return v
	}
	d.truncated()
	return 0
}

func (d *decoder) timestamp() time.Time {
	return time.Unix(int64(d.longlong()), 0).UTC()
}

// stringN returns the next n bytes as a string.
func (d *decoder) stringN(n int) string {
	if n > d.remaining() {
		d.truncated()
		return ""
	}
	if n == 0 {
		return ""
	}
	start := d.off
	d.off += n
	if len(d.str) == 0 {
		d.str = string(d.buf[start:])
		d.strOff = start
	}
	return d.str[start-d.strOff : d.off-d.strOff]
}

// bytesN returns a copy of the next n bytes; nil when n is zero.
func (d *decoder) bytesN(n int) []byte {
	if n > d.remaining() {
		d.truncated()
		return nil
	}
	if n == 0 {
		return nil
	}
	b := make([]byte, n)
	copy(b, d.buf[d.off:])
	d.off += n
	return b
}

// length reads a 32-bit length and checks it against the remaining input
// before anything is allocated for it.
func (d *decoder) length() int {
	n := d.long()
	if uint64(n) > uint64(d.remaining()) {
		d.truncated()
		return 0
	}
	return int(n)
}

func (d *decoder) shortstr() string { return d.stringN(int(d.octet())) }

func (d *decoder) longstr() string { return d.stringN(d.length()) }

func (d *decoder) skipShortstr() { d.skip(int(d.octet())) }

func (d *decoder) skipLongstr() { d.skip(d.length()) }

// Encoding helpers. Each returns b unchanged in meaning on error.

func appendShortstr(b []byte, s, field string) ([]byte, error) {
	if len(s) > maxShortstr {
		return b, newError(SyntaxError, fmt.Sprintf("%s: shortstr of %d bytes exceeds 255", field, len(s)))
	}
	b = append(b, byte(len(s)))
	return append(b, s...), nil
}

func appendLongstr(b []byte, s, field string) ([]byte, error) {
	if uint64(len(s)) > math.MaxUint32 {
		return b, newError(SyntaxError, fmt.Sprintf("%s: longstr of %d bytes exceeds 2^32-1", field, len(s)))
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...), nil
}
