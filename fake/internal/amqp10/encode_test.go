package amqp10

import (
	"bytes"
	"encoding/hex"
	"math"
	"strings"
	"testing"
	"time"
)

// h decodes a hex string with optional spaces.
func h(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// cat concatenates byte slices.
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func rep(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

// encodingCases lists values with their exact expected encoding. Decoding
// each encoding must give the value back.
var encodingCases = []struct {
	name string
	v    any
	want []byte
}{
	{"null", nil, h("40")},
	{"true", true, h("41")},
	{"false", false, h("42")},
	{"ubyte", uint8(0xab), h("50ab")},
	{"ushort", uint16(0x1234), h("601234")},
	{"uint0", uint32(0), h("43")},
	{"smalluint 1", uint32(1), h("5201")},
	{"smalluint 255", uint32(255), h("52ff")},
	{"uint 256", uint32(256), h("7000000100")},
	{"uint max", uint32(math.MaxUint32), h("70ffffffff")},
	{"ulong0", uint64(0), h("44")},
	{"smallulong 255", uint64(255), h("53ff")},
	{"ulong 256", uint64(256), h("800000000000000100")},
	{"ulong max", uint64(math.MaxUint64), h("80ffffffffffffffff")},
	{"byte", int8(-2), h("51fe")},
	{"short", int16(-2), h("61fffe")},
	{"smallint 0", int32(0), h("5400")},
	{"smallint 127", int32(127), h("547f")},
	{"smallint -128", int32(-128), h("5480")},
	{"int 128", int32(128), h("7100000080")},
	{"int -129", int32(-129), h("71ffffff7f")},
	{"smalllong -1", int64(-1), h("55ff")},
	{"long 128", int64(128), h("810000000000000080")},
	{"long min", int64(math.MinInt64), h("818000000000000000")},
	{"float", float32(1.5), h("723fc00000")},
	{"double", float64(-2.25), h("82c002000000000000")},
	{"decimal32", Decimal32{1, 2, 3, 4}, h("7401020304")},
	{"decimal64", Decimal64{1, 2, 3, 4, 5, 6, 7, 8}, h("840102030405060708")},
	{"decimal128", Decimal128{15: 9}, h("9400000000000000000000000000000009")},
	{"char", Char('€'), h("73000020ac")},
	{"timestamp", time.UnixMilli(1700000000123).UTC(), h("830000018bcfe5687b")},
	{"timestamp negative", time.UnixMilli(-1).UTC(), h("83ffffffffffffffff")},
	{"uuid", UUID{0: 0xde, 15: 0xef}, h("98de0000000000000000000000000000ef")},
	{"vbin8 empty", []byte{}, h("a000")},
	{"vbin8", []byte{1, 2}, h("a0020102")},
	{"vbin8 255", rep(7, 255), cat(h("a0ff"), rep(7, 255))},
	{"vbin32 256", rep(7, 256), cat(h("b000000100"), rep(7, 256))},
	{"str8 empty", "", h("a100")},
	{"str8", "hé", h("a10368c3a9")},
	{"str8 255", strings.Repeat("a", 255), cat(h("a1ff"), rep('a', 255))},
	{"str32 256", strings.Repeat("a", 256), cat(h("b100000100"), rep('a', 256))},
	{"sym8", Symbol("ab"), h("a3026162")},
	{"sym8 255", Symbol(strings.Repeat("s", 255)), cat(h("a3ff"), rep('s', 255))},
	{"sym32 256", Symbol(strings.Repeat("s", 256)), cat(h("b300000100"), rep('s', 256))},
	{"list0", []any{}, h("45")},
	{"list8", []any{uint32(1), "a"}, h("c0 06 02 5201 a10161")},
	{"list8 nested list0", []any{[]any{}}, h("c0020145")},
	{"list8 max size", []any{rep(1, 252)}, cat(h("c0 ff 01 a0fc"), rep(1, 252))},
	{"list32 size", []any{rep(1, 253)}, cat(h("d0 00000103 00000001 a0fd"), rep(1, 253))},
	{"list32 count", make([]any, 256), cat(h("d0 00000104 00000100"), rep(0x40, 256))},
	{"map8 empty", Map{}, h("c10100")},
	{"map8", Map{{Symbol("k"), int64(1)}}, h("c1 06 02 a3016b 5501")},
	{"map8 order kept", Map{{"b", nil}, {"a", nil}}, h("c1 09 04 a10162 40 a10161 40")},
	{"map32", Map{{"k", rep(2, 300)}}, cat(h("d1 00000138 00000002 a1016b b00000012c"), rep(2, 300))},
	{"array8 sym", Array{Symbol("a"), Symbol("bc")}, h("e0 07 02 a3 0161 026263")},
	{"array8 empty", Array{}, h("e00200a3")},
	{"array8 bool", Array{true, false}, h("e004025601 00")},
	{"array8 smalluint", Array{uint32(1), uint32(255)}, h("e0040252 01ff")},
	{"array8 uint", Array{uint32(1), uint32(256)}, h("e00a0270 00000001 00000100")},
	{"array8 smallulong", Array{uint64(0)}, h("e0030153 00")},
	{"array8 ulong", Array{uint64(256)}, h("e00a0180 0000000000000100")},
	{"array8 smallint", Array{int32(-128), int32(127)}, h("e0040254 807f")},
	{"array8 int", Array{int32(128)}, h("e0060171 00000080")},
	{"array8 smalllong", Array{int64(-1)}, h("e0030155ff")},
	{"array8 long", Array{int64(-1), int64(-129)}, h("e0120281 ffffffffffffffff ffffffffffffff7f")},
	{"array8 str", Array{"x"}, h("e00401a10178")},
	{"array str32 element", Array{strings.Repeat("x", 256)}, cat(h("f0 00000109 00000001 b1 00000100"), rep('x', 256))},
	{"array32 count", func() Array {
		a := make(Array, 256)
		for i := range a {
			a[i] = uint8(i)
		}
		return a
	}(), func() []byte {
		b := h("f0 00000105 00000100 50")
		for i := range 256 {
			b = append(b, byte(i))
		}
		return b
	}()},
	{"array of nulls", Array{nil, nil}, h("e0 02 02 40")},
	{"array of lists", Array{[]any{true}, []any{}}, h("e0 07 02 c0 0201 41 0100")},
	{"array of list32", Array{[]any{}, []any{rep(1, 253)}}, cat(h("f0 00000114 00000002 d0 00000004 00000000 00000103 00000001 a0fd"), rep(1, 253))},
	{"array of maps", Array{Map{}}, h("e0 04 01 c1 0100")},
	{"array of arrays", Array{Array{Symbol("a")}, Array{}}, h("e0 0a 02 e0 0401 a3 0161 0200 a3")},
	{"array of described", Array{
		Described{Symbol("d"), "x"},
		Described{Symbol("d"), "yz"},
	}, h("e0 0b 02 00 a30164 a1 0178 02797a")},
	{"described ulong", Described{uint64(0x77), "v"}, h("00 5377 a10176")},
	{"described symbol", Described{Symbol("x:y"), int32(5)}, h("00 a303783a79 5405")},
	{"described nested", Described{uint64(1), Described{uint64(2), nil}}, h("00 5301 00 5302 40")},
}

func TestEncodeExactBytes(t *testing.T) {
	for _, tc := range encodingCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Marshal(tc.v)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("Marshal(%v)\n got %x\nwant %x", tc.v, got, tc.want)
			}
		})
	}
}

