package amqp10

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func ptr[T any](v T) *T { return &v }

// fullPerformatives has one fully populated value of every performative.
func fullPerformatives() []FrameBody {
	info := Map{{Symbol("why"), "because"}}
	return []FrameBody{
		&Open{
			ContainerID: "container", Hostname: "host", MaxFrameSize: 65536, ChannelMax: ptr(uint16(0)),
			IdleTimeout: 30000, OutgoingLocales: []Symbol{"en-US"}, IncomingLocales: []Symbol{"en-US", "de"},
			OfferedCapabilities: []Symbol{"ANONYMOUS-RELAY"}, DesiredCapabilities: []Symbol{},
			Properties: Map{{Symbol("product"), "switchyard"}},
		},
		&Begin{
			RemoteChannel: ptr(uint16(3)), NextOutgoingID: 1, IncomingWindow: 5000, OutgoingWindow: 1 << 31,
			HandleMax: ptr(uint32(0)), OfferedCapabilities: []Symbol{"x"}, DesiredCapabilities: []Symbol{"y"},
			Properties: Map{},
		},
		&Attach{
			Name: "link", Handle: 7, Role: RoleReceiver, SenderSettleMode: ptr(SenderSettleModeUnsettled),
			ReceiverSettleMode: ReceiverSettleModeSecond,
			Source: &Source{
				Address: "queue", Durable: DurabilityUnsettledState, ExpiryPolicy: ExpiryNever, Timeout: 60,
				Dynamic: true, DynamicNodeProperties: Map{{Symbol("lifetime-policy"), Described{uint64(0x2b), []any{}}}},
				DistributionMode: DistributionCopy,
				Filter:           Map{{Symbol("sel"), Described{Symbol("apache.org:selector-filter:string"), "a = 1"}}},
				DefaultOutcome:   Modified{DeliveryFailed: true},
				Outcomes:         []Symbol{"amqp:accepted:list", "amqp:released:list"},
				Capabilities:     []Symbol{"queue"},
			},
			Target: &Target{
				Address: "t", Durable: DurabilityConfiguration, ExpiryPolicy: ExpiryLinkDetach, Timeout: 1,
				Dynamic: true, DynamicNodeProperties: Map{}, Capabilities: []Symbol{"topic"},
			},
			Unsettled:            Map{{[]byte("tag"), Described{uint64(DescriptorAccepted), []any{}}}},
			IncompleteUnsettled:  true,
			InitialDeliveryCount: 9, MaxMessageSize: 1 << 40,
			OfferedCapabilities: []Symbol{"a"}, DesiredCapabilities: []Symbol{"b"}, Properties: Map{{Symbol("p"), int32(1)}},
		},
		&Flow{
			NextIncomingID: ptr(uint32(0)), IncomingWindow: 100, NextOutgoingID: 200, OutgoingWindow: 300,
			Handle: ptr(uint32(1)), DeliveryCount: ptr(uint32(2)), LinkCredit: ptr(uint32(0)), Available: ptr(uint32(4)),
			Drain: true, Echo: true, Properties: Map{{Symbol("k"), nil}},
		},
		&Transfer{
			Handle: 1, DeliveryID: ptr(uint32(0)), DeliveryTag: []byte{}, MessageFormat: ptr(uint32(0)),
			Settled: true, More: true, ReceiverSettleMode: ptr(ReceiverSettleModeFirst),
			State: Received{SectionNumber: 1, SectionOffset: 2}, Resume: true, Aborted: true, Batchable: true,
			Payload: []byte("payload"),
		},
		&Disposition{Role: RoleReceiver, First: 3, Last: ptr(uint32(9)), Settled: true,
			State: Rejected{Error: &Error{Condition: CondDecodeError, Description: "bad", Info: info}}, Batchable: true},
		&Detach{Handle: 4, Closed: true, Error: &Error{Condition: CondDetachForced, Info: info}},
		&End{Error: &Error{Condition: CondWindowViolation, Description: "window"}},
		&Close{Error: &Error{Condition: CondConnectionForced}},
	}
}

