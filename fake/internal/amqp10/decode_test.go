package amqp10

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestDecodeNonCanonical checks encodings the encoder never picks but
// peers may send.
func TestDecodeNonCanonical(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want any
	}{
		{"bool 0x56 true", h("5601"), true},
		{"bool 0x56 false", h("5600"), false},
		{"wide uint", h("7000000005"), uint32(5)},
		{"wide ulong", h("800000000000000000"), uint64(0)},
		{"wide int", h("71ffffffff"), int32(-1)},
		{"wide long", h("810000000000000001"), int64(1)},
		{"vbin32 short", h("b00000000101"), []byte{1}},
		{"str32 short", h("b10000000161"), "a"},
		{"sym32 short", h("b30000000161"), Symbol("a")},
		{"list8 empty", h("c00100"), []any{}},
		{"list32", h("d0000000050000000141"), []any{true}},
		{"map32 empty", h("d10000000400000000"), Map{}},
		{"array32", h("f0000000060000000152 07"), Array{uint32(7)}},
		{"array smalluint", h("e00402520102"), Array{uint32(1), uint32(2)}},
		{"array uint0", h("e0020343"), Array{uint32(0), uint32(0), uint32(0)}},
		{"array true", h("e0020241"), Array{true, true}},
		{"array list0", h("e0020145"), Array{[]any{}}},
		{"array smalllong", h("e00301 55ff"), Array{int64(-1)}},
		{"array nested descriptors", h("e0 08 01 00 5301 00 5302 43"), Array{Described{uint64(1), Described{uint64(2), uint32(0)}}}},
		{"array8 of list8", h("e0 04 01 c0 0100"), Array{[]any{}}},
		{"timestamp pre-epoch", h("83fffffffffffffc18"), time.UnixMilli(-1000).UTC()},
	}
	for _, tc := range cases {
		got, err := Unmarshal(tc.in)
		if err != nil {
			t.Errorf("%s: Unmarshal(%x): %v", tc.name, tc.in, err)
			continue
		}
		if !equalValues(got, tc.want) {
			t.Errorf("%s: got %#v, want %#v", tc.name, got, tc.want)
		}
	}
}

func TestDecodeMalformed(t *testing.T) {
	nested := []byte{codeNull}
	for range maxNesting + 5 {
		nested = cat(h("d0"), be32(uint32(len(nested)+4)), be32(1), nested) // list32 holding the previous level
	}
	cases := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"unknown constructor", h("01")},
		{"reserved constructor", h("ff")},
		{"truncated uint", h("700000")},
		{"truncated ulong", h("8000")},
		{"truncated uuid", h("980102")},
		{"truncated smalluint", h("52")},
		{"bad bool byte", h("5602")},
		{"vbin8 too long", h("a00501")},
		{"vbin32 huge", h("b0ffffffff00")},
		{"str32 huge", h("b17fffffff")},
		{"list8 size beyond input", h("c0ff01")},
		{"list8 zero size", h("c000")},
		{"list32 huge size", h("d0ffffffffffffffff")},
		{"list32 huge size small count", h("d0 ffffffff 00000001 40")},
		{"list8 size beyond input small count", h("c0 05 01 40")},
		{"map32 huge size small count", h("d1 ffffff00 00000002 4040")},
		{"array32 huge size small count", h("f0 7fffffff 00000001 50 01")},
		{"array8 size beyond input", h("e0 09 01 50 01")},
		{"list32 size below count width", h("d00000000200000000")},
		{"list count beyond size", h("c00205 40")},
		{"list32 count huge", h("d000000005ffffffff40")},
		{"list content short of count", h("c0030240 40")[:4]},
		{"list leftover bytes", h("c003014040")},
		{"list element overruns size", h("c00301a00501")},
		{"map odd count", h("c1030140 40")},
		{"map count huge", h("d100000005fffffffe40")},
		{"array unknown element constructor", h("e0020101")},
		{"array described constructor truncated", h("e0020100")},
		{"array count beyond size", h("e003ff5001")},
		{"array32 count huge fixed width", h("f000000006ffffffff5001")},
		{"array zero width count beyond limit", h("f000000005ffffffff40")},
		{"array zero width just beyond limit", cat(h("f000000005"), be32(MaxZeroWidthElements+1), h("40"))},
		{"nested zero width arrays beyond limit", nestedNullArrays(65)},
		{"array element truncated", h("e0030170 01")},
		{"described missing value", h("005301")},
		{"described truncated descriptor", h("00")},
		{"trailing bytes", h("4040")},
		{"nesting too deep", nested},
		{"described nesting too deep", append([]byte(strings.Repeat("\x00\x40", maxNesting+5)), 0x40)},
	}
	for _, tc := range cases {
		_, err := Unmarshal(tc.in)
		if err == nil {
			t.Errorf("%s: Unmarshal(%x) succeeded, want error", tc.name, tc.in)
			continue
		}
		var de *DecodeError
		if !errors.As(err, &de) || de.Condition != CondDecodeError {
			t.Errorf("%s: error %v is not a decode-error *DecodeError", tc.name, err)
		}
		if strings.Contains(tc.name, "nesting") && !strings.Contains(err.Error(), "nested") {
			t.Errorf("%s: error %v is not about nesting", tc.name, err)
		}
	}
}

