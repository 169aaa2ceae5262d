package amqp10

import (
	"bytes"
	"math"
	"reflect"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func anyOf[V any](g *rapid.Generator[V]) *rapid.Generator[any] {
	return rapid.Map(g, func(v V) any { return v })
}

func nonNil[E any](s []E) []E {
	if s == nil {
		return []E{}
	}
	return s
}

var (
	genBytes = rapid.Map(rapid.OneOf(
		rapid.SliceOfN(rapid.Byte(), 0, 8),
		rapid.SliceOfN(rapid.Byte(), 250, 260), // around the vbin8/vbin32 boundary
	), nonNil[byte])
	genString = rapid.OneOf(
		rapid.StringN(0, 8, -1),
		rapid.Map(rapid.IntRange(250, 260), func(n int) string { return string(bytes.Repeat([]byte("s"), n)) }),
	)
	genSymbol = rapid.Map(rapid.OneOf(
		rapid.StringMatching(`[a-z:.-]{0,12}`),
		rapid.Map(rapid.IntRange(250, 260), func(n int) string { return string(bytes.Repeat([]byte("y"), n)) }),
	), func(s string) Symbol { return Symbol(s) })
	genTime = rapid.Map(rapid.Int64(), func(ms int64) time.Time { return time.UnixMilli(ms).UTC() })
	genUUID = rapid.Map(rapid.SliceOfN(rapid.Byte(), 16, 16), func(b []byte) UUID { return UUID(b) })
)

// scalarGens generate every primitive type, one generator per Go type, so
// that arrays can pick one generator for all their elements.
var scalarGens = []*rapid.Generator[any]{
	rapid.Just[any](nil),
	anyOf(rapid.Bool()),
	anyOf(rapid.Uint8()),
	anyOf(rapid.Uint16()),
	anyOf(rapid.Uint32()),
	anyOf(rapid.Uint64()),
	anyOf(rapid.Int8()),
	anyOf(rapid.Int16()),
	anyOf(rapid.Int32()),
	anyOf(rapid.Int64()),
	anyOf(rapid.Map(rapid.Uint32(), math.Float32frombits)), // every bit pattern, NaNs included
	anyOf(rapid.Map(rapid.Uint64(), math.Float64frombits)),
	anyOf(rapid.Map(rapid.SliceOfN(rapid.Byte(), 4, 4), func(b []byte) Decimal32 { return Decimal32(b) })),
	anyOf(rapid.Map(rapid.SliceOfN(rapid.Byte(), 8, 8), func(b []byte) Decimal64 { return Decimal64(b) })),
	anyOf(rapid.Map(rapid.SliceOfN(rapid.Byte(), 16, 16), func(b []byte) Decimal128 { return Decimal128(b) })),
	anyOf(rapid.Map(rapid.Int32(), func(r int32) Char { return Char(r) })),
	anyOf(genTime),
	anyOf(genUUID),
	anyOf(genBytes),
	anyOf(genString),
	anyOf(genSymbol),
}

// genValue generates values of the whole data model nested up to depth.
func genValue(depth int) *rapid.Generator[any] {
	if depth == 0 {
		return rapid.OneOf(scalarGens...)
	}
	inner := genValue(depth - 1)
	list := anyOf(rapid.Map(rapid.SliceOfN(inner, 0, 4), nonNil[any]))
	m := anyOf(rapid.Map(rapid.SliceOfN(rapid.Custom(func(t *rapid.T) MapEntry {
		return MapEntry{Key: inner.Draw(t, "key"), Value: inner.Draw(t, "value")}
	}), 0, 4), func(e []MapEntry) Map { return Map(nonNil(e)) }))
	described := anyOf(rapid.Custom(func(t *rapid.T) Described {
		desc := rapid.OneOf(anyOf(rapid.Uint64()), anyOf(genSymbol)).Draw(t, "descriptor")
		return Described{Descriptor: desc, Value: inner.Draw(t, "value")}
	}))
	elemGens := append([]*rapid.Generator[any]{list, m, anyOf(genArray(inner))}, scalarGens...)
	array := anyOf(rapid.Custom(func(t *rapid.T) Array {
		elem := rapid.SampledFrom(elemGens).Draw(t, "element type")
		n := rapid.IntRange(0, 4).Draw(t, "n")
		a := make(Array, n)
		if rapid.Bool().Draw(t, "described elements") {
			desc := rapid.OneOf(anyOf(rapid.Uint64()), anyOf(genSymbol)).Draw(t, "descriptor")
			for i := range a {
				a[i] = Described{Descriptor: desc, Value: elem.Draw(t, "element")}
			}
			return a
		}
		for i := range a {
			a[i] = elem.Draw(t, "element")
		}
		return a
	}))
	return rapid.OneOf(append([]*rapid.Generator[any]{list, m, described, array}, scalarGens...)...)
}

// genArray generates arrays of one scalar type.
func genArray(_ *rapid.Generator[any]) *rapid.Generator[Array] {
	return rapid.Custom(func(t *rapid.T) Array {
		elem := rapid.SampledFrom(scalarGens).Draw(t, "scalar type")
		return Array(nonNil(rapid.SliceOfN(elem, 0, 4).Draw(t, "elements")))
	})
}

// TestRapidValueRoundTrip: every generated value encodes, decodes to an
// equal value, and re-encodes to the same bytes.
func TestRapidValueRoundTrip(t *testing.T) {
	gen := genValue(3)
	rapid.Check(t, func(t *rapid.T) {
		v := gen.Draw(t, "v")
		enc, err := Marshal(v)
		if err != nil {
			t.Fatalf("Marshal(%#v): %v", v, err)
		}
		got, err := Unmarshal(enc)
		if err != nil {
			t.Fatalf("Unmarshal(%x): %v", enc, err)
		}
		if !equalValues(got, v) {
			t.Fatalf("round trip of %x\n got %#v\nwant %#v", enc, got, v)
		}
		again, err := Marshal(got)
		if err != nil || !bytes.Equal(again, enc) {
			t.Fatalf("re-encoding differs: %x vs %x (%v)", again, enc, err)
		}
		// Skipping consumes exactly the value.
		r := NewReader(enc)
		if err := r.Skip(); err != nil || r.Len() != 0 {
			t.Fatalf("Skip: %v, %d bytes left", err, r.Len())
		}
	})
}

// TestRapidIntegersSmallest: integers use the compact forms exactly when
// they fit.
func TestRapidIntegersSmallest(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		u := rapid.Uint64().Draw(t, "u")
		i := rapid.Int64().Draw(t, "i")
		wantU := 9
		switch {
		case u == 0:
			wantU = 1
		case u < 256:
			wantU = 2
		}
		if n := len(AppendUint64(nil, u)); n != wantU {
			t.Fatalf("ulong %d encoded in %d bytes, want %d", u, n, wantU)
		}
		wantI := 9
		if i >= -128 && i <= 127 {
			wantI = 2
		}
		if n := len(AppendInt64(nil, i)); n != wantI {
			t.Fatalf("long %d encoded in %d bytes, want %d", i, n, wantI)
		}
	})
}

