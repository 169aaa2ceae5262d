package amqp10

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

// Seeds shared by f.Add and by the committed corpora in testdata/fuzz.

func seedFrames() [][]byte {
	var seeds [][]byte
	for _, b := range fullPerformatives() {
		f, _ := AppendFrame(nil, FrameTypeAMQP, 1, b)
		seeds = append(seeds, f)
	}
	sasl, _ := AppendFrame(nil, FrameTypeSASL, 0, &SASLInit{Mechanism: "PLAIN", InitialResponse: []byte("\x00u\x00p")})
	seeds = append(seeds,
		sasl,
		AppendEmptyFrame(nil),
		h("00000010 03 00 0001 deadbeef 00531845"), // extended header
		h("00000201 02 00 0000"),                   // oversized for the fuzz limit
		h("00000007 02 00 0000"),                   // size below header
		h("00000008 01 00 0000"),                   // doff 1
		h("0000000c 02 00 0000 0053"),              // truncated
		h("0000000c 02 07 0000 00531845"),          // unknown type
	)
	return seeds
}

func seedValues() [][]byte {
	var seeds [][]byte
	for _, tc := range encodingCases {
		if len(tc.want) < 64 {
			seeds = append(seeds, tc.want)
		}
	}
	return append(seeds,
		h("d0ffffffff ffffffff"),
		h("f000000005ffffffff40"),
		h("e0 08 01 00 5301 00 5302 43"),
		h("c1030140 40"),
		h("5602"),
	)
}

func seedPerformatives() [][]byte {
	var seeds [][]byte
	for _, b := range fullPerformatives() {
		enc, _ := b.Marshal(nil)
		seeds = append(seeds, enc)
	}
	mech, _ := (&SASLMechanisms{Mechanisms: []Symbol{"ANONYMOUS", "PLAIN"}}).Marshal(nil)
	out, _ := (&SASLOutcome{Code: SASLCodeAuth}).Marshal(nil)
	return append(seeds, mech, out,
		h("00a30e616d71703a636c6f73653a6c69737445"), // close with a symbolic descriptor
		h("00531045"),                  // open without container-id
		h("005312 c0 06 02 a1016c 43"), // attach cut short
		h("005399 45"),                 // unknown descriptor
	)
}

func seedMessages() [][]byte {
	full, _ := fullMessage().Marshal(nil)
	seq, _ := (&Message{Sequence: [][]any{{uint32(1)}, {"x"}}}).Marshal(nil)
	val, _ := (&Message{Properties: &Properties{MessageID: UUID{1}}, Value: Map{{"k", "v"}}}).Marshal(nil)
	return [][]byte{
		full, seq, val, {},
		h("00537740 00537740"),     // two values
		h("005374c10100 00537045"), // out of order
		h("005373 c0 03 01 5401"),  // bad message-id type
		h("005375 b0ffffffff"),     // huge data claim
	}
}

// FuzzReadFrame reads frames from arbitrary bytes. Every frame that reads
// and decodes must survive re-encoding: AppendFrame of the decoded body,
// read back and decoded again, encodes to identical bytes.
func FuzzReadFrame(f *testing.F) {
	for _, s := range seedFrames() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		for range 8 {
			fr, err := ReadFrame(r, 512)
			if err != nil {
				var de *DecodeError
				if err != io.EOF && err != io.ErrUnexpectedEOF && (!errors.As(err, &de) || de.Condition != CondFramingError) {
					t.Fatalf("ReadFrame error %v is neither EOF nor a framing error", err)
				}
				return
			}
			if len(fr.Body) > 512-FrameHeaderSize {
				t.Fatalf("body of %d bytes exceeds the limit", len(fr.Body))
			}
			raw, err := fr.Append(nil)
			if err != nil {
				t.Fatal(err)
			}
			again, err := readFrameBytes(raw, 0)
			if err != nil || !reflect.DeepEqual(again, fr) {
				t.Fatalf("Frame.Append round trip: %#v, %v", again, err)
			}
			body, err := DecodeFrameBody(fr)
			if err != nil || body == nil {
				continue
			}
			enc1, err := AppendFrame(nil, fr.Type, fr.Channel, body)
			if err != nil {
				t.Fatalf("re-encoding %#v: %v", body, err)
			}
			fr2, err := readFrameBytes(enc1, 0)
			if err != nil {
				t.Fatalf("reading re-encoded frame %x: %v", enc1, err)
			}
			body2, err := DecodeFrameBody(fr2)
			if err != nil {
				t.Fatalf("decoding re-encoded body %x: %v", fr2.Body, err)
			}
			enc2, err := AppendFrame(nil, fr2.Type, fr2.Channel, body2)
			if err != nil || !bytes.Equal(enc1, enc2) {
				t.Fatalf("encoding not stable:\n%x\n%x (%v)", enc1, enc2, err)
			}
		}
	})
}

