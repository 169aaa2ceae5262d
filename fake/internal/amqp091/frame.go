package amqp091

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// ProtocolHeader is the 8-byte header a client sends before its first
// frame, and that a server sends back before closing a client that sent
// anything else.
const ProtocolHeader = "AMQP\x00\x00\x09\x01"

// frameOverhead is the size of a frame's header (type, channel, size) plus
// its frame-end octet.
const frameOverhead = 8

// Frame is one AMQP frame: its type (FrameMethod, FrameHeader, FrameBody or
// FrameHeartbeat), its channel and its payload, without the header and
// frame-end octet.
type Frame struct {
	Type    uint8  // frame type octet
	Channel uint16 // channel number; 0 for connection methods and heartbeats
	Payload []byte // frame payload
}

// CheckProtocolHeader reports whether h is exactly ProtocolHeader. Any other
// value, including one of a different AMQP version, gives an error wrapping
// ErrBadProtocolHeader.
func CheckProtocolHeader(h []byte) error {
	if string(h) == ProtocolHeader {
		return nil
	}
	return fmt.Errorf("%w: got %q", ErrBadProtocolHeader, h)
}

// ReadProtocolHeader reads the 8 bytes a client sends first and checks them
// with CheckProtocolHeader.
func ReadProtocolHeader(r io.Reader) error {
	var h [len(ProtocolHeader)]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return err
	}
	return CheckProtocolHeader(h[:])
}

// ReadFrame reads one frame from r into a newly allocated payload.
//
// maxFrame is the negotiated frame-max: the largest whole frame, header and
// frame-end octet included; 0 means no limit. A frame claiming more is
// rejected with a FrameError before any of its payload is read or
// allocated. A payload that fits in r's buffer is allocated only once all
// of it has arrived; a larger one grows at most 1 MiB ahead of the bytes
// received, so a peer cannot make the reader allocate much more than it
// actually sent. A
// frame of unknown type or without the frame-end octet is a FrameError.
// io.EOF is returned only when r ends cleanly between frames; a frame cut
// short gives io.ErrUnexpectedEOF.
func ReadFrame(r *bufio.Reader, maxFrame uint32) (Frame, error) {
	f, _, err := readFrame(r, maxFrame, nil)
	return f, err
}

// Reader reads frames from a bufio.Reader into a buffer it reuses, so that
// reading allocates nothing once the buffer has grown to the frame size in
// use. A frame's Payload is valid only until the next ReadFrame call.
type Reader struct {
	r        *bufio.Reader
	maxFrame uint32
	buf      []byte
}

// NewReader returns a Reader reading from r and enforcing maxFrame as
// ReadFrame does.
func NewReader(r *bufio.Reader, maxFrame uint32) *Reader {
	return &Reader{r: r, maxFrame: maxFrame}
}

// SetMaxFrame changes the frame-max limit, as after connection.tune-ok.
func (r *Reader) SetMaxFrame(maxFrame uint32) { r.maxFrame = maxFrame }

// ReadFrame reads the next frame, with the same checks as the package-level
// ReadFrame. The payload aliases the Reader's buffer.
func (r *Reader) ReadFrame() (Frame, error) {
	f, buf, err := readFrame(r.r, r.maxFrame, r.buf[:0])
	if cap(buf) > cap(r.buf) {
		r.buf = buf
	}
	return f, err
}

// bigFrameStep is how much payload memory readFrame commits at a time for
// frames larger than the bufio.Reader's buffer.
const bigFrameStep = 1 << 20