// Generators for performative fields. Map values avoid floats so that
// reflect.DeepEqual can compare whole structs (NaN != NaN).
var (
	genPlain = rapid.OneOf(
		rapid.Just[any](nil), anyOf(rapid.Bool()), anyOf(rapid.Uint32()), anyOf(rapid.Int64()),
		anyOf(genString), anyOf(genSymbol), anyOf(genBytes), anyOf(genTime), anyOf(genUUID),
		anyOf(rapid.Map(rapid.SliceOfN(genSymbol, 0, 3), func(s []Symbol) Array {
			a := make(Array, len(s))
			for i := range s {
				a[i] = s[i]
			}
			return a
		})),
	)
	genMap = rapid.OneOf(rapid.Just(Map(nil)), rapid.Map(rapid.SliceOfN(rapid.Custom(func(t *rapid.T) MapEntry {
		return MapEntry{Key: genSymbol.Draw(t, "key"), Value: genPlain.Draw(t, "value")}
	}), 0, 3), func(e []MapEntry) Map { return Map(nonNil(e)) }))
	genSymbols  = rapid.OneOf(rapid.Just([]Symbol(nil)), rapid.Map(rapid.SliceOfN(genSymbol, 0, 3), nonNil[Symbol]))
	genOptBytes = rapid.OneOf(rapid.Just([]byte(nil)), genBytes)
	genError    = rapid.Ptr(rapid.Custom(func(t *rapid.T) Error {
		return Error{Condition: genSymbol.Draw(t, "condition"), Description: genString.Draw(t, "description"), Info: genMap.Draw(t, "info")}
	}), true)
	genState = rapid.OneOf(
		rapid.Just[DeliveryState](nil),
		rapid.Just[DeliveryState](Accepted{}),
		rapid.Just[DeliveryState](Released{}),
		rapid.Map(genError, func(e *Error) DeliveryState { return Rejected{Error: e} }),
		rapid.Custom(func(t *rapid.T) DeliveryState {
			return Modified{DeliveryFailed: rapid.Bool().Draw(t, "df"), UndeliverableHere: rapid.Bool().Draw(t, "uh"), MessageAnnotations: genMap.Draw(t, "ma")}
		}),
		rapid.Custom(func(t *rapid.T) DeliveryState {
			return Received{SectionNumber: rapid.Uint32().Draw(t, "sn"), SectionOffset: rapid.Uint64().Draw(t, "so")}
		}),
		rapid.Map(rapid.SliceOfN(genPlain, 0, 2), func(l []any) DeliveryState {
			return UnknownDeliveryState{Value: Described{Descriptor: uint64(0x34), Value: nonNil(l)}}
		}),
	)
	genOptU32 = rapid.Ptr(rapid.Uint32(), true)
	genSource = rapid.Ptr(rapid.Custom(func(t *rapid.T) Source {
		return Source{
			Address: genString.Draw(t, "address"), Durable: Durability(rapid.Uint32Range(0, 2).Draw(t, "durable")),
			ExpiryPolicy: genSymbol.Draw(t, "expiry"), Timeout: rapid.Uint32().Draw(t, "timeout"),
			Dynamic: rapid.Bool().Draw(t, "dynamic"), DynamicNodeProperties: genMap.Draw(t, "dnp"),
			DistributionMode: genSymbol.Draw(t, "dm"),
			Filter: rapid.OneOf(rapid.Just(Map(nil)), rapid.Map(genString, func(s string) Map {
				return Map{{Symbol("f"), Described{Descriptor: Symbol("apache.org:selector-filter:string"), Value: s}}}
			})).Draw(t, "filter"),
			DefaultOutcome: genState.Draw(t, "default outcome"),
			Outcomes:       genSymbols.Draw(t, "outcomes"), Capabilities: genSymbols.Draw(t, "capabilities"),
		}
	}), true)
	genTarget = rapid.Ptr(rapid.Custom(func(t *rapid.T) Target {
		return Target{
			Address: genString.Draw(t, "address"), Durable: Durability(rapid.Uint32().Draw(t, "durable")),
			ExpiryPolicy: genSymbol.Draw(t, "expiry"), Timeout: rapid.Uint32().Draw(t, "timeout"),
			Dynamic: rapid.Bool().Draw(t, "dynamic"), DynamicNodeProperties: genMap.Draw(t, "dnp"),
			Capabilities: genSymbols.Draw(t, "capabilities"),
		}
	}), true)
)

