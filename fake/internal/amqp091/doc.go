// Package amqp091 is the wire codec of Switchyard's fake AMQP 0-9-1 broker:
// frames, methods, content headers and field tables, seen from the server
// side.
//
// The method structs, ids, reply codes and per-method encoders and decoders
// in spec_gen.go are generated from RabbitMQ's extended 0-9-1 specification
// XML by ./internal/gen; the rest is written by hand.
//
// # Types on the wire
//
// Domains map to Go types as follows: octet is uint8, short uint16, long
// uint32, longlong uint64, bit bool, shortstr and longstr string, table
// Table and timestamp time.Time (whole seconds, in UTC). Long strings are
// strings rather than byte slices because every long string in a method
// (SASL mechanisms and responses, locales, secrets) is text; binary data in
// a field table uses the 'x' type, which decodes to []byte. Reserved fields
// of the specification are not part of the structs: they are written as
// zeros and skipped when read.
//
// # Errors
//
// Decoding and framing failures are *Error values carrying the AMQP reply
// code the broker should close with and whether that code is a hard
// (connection) error. Truncated or over-long input is a FrameError (501),
// an invalid value such as an unknown field type a SyntaxError (502), an
// unknown class NotImplemented (540) and an unknown method of a known class
// CommandInvalid (503). Decoding never panics on any input and never
// allocates more than the input's own size implies.
//
// # Performance
//
// Encoding appends into a caller's byte slice or straight into a
// bufio.Writer's free space; the hot methods and a content header without
// a headers table encode without allocating. Decoding makes one string
// allocation per method or content header, however many string fields it
// has: the strings share it. A decoded value therefore keeps that one copy
// of its payload alive, never the caller's frame buffer, which may be reused
// as soon as decoding returns.
package amqp091

//go:generate go run ./internal/gen -spec ../../../../shared/spec/amqp0-9-1.stripped.extended.xml -out spec_gen.go
