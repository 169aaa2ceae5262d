package amqp091

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"runtime"
	"strings"
	"testing"
)

func rawFrame(typ uint8, channel uint16, payload []byte) []byte {
	b := []byte{typ, byte(channel >> 8), byte(channel)}
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	b = append(b, payload...)
	return append(b, FrameEnd)
}

func TestProtocolHeader(t *testing.T) {
	if err := CheckProtocolHeader([]byte("AMQP\x00\x00\x09\x01")); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"AMQP\x00\x00\x09\x00", "AMQP\x01\x01\x00\x09", "HTTP/1.1", "AMQP", ""} {
		if err := CheckProtocolHeader([]byte(bad)); !errors.Is(err, ErrBadProtocolHeader) {
			t.Errorf("CheckProtocolHeader(%q) = %v", bad, err)
		}
	}
	if err := ReadProtocolHeader(strings.NewReader(ProtocolHeader + "rest")); err != nil {
		t.Fatal(err)
	}
	if err := ReadProtocolHeader(strings.NewReader("AMQP")); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short header: %v", err)
	}
	if err := ReadProtocolHeader(strings.NewReader("GET / HTTP/1.1\r\n")); !errors.Is(err, ErrBadProtocolHeader) {
		t.Fatalf("wrong header: %v", err)
	}
}

func TestReadFrame(t *testing.T) {
	ack, _ := (&BasicAck{DeliveryTag: 1}).MarshalBinary()
	var stream []byte
	stream = append(stream, rawFrame(FrameMethod, 1, ack)...)
	stream = append(stream, rawFrame(FrameHeartbeat, 0, nil)...)
	stream = append(stream, rawFrame(FrameBody, 65535, []byte("body"))...)
	r := bufio.NewReader(bytes.NewReader(stream))
	want := []Frame{
		{FrameMethod, 1, ack},
		{FrameHeartbeat, 0, []byte{}},
		{FrameBody, 65535, []byte("body")},
	}
	for _, w := range want {
		f, err := ReadFrame(r, FrameMinSize)
		if err != nil {
			t.Fatal(err)
		}
		if f.Type != w.Type || f.Channel != w.Channel || !bytes.Equal(f.Payload, w.Payload) {
			t.Fatalf("got %+v, want %+v", f, w)
		}
	}
	if _, err := ReadFrame(r, FrameMinSize); err != io.EOF {
		t.Fatalf("at end: %v, want io.EOF", err)
	}
}

func TestReadFrameErrors(t *testing.T) {
	good := rawFrame(FrameBody, 1, []byte("abc"))
	badEnd := bytes.Clone(good)
	badEnd[len(badEnd)-1] = 0
	cases := []struct {
		name     string
		in       []byte
		maxFrame uint32
		code     uint16
		err      error
	}{
		{"bad frame end", badEnd, 0, FrameError, nil},
		{"unknown type", rawFrame(4, 1, nil), 0, FrameError, nil},
		{"type zero", rawFrame(0, 0, nil), 0, FrameError, nil},
		{"over frame-max", rawFrame(FrameBody, 1, make([]byte, 4089)), 4096, FrameError, nil},
		{"cut in header", good[:5], 0, 0, io.ErrUnexpectedEOF},
		{"cut in payload", good[:9], 0, 0, io.ErrUnexpectedEOF},
		{"cut before end", good[:len(good)-1], 0, 0, io.ErrUnexpectedEOF},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadFrame(bufio.NewReader(bytes.NewReader(c.in)), c.maxFrame)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("got %v, want %v", err, c.err)
				}
				return
			}
			e := wantCode(t, err, c.code)
			if !e.Hard() {
				t.Fatal("frame errors must be hard")
			}
		})
	}
	// Exactly frame-max is allowed.
	if _, err := ReadFrame(bufio.NewReader(bytes.NewReader(rawFrame(FrameBody, 1, make([]byte, 4088)))), 4096); err != nil {
		t.Fatalf("frame of exactly frame-max: %v", err)
	}
}

