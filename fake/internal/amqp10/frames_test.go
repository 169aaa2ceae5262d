package amqp10

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"runtime"
	"testing"
	"testing/iotest"
)

func readFrameBytes(b []byte, max uint32) (Frame, error) {
	return ReadFrame(bufio.NewReader(bytes.NewReader(b)), max)
}

func isFramingError(err error) bool {
	var de *DecodeError
	return errors.As(err, &de) && de.Condition == CondFramingError
}

func TestFrameEncoding(t *testing.T) {
	got, err := AppendFrame(nil, FrameTypeAMQP, 0x0102, &End{})
	if err != nil {
		t.Fatal(err)
	}
	if want := h("0000000c 02 00 0102 00531745"); !bytes.Equal(got, want) {
		t.Fatalf("AppendFrame = %x, want %x", got, want)
	}
	got, err = AppendFrame([]byte{0xff}, FrameTypeSASL, 0, &SASLOutcome{})
	if err != nil {
		t.Fatal(err)
	}
	if want := h("ff 00000010 02 01 0000 005344c0030150 00"); !bytes.Equal(got, want) {
		t.Fatalf("AppendFrame = %x, want %x", got, want)
	}
	if got := AppendEmptyFrame(nil); !bytes.Equal(got, h("00000008 02 00 0000")) {
		t.Fatalf("AppendEmptyFrame = %x", got)
	}
	if got, _ := AppendFrame(nil, FrameTypeAMQP, 0, nil); !bytes.Equal(got, h("00000008 02 00 0000")) {
		t.Fatalf("AppendFrame(nil body) = %x", got)
	}
	got, err = Frame{Type: FrameTypeSASL, Channel: 7, Body: []byte{1, 2}}.Append(nil)
	if err != nil || !bytes.Equal(got, h("0000000a 02 01 0007 0102")) {
		t.Fatalf("Frame.Append = %x, %v", got, err)
	}
	// A body that fails to encode leaves b untouched.
	got, err = AppendFrame([]byte{1}, FrameTypeAMQP, 0, &Open{Properties: Map{{"k", struct{}{}}}})
	if err == nil || !bytes.Equal(got, []byte{1}) {
		t.Fatalf("failed AppendFrame = %x, %v", got, err)
	}
	var buf bytes.Buffer
	if err := WriteFrame(&buf, FrameTypeAMQP, 1, &Close{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), h("0000000c 02 00 0001 00531845")) {
		t.Fatalf("WriteFrame = %x", buf.Bytes())
	}
}

func TestReadFrame(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want Frame
	}{
		{"amqp", h("0000000c 02 00 0003 00531745"), Frame{Type: FrameTypeAMQP, Channel: 3, Body: h("00531745")}},
		{"sasl", h("0000000a 02 01 0000 abcd"), Frame{Type: FrameTypeSASL, Body: h("abcd")}},
		{"empty", h("00000008 02 00 0000"), Frame{}},
		{"extended header", h("00000010 03 00 0001 deadbeef 00531845"), Frame{Channel: 1, Body: h("00531845")}},
		{"extended header only", h("0000000c 03 00 0000 deadbeef"), Frame{}},
		{"unknown type passed through", h("00000009 02 05 0000 01"), Frame{Type: 5, Body: []byte{1}}},
	}
	for _, tc := range cases {
		f, err := readFrameBytes(tc.in, 512)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !reflect.DeepEqual(f, tc.want) {
			t.Errorf("%s: got %#v, want %#v", tc.name, f, tc.want)
		}
		if f.IsEmpty() != (len(tc.want.Body) == 0) {
			t.Errorf("%s: IsEmpty = %v", tc.name, f.IsEmpty())
		}
	}
	// Several frames back to back.
	in := cat(h("00000008 02 00 0000"), h("0000000c 02 00 0000 00531845"))
	r := bufio.NewReader(iotest.OneByteReader(bytes.NewReader(in)))
	for i, want := range []Frame{{}, {Body: h("00531845")}} {
		f, err := ReadFrame(r, 0)
		if err != nil || !reflect.DeepEqual(f, want) {
			t.Fatalf("frame %d: %#v, %v", i, f, err)
		}
	}
	if _, err := ReadFrame(r, 0); err != io.EOF {
		t.Fatalf("at end: %v, want io.EOF", err)
	}
}

func TestReadFrameErrors(t *testing.T) {
	cases := []struct {
		name    string
		in      []byte
		max     uint32
		framing bool // want a framing *DecodeError rather than an I/O error
	}{
		{"oversized", h("00000201 02 00 0000"), 512, true},
		{"oversized huge", h("ffffffff 02 00 0000"), 1 << 20, true},
		{"size below header", h("00000007 02 00 0000"), 0, true},
		{"size zero", h("00000000 02 00 0000"), 0, true},
		{"doff 0", h("00000008 00 00 0000"), 0, true},
		{"doff 1", h("00000008 01 00 0000"), 0, true},
		{"doff beyond size", h("0000000c 04 00 0000 00000000"), 0, true},
		{"truncated header", h("000000"), 0, false},
		{"truncated body", h("00000010 02 00 0000 0102"), 0, false},
		{"truncated extended header", h("00000010 04 00 0000 01"), 0, false},
	}
	for _, tc := range cases {
		_, err := readFrameBytes(tc.in, tc.max)
		if err == nil {
			t.Errorf("%s: succeeded", tc.name)
			continue
		}
		if tc.framing != isFramingError(err) {
			t.Errorf("%s: error %v, framing = %v", tc.name, err, isFramingError(err))
		}
		if !tc.framing && err != io.ErrUnexpectedEOF {
			t.Errorf("%s: error %v, want io.ErrUnexpectedEOF", tc.name, err)
		}
	}
	if _, err := readFrameBytes(nil, 0); err != io.EOF {
		t.Fatalf("empty input: %v, want io.EOF", err)
	}
}