// minimalPerformatives has every performative with only mandatory fields.
func minimalPerformatives() []FrameBody {
	return []FrameBody{
		&Open{ContainerID: ""},
		&Begin{},
		&Attach{},
		&Flow{},
		&Transfer{},
		&Disposition{},
		&Detach{},
		&End{},
		&Close{},
	}
}

func TestPerformativeRoundTrip(t *testing.T) {
	for _, p := range append(fullPerformatives(), minimalPerformatives()...) {
		name := reflect.TypeOf(p).Elem().Name()
		enc, err := p.Marshal(nil)
		if err != nil {
			t.Fatalf("%s: Marshal: %v", name, err)
		}
		got, err := ParseAMQPBody(enc)
		if err != nil {
			t.Fatalf("%s: ParseAMQPBody(%x): %v", name, enc, err)
		}
		if tr, ok := got.(*Transfer); ok && tr.Payload != nil && len(tr.Payload) == 0 {
			tr.Payload = nil // an empty remainder is as good as no payload
		}
		if !reflect.DeepEqual(got, p) {
			t.Fatalf("%s: round trip\n got %#v\nwant %#v", name, got, p)
		}
		if got.Descriptor() != p.Descriptor() {
			t.Fatalf("%s: descriptor %x != %x", name, got.Descriptor(), p.Descriptor())
		}
	}
}

func TestPerformativeExactBytes(t *testing.T) {
	cases := []struct {
		name string
		p    FrameBody
		want []byte
	}{
		{"open minimal", &Open{ContainerID: "c"}, h("005310 c0 04 01 a10163")},
		{"open trailing nulls dropped", &Open{ContainerID: "c", IdleTimeout: 1},
			h("005310 c0 09 05 a10163 40 40 40 5201")},
		{"begin", &Begin{NextOutgoingID: 0, IncomingWindow: 1, OutgoingWindow: 256},
			h("005311 c0 0a 04 40 43 5201 7000000100")},
		{"attach sender", &Attach{Name: "l", Handle: 0, Role: RoleSender, Target: &Target{Address: "q"}},
			h("005312 c0 15 0a a1016c 43 42 40 40 40 005329 c0 04 01 a10171 40 40 43")},
		{"attach receiver omits zero delivery count", &Attach{Name: "l", Role: RoleReceiver},
			h("005312 c0 06 03 a1016c 43 41")},
		{"flow", &Flow{IncomingWindow: 1, NextOutgoingID: 2, OutgoingWindow: 3, Handle: ptr(uint32(0)), LinkCredit: ptr(uint32(10))},
			h("005313 c0 0c 07 40 5201 5202 5203 43 40 520a")},
		{"transfer", &Transfer{Handle: 0, DeliveryID: ptr(uint32(5)), DeliveryTag: []byte{1}, MessageFormat: ptr(uint32(0)), Payload: []byte{0xaa}},
			h("005314 c0 08 04 43 5205 a00101 43 aa")},
		{"disposition accepted", &Disposition{Role: RoleReceiver, First: 1, Settled: true, State: Accepted{}},
			h("005315 c0 0a 05 41 5201 40 41 00532445")},
		{"detach", &Detach{Handle: 2, Closed: true}, h("005316 c0 04 02 5202 41")},
		{"end", &End{}, h("00531745")},
		{"close", &Close{}, h("00531845")},
		{"close with error", &Close{Error: &Error{Condition: "x"}},
			h("005318 c0 0a 01 00531d c0 04 01 a30178")},
	}
	for _, tc := range cases {
		got, err := tc.p.Marshal(nil)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !bytes.Equal(got, tc.want) {
			t.Errorf("%s:\n got %x\nwant %x", tc.name, got, tc.want)
		}
	}
}

// symbolic re-encodes a performative with its symbolic descriptor.
func symbolic(t *testing.T, enc []byte) []byte {
	t.Helper()
	if enc[0] != 0x00 || enc[1] != codeSmallUlong {
		t.Fatalf("unexpected descriptor encoding %x", enc[:3])
	}
	name := descriptorNames[uint64(enc[2])]
	return cat([]byte{0x00}, AppendSymbol(nil, Symbol(name)), enc[3:])
}

