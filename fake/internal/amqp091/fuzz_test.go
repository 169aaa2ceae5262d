package amqp091

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

// The seed corpora live in testdata/fuzz/<FuzzName>/; the f.Add calls
// below add a few more built from the encoder.

// checkError fails t unless err is nil, an *Error with a defined code, or
// (for readers) an I/O error.
func checkError(t *testing.T, err error, ioAllowed bool) {
	t.Helper()
	if err == nil {
		return
	}
	var e *Error
	if errors.As(err, &e) {
		if ReplyCodeName(e.Code) == "" || !e.Hard() {
			t.Fatalf("error with unexpected code: %v", err)
		}
		return
	}
	if ioAllowed && errors.Is(err, io.ErrUnexpectedEOF) {
		return
	}
	t.Fatalf("unexpected error type %T: %v", err, err)
}

func FuzzReadFrame(f *testing.F) {
	publish, _ := (&BasicPublish{Exchange: "x", RoutingKey: "k"}).MarshalBinary()
	header, _ := (&ContentHeader{ClassID: ClassBasic, BodySize: 2, Properties: Properties{ContentType: "t"}}).MarshalBinary()
	var stream []byte
	stream = append(stream, rawFrame(FrameMethod, 1, publish)...)
	stream = append(stream, rawFrame(FrameHeader, 1, header)...)
	stream = append(stream, rawFrame(FrameBody, 1, []byte("hi"))...)
	stream = append(stream, rawFrame(FrameHeartbeat, 0, nil)...)
	f.Add(stream, uint32(4096))
	f.Add(stream, uint32(0))
	f.Add(stream[:len(stream)-3], uint32(4096))

	f.Fuzz(func(t *testing.T, data []byte, maxFrame uint32) {
		br := bufio.NewReaderSize(bytes.NewReader(data), 64)
		rd := NewReader(br, maxFrame)
		var out bytes.Buffer
		w := NewWriter(bufio.NewWriter(&out), 0)
		consumed := 0
		for range 100 {
			fr, err := rd.ReadFrame()
			if err == io.EOF {
				if consumed != len(data) {
					t.Fatalf("io.EOF after %d of %d bytes", consumed, len(data))
				}
				break
			}
			if err != nil {
				checkError(t, err, true)
				break
			}
			if maxFrame != 0 && len(fr.Payload)+8 > int(maxFrame) {
				t.Fatalf("frame of %d payload bytes passed frame-max %d", len(fr.Payload), maxFrame)
			}
			consumed += len(fr.Payload) + 8
			// Whatever decodes must not panic, and errors must be typed.
			switch fr.Type {
			case FrameMethod:
				_, err := DecodeMethod(fr.Payload)
				checkError(t, err, false)
			case FrameHeader:
				var h ContentHeader
				checkError(t, h.UnmarshalBinary(fr.Payload), false)
			}
			if err := w.WriteFrame(fr); err != nil {
				t.Fatal(err)
			}
		}
		// Writing back the frames read gives back the bytes they came from.
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), data[:out.Len()]) || out.Len() != consumed {
			t.Fatalf("re-encoded frames differ from input")
		}
	})
}

func FuzzDecodeMethod(f *testing.F) {
	for _, m := range []Method{
		&BasicPublish{Exchange: "amq.direct", RoutingKey: "rk", Mandatory: true},
		&BasicDeliver{ConsumerTag: "c", DeliveryTag: 7, Redelivered: true, RoutingKey: "q"},
		&BasicAck{DeliveryTag: 3, Multiple: true},
		&QueueDeclare{Queue: "q", Durable: true, Arguments: Table{"x-max-length": int32(10)}},
		&ConnectionStartOk{ClientProperties: sampleTable(), Mechanism: "PLAIN", Response: "\x00u\x00p", Locale: "en_US"},
	} {
		p, err := m.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p)
	}

	f.Fuzz(func(t *testing.T, payload []byte) {
		m, err := DecodeMethod(payload)
		if err != nil {
			checkError(t, err, false)
			var e *Error
			errors.As(err, &e)
			if len(payload) >= 4 {
				c, id, _ := MethodIDs(payload)
				if e.ClassID != c || e.MethodID != id {
					t.Fatalf("error names %d/%d, payload holds %d/%d", e.ClassID, e.MethodID, c, id)
				}
			}
			return
		}
		// A decoded method re-encodes and decodes again to the same value.
		// The bytes may differ: reserved fields and unused bits become
		// zero, duplicate table keys collapse and entries change order;
		// none of that can make the encoding longer.
		again, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("re-encoding %s: %v", m.Name(), err)
		}
		if len(again) > len(payload) {
			t.Fatalf("%s re-encoded to %d bytes from %d", m.Name(), len(again), len(payload))
		}
		m2, err := DecodeMethod(again)
		if err != nil {
			t.Fatalf("decoding re-encoded %s: %v", m.Name(), err)
		}
		if !deepEqual(m, m2) {
			t.Fatalf("round trip changed %#v into %#v", m, m2)
		}
		into := freshMethod(m)
		if err := into.UnmarshalBinary(payload); err != nil || !deepEqual(into, m) {
			t.Fatalf("UnmarshalBinary disagrees with DecodeMethod: %#v, %v", into, err)
		}
	})
}

func FuzzDecodeTable(f *testing.F) {
	for _, tab := range []Table{nil, sampleTable(), {"a": []any{Table{"b": nil}}}} {
		wire, err := AppendTable(nil, tab)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wire)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := DecodeTable(data)
		if err != nil {
			checkError(t, err, false)
			return
		}
		wire, err := AppendTable(nil, tab)
		if err != nil {
			t.Fatalf("re-encoding: %v", err)
		}
		// Duplicate keys collapse, and booleans other than 0 and 1
		// normalise, so only the decoded value must survive.
		if len(wire) > len(data) {
			t.Fatalf("re-encoded table grew from %d to %d bytes", len(data), len(wire))
		}
		tab2, err := DecodeTable(wire)
		if err != nil {
			t.Fatalf("decoding re-encoded table: %v", err)
		}
		if !deepEqual(tab, tab2) {
			t.Fatalf("round trip changed %#v into %#v", tab, tab2)
		}
	})
}

func FuzzDecodeContentHeader(f *testing.F) {
	full := fullProperties()
	for _, h := range []ContentHeader{
		{ClassID: ClassBasic},
		{ClassID: ClassBasic, BodySize: 99, Properties: full},
		{ClassID: ClassBasic, Properties: Properties{Flags: FlagHeaders | FlagPriority}},
	} {
		wire, err := h.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wire)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		var h ContentHeader
		if err := h.UnmarshalBinary(data); err != nil {
			checkError(t, err, false)
			return
		}
		wire, err := h.MarshalBinary()
		if err != nil {
			t.Fatalf("re-encoding: %v", err)
		}
		var h2 ContentHeader
		if err := h2.UnmarshalBinary(wire); err != nil {
			t.Fatalf("decoding re-encoded header: %v", err)
		}
		if !deepEqual(h, h2) {
			t.Fatalf("round trip changed %#v into %#v", h, h2)
		}
	})
}
