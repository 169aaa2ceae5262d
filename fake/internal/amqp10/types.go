package amqp10

import (
	"bytes"
	"encoding/hex"
	"math"
	"reflect"
	"time"
)

// Constructor codes of the AMQP 1.0 primitive encodings (spec part 1, 1.6).
const (
	codeDescribed  byte = 0x00
	codeNull       byte = 0x40
	codeBool       byte = 0x56
	codeTrue       byte = 0x41
	codeFalse      byte = 0x42
	codeUbyte      byte = 0x50
	codeUshort     byte = 0x60
	codeUint       byte = 0x70
	codeSmallUint  byte = 0x52
	codeUint0      byte = 0x43
	codeUlong      byte = 0x80
	codeSmallUlong byte = 0x53
	codeUlong0     byte = 0x44
	codeByte       byte = 0x51
	codeShort      byte = 0x61
	codeInt        byte = 0x71
	codeSmallInt   byte = 0x54
	codeLong       byte = 0x81
	codeSmallLong  byte = 0x55
	codeFloat      byte = 0x72
	codeDouble     byte = 0x82
	codeDecimal32  byte = 0x74
	codeDecimal64  byte = 0x84
	codeDecimal128 byte = 0x94
	codeChar       byte = 0x73
	codeTimestamp  byte = 0x83
	codeUUID       byte = 0x98
	codeVbin8      byte = 0xa0
	codeVbin32     byte = 0xb0
	codeStr8       byte = 0xa1
	codeStr32      byte = 0xb1
	codeSym8       byte = 0xa3
	codeSym32      byte = 0xb3
	codeList0      byte = 0x45
	codeList8      byte = 0xc0
	codeList32     byte = 0xd0
	codeMap8       byte = 0xc1
	codeMap32      byte = 0xd1
	codeArray8     byte = 0xe0
	codeArray32    byte = 0xf0
)

// Width classes of constructors, used by skipping and array decoding.
const (
	widthUnknown  = -1 // not a primitive constructor
	widthVar8     = -2 // one-byte length prefix (vbin8, str8, sym8)
	widthVar32    = -3 // four-byte length prefix (vbin32, str32, sym32)
	widthCompound = -4 // size-prefixed compound (list8/32, map8/32, array8/32)
)

// constructorWidth returns the body width in bytes of a fixed-width
// constructor, or one of the negative width classes.
func constructorWidth(code byte) int {
	switch code {
	case codeNull, codeTrue, codeFalse, codeUint0, codeUlong0, codeList0:
		return 0
	case codeBool, codeUbyte, codeSmallUint, codeSmallUlong, codeByte, codeSmallInt, codeSmallLong:
		return 1
	case codeUshort, codeShort:
		return 2
	case codeUint, codeInt, codeFloat, codeChar, codeDecimal32:
		return 4
	case codeUlong, codeLong, codeDouble, codeTimestamp, codeDecimal64:
		return 8
	case codeUUID, codeDecimal128:
		return 16
	case codeVbin8, codeStr8, codeSym8:
		return widthVar8
	case codeVbin32, codeStr32, codeSym32:
		return widthVar32
	case codeList8, codeMap8, codeArray8, codeList32, codeMap32, codeArray32:
		return widthCompound
	}
	return widthUnknown
}

// Symbol is an AMQP symbol: a short ASCII string naming a constant, such as a
// capability, an error condition or an annotation key.
type Symbol string

// String returns s as a Go string.
func (s Symbol) String() string { return string(s) }

// Char is an AMQP char: one Unicode code point, encoded as UTF-32BE. It is a
// distinct type so that it is not confused with an int (Go's rune is int32).
type Char rune

// Decimal32 is an IEEE 754-2008 decimal32 in its raw wire bytes; the codec
// carries it without interpreting it.
type Decimal32 [4]byte

// Decimal64 is an IEEE 754-2008 decimal64 in its raw wire bytes.
type Decimal64 [8]byte

// Decimal128 is an IEEE 754-2008 decimal128 in its raw wire bytes.
type Decimal128 [16]byte

// UUID is an AMQP uuid: 16 bytes as defined by RFC 4122 section 4.1.2.
type UUID [16]byte

// String formats u in the canonical 8-4-4-4-12 hexadecimal form.
func (u UUID) String() string {
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], u[10:16])
	return string(s[:])
}

// Described is an AMQP described type whose descriptor is not one this
// package decodes into a dedicated Go type. Descriptor is usually a uint64
// code or a Symbol; Value is the described value.
type Described struct {
	// Descriptor identifies the type: a uint64 code or a Symbol.
	Descriptor any
	// Value is the underlying value.
	Value any
}

// Array is an AMQP array: a sequence of values that all share one AMQP type
// and one constructor. An AMQP list decodes to []any instead, so the two stay
// distinguishable. Every element of an Array passed to the encoder must have
// the same Go type (Described elements must also share one descriptor).
type Array []any