func TestPerformativeSymbolicDescriptors(t *testing.T) {
	for _, p := range fullPerformatives() {
		enc, err := p.Marshal(nil)
		if err != nil {
			t.Fatal(err)
		}
		sym := symbolic(t, enc)
		got, err := ParseAMQPBody(sym)
		if err != nil {
			t.Fatalf("ParseAMQPBody(%x): %v", sym, err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Fatalf("symbolic round trip\n got %#v\nwant %#v", got, p)
		}
	}
	// Long-form ulong descriptors are accepted too.
	got, err := ParseAMQPBody(h("80 0000000000000017 45"))
	if err == nil {
		t.Fatalf("a body without the described constructor decoded: %#v", got)
	}
	got, err = ParseAMQPBody(h("00 80 0000000000000017 45"))
	if err != nil || !reflect.DeepEqual(got, &End{}) {
		t.Fatalf("ulong descriptor: %#v, %v", got, err)
	}
}

func TestPerformativeDecodeErrors(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want string // substring of the error
	}{
		{"open without container-id", h("00531045"), "container-id"},
		{"open null container-id", h("005310 c0 02 01 40"), "container-id"},
		{"open container-id wrong type", h("005310 c0 03 01 a30163"), "container-id"},
		{"begin missing windows", comp(0x11, "40", "43"), "incoming-window"},
		{"begin missing outgoing window", comp(0x11, "40", "43", "43", "40"), "outgoing-window"},
		{"attach missing role", comp(0x12, "a1016c", "43"), "role"},
		{"attach missing handle", comp(0x12, "a1016c"), "handle"},
		{"attach source wrong descriptor", comp(0x12, "a1016c", "43", "42", "40", "40", "00532945"), "source"},
		{"flow missing next-outgoing-id", comp(0x13, "40", "43"), "next-outgoing-id"},
		{"transfer missing handle", h("00531445"), "handle"},
		{"transfer handle wrong type", comp(0x14, "5001"), "handle"},
		{"disposition missing first", comp(0x15, "41"), "first"},
		{"detach missing handle", h("00531645"), "handle"},
		{"error missing condition", comp(0x18, "00531d45"), "condition"},
		{"rejected with bad error", comp(0x15, "41", "43", "40", "41", hex.EncodeToString(comp(0x25, "00531d45"))), "condition"},
		{"received missing offset", comp(0x15, "41", "43", "40", "41", hex.EncodeToString(comp(0x23, "43"))), "section-offset"},
		{"unknown descriptor", h("005399 45"), "not a performative"},
		{"sasl descriptor in AMQP frame", h("00534445"), "not a performative"},
		{"unknown symbolic descriptor", h("00 a303 782d79 45"), "unknown descriptor"},
		{"not a list", h("005317 c1 01 00"), "expected a list"},
		{"trailing bytes", h("00531745 40"), "trailing"},
		{"list size mismatch", h("005316 c0 04 01 5202 41"), "size"},
		{"list count beyond content", h("005316 c0 03 02 5202"), ""},
		{"empty", nil, ""},
		{"truncated descriptor", h("0053"), ""},
	}
	for _, tc := range cases {
		_, err := ParseAMQPBody(tc.in)
		if err == nil {
			t.Errorf("%s: ParseAMQPBody(%x) succeeded", tc.name, tc.in)
			continue
		}
		var de *DecodeError
		if !errors.As(err, &de) || de.Condition != CondDecodeError {
			t.Errorf("%s: %v is not a decode-error *DecodeError", tc.name, err)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q does not mention %q", tc.name, err, tc.want)
		}
	}
}

// comp builds a described list with a smallulong descriptor from hex items.
func comp(code byte, items ...string) []byte {
	var content []byte
	for _, it := range items {
		content = append(content, h(it)...)
	}
	return cat([]byte{0x00, codeSmallUlong, code, codeList8, byte(len(content) + 1), byte(len(items))}, content)
}

func TestPerformativeExtraFieldsIgnored(t *testing.T) {
	// A close with its error field plus two fields from a future version.
	in := comp(0x18, "40", "a10178", "c0020141")
	var c Close
	if err := c.Unmarshal(in); err != nil {
		t.Fatalf("Unmarshal(%x): %v", in, err)
	}
	if c.Error != nil {
		t.Fatalf("Error = %v", c.Error)
	}
}

