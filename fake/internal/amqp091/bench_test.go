package amqp091

import (
	"bufio"
	"bytes"
	"io"
	"testing"
	"time"
)

var (
	benchDeliver = &BasicDeliver{
		ConsumerTag: "amq.ctag-Jy2tOEeT3mhBrBsyw3cXeA",
		DeliveryTag: 123456,
		Exchange:    "amq.topic",
		RoutingKey:  "compute.host-17.instance-events",
	}
	benchProps = &Properties{
		ContentType:   "application/json",
		DeliveryMode:  2,
		Priority:      0,
		CorrelationID: "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
		ReplyTo:       "reply_3f2504e04f8911d39a0c0305e82c3301",
		MessageID:     "6fa459ea-ee8a-3ca4-894e-db77e160355e",
		Timestamp:     time.Unix(1700000000, 0),
	}
	benchBody = bytes.Repeat([]byte("x"), 1024)
)

func benchPublishPayload(tb testing.TB) []byte {
	p, err := (&BasicPublish{Exchange: "amq.topic", RoutingKey: "compute.host-17.instance-events", Mandatory: true}).MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// BenchmarkWriteDeliver encodes basic.deliver, its content header and a
// 1 KiB body into a bufio.Writer, flushing to io.Discard as it fills.
func BenchmarkWriteDeliver(b *testing.B) {
	w := NewWriter(bufio.NewWriterSize(io.Discard, 64<<10), 131072)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchBody)))
	for b.Loop() {
		if err := w.WriteContent(1, benchDeliver, benchProps, benchBody); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodePublish decodes a basic.publish method payload into a
// reused struct, the way a broker's channel loop can.
func BenchmarkDecodePublish(b *testing.B) {
	payload := benchPublishPayload(b)
	var m BasicPublish
	b.ReportAllocs()
	for b.Loop() {
		if err := m.UnmarshalBinary(payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeMethodPublish decodes basic.publish through DecodeMethod,
// which also allocates the struct.
func BenchmarkDecodeMethodPublish(b *testing.B) {
	payload := benchPublishPayload(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeMethod(payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeContentHeader decodes a typical content header.
func BenchmarkDecodeContentHeader(b *testing.B) {
	wire, err := (&ContentHeader{ClassID: ClassBasic, BodySize: 1024, Properties: *benchProps}).MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	var h ContentHeader
	b.ReportAllocs()
	for b.Loop() {
		if err := h.UnmarshalBinary(wire); err != nil {
			b.Fatal(err)
		}
	}
}

// TestHotPathAllocations pins the allocation counts the benchmarks show, so
// a regression fails the ordinary test run.
func TestHotPathAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	w := NewWriter(bufio.NewWriterSize(io.Discard, 64<<10), 131072)
	small := NewWriter(bufio.NewWriterSize(io.Discard, 64), 4096)
	publish := benchPublishPayload(t)
	ack, _ := (&BasicAck{DeliveryTag: 99, Multiple: true}).MarshalBinary()
	header, _ := (&ContentHeader{ClassID: ClassBasic, BodySize: 1024, Properties: *benchProps}).MarshalBinary()
	var (
		pub BasicPublish
		a   BasicAck
		h   ContentHeader
		buf = make([]byte, 0, 256)
	)
	cases := []struct {
		name string
		max  float64
		f    func()
	}{
		{"write deliver with content", 0, func() { _ = w.WriteContent(1, benchDeliver, benchProps, benchBody) }},
		{"write deliver, small buffer", 0, func() { _ = small.WriteContent(1, benchDeliver, benchProps, benchBody) }},
		{"write ack", 0, func() { _ = w.WriteMethod(1, &a) }},
		{"append deliver", 0, func() { buf, _ = benchDeliver.AppendBinary(buf[:0]) }},
		{"unmarshal publish", 1, func() { _ = pub.UnmarshalBinary(publish) }},
		{"unmarshal ack", 0, func() { _ = a.UnmarshalBinary(ack) }},
		{"decode ack", 1, func() { _, _ = DecodeMethod(ack) }},
		{"unmarshal content header", 1, func() { _ = h.UnmarshalBinary(header) }},
	}
	for _, c := range cases {
		c.f() // warm up scratch buffers
		if got := testing.AllocsPerRun(100, c.f); got > c.max {
			t.Errorf("%s: %v allocations, want at most %v", c.name, got, c.max)
		}
	}
}