// MapEntry is one key/value pair of a Map.
type MapEntry struct {
	// Key is the entry's key, of any AMQP type.
	Key any
	// Value is the entry's value.
	Value any
}

// Map is an AMQP map kept as an ordered list of entries. Order is preserved
// through decoding and encoding, and keys may be of any AMQP type, including
// ones Go cannot use as map keys (binary, list). A nil Map is an absent map;
// a non-nil empty Map is an empty map.
type Map []MapEntry

// Get returns the value of the first entry whose key equals key.
func (m Map) Get(key any) (any, bool) {
	for _, e := range m {
		if equalValues(e.Key, key) {
			return e.Value, true
		}
	}
	return nil, false
}

// Set replaces the value of the first entry whose key equals key, or appends
// a new entry.
func (m *Map) Set(key, value any) {
	for i := range *m {
		if equalValues((*m)[i].Key, key) {
			(*m)[i].Value = value
			return
		}
	}
	*m = append(*m, MapEntry{Key: key, Value: value})
}

// Role is the role of a link endpoint: false for a sender, true for a
// receiver, as on the wire.
type Role bool

// Link roles.
const (
	RoleSender   Role = false
	RoleReceiver Role = true
)

// String returns "sender" or "receiver".
func (r Role) String() string {
	if r == RoleReceiver {
		return "receiver"
	}
	return "sender"
}

// SenderSettleMode is the sender-settle-mode negotiated on attach.
type SenderSettleMode uint8

// Sender settle modes.
const (
	// SenderSettleModeUnsettled: the sender sends all deliveries unsettled.
	SenderSettleModeUnsettled SenderSettleMode = 0
	// SenderSettleModeSettled: the sender sends all deliveries settled.
	SenderSettleModeSettled SenderSettleMode = 1
	// SenderSettleModeMixed: the sender may send either; the spec default.
	SenderSettleModeMixed SenderSettleMode = 2
)

// ReceiverSettleMode is the receiver-settle-mode negotiated on attach.
type ReceiverSettleMode uint8

// Receiver settle modes.
const (
	// ReceiverSettleModeFirst: the receiver settles spontaneously; the spec default.
	ReceiverSettleModeFirst ReceiverSettleMode = 0
	// ReceiverSettleModeSecond: the receiver settles only after the sender settled.
	ReceiverSettleModeSecond ReceiverSettleMode = 1
)

// Durability is a terminus-durability value.
type Durability uint32

// Terminus durabilities.
const (
	DurabilityNone           Durability = 0
	DurabilityConfiguration  Durability = 1
	DurabilityUnsettledState Durability = 2
)

// Terminus expiry policies. An empty ExpiryPolicy field means the spec
// default, ExpirySessionEnd.
const (
	ExpiryLinkDetach      Symbol = "link-detach"
	ExpirySessionEnd      Symbol = "session-end"
	ExpiryConnectionClose Symbol = "connection-close"
	ExpiryNever           Symbol = "never"
)

// Source distribution modes.
const (
	DistributionMove Symbol = "move"
	DistributionCopy Symbol = "copy"
)

// equalValues reports whether two values of the Go data model are equal.
// Floats compare by bit pattern (so NaN equals itself), times by instant,
// and nil and empty byte slices are equal.
func equalValues(a, b any) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case bool, uint8, uint16, uint32, uint64, int8, int16, int32, int64, int, uint,
		string, Symbol, Char, UUID, Decimal32, Decimal64, Decimal128:
		return a == b
	case float32:
		bv, ok := b.(float32)
		return ok && math.Float32bits(a) == math.Float32bits(bv)
	case float64:
		bv, ok := b.(float64)
		return ok && math.Float64bits(a) == math.Float64bits(bv)
	case time.Time:
		bv, ok := b.(time.Time)
		return ok && a.Equal(bv)
	case []byte:
		bv, ok := b.([]byte)
		return ok && bytes.Equal(a, bv)
	case []any:
		bv, ok := b.([]any)
		return ok && equalSlices(a, bv)
	case Array:
		bv, ok := b.(Array)
		return ok && equalSlices(a, bv)
	case Map:
		bv, ok := b.(Map)
		if !ok || len(a) != len(bv) {
			return false
		}
		for i := range a {
			if !equalValues(a[i].Key, bv[i].Key) || !equalValues(a[i].Value, bv[i].Value) {
				return false
			}
		}
		return true
	case Described:
		bv, ok := b.(Described)
		return ok && equalValues(a.Descriptor, bv.Descriptor) && equalValues(a.Value, bv.Value)
	}
	return reflect.DeepEqual(a, b)
}

func equalSlices(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !equalValues(a[i], b[i]) {
			return false
		}
	}
	return true
}
