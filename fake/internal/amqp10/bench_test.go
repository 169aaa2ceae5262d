package amqp10

import (
	"testing"
)

func benchMessage() *Message {
	return &Message{
		Header:                &Header{Durable: true},
		Properties:            &Properties{MessageID: "msg-000001", To: "queue-a", Subject: "event"},
		ApplicationProperties: Map{{"tenant", "acme"}, {"attempt", int32(1)}},
		Data:                  [][]byte{[]byte(`{"event":"created","id":42}`)},
	}
}

// BenchmarkTransferMarshal encodes a transfer frame carrying a small
// message into a reused buffer.
func BenchmarkTransferMarshal(b *testing.B) {
	m := benchMessage()
	id, format := uint32(7), uint32(0)
	tr := Transfer{Handle: 1, DeliveryID: &id, DeliveryTag: []byte{0, 0, 0, 7}, MessageFormat: &format}
	payload := make([]byte, 0, 256)
	frame := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if payload, err = m.Marshal(payload[:0]); err != nil {
			b.Fatal(err)
		}
		tr.Payload = payload
		if frame, err = AppendFrame(frame[:0], FrameTypeAMQP, 0, &tr); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(frame)))
}

// BenchmarkTransferUnmarshal decodes a transfer frame body and the small
// message in its payload.
func BenchmarkTransferUnmarshal(b *testing.B) {
	payload, err := benchMessage().Marshal(nil)
	if err != nil {
		b.Fatal(err)
	}
	id, format := uint32(7), uint32(0)
	body, err := (&Transfer{Handle: 1, DeliveryID: &id, DeliveryTag: []byte{0, 0, 0, 7}, MessageFormat: &format, Payload: payload}).Marshal(nil)
	if err != nil {
		b.Fatal(err)
	}
	var tr Transfer
	var m Message
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := tr.Unmarshal(body); err != nil {
			b.Fatal(err)
		}
		if err := m.Unmarshal(tr.Payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTransferHeaderUnmarshal decodes only the transfer performative,
// as a router forwarding the payload untouched would.
func BenchmarkTransferHeaderUnmarshal(b *testing.B) {
	id, format := uint32(7), uint32(0)
	body, err := (&Transfer{Handle: 1, DeliveryID: &id, DeliveryTag: []byte{0, 0, 0, 7}, MessageFormat: &format, Payload: make([]byte, 100)}).Marshal(nil)
	if err != nil {
		b.Fatal(err)
	}
	var tr Transfer
	b.ReportAllocs()
	for b.Loop() {
		if err := tr.Unmarshal(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDispositionMarshal encodes a settled accepted disposition frame.
func BenchmarkDispositionMarshal(b *testing.B) {
	last := uint32(20)
	d := Disposition{Role: RoleReceiver, First: 10, Last: &last, Settled: true, State: Accepted{}}
	frame := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if frame, err = AppendFrame(frame[:0], FrameTypeAMQP, 0, &d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDispositionUnmarshal decodes a settled accepted disposition.
func BenchmarkDispositionUnmarshal(b *testing.B) {
	last := uint32(20)
	body, err := (&Disposition{Role: RoleReceiver, First: 10, Last: &last, Settled: true, State: Accepted{}}).Marshal(nil)
	if err != nil {
		b.Fatal(err)
	}
	var d Disposition
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Unmarshal(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFlowMarshal encodes a link flow frame.
func BenchmarkFlowMarshal(b *testing.B) {
	nii, h, dc, lc := uint32(5), uint32(1), uint32(100), uint32(50)
	f := Flow{NextIncomingID: &nii, IncomingWindow: 2048, NextOutgoingID: 9, OutgoingWindow: 2048, Handle: &h, DeliveryCount: &dc, LinkCredit: &lc}
	frame := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if frame, err = AppendFrame(frame[:0], FrameTypeAMQP, 0, &f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFlowUnmarshal decodes a link flow.
func BenchmarkFlowUnmarshal(b *testing.B) {
	nii, h, dc, lc := uint32(5), uint32(1), uint32(100), uint32(50)
	body, err := (&Flow{NextIncomingID: &nii, IncomingWindow: 2048, NextOutgoingID: 9, OutgoingWindow: 2048, Handle: &h, DeliveryCount: &dc, LinkCredit: &lc}).Marshal(nil)
	if err != nil {
		b.Fatal(err)
	}
	var f Flow
	b.ReportAllocs()
	for b.Loop() {
		if err := f.Unmarshal(body); err != nil {
			b.Fatal(err)
		}
	}
}

// TestHotPathAllocations pins the allocation counts of the hot path so a
// regression fails the ordinary test run, not just a benchmark reading.
func TestHotPathAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts are checked in full runs")
	}
	id, format, last := uint32(7), uint32(0), uint32(9)
	tr := Transfer{Handle: 1, DeliveryID: &id, DeliveryTag: []byte{7}, MessageFormat: &format, Payload: []byte("x")}
	disp := Disposition{Role: RoleReceiver, First: 1, Last: &last, Settled: true, State: Accepted{}}
	trBody, _ := tr.Marshal(nil)
	dispBody, _ := disp.Marshal(nil)
	buf := make([]byte, 0, 256)
	cases := []struct {
		name string
		max  float64
		fn   func()
	}{
		{"transfer marshal", 0, func() { buf, _ = AppendFrame(buf[:0], FrameTypeAMQP, 0, &tr) }},
		{"disposition marshal", 0, func() { buf, _ = AppendFrame(buf[:0], FrameTypeAMQP, 0, &disp) }},
		{"transfer unmarshal", 1, func() { _ = tr.Unmarshal(trBody) }},
		{"disposition unmarshal", 1, func() { _ = disp.Unmarshal(dispBody) }},
	}
	for _, tc := range cases {
		if got := testing.AllocsPerRun(100, tc.fn); got > tc.max {
			t.Errorf("%s: %v allocations, want at most %v", tc.name, got, tc.max)
		}
	}
}
