package amqp10

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func TestSASLRoundTrip(t *testing.T) {
	bodies := []FrameBody{
		&SASLMechanisms{Mechanisms: []Symbol{SASLMechanismAnonymous, SASLMechanismPlain}},
		&SASLMechanisms{Mechanisms: []Symbol{}},
		&SASLInit{Mechanism: SASLMechanismPlain, InitialResponse: []byte("\x00user\x00pass"), Hostname: "example.com"},
		&SASLInit{Mechanism: SASLMechanismAnonymous},
		&SASLInit{Mechanism: SASLMechanismExternal, InitialResponse: []byte{}},
		&SASLChallenge{Challenge: []byte("challenge")},
		&SASLChallenge{Challenge: []byte{}},
		&SASLResponse{Response: []byte("response")},
		&SASLOutcome{Code: SASLCodeOK},
		&SASLOutcome{Code: SASLCodeSysTemp, AdditionalData: []byte("x")},
	}
	for _, b := range bodies {
		enc, err := b.Marshal(nil)
		if err != nil {
			t.Fatalf("%#v: %v", b, err)
		}
		got, err := ParseSASLBody(enc)
		if err != nil {
			t.Fatalf("ParseSASLBody(%x): %v", enc, err)
		}
		if !reflect.DeepEqual(got, b) {
			t.Fatalf("round trip\n got %#v\nwant %#v", got, b)
		}
		// Symbolic descriptors decode the same.
		got, err = ParseSASLBody(symbolic(t, enc))
		if err != nil || !reflect.DeepEqual(got, b) {
			t.Fatalf("symbolic round trip: %#v, %v", got, err)
		}
		// Inside a SASL frame.
		frame, err := AppendFrame(nil, FrameTypeSASL, 0, b)
		if err != nil {
			t.Fatal(err)
		}
		f, err := readFrameBytes(frame, MinMaxFrameSize)
		if err != nil {
			t.Fatal(err)
		}
		got, err = DecodeFrameBody(f)
		if err != nil || !reflect.DeepEqual(got, b) {
			t.Fatalf("frame round trip: %#v, %v", got, err)
		}
	}
}

func TestSASLExactBytes(t *testing.T) {
	cases := []struct {
		name string
		b    FrameBody
		want []byte
	}{
		{"mechanisms", &SASLMechanisms{Mechanisms: []Symbol{"ANONYMOUS"}}, h("005340 c0 0f 01 e0 0c 01 a3 09 414e4f4e594d4f5553")},
		{"mechanisms nil is an empty array", &SASLMechanisms{}, h("005340 c0 05 01 e0 02 00 a3")},
		{"init", &SASLInit{Mechanism: "ANONYMOUS"}, h("005341 c0 0c 01 a3 09 414e4f4e594d4f5553")},
		{"challenge", &SASLChallenge{Challenge: []byte{1}}, h("005342 c0 04 01 a00101")},
		{"response", &SASLResponse{Response: nil}, h("005343 c0 03 01 a000")},
		{"outcome ok", &SASLOutcome{}, h("005344 c0 03 01 5000")},
	}
	for _, tc := range cases {
		got, err := tc.b.Marshal(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, tc.want) {
			t.Errorf("%s:\n got %x\nwant %x", tc.name, got, tc.want)
		}
	}
}

func TestSASLDecodeErrors(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"mechanisms missing", h("00534045"), "sasl-server-mechanisms"},
		{"mechanisms wrong type", comp(0x40, "a10161"), "sasl-server-mechanisms"},
		{"mechanisms array of strings", comp(0x40, "e00301a100"), "sasl-server-mechanisms"},
		{"init missing mechanism", h("00534145"), "mechanism"},
		{"challenge missing", h("00534245"), "challenge"},
		{"response missing", comp(0x43, "40"), "response"},
		{"outcome missing code", h("00534445"), "code"},
		{"outcome code wrong type", comp(0x44, "5200"), "code"},
		{"performative in SASL frame", h("00531045"), "not a SASL frame"},
	}
	for _, tc := range cases {
		_, err := ParseSASLBody(tc.in)
		if err == nil {
			t.Errorf("%s: succeeded", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q does not mention %q", tc.name, err, tc.want)
		}
	}
	// A single symbol is a valid multiple-symbol encoding.
	var m SASLMechanisms
	if err := m.Unmarshal(comp(0x40, "a30141")); err != nil || !reflect.DeepEqual(m.Mechanisms, []Symbol{"A"}) {
		t.Fatalf("single mechanism: %#v, %v", m, err)
	}
}