// genFrameBody generates any performative or SASL frame body.
var genFrameBody = rapid.OneOf(
	rapid.Custom(func(t *rapid.T) FrameBody {
		return &Open{
			ContainerID: genString.Draw(t, "cid"), Hostname: genString.Draw(t, "host"),
			MaxFrameSize: rapid.Uint32().Draw(t, "mfs"), ChannelMax: rapid.Ptr(rapid.Uint16(), true).Draw(t, "cm"),
			IdleTimeout: rapid.Uint32().Draw(t, "idle"), OutgoingLocales: genSymbols.Draw(t, "ol"),
			IncomingLocales: genSymbols.Draw(t, "il"), OfferedCapabilities: genSymbols.Draw(t, "oc"),
			DesiredCapabilities: genSymbols.Draw(t, "dc"), Properties: genMap.Draw(t, "props"),
		}
	}),
	rapid.Custom(func(t *rapid.T) FrameBody {
		return &Begin{
			RemoteChannel: rapid.Ptr(rapid.Uint16(), true).Draw(t, "rc"), NextOutgoingID: rapid.Uint32().Draw(t, "noi"),
			IncomingWindow: rapid.Uint32().Draw(t, "iw"), OutgoingWindow: rapid.Uint32().Draw(t, "ow"),
			HandleMax: genOptU32.Draw(t, "hm"), OfferedCapabilities: genSymbols.Draw(t, "oc"),
			DesiredCapabilities: genSymbols.Draw(t, "dc"), Properties: genMap.Draw(t, "props"),
		}
	}),
	rapid.Custom(func(t *rapid.T) FrameBody {
		return &Attach{
			Name: genString.Draw(t, "name"), Handle: rapid.Uint32().Draw(t, "handle"), Role: Role(rapid.Bool().Draw(t, "role")),
			SenderSettleMode:     rapid.Ptr(rapid.Map(rapid.Uint8Range(0, 2), func(v uint8) SenderSettleMode { return SenderSettleMode(v) }), true).Draw(t, "ssm"),
			ReceiverSettleMode:   ReceiverSettleMode(rapid.Uint8Range(0, 1).Draw(t, "rsm")),
			Source:               genSource.Draw(t, "source"),
			Target:               genTarget.Draw(t, "target"),
			Unsettled:            rapid.OneOf(rapid.Just(Map(nil)), rapid.Map(genBytes, func(b []byte) Map { return Map{{b, Described{uint64(0x24), []any{}}}} })).Draw(t, "unsettled"),
			IncompleteUnsettled:  rapid.Bool().Draw(t, "iu"),
			InitialDeliveryCount: rapid.Uint32().Draw(t, "idc"), MaxMessageSize: rapid.Uint64().Draw(t, "mms"),
			OfferedCapabilities: genSymbols.Draw(t, "oc"), DesiredCapabilities: genSymbols.Draw(t, "dc"), Properties: genMap.Draw(t, "props"),
		}
	}),
	rapid.Custom(func(t *rapid.T) FrameBody {
		return &Flow{
			NextIncomingID: genOptU32.Draw(t, "nii"), IncomingWindow: rapid.Uint32().Draw(t, "iw"),
			NextOutgoingID: rapid.Uint32().Draw(t, "noi"), OutgoingWindow: rapid.Uint32().Draw(t, "ow"),
			Handle: genOptU32.Draw(t, "handle"), DeliveryCount: genOptU32.Draw(t, "dc"), LinkCredit: genOptU32.Draw(t, "lc"),
			Available: genOptU32.Draw(t, "avail"), Drain: rapid.Bool().Draw(t, "drain"), Echo: rapid.Bool().Draw(t, "echo"),
			Properties: genMap.Draw(t, "props"),
		}
	}),
	rapid.Custom(func(t *rapid.T) FrameBody {
		return &Transfer{
			Handle: rapid.Uint32().Draw(t, "handle"), DeliveryID: genOptU32.Draw(t, "did"), DeliveryTag: genOptBytes.Draw(t, "tag"),
			MessageFormat: genOptU32.Draw(t, "mf"), Settled: rapid.Bool().Draw(t, "settled"), More: rapid.Bool().Draw(t, "more"),
			ReceiverSettleMode: rapid.Ptr(rapid.Map(rapid.Uint8Range(0, 1), func(v uint8) ReceiverSettleMode { return ReceiverSettleMode(v) }), true).Draw(t, "rsm"),
			State:              genState.Draw(t, "state"), Resume: rapid.Bool().Draw(t, "resume"), Aborted: rapid.Bool().Draw(t, "aborted"),
			Batchable: rapid.Bool().Draw(t, "batchable"), Payload: genOptBytes.Draw(t, "payload"),
		}
	}),
	rapid.Custom(func(t *rapid.T) FrameBody {
		return &Disposition{
			Role: Role(rapid.Bool().Draw(t, "role")), First: rapid.Uint32().Draw(t, "first"), Last: genOptU32.Draw(t, "last"),
			Settled: rapid.Bool().Draw(t, "settled"), State: genState.Draw(t, "state"), Batchable: rapid.Bool().Draw(t, "batchable"),
		}
	}),
	rapid.Custom(func(t *rapid.T) FrameBody {
		return &Detach{Handle: rapid.Uint32().Draw(t, "handle"), Closed: rapid.Bool().Draw(t, "closed"), Error: genError.Draw(t, "error")}
	}),
	rapid.Custom(func(t *rapid.T) FrameBody { return &End{Error: genError.Draw(t, "error")} }),
	rapid.Custom(func(t *rapid.T) FrameBody { return &Close{Error: genError.Draw(t, "error")} }),
	rapid.Custom(func(t *rapid.T) FrameBody {
		return &SASLMechanisms{Mechanisms: rapid.Map(rapid.SliceOfN(genSymbol, 0, 3), nonNil[Symbol]).Draw(t, "mechs")}
	}),
	rapid.Custom(func(t *rapid.T) FrameBody {
		return &SASLInit{Mechanism: genSymbol.Draw(t, "mech"), InitialResponse: genOptBytes.Draw(t, "ir"), Hostname: genString.Draw(t, "host")}
	}),
	rapid.Custom(func(t *rapid.T) FrameBody { return &SASLChallenge{Challenge: genBytes.Draw(t, "challenge")} }),
	rapid.Custom(func(t *rapid.T) FrameBody { return &SASLResponse{Response: genBytes.Draw(t, "response")} }),
	rapid.Custom(func(t *rapid.T) FrameBody {
		return &SASLOutcome{Code: SASLCode(rapid.Uint8Range(0, 4).Draw(t, "code")), AdditionalData: genOptBytes.Draw(t, "ad")}
	}),
)

