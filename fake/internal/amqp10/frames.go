package amqp10

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"
)

// FrameType is the type byte of a frame header.
type FrameType uint8

// Frame types.
const (
	FrameTypeAMQP FrameType = 0
	FrameTypeSASL FrameType = 1
)

// Frame sizes fixed by the spec.
const (
	// FrameHeaderSize is the size of the fixed frame header.
	FrameHeaderSize = 8
	// MinMaxFrameSize is the smallest max-frame-size a peer may announce,
	// and the frame size limit during SASL negotiation.
	MinMaxFrameSize = 512
)

// readChunk is how much ReadFrame allocates ahead of data actually received.
const readChunk = 64 << 10

// Frame is one frame read from or written to a connection. Body holds the
// bytes after the (possibly extended) header: an encoded performative or
// SASL frame body, followed by a transfer's payload. An empty Body is an
// empty frame, used as a keepalive.
type Frame struct {
	// Type is FrameTypeAMQP or FrameTypeSASL (other values are reserved).
	Type FrameType
	// Channel is the channel number; SASL frames use 0.
	Channel uint16
	// Body is the frame body after the header.
	Body []byte
}

// IsEmpty reports whether f is an empty (keepalive) frame.
func (f Frame) IsEmpty() bool { return len(f.Body) == 0 }

// Append appends the encoded frame (an 8-byte header with doff 2, then
// Body) to b.
func (f Frame) Append(b []byte) ([]byte, error) {
	if uint64(len(f.Body))+FrameHeaderSize > math.MaxUint32 {
		return b, errTooLarge("frame")
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(f.Body)+FrameHeaderSize))
	b = append(b, 2, byte(f.Type), byte(f.Channel>>8), byte(f.Channel))
	return append(b, f.Body...), nil
}

// AppendFrame appends a frame of type t on channel carrying body (encoded
// in place) to b. A nil body produces an empty frame.
func AppendFrame(b []byte, t FrameType, channel uint16, body FrameBody) ([]byte, error) {
	start := len(b)
	b = append(b, 0, 0, 0, 0, 2, byte(t), byte(channel>>8), byte(channel))
	if body != nil {
		var err error
		if b, err = body.Marshal(b); err != nil {
			return b[:start], err
		}
	}
	size := uint64(len(b) - start)
	if size > math.MaxUint32 {
		return b[:start], errTooLarge("frame")
	}
	binary.BigEndian.PutUint32(b[start:], uint32(size))
	return b, nil
}

// AppendEmptyFrame appends an empty AMQP frame on channel 0, the keepalive
// sent to satisfy a peer's idle timeout.
func AppendEmptyFrame(b []byte) []byte {
	return append(b, 0, 0, 0, 8, 2, byte(FrameTypeAMQP), 0, 0)
}

// WriteFrame encodes a frame of type t on channel carrying body and writes
// it to w with a single Write call.
func WriteFrame(w io.Writer, t FrameType, channel uint16, body FrameBody) error {
	buf, err := AppendFrame(make([]byte, 0, 256), t, channel, body)
	if err != nil {
		return err
	}
	_, err = w.Write(buf)
	return err
}