func TestUnmarshalResetsFields(t *testing.T) {
	f := Flow{Drain: true, Handle: ptr(uint32(3)), Properties: Map{}}
	if err := f.Unmarshal(h("005313 c0 05 04 40 43 43 43")); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f, Flow{}) {
		t.Fatalf("stale fields survived Unmarshal: %#v", f)
	}
}

func TestTransferPayloadAliases(t *testing.T) {
	enc, err := (&Transfer{Handle: 1, Payload: []byte("abc")}).Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	var tr Transfer
	if err := tr.Unmarshal(enc); err != nil {
		t.Fatal(err)
	}
	if string(tr.Payload) != "abc" || &tr.Payload[0] != &enc[len(enc)-3] {
		t.Fatalf("payload %q does not alias the input", tr.Payload)
	}
	if cap(tr.Payload) != 3 {
		t.Fatalf("payload capacity %d is not capped", cap(tr.Payload))
	}
}

func TestTerminusRoundTrip(t *testing.T) {
	src := &Source{Address: "a", Filter: Map{{Symbol("f"), Described{uint64(0x0000468C00000004), "x"}}},
		DefaultOutcome: UnknownDeliveryState{Value: Described{uint64(0x34), []any{}}}}
	enc, err := src.Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	var got Source
	if err := got.Unmarshal(enc); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&got, src) {
		t.Fatalf("got %#v, want %#v", got, src)
	}
	tgt := &Target{Address: "b", ExpiryPolicy: ExpirySessionEnd}
	enc, err = tgt.Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	var gotT Target
	if err := gotT.Unmarshal(enc); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&gotT, tgt) {
		t.Fatalf("got %#v, want %#v", gotT, tgt)
	}
	// An address sent as a symbol is accepted.
	var sym Target
	if err := sym.Unmarshal(h("005329 c0 04 01 a30171")); err != nil || sym.Address != "q" {
		t.Fatalf("symbol address: %#v, %v", sym, err)
	}
}

func TestMarshalErrors(t *testing.T) {
	bad := Map{{"k", struct{}{}}}
	for _, p := range []FrameBody{
		&Open{Properties: bad},
		&Begin{Properties: bad},
		&Attach{Source: &Source{Filter: bad}},
		&Attach{Target: &Target{DynamicNodeProperties: bad}},
		&Flow{Properties: bad},
		&Transfer{State: Modified{MessageAnnotations: bad}},
		&Disposition{State: Rejected{Error: &Error{Info: bad}}},
		&Detach{Error: &Error{Info: bad}},
		&End{Error: &Error{Info: bad}},
		&Close{Error: &Error{Info: bad}},
	} {
		if _, err := p.Marshal(nil); err == nil {
			t.Errorf("%T: Marshal succeeded with an unencodable property", p)
		}
	}
}

func TestErrorType(t *testing.T) {
	var err error = &Error{Condition: CondNotFound, Description: "no such queue"}
	if err.Error() != "amqp:not-found: no such queue" {
		t.Fatal(err.Error())
	}
	if (&Error{Condition: CondStolen}).Error() != "amqp:link:stolen" {
		t.Fatal("condition-only error text")
	}
	de := decodeErrorf("x")
	if ae := de.AMQPError(); ae.Condition != CondDecodeError || ae.Description != "x" {
		t.Fatalf("AMQPError = %#v", ae)
	}
	conds := []Symbol{CondInternalError, CondNotFound, CondUnauthorizedAccess, CondDecodeError,
		CondResourceLimitExceeded, CondNotAllowed, CondInvalidField, CondNotImplemented, CondResourceLocked,
		CondPreconditionFailed, CondResourceDeleted, CondIllegalState, CondFrameSizeTooSmall,
		CondConnectionForced, CondFramingError, CondConnectionRedirect, CondWindowViolation, CondErrantLink,
		CondHandleInUse, CondUnattachedHandle, CondDetachForced, CondTransferLimitExceeded,
		CondMessageSizeExceeded, CondLinkRedirect, CondStolen}
	seen := map[Symbol]bool{}
	for _, c := range conds {
		if !strings.HasPrefix(string(c), "amqp:") || seen[c] {
			t.Errorf("bad or duplicate condition %q", c)
		}
		seen[c] = true
	}
}
