// Package amqp10 is a server-side codec for AMQP 1.0 (OASIS AMQP 1.0,
// parts 1 to 5): the type system, frames and protocol headers,
// performatives, SASL frames, message sections, delivery states and error
// conditions. It does no I/O beyond reading and writing single frames and
// keeps no connection state; the fake router and broker engines build on it.
//
// # Data model
//
// Values decode into these Go types, and the encoder accepts them:
//
//	null                       nil
//	boolean                    bool
//	ubyte, ushort, uint, ulong uint8, uint16, uint32, uint64
//	byte, short, int, long     int8, int16, int32, int64
//	float, double              float32, float64
//	decimal32/64/128           Decimal32, Decimal64, Decimal128 (raw bytes)
//	char                       Char
//	timestamp                  time.Time (UTC, millisecond precision)
//	uuid                       UUID
//	binary                     []byte
//	string                     string
//	symbol                     Symbol
//	list                       []any
//	map                        Map (ordered []MapEntry)
//	array                      Array ([]any, elements of one type)
//	described type             Described{Descriptor, Value}
//
// The encoder always picks the smallest encoding of a value: uint0,
// smalluint, smallint and friends for small numbers, true/false for
// booleans, list0 for empty lists and the 8-bit forms of strings, binaries,
// symbols, lists, maps and arrays whenever size and count fit. Inside
// arrays, integer elements use the one-byte forms when every element fits,
// and the zero-width forms (true, false, uint0, ulong0, list0) are not used.
// As a convenience the encoder also accepts int, uint, []Symbol, []string,
// map[string]any and map[Symbol]any.
//
// Decoding accepts every encoding, never panics, bounds nesting depth, and
// never allocates for more elements than the remaining input could hold
// (the one exception, arrays of zero-width elements such as nulls, is
// capped by MaxZeroWidthElements per decode).
// Decoded binaries, delivery tags, transfer payloads and data sections
// alias the input (with capacity capped, so appending copies); ReadFrame
// allocates a fresh body for each frame, so aliasing it is safe.
//
// # Composite types
//
// Every performative (Open, Begin, Attach, Flow, Transfer, Disposition,
// Detach, End, Close), SASL frame body, terminus, delivery state, Error and
// message section is a Go struct with an append-style Marshal and an
// Unmarshal. Unmarshal accepts numeric and symbolic descriptors, fills
// fields missing from the end of the list with their absent value, ignores
// fields added by later versions, and fails when a mandatory field is
// missing. Marshal writes numeric descriptors and omits trailing absent
// fields, as other peers do.
//
// Optional fields use the Go zero value for "absent" when the zero value is
// also the spec default or is not a legal value (for example Open.MaxFrameSize
// and Attach.MaxMessageSize); they use a pointer when zero is legal and
// different from absent (for example Begin.RemoteChannel, Flow.LinkCredit
// and Transfer.DeliveryID). Field comments state the default that applies
// when a field is absent.
//
// # Errors
//
// Error is the AMQP error composite and a Go error; the Cond constants are
// the conditions the spec defines. Everything that fails to decode returns
// a *DecodeError whose Condition is the one to close the connection with:
// CondFramingError for frame-level problems, CondDecodeError otherwise.
package amqp10
