package amqp091

import (
	"encoding/binary"
	"encoding/hex"
	"math"
	"strings"
	"testing"
	"time"
)

// TestFieldValueWire checks the wire form of every field type, worked out
// by hand, in both directions.
func TestFieldValueWire(t *testing.T) {
	cases := []struct {
		name string
		v    any
		hex  string // type octet and value
	}{
		{"bool true", true, "7401"},
		{"bool false", false, "7400"},
		{"int8", int8(-2), "62fe"},
		{"uint8", uint8(0xfe), "42fe"},
		{"int16", int16(-2), "73fffe"},
		{"uint16", uint16(0xfffe), "75fffe"},
		{"int32", int32(-2), "49fffffffe"},
		{"uint32", uint32(0xfffffffe), "69fffffffe"},
		{"int64", int64(-2), "6cfffffffffffffffe"},
		{"float32", float32(1.5), "663fc00000"},
		{"float64", float64(-2.5), "64c004000000000000"},
		{"float64 NaN", math.Float64frombits(0x7ff8000000000001), "647ff8000000000001"},
		{"decimal", Decimal{Scale: 3, Value: -1}, "4403ffffffff"},
		{"longstr", "hi", "53000000026869"},
		{"empty longstr", "", "5300000000"},
		{"bytes", []byte{0xde, 0xad}, "7800000002dead"},
		{"empty bytes", []byte(nil), "7800000000"},
		{"array", []any{uint8(1), "a"}, "41" + "00000008" + "4201" + "530000000161"},
		{"empty array", []any(nil), "4100000000"},
		{"nested array", []any{[]any{nil}}, "41" + "00000006" + "41" + "00000001" + "56"},
		{"timestamp", time.Unix(0x01020304, 0).UTC(), "540000000001020304"},
		{"table", Table{"k": true}, "46" + "00000004" + "016b" + "7401"},
		{"empty table", Table(nil), "4600000000"},
		{"void", nil, "56"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := appendFieldValue(nil, c.v, 1)
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(got) != c.hex {
				t.Fatalf("encoded %x, want %s", got, c.hex)
			}
			// Decode it as the single entry of a table.
			wire, _ := AppendTable(nil, Table{"v": c.v})
			tab, err := DecodeTable(wire)
			if err != nil {
				t.Fatal(err)
			}
			if !deepEqual(tab["v"], c.v) {
				t.Fatalf("decoded %#v, want %#v", tab["v"], c.v)
			}
		})
	}
}

func TestEncoderConveniences(t *testing.T) {
	for _, c := range []struct {
		in, out any
	}{
		{int(-5), int64(-5)},
		{map[string]any{"a": "b"}, Table{"a": "b"}},
	} {
		wire, err := AppendTable(nil, Table{"v": c.in})
		if err != nil {
			t.Fatal(err)
		}
		tab, err := DecodeTable(wire)
		if err != nil || !deepEqual(tab["v"], c.out) {
			t.Fatalf("%#v decoded as %#v, %v; want %#v", c.in, tab["v"], err, c.out)
		}
	}
}

func TestTableRoundTrip(t *testing.T) {
	cases := map[string]Table{
		"nil":    nil,
		"sample": sampleTable(),
		"nested": {"a": Table{"b": Table{"c": []any{Table{"d": []any{int8(1), []byte("x")}}}}}},
		"long key": {
			strings.Repeat("k", 255): "v",
		},
		"empty key":            {"": int32(1)},
		"empty nested values":  {"t": Table(nil), "a": []any(nil), "x": []byte(nil), "s": ""},
		"all at depth limit-1": deepTable(maxTableDepth - 1),
	}
	for name, tab := range cases {
		t.Run(name, func(t *testing.T) {
			wire, err := AppendTable([]byte("pre"), tab)
			if err != nil {
				t.Fatal(err)
			}
			if string(wire[:3]) != "pre" {
				t.Fatal("prefix lost")
			}
			wire = wire[3:]
			if n := binary.BigEndian.Uint32(wire); int(n) != len(wire)-4 {
				t.Fatalf("length prefix %d, table is %d bytes", n, len(wire)-4)
			}
			got, err := DecodeTable(wire)
			if err != nil {
				t.Fatal(err)
			}
			if !deepEqual(got, tab) {
				t.Fatalf("got %#v, want %#v", got, tab)
			}
			// Every strict prefix is truncated.
			for n := range len(wire) {
				_, err := DecodeTable(wire[:n])
				wantCode(t, err, FrameError)
			}
		})
	}
}