// TestDecodeAllocationBound checks that a count claiming more elements than
// the input holds is refused rather than allocated.
// nestedNullArrays encodes an array of n arrays of 255 nulls each.
func nestedNullArrays(n int) []byte {
	content := []byte{codeArray8}
	for range n {
		content = append(content, 2, 255, codeNull)
	}
	return cat([]byte{codeArray8, byte(len(content) + 1), byte(n)}, content)
}

func TestZeroWidthBudget(t *testing.T) {
	v, err := Unmarshal(nestedNullArrays(64)) // 16320 nulls, within the limit
	if err != nil {
		t.Fatal(err)
	}
	if a := v.(Array); len(a) != 64 || len(a[63].(Array)) != 255 {
		t.Fatalf("decoded %d arrays", len(a))
	}
	// The budget is per decode call, not per process.
	if _, err := Unmarshal(nestedNullArrays(64)); err != nil {
		t.Fatal(err)
	}
	// Re-encoding keeps the arrays zero-width, and they decode again.
	enc, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Unmarshal(enc); err != nil {
		t.Fatal(err)
	}
	// The fuzz regression: trailing bytes outside the value do not matter.
	if _, _, err := DecodeValue(h("e0020640 3030")); err != nil {
		t.Fatal(err)
	}
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func TestDecodeAllocationBound(t *testing.T) {
	inputs := [][]byte{
		h("d000000008 0fffffff 40404040"),
		h("d100000008 0ffffffe 40404040"),
		h("f000000009 0fffffff 50 01020304"),
		h("f000000005 0fffffff 45"),
	}
	for _, in := range inputs {
		allocs := testing.AllocsPerRun(10, func() { _, _ = Unmarshal(in) })
		if allocs > 5 {
			t.Errorf("Unmarshal(%x) made %v allocations", in, allocs)
		}
		if _, err := Unmarshal(in); err == nil {
			t.Errorf("Unmarshal(%x) succeeded", in)
		}
	}
}

func TestDecodeValuePrefix(t *testing.T) {
	v, n, err := DecodeValue(h("5201 ff"))
	if err != nil || n != 2 || v != uint32(1) {
		t.Fatalf("DecodeValue = %v, %d, %v", v, n, err)
	}
}

func TestBinaryAliasingIsCapped(t *testing.T) {
	in := h("a0020102 ee")
	v, _, err := DecodeValue(in)
	if err != nil {
		t.Fatal(err)
	}
	b := v.([]byte)
	_ = append(b, 0xaa)
	if in[4] != 0xee {
		t.Fatal("appending to a decoded binary overwrote the input")
	}
}

func TestReaderTyped(t *testing.T) {
	var in []byte
	in = AppendBool(in, true)
	in = AppendUint8(in, 1)
	in = AppendUint16(in, 2)
	in = AppendUint32(in, 3)
	in = AppendUint64(in, 4)
	in = AppendInt8(in, -1)
	in = AppendInt16(in, -2)
	in = AppendInt32(in, -3)
	in = AppendInt64(in, -4)
	in = AppendFloat32(in, 1.5)
	in = AppendFloat64(in, 2.5)
	in = AppendChar(in, 'x')
	in = AppendTimestamp(in, time.UnixMilli(5))
	in = AppendUUID(in, UUID{1})
	in = AppendBinary(in, []byte{9})
	in = AppendString(in, "s")
	in = AppendSymbol(in, "y")
	in = AppendNull(in)
	in = append(in, h("45")...)
	in = append(in, h("c10100")...)
	in = append(in, h("e00200a3")...)
	in = append(in, h("a30161")...) // single symbol as multiple
	in = append(in, h("0053 1045")...)
	in = append(in, h("5201")...)

	r := NewReader(in)
	check := func(name string, got any, err error, want any) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !equalValues(got, want) {
			t.Fatalf("%s: got %#v, want %#v", name, got, want)
		}
	}
	v1, err := r.ReadBool()
	check("bool", v1, err, true)
	v2, err := r.ReadUint8()
	check("uint8", v2, err, uint8(1))
	v3, err := r.ReadUint16()
	check("uint16", v3, err, uint16(2))
	v4, err := r.ReadUint32()
	check("uint32", v4, err, uint32(3))
	v5, err := r.ReadUint64()
	check("uint64", v5, err, uint64(4))
	v6, err := r.ReadInt8()
	check("int8", v6, err, int8(-1))
	v7, err := r.ReadInt16()
	check("int16", v7, err, int16(-2))
	v8, err := r.ReadInt32()
	check("int32", v8, err, int32(-3))
	v9, err := r.ReadInt64()
	check("int64", v9, err, int64(-4))
	v10, err := r.ReadFloat32()
	check("float32", v10, err, float32(1.5))
	v11, err := r.ReadFloat64()
	check("float64", v11, err, 2.5)
	v12, err := r.ReadChar()
	check("char", v12, err, Char('x'))
	v13, err := r.ReadTimestamp()
	check("timestamp", v13, err, time.UnixMilli(5).UTC())
	v14, err := r.ReadUUID()
	check("uuid", v14, err, UUID{1})
	v15, err := r.ReadBinary()
	check("binary", v15, err, []byte{9})
	v16, err := r.ReadString()
	check("string", v16, err, "s")
	// A failed typed read leaves the position unchanged.
	if _, err := r.ReadString(); err == nil {
		t.Fatal("ReadString on a symbol succeeded")
	}
	v17, err := r.ReadSymbol()
	check("symbol", v17, err, Symbol("y"))
	if !r.IsNull() {
		t.Fatal("IsNull = false before a null")
	}
	if _, err := r.ReadUint32(); err == nil {
		t.Fatal("ReadUint32 on null succeeded")
	}
	if err := r.ReadNull(); err != nil {
		t.Fatal(err)
	}
	v18, err := r.ReadList()
	check("list", v18, err, []any{})
	v19, err := r.ReadMap()
	check("map", v19, err, Map{})
	v20, err := r.ReadArray()
	check("array", v20, err, Array{})
	v21, err := r.ReadSymbols()
	check("symbols", v21, err, []Symbol{"a"})
	code, err := r.ReadDescriptor()
	check("descriptor", code, err, DescriptorOpen)
	if err := r.Skip(); err != nil {
		t.Fatal(err)
	}
	off := r.Offset()
	v22, err := r.ReadValue()
	check("value", v22, err, uint32(1))
	if r.Len() != 0 || r.Offset() != off+2 {
		t.Fatalf("Len = %d, Offset = %d", r.Len(), r.Offset())
	}
	if err := r.ReadNull(); err == nil {
		t.Fatal("ReadNull at end succeeded")
	}
}

