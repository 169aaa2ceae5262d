package amqp091

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Error is a protocol failure found while reading or writing frames. Code
// is the AMQP reply code a broker should close with; ClassID and MethodID
// name the method being decoded or encoded when one is known (both zero
// otherwise), ready to be put in a connection.close or channel.close.
type Error struct {
	Code     uint16 // AMQP reply code, such as FrameError or SyntaxError
	Text     string // human-readable detail, without the code's name
	ClassID  uint16 // class of the method concerned, or 0
	MethodID uint16 // method concerned, or 0
}

// Error formats the code's name, the code, the method if known and the
// detail text.
func (e *Error) Error() string {
	s := "amqp091: " + ReplyCodeName(e.Code) + " (" + strconv.Itoa(int(e.Code)) + ")"
	if name := MethodName(e.ClassID, e.MethodID); name != "" {
		s += " in " + name
	}
	if e.Text != "" {
		s += ": " + e.Text
	}
	return s
}

// Hard reports whether the error's code is a hard error, one that must
// close the whole connection rather than just a channel.
func (e *Error) Hard() bool { return IsHardError(e.Code) }

// ReplyText returns the text a broker puts in a close method for this
// error, in RabbitMQ's "NAME - detail" style, cut to the 255 bytes a
// shortstr can hold without splitting a UTF-8 sequence.
func (e *Error) ReplyText() string {
	s := ReplyCodeName(e.Code)
	if s == "" {
		s = "ERROR_" + strconv.Itoa(int(e.Code))
	}
	if e.Text != "" {
		s += " - " + e.Text
	}
	return TruncateShortstr(s)
}

// TruncateShortstr cuts s to at most 255 bytes, the limit of a shortstr,
// backing off so that no UTF-8 sequence is split.
func TruncateShortstr(s string) string {
	if len(s) <= maxShortstr {
		return s
	}
	n := maxShortstr
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// ErrBadProtocolHeader is wrapped by the error CheckProtocolHeader returns
// for anything other than the AMQP 0-9-1 protocol header. The server must
// then send ProtocolHeader and close the socket.
var ErrBadProtocolHeader = errors.New("amqp091: not an AMQP 0-9-1 protocol header")

func newError(code uint16, text string) *Error {
	return &Error{Code: code, Text: text}
}

// withMethod fills in the method ids of an *Error that lacks them.
func withMethod(err error, classID, methodID uint16) error {
	var e *Error
	if errors.As(err, &e) && e.ClassID == 0 && e.MethodID == 0 {
		e.ClassID, e.MethodID = classID, methodID
	}
	return err
}

func unknownClass(classID, methodID uint16) error {
	return &Error{
		Code:     NotImplemented,
		Text:     fmt.Sprintf("unknown class %d (method %d)", classID, methodID),
		ClassID:  classID,
		MethodID: methodID,
	}
}

func unknownMethod(classID, methodID uint16) error {
	return &Error{
		Code:     CommandInvalid,
		Text:     fmt.Sprintf("unknown method %d of class %s", methodID, ClassName(classID)),
		ClassID:  classID,
		MethodID: methodID,
	}
}

func shortMethodPayload(n int) error {
	return newError(FrameError, fmt.Sprintf("method frame payload of %d bytes cannot hold class and method ids", n))
}