func TestDecodeExactBytes(t *testing.T) {
	for _, tc := range encodingCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Unmarshal(tc.want)
			if err != nil {
				t.Fatalf("Unmarshal(%x): %v", tc.want, err)
			}
			if !equalValues(got, tc.v) {
				t.Fatalf("Unmarshal(%x) = %#v, want %#v", tc.want, got, tc.v)
			}
		})
	}
}

func TestAppendPrimitives(t *testing.T) {
	cases := []struct {
		name string
		got  []byte
		want []byte
	}{
		{"null", AppendNull(nil), h("40")},
		{"bool", AppendBool(nil, true), h("41")},
		{"uint8", AppendUint8(nil, 3), h("5003")},
		{"uint16", AppendUint16(nil, 3), h("600003")},
		{"uint32", AppendUint32(nil, 3), h("5203")},
		{"uint64", AppendUint64(nil, 1<<40), h("800000010000000000")},
		{"int8", AppendInt8(nil, -1), h("51ff")},
		{"int16", AppendInt16(nil, -1), h("61ffff")},
		{"int32", AppendInt32(nil, -1), h("54ff")},
		{"int64", AppendInt64(nil, 1<<40), h("810000010000000000")},
		{"float32", AppendFloat32(nil, 0), h("7200000000")},
		{"float64", AppendFloat64(nil, 1), h("823ff0000000000000")},
		{"decimal32", AppendDecimal32(nil, Decimal32{}), h("7400000000")},
		{"decimal64", AppendDecimal64(nil, Decimal64{}), h("840000000000000000")},
		{"decimal128", AppendDecimal128(nil, Decimal128{}), h("9400000000000000000000000000000000")},
		{"char", AppendChar(nil, 'a'), h("7300000061")},
		{"timestamp truncates", AppendTimestamp(nil, time.Unix(1, 999999)), h("8300000000000003e8")},
		{"uuid", AppendUUID(nil, UUID{}), h("9800000000000000000000000000000000")},
		{"binary", AppendBinary(nil, []byte{9}), h("a00109")},
		{"string", AppendString(nil, "a"), h("a10161")},
		{"symbol", AppendSymbol(nil, "a"), h("a30161")},
		{"appends", AppendNull([]byte{1}), h("0140")},
	}
	for _, tc := range cases {
		if !bytes.Equal(tc.got, tc.want) {
			t.Errorf("%s: got %x, want %x", tc.name, tc.got, tc.want)
		}
	}
}