// TestReadFrameHugeClaim checks that a frame header claiming far more than
// the peer sends costs no matching allocation, both above frame-max and
// with no limit at all.
func TestReadFrameHugeClaim(t *testing.T) {
	huge := []byte{FrameBody, 0, 1, 0xff, 0xff, 0xff, 0xf0, 'x', 'y'}
	for _, maxFrame := range []uint32{0, 131072} {
		var err error
		allocs := testing.AllocsPerRun(5, func() {
			_, err = ReadFrame(bufio.NewReaderSize(bytes.NewReader(huge), 4096), maxFrame)
		})
		if maxFrame == 0 && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("max %d: %v", maxFrame, err)
		}
		if maxFrame != 0 {
			wantCode(t, err, FrameError)
		}
		// The bytes.Reader, the bufio.Reader and its buffer, then either
		// the first 1 MiB step or the error and its formatted text.
		if allocs > 8 && !raceEnabled {
			t.Fatalf("max %d: %v allocations", maxFrame, allocs)
		}
	}
	// Bytes allocated per read; the least of a few measurements, so that
	// allocations by other goroutines do not count.
	var ms [2]uint64
	for i, maxFrame := range []uint32{131072, 0} {
		ms[i] = math.MaxUint64
		for range 3 {
			ms[i] = min(ms[i], bytesPerRun(10, func() {
				_, _ = ReadFrame(bufio.NewReaderSize(bytes.NewReader(huge), 4096), maxFrame)
			}))
		}
	}
	if ms[0] > 16<<10 || ms[1] > (1<<20)+(16<<10) {
		t.Fatalf("bytes allocated per read: over frame-max %d, unlimited %d", ms[0], ms[1])
	}
}

// bytesPerRun returns the average number of bytes f allocates.
func bytesPerRun(runs int, f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(runs)
}

func TestReadFrameLarge(t *testing.T) {
	// Frames larger than the bufio.Reader's buffer take the incremental
	// path; check it with sizes around the step size.
	for _, n := range []int{4095, 4096, 5000, bigFrameStep - 1, bigFrameStep, bigFrameStep + 3, 2*bigFrameStep + 1} {
		payload := make([]byte, n)
		for i := range payload {
			payload[i] = byte(i * 7)
		}
		wire := rawFrame(FrameBody, 3, payload)
		wire = append(wire, rawFrame(FrameHeartbeat, 0, nil)...)
		br := bufio.NewReaderSize(bytes.NewReader(wire), 4096)
		rd := NewReader(br, 0)
		f, err := rd.ReadFrame()
		if err != nil {
			t.Fatalf("size %d: %v", n, err)
		}
		if !bytes.Equal(f.Payload, payload) || f.Channel != 3 {
			t.Fatalf("size %d: payload differs", n)
		}
		if f, err := rd.ReadFrame(); err != nil || f.Type != FrameHeartbeat {
			t.Fatalf("size %d: next frame %+v %v", n, f, err)
		}
		bad := rawFrame(FrameBody, 3, payload)
		bad[len(bad)-1] = 1
		_, err = ReadFrame(bufio.NewReaderSize(bytes.NewReader(bad), 4096), 0)
		wantCode(t, err, FrameError)
		_, err = ReadFrame(bufio.NewReaderSize(bytes.NewReader(bad[:len(bad)/2]), 4096), 0)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("size %d cut: %v", n, err)
		}
	}
}

func TestReaderReusesBuffer(t *testing.T) {
	var stream []byte
	for i := range 50 {
		stream = append(stream, rawFrame(FrameBody, 1, bytes.Repeat([]byte{byte(i)}, 100))...)
	}
	rd := NewReader(bufio.NewReader(bytes.NewReader(stream)), FrameMinSize)
	if _, err := rd.ReadFrame(); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(40, func() {
		f, err := rd.ReadFrame()
		if err != nil || len(f.Payload) != 100 {
			t.Fatal(err)
		}
	})
	if allocs != 0 && !raceEnabled {
		t.Fatalf("%v allocations per frame", allocs)
	}
	rd.SetMaxFrame(50)
	_, err := rd.ReadFrame()
	wantCode(t, err, FrameError)
}