// TestReadFrameNoAllocationOfClaimedSize sends headers claiming huge frames
// and checks ReadFrame allocates nowhere near the claimed size.
func TestReadFrameNoAllocationOfClaimedSize(t *testing.T) {
	for _, max := range []uint32{0, 1 << 31} {
		in := h("7fffffff 02 00 0000 0102030405")
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := readFrameBytes(in, max)
		runtime.ReadMemStats(&after)
		if err != io.ErrUnexpectedEOF {
			t.Fatalf("max %d: error %v, want io.ErrUnexpectedEOF", max, err)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
			t.Fatalf("max %d: allocated %d bytes for a 5-byte body", max, alloc)
		}
	}
	// Rejected by the limit: only the error itself is allocated.
	in := h("7fffffff 02 00 0000")
	br := bufio.NewReader(bytes.NewReader(nil))
	const runs = 100
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		br.Reset(bytes.NewReader(in))
		if _, err := ReadFrame(br, 4096); !isFramingError(err) {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if perRun := (after.TotalAlloc - before.TotalAlloc) / runs; perRun > 1024 {
		t.Fatalf("rejecting an oversized frame allocated %d bytes", perRun)
	}
}

func TestReadFrameLarge(t *testing.T) {
	body := make([]byte, 3*readChunk+17)
	for i := range body {
		body[i] = byte(i * 7)
	}
	enc, err := Frame{Channel: 9, Body: body}.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(iotest.HalfReader(bytes.NewReader(enc)))
	f, err := ReadFrame(r, uint32(len(enc)))
	if err != nil {
		t.Fatal(err)
	}
	if f.Channel != 9 || !bytes.Equal(f.Body, body) {
		t.Fatal("large frame body differs")
	}
	if _, err := readFrameBytes(enc[:len(enc)-1], 0); err != io.ErrUnexpectedEOF {
		t.Fatalf("truncated large frame: %v", err)
	}
	if _, err := readFrameBytes(enc, uint32(len(enc)-1)); !isFramingError(err) {
		t.Fatalf("large frame one byte over the limit: %v", err)
	}
}

func TestDecodeFrameBody(t *testing.T) {
	if b, err := DecodeFrameBody(Frame{}); b != nil || err != nil {
		t.Fatalf("empty frame: %#v, %v", b, err)
	}
	b, err := DecodeFrameBody(Frame{Type: FrameTypeAMQP, Body: h("00531745")})
	if err != nil || !reflect.DeepEqual(b, &End{}) {
		t.Fatalf("end: %#v, %v", b, err)
	}
	if _, err := DecodeFrameBody(Frame{Type: 2, Body: h("00531745")}); !isFramingError(err) {
		t.Fatalf("unknown frame type: %v", err)
	}
	if _, err := DecodeFrameBody(Frame{Type: FrameTypeSASL, Body: h("00531745")}); err == nil {
		t.Fatal("performative accepted in a SASL frame")
	}
}

func TestProtocolHeaders(t *testing.T) {
	if HeaderAMQP.Bytes() != [8]byte{'A', 'M', 'Q', 'P', 0, 1, 0, 0} {
		t.Fatalf("AMQP header %q", HeaderAMQP.Bytes())
	}
	if HeaderSASL.Bytes() != [8]byte{'A', 'M', 'Q', 'P', 3, 1, 0, 0} {
		t.Fatalf("SASL header %q", HeaderSASL.Bytes())
	}
	for _, ok := range []string{"AMQP\x00\x01\x00\x00", "AMQP\x03\x01\x00\x00", "AMQP\x02\x01\x00\x00"} {
		hd, err := ReadProtocolHeader(bytes.NewReader([]byte(ok)))
		if err != nil || hd.Bytes() != [8]byte([]byte(ok)) {
			t.Errorf("%q: %v, %v", ok, hd, err)
		}
	}
	bad := []struct {
		in      string
		wantHdr ProtocolHeader
	}{
		{"HTTP/1.1", ProtocolHeader{}},
		{"AMQP\x00\x00\x09\x01", ProtocolHeader{Major: 0, Minor: 9, Revision: 1}},
		{"AMQP\x00\x01\x00\x01", ProtocolHeader{Major: 1, Revision: 1}},
		{"AMQP\x01\x01\x00\x00", ProtocolHeader{ProtocolID: 1, Major: 1}},
	}
	for _, tc := range bad {
		hd, err := ParseProtocolHeader([8]byte([]byte(tc.in)))
		if !isFramingError(err) {
			t.Errorf("%q: error %v", tc.in, err)
		}
		if hd != tc.wantHdr {
			t.Errorf("%q: header %v, want %v", tc.in, hd, tc.wantHdr)
		}
	}
	if _, err := ReadProtocolHeader(bytes.NewReader([]byte("AMQ"))); err != io.ErrUnexpectedEOF {
		t.Fatalf("short header: %v", err)
	}
	if HeaderSASL.String() != "AMQP 3 1.0.0" {
		t.Fatal(HeaderSASL.String())
	}
}