// deepTable returns n tables nested inside each other.
func deepTable(n int) Table {
	t := Table{"leaf": true}
	for range n - 1 {
		t = Table{"t": t}
	}
	return t
}

// deepArray returns n arrays nested inside each other within one table,
// n+1 containers in all.
func deepArray(n int) Table {
	var a any = "leaf"
	for range n {
		a = []any{a}
	}
	return Table{"a": a}
}

func TestTableDepthLimit(t *testing.T) {
	if _, err := AppendTable(nil, deepTable(maxTableDepth)); err != nil {
		t.Fatalf("depth %d: %v", maxTableDepth, err)
	}
	_, err := AppendTable(nil, deepTable(maxTableDepth+1))
	wantCode(t, err, SyntaxError)
	_, err = AppendTable(nil, deepArray(maxTableDepth))
	wantCode(t, err, SyntaxError)
	if _, err := AppendTable(nil, deepArray(maxTableDepth-1)); err != nil {
		t.Fatal(err)
	}

	// A table that contains itself is refused, not followed forever.
	self := Table{}
	self["me"] = self
	_, err = AppendTable(nil, self)
	wantCode(t, err, SyntaxError)

	// Hand-built wire data nested one level too deep is refused by the
	// decoder without the encoder's help.
	_, err = DecodeTable(wrapTables(maxTableDepth + 1))
	wantCode(t, err, SyntaxError)
	if _, err := DecodeTable(wrapTables(maxTableDepth)); err != nil {
		t.Fatal(err)
	}
}

// wrapTables builds the wire form of n nested tables, the innermost empty
// of entries but for a void value.
func wrapTables(n int) []byte {
	inner := []byte{1, 'v', 'V'}
	body := inner
	for range n - 1 {
		tab := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
		tab = append(tab, body...)
		body = append([]byte{1, 't', 'F'}, tab...)
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

func TestTableEncodeErrors(t *testing.T) {
	for name, tab := range map[string]Table{
		"long key":         {strings.Repeat("k", 256): 1},
		"unsupported type": {"v": uint64(1)},
		"nested bad":       {"v": Table{"w": []any{struct{}{}}}},
		"bad in array":     {"v": []any{1.5, complex(1, 2)}},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := AppendTable([]byte("pre"), tab)
			wantCode(t, err, SyntaxError)
			if string(got) != "pre" {
				t.Fatalf("failed append left %q", got)
			}
		})
	}
}

func TestTableDecodeErrors(t *testing.T) {
	cases := []struct {
		name string
		hex  string
		code uint16
	}{
		{"empty input", "", FrameError},
		{"short length", "000000", FrameError},
		{"length past end", "00000005016b56", FrameError},
		{"huge length", "ffffffff", FrameError},
		{"key past table", "00000002056b", FrameError},
		{"value past table", "00000003016b74" + "01", FrameError},
		{"unknown type", "00000003016b5a", SyntaxError},
		{"unknown type L", "0000000b016b4c0000000000000001", SyntaxError},
		{"longstr past end", "00000007016b53ffffffff", FrameError},
		{"bytes past end", "00000007016b7800000009", FrameError},
		{"array past end", "00000007016b4100000009", FrameError},
		{"array element past array", "00000009016b41" + "00000001" + "4201", FrameError},
		{"trailing bytes", "0000000000", FrameError},
		{"missing value", "00000002016b", FrameError},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wire, err := hex.DecodeString(c.hex)
			if err != nil {
				t.Fatal(err)
			}
			_, err = DecodeTable(wire)
			wantCode(t, err, c.code)
		})
	}
}

func TestDecodeTableAllocationBound(t *testing.T) {
	// A byte array claiming 1 GiB inside a tiny table must fail without
	// allocating anything like that much.
	wire, _ := hex.DecodeString("0000000a016b78" + "40000000" + "000000")
	allocs := testing.AllocsPerRun(10, func() {
		if _, err := DecodeTable(wire); err == nil {
			t.Fatal("no error")
		}
	})
	if allocs > 3 && !raceEnabled {
		t.Fatalf("%v allocations", allocs)
	}
}