// TestRapidFrameBodyRoundTrip: every generated performative and SASL body
// survives a trip through a frame, with numeric or symbolic descriptor.
func TestRapidFrameBodyRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		body := genFrameBody.Draw(t, "body")
		typ := FrameTypeAMQP
		if body.Descriptor() >= DescriptorSASLMechanisms {
			typ = FrameTypeSASL
		}
		channel := rapid.Uint16().Draw(t, "channel")
		enc, err := AppendFrame(nil, typ, channel, body)
		if err != nil {
			t.Fatalf("AppendFrame(%#v): %v", body, err)
		}
		f, err := readFrameBytes(enc, 0)
		if err != nil {
			t.Fatalf("ReadFrame(%x): %v", enc, err)
		}
		if f.Type != typ || f.Channel != channel {
			t.Fatalf("frame header %d/%d, want %d/%d", f.Type, f.Channel, typ, channel)
		}
		if rapid.Bool().Draw(t, "symbolic descriptor") {
			f.Body = cat([]byte{0}, AppendSymbol(nil, DescriptorName(body.Descriptor())), f.Body[3:])
		}
		got, err := DecodeFrameBody(f)
		if err != nil {
			t.Fatalf("DecodeFrameBody(%x): %v", f.Body, err)
		}
		if tr, ok := got.(*Transfer); ok {
			want := body.(*Transfer)
			if !bytes.Equal(tr.Payload, want.Payload) {
				t.Fatalf("payload %x, want %x", tr.Payload, want.Payload)
			}
			tr.Payload = want.Payload
		}
		if !reflect.DeepEqual(got, body) {
			t.Fatalf("round trip\n got %#v\nwant %#v", got, body)
		}
	})
}