// ReadFrame reads one frame from r. maxFrameSize is the largest frame size
// accepted, header included; 0 means no limit beyond the 32-bit size field.
// Frames claiming a larger size, a size smaller than their header, or a data
// offset below 2 are rejected with a *DecodeError whose condition is
// CondFramingError, before any body is allocated. Memory for large bodies
// grows with the bytes actually received, never with the claimed size. At a
// clean end of stream ReadFrame returns io.EOF; a frame cut short returns
// io.ErrUnexpectedEOF. The extended header, if any, is skipped. After an
// error the connection is unusable and the reader's position unspecified.
func ReadFrame(r *bufio.Reader, maxFrameSize uint32) (Frame, error) {
	hdr, err := r.Peek(FrameHeaderSize)
	if err != nil {
		if err == io.EOF && len(hdr) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, err
	}
	size := binary.BigEndian.Uint32(hdr[0:4])
	doff := uint32(hdr[4])
	f := Frame{Type: FrameType(hdr[5]), Channel: binary.BigEndian.Uint16(hdr[6:8])}
	if maxFrameSize != 0 && size > maxFrameSize {
		return Frame{}, framingErrorf("frame size %d exceeds the maximum %d", size, maxFrameSize)
	}
	if size < FrameHeaderSize {
		return Frame{}, framingErrorf("frame size %d is smaller than the frame header", size)
	}
	if doff < 2 {
		return Frame{}, framingErrorf("data offset %d is smaller than 2", doff)
	}
	if doff*4 > size {
		return Frame{}, framingErrorf("data offset %d lies beyond the frame size %d", doff, size)
	}
	// Consume the header and any extended header.
	if _, err := r.Discard(int(doff * 4)); err != nil {
		return Frame{}, unexpectedEOF(err)
	}
	n := int(size - doff*4)
	if n == 0 {
		return f, nil
	}
	body, err := readBody(r, n)
	if err != nil {
		return Frame{}, unexpectedEOF(err)
	}
	f.Body = body
	return f, nil
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readBody reads exactly n bytes, allocating at most readChunk bytes ahead of
// what has arrived.
func readBody(r io.Reader, n int) ([]byte, error) {
	if n <= readChunk {
		body := make([]byte, n)
		_, err := io.ReadFull(r, body)
		return body, err
	}
	body := make([]byte, 0, readChunk)
	for len(body) < n {
		if len(body) == cap(body) {
			body = slices.Grow(body, min(cap(body), n-len(body)))
		}
		k, err := r.Read(body[len(body):min(cap(body), n)])
		body = body[:len(body)+k]
		if err != nil && len(body) < n {
			if err == io.EOF {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return body, nil
}

// DecodeFrameBody decodes the body of f according to its type. It returns
// a nil FrameBody for an empty frame, and a *DecodeError (framing error) for
// an unknown frame type.
func DecodeFrameBody(f Frame) (FrameBody, error) {
	if len(f.Body) == 0 {
		return nil, nil
	}
	switch f.Type {
	case FrameTypeAMQP:
		return ParseAMQPBody(f.Body)
	case FrameTypeSASL:
		return ParseSASLBody(f.Body)
	}
	return nil, framingErrorf("unknown frame type %d", f.Type)
}

// Protocol ids carried in a protocol header.
const (
	ProtocolAMQP uint8 = 0
	ProtocolTLS  uint8 = 2
	ProtocolSASL uint8 = 3
)

// ProtocolHeader is the 8-byte header each peer sends before any frame:
// "AMQP", a protocol id and a version.
type ProtocolHeader struct {
	// ProtocolID is ProtocolAMQP, ProtocolTLS or ProtocolSASL.
	ProtocolID uint8
	// Major, Minor and Revision are the protocol version, 1.0.0 here.
	Major, Minor, Revision uint8
}

// Protocol headers of AMQP 1.0.0.
var (
	// HeaderAMQP starts an unsecured AMQP connection: "AMQP\x00\x01\x00\x00".
	HeaderAMQP = ProtocolHeader{ProtocolID: ProtocolAMQP, Major: 1}
	// HeaderSASL starts a SASL security layer: "AMQP\x03\x01\x00\x00".
	HeaderSASL = ProtocolHeader{ProtocolID: ProtocolSASL, Major: 1}
)

// Bytes returns the 8-byte wire form of h.
func (h ProtocolHeader) Bytes() [8]byte {
	return [8]byte{'A', 'M', 'Q', 'P', h.ProtocolID, h.Major, h.Minor, h.Revision}
}

// String formats h like "AMQP 3 1.0.0".
func (h ProtocolHeader) String() string {
	return fmt.Sprintf("AMQP %d %d.%d.%d", h.ProtocolID, h.Major, h.Minor, h.Revision)
}

// ParseProtocolHeader checks an 8-byte protocol header. It fails if the
// bytes do not start with "AMQP"; otherwise it returns the header, with an
// error too when the version is not 1.0.0 or the protocol id is not AMQP,
// TLS or SASL. On a version or id mismatch, a server answers with the header
// it supports and closes the connection.
func ParseProtocolHeader(b [8]byte) (ProtocolHeader, error) {
	if b[0] != 'A' || b[1] != 'M' || b[2] != 'Q' || b[3] != 'P' {
		return ProtocolHeader{}, &DecodeError{Condition: CondFramingError, Reason: fmt.Sprintf("not an AMQP protocol header: %q", b[:])}
	}
	h := ProtocolHeader{ProtocolID: b[4], Major: b[5], Minor: b[6], Revision: b[7]}
	if h.Major != 1 || h.Minor != 0 || h.Revision != 0 {
		return h, &DecodeError{Condition: CondFramingError, Reason: "unsupported AMQP version " + h.String()}
	}
	switch h.ProtocolID {
	case ProtocolAMQP, ProtocolTLS, ProtocolSASL:
		return h, nil
	}
	return h, &DecodeError{Condition: CondFramingError, Reason: "unsupported protocol id in " + h.String()}
}

// ReadProtocolHeader reads and checks a protocol header from r, as
// ParseProtocolHeader does.
func ReadProtocolHeader(r io.Reader) (ProtocolHeader, error) {
	var b [8]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return ProtocolHeader{}, err
	}
	return ParseProtocolHeader(b)
}