func TestEncodeConveniences(t *testing.T) {
	cases := []struct {
		name string
		v    any
		want []byte
	}{
		{"int", 5, h("5505")},
		{"uint", uint(300), h("80000000000000012c")},
		{"[]Symbol", []Symbol{"a"}, h("e004 01 a3 0161")},
		{"[]Symbol nil", []Symbol(nil), h("e00200a3")},
		{"[]string", []string{"a"}, h("e004 01 a1 0161")},
		{"map[string]any sorted", map[string]any{"b": true, "a": false}, h("c1 09 04 a10161 42 a10162 41")},
		{"map[Symbol]any", map[Symbol]any{"k": nil}, h("c1 05 02 a3016b 40")},
		{"array of int", Array{1}, h("e0030155 01")},
		{"array of uint", Array{uint(1000)}, h("e00a0180 00000000000003e8")},
	}
	for _, tc := range cases {
		got, err := Marshal(tc.v)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !bytes.Equal(got, tc.want) {
			t.Errorf("%s: got %x, want %x", tc.name, got, tc.want)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	self := []any{nil}
	self[0] = self
	cases := []struct {
		name string
		v    any
	}{
		{"unsupported type", struct{}{}},
		{"unsupported in list", []any{complex(1, 2)}},
		{"unsupported in map", Map{{"k", make(chan int)}}},
		{"mixed array", Array{uint32(1), "x"}},
		{"mixed array strings", Array{"x", Symbol("y")}},
		{"array of unsupported", Array{struct{}{}}},
		{"array different descriptors", Array{Described{uint64(1), nil}, Described{uint64(2), nil}}},
		{"array described and plain", Array{Described{uint64(1), nil}, nil}},
		{"self-referencing list", self},
	}
	for _, tc := range cases {
		if _, err := Marshal(tc.v); err == nil {
			t.Errorf("%s: Marshal succeeded, want error", tc.name)
		}
	}
}