// readFrame reads a frame, appending its payload to buf, and returns the
// frame and the possibly grown buffer.
func readFrame(r *bufio.Reader, maxFrame uint32, buf []byte) (Frame, []byte, error) {
	hdr, err := r.Peek(7)
	if err != nil {
		if errors.Is(err, io.EOF) && len(hdr) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, buf, err
	}
	f := Frame{Type: hdr[0], Channel: binary.BigEndian.Uint16(hdr[1:])}
	size := binary.BigEndian.Uint32(hdr[3:])
	switch f.Type {
	case FrameMethod, FrameHeader, FrameBody, FrameHeartbeat:
	default:
		return Frame{}, buf, newError(FrameError, fmt.Sprintf("unknown frame type %d", f.Type))
	}
	if maxFrame != 0 && uint64(size)+frameOverhead > uint64(maxFrame) {
		return Frame{}, buf, newError(FrameError, fmt.Sprintf("frame of %d bytes exceeds frame-max %d", uint64(size)+frameOverhead, maxFrame))
	}
	if _, err := r.Discard(7); err != nil {
		return Frame{}, buf, err
	}
	n := int(size)
	start := len(buf)
	if n+1 <= r.Size() {
		// The whole rest of the frame fits in r's buffer: wait for it there
		// and copy it once.
		p, err := r.Peek(n + 1)
		if err != nil {
			return Frame{}, buf, unexpected(err)
		}
		if p[n] != FrameEnd {
			return Frame{}, buf, badFrameEnd(p[n])
		}
		buf = append(buf, p[:n]...)
		_, _ = r.Discard(n + 1) // cannot fail after a successful Peek
	} else {
		// Grow the payload step by step as data arrives.
		for len(buf)-start < n {
			step := min(n-(len(buf)-start), bigFrameStep)
			buf = growLen(buf, step)
			if _, err := io.ReadFull(r, buf[len(buf)-step:]); err != nil {
				return Frame{}, buf[:start], unexpected(err)
			}
		}
		end, err := r.ReadByte()
		if err != nil {
			return Frame{}, buf[:start], unexpected(err)
		}
		if end != FrameEnd {
			return Frame{}, buf[:start], badFrameEnd(end)
		}
	}
	f.Payload = buf[start:]
	return f, buf, nil
}

// growLen extends b by n bytes, reallocating when needed.
func growLen(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b[:len(b)+n]
	}
	nb := make([]byte, len(b)+n, max(len(b)+n, 2*cap(b)))
	copy(nb, b)
	return nb
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func badFrameEnd(b byte) error {
	return newError(FrameError, fmt.Sprintf("frame ends with 0x%02x instead of 0xce", b))
}

// Writer writes frames to a bufio.Writer. It encodes straight into the
// bufio.Writer's free space when there is enough of it, and otherwise into
// a scratch buffer it reuses, so writing allocates nothing in the steady
// state. Nothing reaches the underlying writer until the bufio.Writer fills
// up or Flush is called. A Writer is not safe for concurrent use.
type Writer struct {
	w        *bufio.Writer
	maxFrame uint32
	scratch  []byte
	direct   bool // the frame being built is in w's free space
}

// NewWriter returns a Writer that writes to w. maxFrame is the frame-max
// in force: the largest whole frame, 0 for no limit. Body frames are split
// to fit it, and a method or header frame exceeding it is an error.
func NewWriter(w *bufio.Writer, maxFrame uint32) *Writer {
	return &Writer{w: w, maxFrame: maxFrame}
}

// SetMaxFrame changes the frame-max in force, as after connection.tune-ok.
func (w *Writer) SetMaxFrame(maxFrame uint32) { w.maxFrame = maxFrame }

// Flush writes any buffered frames to the underlying writer.
func (w *Writer) Flush() error { return w.w.Flush() }

// minDirect is the least free space in the bufio.Writer for which a method
// or header frame is encoded in place rather than in the scratch buffer.
const minDirect = 512

// begin returns a buffer to encode a frame into, with the 7-byte frame
// header already in place and the size to be patched by end.
func (w *Writer) begin(typ uint8, channel uint16) []byte {
	b := w.w.AvailableBuffer()
	w.direct = cap(b) >= minDirect
	if !w.direct {
		b = w.scratch[:0]
	}
	return append(b, typ, byte(channel>>8), byte(channel), 0, 0, 0, 0)
}

// end patches the size, checks frame-max, adds the frame-end octet and
// hands the frame to the bufio.Writer.
func (w *Writer) end(b []byte) error {
	size := len(b) - 7
	if uint64(size) > math.MaxUint32 || (w.maxFrame != 0 && uint64(size)+frameOverhead > uint64(w.maxFrame)) {
		return newError(FrameError, fmt.Sprintf("frame of %d bytes exceeds frame-max %d", uint64(size)+frameOverhead, w.maxFrame))
	}
	binary.BigEndian.PutUint32(b[3:], uint32(size))
	b = append(b, FrameEnd)
	_, err := w.w.Write(b)
	if !w.direct && cap(b) > cap(w.scratch) && cap(b) <= maxScratch {
		// Keep a scratch buffer that grew; Write copied from it, so it
		// can be reused. Very large ones are dropped, not kept alive.
		w.scratch = b[:0]
	}
	return err
}

