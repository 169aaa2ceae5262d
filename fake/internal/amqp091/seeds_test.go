package amqp091

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var writeSeeds = flag.Bool("write-seeds", false, "rewrite the committed fuzz seed corpora in testdata/fuzz")

// seedCorpora returns the committed seeds of every fuzz target, valid and
// invalid, by target and file name. Each seed is the list of the target's
// arguments.
func seedCorpora(t testing.TB) map[string]map[string][]any {
	mustMethod := func(m Method) []byte {
		p, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	mustTable := func(tab Table) []byte {
		p, err := AppendTable(nil, tab)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	mustHeader := func(h ContentHeader) []byte {
		p, err := h.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}

	publish := mustMethod(&BasicPublish{Exchange: "amq.topic", RoutingKey: "a.b", Mandatory: true})
	header := mustHeader(ContentHeader{ClassID: ClassBasic, BodySize: 5, Properties: Properties{ContentType: "text/plain", DeliveryMode: 2}})
	stream := cat(
		rawFrame(FrameMethod, 1, publish),
		rawFrame(FrameHeader, 1, header),
		rawFrame(FrameBody, 1, []byte("hello")),
		rawFrame(FrameHeartbeat, 0, nil),
	)
	badEnd := rawFrame(FrameMethod, 1, publish)
	badEnd[len(badEnd)-1] = 0xcd
	big := rawFrame(FrameBody, 2, make([]byte, 300))

	deepWire := wrapTables(maxTableDepth + 1)
	unknownType := []byte{0, 0, 0, 3, 1, 'k', 'Z'}
	hugeLen := []byte{0xff, 0xff, 0xff, 0xff, 1, 'k'}
	declareBadArgs := cat(mustMethod(&QueueDeclare{Queue: "q"})[:len(mustMethod(&QueueDeclare{Queue: "q"}))-4], unknownType)

	return map[string]map[string][]any{
		"FuzzReadFrame": {
			"valid-stream":       {stream, uint32(4096)},
			"valid-unlimited":    {stream, uint32(0)},
			"valid-large-body":   {big, uint32(0)},
			"bad-frame-end":      {badEnd, uint32(4096)},
			"over-frame-max":     {rawFrame(FrameBody, 1, make([]byte, 100)), uint32(64)},
			"huge-claimed-size":  {[]byte{FrameBody, 0, 1, 0xff, 0xff, 0xff, 0xff, 'x'}, uint32(0)},
			"unknown-frame-type": {rawFrame(4, 0, nil), uint32(0)},
			"truncated-stream":   {stream[:len(stream)-12], uint32(4096)},
		},
		"FuzzDecodeMethod": {
			"connection-start": {mustMethod(&ConnectionStart{VersionMinor: 9, ServerProperties: Table{"product": "x", "capabilities": Table{"basic.nack": true}}, Mechanisms: "PLAIN", Locales: "en_US"})},
			"basic-publish":    {publish},
			"basic-deliver":    {mustMethod(&BasicDeliver{ConsumerTag: "ctag", DeliveryTag: 1 << 40, Redelivered: true, Exchange: "x", RoutingKey: "k"})},
			"basic-nack":       {mustMethod(&BasicNack{DeliveryTag: 3, Multiple: true, Requeue: true})},
			"confirm-select":   {mustMethod(&ConfirmSelect{NoWait: true})},
			"connection-close": {mustMethod(&ConnectionClose{ReplyCode: 541, ReplyText: "INTERNAL_ERROR", FailedClassID: 60, FailedMethodID: 40})},
			"truncated":        {publish[:len(publish)-2]},
			"trailing-byte":    {append(publish[:len(publish):len(publish)], 0)},
			"unknown-class":    {[]byte{0, 99, 0, 10}},
			"unknown-method":   {[]byte{0, 60, 0, 99}},
			"bad-table-type":   {declareBadArgs},
			"too-short":        {[]byte{0, 60}},
		},
		"FuzzDecodeTable": {
			"sample":       {mustTable(sampleTable())},
			"nested":       {mustTable(Table{"a": []any{Table{"b": []any{int8(1)}}, nil}})},
			"empty":        {[]byte{0, 0, 0, 0}},
			"unknown-type": {unknownType},
			"huge-length":  {hugeLen},
			"too-deep":     {deepWire},
			"truncated":    {mustTable(sampleTable())[:20]},
		},
		"FuzzDecodeContentHeader": {
			"all-properties": {mustHeader(ContentHeader{ClassID: ClassBasic, BodySize: 1 << 20, Properties: fullProperties()})},
			"typical":        {header},
			"empty":          {mustHeader(ContentHeader{ClassID: ClassBasic})},
			"continuation":   {binary.BigEndian.AppendUint16(mustHeader(ContentHeader{ClassID: ClassBasic})[:12], 0x8001)},
			"truncated":      {header[:len(header)-3]},
		},
	}
}

func encodeSeed(args []any) []byte {
	s := "go test fuzz v1\n"
	for _, a := range args {
		switch a := a.(type) {
		case []byte:
			s += fmt.Sprintf("[]byte(%q)\n", a)
		case uint32:
			s += fmt.Sprintf("uint32(%d)\n", a)
		default:
			panic(fmt.Sprintf("unsupported seed argument %T", a))
		}
	}
	return []byte(s)
}

// TestFuzzSeedCorpora checks that every seed built here is committed (run
// with -write-seeds to rewrite them from the current encoder). go test runs
// the committed files through the fuzz targets as ordinary subtests.
func TestFuzzSeedCorpora(t *testing.T) {
	for target, seeds := range seedCorpora(t) {
		dir := filepath.Join("testdata", "fuzz", target)
		if *writeSeeds {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for name, args := range seeds {
			path := filepath.Join(dir, name)
			if *writeSeeds {
				if err := os.WriteFile(path, encodeSeed(args), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("seed missing: %v", err)
			}
		}
	}
}
