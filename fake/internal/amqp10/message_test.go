package amqp10

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
)

func fullMessage() *Message {
	return &Message{
		Header:                &Header{Durable: true, Priority: ptr(uint8(9)), TTL: 1000, FirstAcquirer: true, DeliveryCount: 2},
		DeliveryAnnotations:   Map{{Symbol("x-opt-da"), "v"}},
		MessageAnnotations:    Map{{Symbol("x-opt-ma"), int64(-1)}, {uint64(7), nil}},
		Properties:            fullProperties(),
		ApplicationProperties: Map{{"key", "value"}, {"n", int32(42)}, {"f", 1.5}, {"b", true}},
		Data:                  [][]byte{[]byte("hello"), {}},
		Footer:                Map{{Symbol("hash"), []byte{1, 2}}},
	}
}

func fullProperties() *Properties {
	return &Properties{
		MessageID: "id-1", UserID: []byte("user"), To: "queue", Subject: "subj", ReplyTo: "reply",
		CorrelationID: uint64(99), ContentType: "text/plain", ContentEncoding: "gzip",
		AbsoluteExpiryTime: time.UnixMilli(1700000001000).UTC(), CreationTime: time.UnixMilli(1700000000000).UTC(),
		GroupID: "g", GroupSequence: ptr(uint32(0)), ReplyToGroupID: "rg",
	}
}

func TestMessageRoundTrip(t *testing.T) {
	msgs := []*Message{
		fullMessage(),
		{},
		{Data: [][]byte{[]byte("only body")}},
		{Sequence: [][]any{{uint32(1), "two"}, {}}},
		{Value: Map{{"k", Array{int32(1), int32(2)}}}, HasValue: true},
		{HasValue: true}, // an amqp-value holding null
		{Header: &Header{}},
		{Properties: &Properties{MessageID: UUID{1, 2, 3}, CorrelationID: []byte{9}}},
		{Properties: &Properties{MessageID: uint64(0), CorrelationID: "c"}},
		{MessageAnnotations: Map{}, Footer: Map{}},
	}
	for i, m := range msgs {
		enc, err := m.Marshal(nil)
		if err != nil {
			t.Fatalf("message %d: Marshal: %v", i, err)
		}
		var got Message
		if err := got.Unmarshal(enc); err != nil {
			t.Fatalf("message %d: Unmarshal(%x): %v", i, enc, err)
		}
		if !reflect.DeepEqual(&got, m) {
			t.Fatalf("message %d: round trip\n got %#v\nwant %#v", i, got, m)
		}
	}
}

func TestMessageExactBytes(t *testing.T) {
	m := &Message{
		Properties:            &Properties{MessageID: uint64(1)},
		ApplicationProperties: Map{{"a", "b"}},
		Value:                 "hi",
	}
	got, err := m.Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := h("005373 c0 03 01 5301" + "005374 c1 07 02 a10161 a10162" + "005377 a1026869")
	if !bytes.Equal(got, want) {
		t.Fatalf("got %x\nwant %x", got, want)
	}
	got, err = (&Message{Header: &Header{}, Data: [][]byte{{1}}, Sequence: nil}).Marshal([]byte{0xee})
	if err != nil {
		t.Fatal(err)
	}
	if want := h("ee 00537045 005375 a00101"); !bytes.Equal(got, want) {
		t.Fatalf("got %x\nwant %x", got, want)
	}
}

func TestMessageSymbolicSections(t *testing.T) {
	in := cat(
		h("00"), AppendSymbol(nil, "amqp:header:list"), h("c0 02 01 41"),
		h("00"), AppendSymbol(nil, "amqp:application-properties:map"), h("c1 01 00"),
		h("00"), AppendSymbol(nil, "amqp:data:binary"), h("a001ff"),
		h("00"), AppendSymbol(nil, "amqp:data:binary"), h("a000"),
	)
	var m Message
	if err := m.Unmarshal(in); err != nil {
		t.Fatal(err)
	}
	want := Message{Header: &Header{Durable: true}, ApplicationProperties: Map{}, Data: [][]byte{{0xff}, {}}}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("got %#v", m)
	}
}

func TestMessageDecodeErrors(t *testing.T) {
	data := h("005375a000")
	seq := h("00537645")
	val := h("00537740")
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"out of order", cat(h("005374c10100"), h("00537045")), "out of order"},
		{"repeated header", cat(h("00537045"), h("00537045")), "repeated"},
		{"data then sequence", cat(data, seq), "out of order"},
		{"sequence then value", cat(seq, val), "out of order"},
		{"two values", cat(val, val), "repeated"},
		{"footer before body", cat(h("005378c10100"), data), "out of order"},
		{"not a section", h("00531045"), "not a message section"},
		{"not described", h("40"), "message section"},
		{"data not binary", h("005375a10161"), "binary"},
		{"sequence not list", h("00537640"), "list"},
		{"properties bad id type", cat(h("005373"), h("c0 03 01 5401")), "message-id"},
		{"properties bad to type", cat(h("005373"), h("c0 04 03 40 40 43")), "to"},
		{"annotations not a map", h("00537245"), "map"},
		{"truncated value", h("005377a105"), "truncated"},
		{"header bad priority", h("005370c0030240 43"), "priority"},
	}
	for _, tc := range cases {
		var m Message
		err := m.Unmarshal(tc.in)
		if err == nil {
			t.Errorf("%s: Unmarshal(%x) succeeded", tc.name, tc.in)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q does not mention %q", tc.name, err, tc.want)
		}
	}
	// Null annotation maps are accepted as empty.
	var m Message
	if err := m.Unmarshal(h("00537240")); err != nil || m.MessageAnnotations == nil {
		t.Fatalf("null annotations: %#v, %v", m, err)
	}
}

func TestMessageMarshalErrors(t *testing.T) {
	cases := []*Message{
		{Data: [][]byte{{1}}, Value: "x"},
		{Data: [][]byte{{1}}, Sequence: [][]any{{}}},
		{Sequence: [][]any{{}}, HasValue: true},
		{Properties: &Properties{MessageID: 5}},
		{Properties: &Properties{CorrelationID: Symbol("x")}},
		{ApplicationProperties: Map{{"k", struct{}{}}}},
		{Value: struct{}{}},
		{Sequence: [][]any{{struct{}{}}}},
		{Footer: Map{{struct{}{}, nil}}},
	}
	for i, m := range cases {
		if _, err := m.Marshal(nil); err == nil {
			t.Errorf("case %d: Marshal succeeded", i)
		}
	}
}
