package amqp10

import (
	"bytes"
	"reflect"
	"testing"
)

func TestDeliveryStates(t *testing.T) {
	cases := []struct {
		name  string
		state DeliveryState
		want  []byte
	}{
		{"accepted", Accepted{}, h("00532445")},
		{"released", Released{}, h("00532645")},
		{"rejected empty", Rejected{}, h("00532545")},
		{"rejected", Rejected{Error: &Error{Condition: CondNotAllowed}},
			h("005325 c0 19 01 00531d c0 13 01 a310 616d71703a6e6f742d616c6c6f776564")},
		{"modified empty", Modified{}, h("00532745")},
		{"modified", Modified{DeliveryFailed: true, UndeliverableHere: true, MessageAnnotations: Map{{Symbol("x"), uint64(1)}}},
			h("005327 c0 0b 03 41 41 c1 06 02 a30178 5301")},
		{"modified only second flag", Modified{UndeliverableHere: true}, h("005327 c0 03 02 40 41")},
		{"received", Received{SectionNumber: 0, SectionOffset: 300}, h("005323 c0 0b 02 43 80000000000000012c")},
		{"unknown", UnknownDeliveryState{Value: Described{uint64(0x34), []any{[]byte{1}}}}, h("005334 c0 04 01 a00101")},
	}
	for _, tc := range cases {
		enc, err := tc.state.Marshal(nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !bytes.Equal(enc, tc.want) {
			t.Errorf("%s:\n got %x\nwant %x", tc.name, enc, tc.want)
		}
		got, err := UnmarshalDeliveryState(enc)
		if err != nil {
			t.Fatalf("%s: UnmarshalDeliveryState(%x): %v", tc.name, enc, err)
		}
		if !reflect.DeepEqual(got, tc.state) {
			t.Errorf("%s: round trip got %#v, want %#v", tc.name, got, tc.state)
		}
		// Symbolic descriptors of known states decode to the same value.
		if _, known := descriptorNames[uint64(enc[2])]; known {
			got, err := UnmarshalDeliveryState(symbolic(t, enc))
			if err != nil || !reflect.DeepEqual(got, tc.state) {
				t.Errorf("%s: symbolic: %#v, %v", tc.name, got, err)
			}
		}
	}
	// Pointers to states satisfy DeliveryState as well.
	if enc, err := (&Accepted{}).Marshal(nil); err != nil || !bytes.Equal(enc, h("00532445")) {
		t.Fatalf("pointer state: %x, %v", enc, err)
	}
	if s, err := UnmarshalDeliveryState(h("40")); s != nil || err != nil {
		t.Fatalf("null state: %#v, %v", s, err)
	}
	for _, bad := range [][]byte{h("5201"), h("00532445 40"), h("005323 45"), h("005324 c1 01 00"), nil} {
		if s, err := UnmarshalDeliveryState(bad); err == nil {
			t.Errorf("UnmarshalDeliveryState(%x) = %#v", bad, s)
		}
	}
	// Symbolic unknown states decode generically.
	s, err := UnmarshalDeliveryState(h("00 a303 612d62 45"))
	if err != nil || !reflect.DeepEqual(s, UnknownDeliveryState{Value: Described{Symbol("a-b"), []any{}}}) {
		t.Fatalf("unknown symbolic: %#v, %v", s, err)
	}
}