func TestWriter(t *testing.T) {
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	w := NewWriter(bw, 4096)
	body := make([]byte, 10000)
	for i := range body {
		body[i] = byte(i)
	}
	deliver := &BasicDeliver{ConsumerTag: "ctag", DeliveryTag: 42, Exchange: "ex", RoutingKey: "rk"}
	props := &Properties{ContentType: "text/plain", Headers: Table{"h": int32(1)}}
	if err := w.WriteContent(5, deliver, props, body); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteContent(6, &BasicGetOk{DeliveryTag: 1}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteHeartbeat(); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFrame(Frame{Type: FrameBody, Channel: 9, Payload: []byte("raw")}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}

	r := bufio.NewReader(&out)
	read := func() Frame {
		t.Helper()
		f, err := ReadFrame(r, 4096)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	f := read()
	m, err := DecodeMethod(f.Payload)
	if err != nil || f.Type != FrameMethod || f.Channel != 5 || !deepEqual(m, deliver) {
		t.Fatalf("method frame %+v decoded %+v %v", f, m, err)
	}
	f = read()
	var h ContentHeader
	if err := h.UnmarshalBinary(f.Payload); err != nil || f.Type != FrameHeader {
		t.Fatal(err)
	}
	if h.ClassID != ClassBasic || h.BodySize != 10000 || h.Properties.ContentType != "text/plain" || h.Properties.Headers["h"] != int32(1) {
		t.Fatalf("header %+v", h)
	}
	var got []byte
	for _, size := range []int{4088, 4088, 10000 - 2*4088} {
		f = read()
		if f.Type != FrameBody || f.Channel != 5 || len(f.Payload) != size {
			t.Fatalf("body frame type %d channel %d size %d, want size %d", f.Type, f.Channel, len(f.Payload), size)
		}
		got = append(got, f.Payload...)
	}
	if !bytes.Equal(got, body) {
		t.Fatal("body differs")
	}
	// Empty body: method and header, no body frame.
	if f = read(); f.Type != FrameMethod || f.Channel != 6 {
		t.Fatalf("got %+v", f)
	}
	if f = read(); f.Type != FrameHeader {
		t.Fatalf("got %+v", f)
	}
	if err := h.UnmarshalBinary(f.Payload); err != nil || h.BodySize != 0 || h.Properties.Flags != 0 {
		t.Fatalf("empty header %+v %v", h, err)
	}
	if f = read(); f.Type != FrameHeartbeat || f.Channel != 0 || len(f.Payload) != 0 {
		t.Fatalf("got %+v", f)
	}
	if f = read(); f.Type != FrameBody || f.Channel != 9 || string(f.Payload) != "raw" {
		t.Fatalf("got %+v", f)
	}
	if _, err := ReadFrame(r, 4096); err != io.EOF {
		t.Fatalf("trailing data: %v", err)
	}
}

func TestWriterLimits(t *testing.T) {
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	w := NewWriter(bw, 100)
	err := w.WriteMethod(0, &ConnectionStart{Mechanisms: strings.Repeat("m", 200)})
	wantCode(t, err, FrameError)
	err = w.WriteFrame(Frame{Type: FrameBody, Payload: make([]byte, 93)})
	wantCode(t, err, FrameError)
	err = w.WriteHeader(1, &ContentHeader{ClassID: ClassBasic, Properties: Properties{Headers: Table{"big": strings.Repeat("h", 100)}}})
	wantCode(t, err, FrameError)
	err = w.WriteMethod(1, &BasicPublish{Exchange: strings.Repeat("e", 300)})
	wantCode(t, err, SyntaxError)
	if err := w.Flush(); err != nil || out.Len() != 0 {
		t.Fatalf("rejected frames reached the output: %d bytes, %v", out.Len(), err)
	}
	// Unlimited before tuning is not the default; SetMaxFrame(0) lifts it.
	w.SetMaxFrame(0)
	if err := w.WriteMethod(0, &ConnectionStart{Mechanisms: strings.Repeat("m", 5000)}); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteBody(1, make([]byte, 70000)); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	r := bufio.NewReader(&out)
	f, err := ReadFrame(r, 0)
	if err != nil || f.Type != FrameMethod {
		t.Fatal(err)
	}
	if f, err = ReadFrame(r, 0); err != nil || len(f.Payload) != 70000 {
		t.Fatalf("unsplit body: %d bytes, %v", len(f.Payload), err)
	}
}

// TestWriterSmallBuffer writes through a bufio.Writer too small to encode
// in place, exercising the scratch buffer.
func TestWriterSmallBuffer(t *testing.T) {
	var out bytes.Buffer
	bw := bufio.NewWriterSize(&out, 16)
	w := NewWriter(bw, 0)
	var want []Method
	for i := range 20 {
		m := &BasicDeliver{ConsumerTag: strings.Repeat("c", i*10), DeliveryTag: uint64(i)}
		want = append(want, m)
		if err := w.WriteMethod(1, m); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	r := bufio.NewReader(&out)
	for _, m := range want {
		f, err := ReadFrame(r, 0)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeMethod(f.Payload)
		if err != nil || !deepEqual(got, m) {
			t.Fatalf("got %+v, %v; want %+v", got, err, m)
		}
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

func TestWriterPropagatesErrors(t *testing.T) {
	boom := errors.New("boom")
	w := NewWriter(bufio.NewWriterSize(failWriter{boom}, 16), 0)
	if err := w.WriteBody(1, make([]byte, 100)); !errors.Is(err, boom) {
		t.Fatalf("WriteBody: %v", err)
	}
	if err := w.WriteMethod(1, &BasicDeliver{ConsumerTag: strings.Repeat("c", 50)}); !errors.Is(err, boom) {
		t.Fatalf("WriteMethod: %v", err)
	}
}