// maxScratch is the largest scratch buffer a Writer keeps between frames.
const maxScratch = 1 << 20

// WriteMethod writes a method frame for m on channel.
func (w *Writer) WriteMethod(channel uint16, m Method) error {
	b, err := m.AppendBinary(w.begin(FrameMethod, channel))
	if err != nil {
		return err
	}
	return w.end(b)
}

// WriteHeader writes a content header frame on channel.
func (w *Writer) WriteHeader(channel uint16, h *ContentHeader) error {
	return w.writeHeader(channel, h.ClassID, h.Weight, h.BodySize, &h.Properties)
}

func (w *Writer) writeHeader(channel, classID, weight uint16, bodySize uint64, p *Properties) error {
	b, err := appendContentHeader(w.begin(FrameHeader, channel), classID, weight, bodySize, p)
	if err != nil {
		return err
	}
	return w.end(b)
}

// WriteBody writes body as body frames on channel, each carrying at most
// frame-max minus 8 bytes. An empty body writes no frame.
func (w *Writer) WriteBody(channel uint16, body []byte) error {
	chunk := uint64(math.MaxUint32)
	if w.maxFrame > frameOverhead {
		chunk = uint64(w.maxFrame - frameOverhead)
	}
	for len(body) > 0 {
		n := len(body)
		if uint64(n) > chunk {
			n = int(chunk)
		}
		if err := w.writeFrameHeader(FrameBody, channel, uint32(n)); err != nil {
			return err
		}
		if _, err := w.w.Write(body[:n]); err != nil {
			return err
		}
		if err := w.w.WriteByte(FrameEnd); err != nil {
			return err
		}
		body = body[n:]
	}
	return nil
}

// WriteContent writes a content-carrying method (basic.deliver, basic.get-ok,
// basic.return or basic.publish) followed by its content header, built from
// props and the body's size, and the body frames. props may be nil for no
// properties.
func (w *Writer) WriteContent(channel uint16, m Method, props *Properties, body []byte) error {
	if err := w.WriteMethod(channel, m); err != nil {
		return err
	}
	if props == nil {
		props = &noProperties
	}
	if err := w.writeHeader(channel, m.ClassID(), 0, uint64(len(body)), props); err != nil {
		return err
	}
	return w.WriteBody(channel, body)
}

var noProperties Properties

// heartbeatFrame is the complete wire form of a heartbeat.
var heartbeatFrame = []byte{FrameHeartbeat, 0, 0, 0, 0, 0, 0, FrameEnd}

// WriteHeartbeat writes a heartbeat frame.
func (w *Writer) WriteHeartbeat() error {
	_, err := w.w.Write(heartbeatFrame)
	return err
}

// WriteFrame writes f as it is. It checks only the frame-max limit.
func (w *Writer) WriteFrame(f Frame) error {
	if uint64(len(f.Payload)) > math.MaxUint32 || (w.maxFrame != 0 && uint64(len(f.Payload))+frameOverhead > uint64(w.maxFrame)) {
		return newError(FrameError, fmt.Sprintf("frame of %d bytes exceeds frame-max %d", uint64(len(f.Payload))+frameOverhead, w.maxFrame))
	}
	if err := w.writeFrameHeader(f.Type, f.Channel, uint32(len(f.Payload))); err != nil {
		return err
	}
	if _, err := w.w.Write(f.Payload); err != nil {
		return err
	}
	return w.w.WriteByte(FrameEnd)
}

// writeFrameHeader writes the 7-byte header of a frame whose payload the
// caller writes next. It goes through the scratch buffer: a local array
// would escape through bufio.Writer.Write and cost an allocation.
func (w *Writer) writeFrameHeader(typ uint8, channel uint16, size uint32) error {
	h := append(w.scratch[:0], typ, byte(channel>>8), byte(channel))
	h = binary.BigEndian.AppendUint32(h, size)
	if cap(h) <= maxScratch {
		w.scratch = h[:0]
	}
	_, err := w.w.Write(h)
	return err
}