// FuzzDecodeValue decodes arbitrary bytes as a value. Decoding must not
// panic; a decoded value must be skippable to the same length, encodable,
// and decode back to an equal value with stable encoding.
func FuzzDecodeValue(f *testing.F) {
	for _, s := range seedValues() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, n, err := DecodeValue(data)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || de.Condition != CondDecodeError {
				t.Fatalf("error %v is not a decode error", err)
			}
			return
		}
		r := NewReader(data)
		if err := r.Skip(); err != nil || r.Offset() != n {
			t.Fatalf("Skip: %v at %d, decode consumed %d", err, r.Offset(), n)
		}
		enc, err := Marshal(v)
		if err != nil {
			t.Fatalf("Marshal(%#v): %v", v, err)
		}
		v2, err := Unmarshal(enc)
		if err != nil {
			t.Fatalf("Unmarshal(%x): %v", enc, err)
		}
		if !equalValues(v, v2) {
			t.Fatalf("round trip differs:\n%#v\n%#v", v, v2)
		}
		enc2, err := Marshal(v2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable: %x vs %x (%v)", enc, enc2, err)
		}
	})
}

// FuzzPerformative decodes arbitrary bytes as an AMQP or SASL frame body.
// Whatever decodes must re-encode to bytes that decode to an equal body.
func FuzzPerformative(f *testing.F) {
	for _, s := range seedPerformatives() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, parse := range []func([]byte) (FrameBody, error){ParseAMQPBody, ParseSASLBody} {
			body, err := parse(data)
			if err != nil {
				var de *DecodeError
				if !errors.As(err, &de) {
					t.Fatalf("error %v is not a *DecodeError", err)
				}
				continue
			}
			enc, err := body.Marshal(nil)
			if err != nil {
				t.Fatalf("Marshal(%#v): %v", body, err)
			}
			body2, err := parse(enc)
			if err != nil {
				t.Fatalf("re-parsing %x: %v", enc, err)
			}
			enc2, err := body2.Marshal(nil)
			if err != nil || !bytes.Equal(enc, enc2) {
				t.Fatalf("encoding not stable:\n%x\n%x (%v)", enc, enc2, err)
			}
			if body.Descriptor() != body2.Descriptor() {
				t.Fatalf("descriptor changed")
			}
		}
	})
}

// FuzzMessage decodes arbitrary bytes as a message payload. Whatever
// decodes must re-encode stably.
func FuzzMessage(f *testing.F) {
	for _, s := range seedMessages() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m Message
		if err := m.Unmarshal(data); err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *DecodeError", err)
			}
			return
		}
		enc, err := m.Marshal(nil)
		if err != nil {
			t.Fatalf("Marshal(%#v): %v", m, err)
		}
		var m2 Message
		if err := m2.Unmarshal(enc); err != nil {
			t.Fatalf("Unmarshal(%x): %v", enc, err)
		}
		enc2, err := m2.Marshal(nil)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable:\n%x\n%x (%v)", enc, enc2, err)
		}
	})
}