func TestSkip(t *testing.T) {
	values := []any{nil, true, uint32(300), "abc", []byte{1}, []any{int64(1), Map{{"k", Array{Symbol("x")}}}},
		Described{Symbol("d"), []any{}}, Decimal128{}, UUID{}}
	var in []byte
	for _, v := range values {
		var err error
		if in, err = AppendValue(in, v); err != nil {
			t.Fatal(err)
		}
	}
	r := NewReader(in)
	for range values {
		if err := r.Skip(); err != nil {
			t.Fatal(err)
		}
	}
	if r.Len() != 0 {
		t.Fatalf("%d bytes left after skipping", r.Len())
	}
	for _, bad := range [][]byte{h("01"), h("a005"), h("b0ffffffff"), h("c0ff"), h("0040")} {
		r := NewReader(bad)
		if err := r.Skip(); err == nil || r.Offset() != 0 {
			t.Errorf("Skip(%x) = %v at offset %d", bad, err, r.Offset())
		}
	}
}

func TestMapGetSet(t *testing.T) {
	var m Map
	m.Set(Symbol("a"), 1)
	m.Set([]byte{1}, 2)
	m.Set(Symbol("a"), 3)
	if len(m) != 2 {
		t.Fatalf("len = %d", len(m))
	}
	if v, ok := m.Get(Symbol("a")); !ok || v != 3 {
		t.Fatalf("Get(a) = %v, %v", v, ok)
	}
	if v, ok := m.Get([]byte{1}); !ok || v != 2 {
		t.Fatalf("Get(binary) = %v, %v", v, ok)
	}
	if _, ok := m.Get("a"); ok {
		t.Fatal("string key matched a symbol key")
	}
}

func TestUUIDString(t *testing.T) {
	u := UUID{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
	if got, want := u.String(), "12345678-9abc-def0-0123-456789abcdef"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestDescriptorNames(t *testing.T) {
	if DescriptorName(DescriptorTransfer) != "amqp:transfer:list" {
		t.Fatal(DescriptorName(DescriptorTransfer))
	}
	if c, ok := DescriptorCode("amqp:amqp-value:*"); !ok || c != DescriptorAMQPValue {
		t.Fatal(c, ok)
	}
	if len(descriptorNames) != len(descriptorCodes) {
		t.Fatal("descriptor names are not unique")
	}
}

// TestNestingLimitsAgree checks that anything the decoder accepts at the
// nesting limit the encoder accepts too, for descriptors chained in an array
// element constructor.
func TestNestingLimitsAgree(t *testing.T) {
	for k := maxNesting - 3; k <= maxNesting+1; k++ {
		ctor := bytes.Repeat(h("005301"), k)
		content := cat(ctor, h("43"))
		in := cat([]byte{codeArray32}, be32(uint32(len(content)+4)), be32(1), content)
		v, err := Unmarshal(in)
		if err != nil {
			continue
		}
		if _, err := Marshal(v); err != nil {
			t.Errorf("%d chained descriptors: decoded but cannot re-encode: %v", k, err)
		}
	}
}