var genMessage = rapid.Custom(func(t *rapid.T) *Message {
	m := &Message{
		Header: rapid.Ptr(rapid.Custom(func(t *rapid.T) Header {
			return Header{Durable: rapid.Bool().Draw(t, "durable"), Priority: rapid.Ptr(rapid.Uint8(), true).Draw(t, "priority"),
				TTL: rapid.Uint32().Draw(t, "ttl"), FirstAcquirer: rapid.Bool().Draw(t, "fa"), DeliveryCount: rapid.Uint32().Draw(t, "dc")}
		}), true).Draw(t, "header"),
		DeliveryAnnotations: genMap.Draw(t, "da"),
		MessageAnnotations:  genMap.Draw(t, "ma"),
		Properties: rapid.Ptr(rapid.Custom(func(t *rapid.T) Properties {
			id := rapid.OneOf(rapid.Just[any](nil), anyOf(rapid.Uint64()), anyOf(genUUID), anyOf(genBytes), anyOf(genString))
			return Properties{
				MessageID: id.Draw(t, "mid"), UserID: genOptBytes.Draw(t, "uid"), To: genString.Draw(t, "to"),
				Subject: genString.Draw(t, "subject"), ReplyTo: genString.Draw(t, "reply-to"), CorrelationID: id.Draw(t, "cid"),
				ContentType: genSymbol.Draw(t, "ct"), ContentEncoding: genSymbol.Draw(t, "ce"),
				AbsoluteExpiryTime: rapid.OneOf(rapid.Just(time.Time{}), genTime).Draw(t, "aet"),
				CreationTime:       rapid.OneOf(rapid.Just(time.Time{}), genTime).Draw(t, "ct2"),
				GroupID:            genString.Draw(t, "gid"), GroupSequence: genOptU32.Draw(t, "gs"), ReplyToGroupID: genString.Draw(t, "rtg"),
			}
		}), true).Draw(t, "properties"),
		ApplicationProperties: genMap.Draw(t, "ap"),
		Footer:                genMap.Draw(t, "footer"),
	}
	switch rapid.IntRange(0, 3).Draw(t, "body kind") {
	case 1:
		m.Data = rapid.SliceOfN(genBytes, 1, 3).Draw(t, "data")
	case 2:
		m.Sequence = rapid.SliceOfN(rapid.Map(rapid.SliceOfN(genPlain, 0, 3), nonNil[any]), 1, 3).Draw(t, "sequence")
	case 3:
		m.Value = genPlain.Draw(t, "value")
		m.HasValue = true
	}
	return m
})

// TestRapidMessageRoundTrip: every generated message survives encoding.
func TestRapidMessageRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := genMessage.Draw(t, "message")
		enc, err := m.Marshal(nil)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		var got Message
		if err := got.Unmarshal(enc); err != nil {
			t.Fatalf("Unmarshal(%x): %v", enc, err)
		}
		if !reflect.DeepEqual(&got, m) {
			t.Fatalf("round trip\n got %#v\nwant %#v", got, m)
		}
	})
}
