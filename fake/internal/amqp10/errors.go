package amqp10

import (
	"fmt"
	"strings"
)

// Error conditions defined by the AMQP 1.0 specification (part 2, 2.8.15
// to 2.8.18).
const (
	// CondInternalError: an internal error occurred.
	CondInternalError Symbol = "amqp:internal-error"
	// CondNotFound: a peer attempted to work with a remote entity that does not exist.
	CondNotFound Symbol = "amqp:not-found"
	// CondUnauthorizedAccess: a peer attempted to work with a remote entity it has no access to.
	CondUnauthorizedAccess Symbol = "amqp:unauthorized-access"
	// CondDecodeError: data could not be decoded.
	CondDecodeError Symbol = "amqp:decode-error"
	// CondResourceLimitExceeded: a peer exceeded its resource allocation.
	CondResourceLimitExceeded Symbol = "amqp:resource-limit-exceeded"
	// CondNotAllowed: the peer tried to use a frame in a manner inconsistent with the spec.
	CondNotAllowed Symbol = "amqp:not-allowed"
	// CondInvalidField: an invalid field was passed in a frame body.
	CondInvalidField Symbol = "amqp:invalid-field"
	// CondNotImplemented: the peer tried to use functionality not implemented here.
	CondNotImplemented Symbol = "amqp:not-implemented"
	// CondResourceLocked: the client attempted to work with a locked entity.
	CondResourceLocked Symbol = "amqp:resource-locked"
	// CondPreconditionFailed: the client made a request not allowed by a precondition.
	CondPreconditionFailed Symbol = "amqp:precondition-failed"
	// CondResourceDeleted: a referenced server entity has been deleted.
	CondResourceDeleted Symbol = "amqp:resource-deleted"
	// CondIllegalState: the peer sent a frame not permitted in the current state.
	CondIllegalState Symbol = "amqp:illegal-state"
	// CondFrameSizeTooSmall: the smallest encoding of a performative does not fit the max frame size.
	CondFrameSizeTooSmall Symbol = "amqp:frame-size-too-small"

	// CondConnectionForced: an operator intervened to close the connection.
	CondConnectionForced Symbol = "amqp:connection:forced"
	// CondFramingError: a valid frame header could not be formed from the incoming bytes.
	CondFramingError Symbol = "amqp:connection:framing-error"
	// CondConnectionRedirect: the container is no longer available on this connection.
	CondConnectionRedirect Symbol = "amqp:connection:redirect"

	// CondWindowViolation: the peer violated incoming window for the session.
	CondWindowViolation Symbol = "amqp:session:window-violation"
	// CondErrantLink: input was received for a link that was detached with an error.
	CondErrantLink Symbol = "amqp:session:errant-link"
	// CondHandleInUse: an attach was received using a handle that is already in use.
	CondHandleInUse Symbol = "amqp:session:handle-in-use"
	// CondUnattachedHandle: a frame referenced a handle that is not attached.
	CondUnattachedHandle Symbol = "amqp:session:unattached-handle"

	// CondDetachForced: an operator intervened to detach the link.
	CondDetachForced Symbol = "amqp:link:detach-forced"
	// CondTransferLimitExceeded: the peer sent more message transfers than credit allowed.
	CondTransferLimitExceeded Symbol = "amqp:link:transfer-limit-exceeded"
	// CondMessageSizeExceeded: the peer sent a message larger than max-message-size.
	CondMessageSizeExceeded Symbol = "amqp:link:message-size-exceeded"
	// CondLinkRedirect: the address provided cannot be resolved to a terminus at this container.
	CondLinkRedirect Symbol = "amqp:link:redirect"
	// CondStolen: the link has been attached elsewhere, detaching this one.
	CondStolen Symbol = "amqp:link:stolen"
)

// Error is the AMQP error composite (descriptor 0x1d, amqp:error:list)
// carried by close, end, detach and the rejected outcome. It implements the
// Go error interface.
type Error struct {
	// Condition is the error condition; mandatory on the wire.
	Condition Symbol
	// Description is optional human-readable text.
	Description string
	// Info holds optional extra information (an AMQP fields map).
	Info Map
}

// Error formats the condition and description.
func (e *Error) Error() string {
	if e.Description == "" {
		return string(e.Condition)
	}
	return string(e.Condition) + ": " + e.Description
}

// Descriptor returns DescriptorError.
func (e *Error) Descriptor() uint64 { return DescriptorError }

// Marshal appends the encoded error composite to b.
func (e *Error) Marshal(b []byte) ([]byte, error) {
	w := beginComposite(b, DescriptorError)
	w.symbol(e.Condition)
	w.optString(e.Description)
	w.optMap(e.Info)
	return w.finish()
}

// Unmarshal decodes an error composite that makes up all of data.
func (e *Error) Unmarshal(data []byte) error {
	d := newDecoder(data)
	if err := e.decode(&d); err != nil {
		return err
	}
	return d.end()
}

func (e *Error) decode(d *decoder) error {
	*e = Error{}
	f := d.composite(DescriptorError, "error")
	var ok bool
	e.Condition, ok = f.symbol("condition")
	f.require(ok, "condition")
	e.Description, _ = f.string("description")
	e.Info = f.fieldsMap("info")
	return f.finish(d)
}

// DecodeError is returned for any input that cannot be decoded: a malformed
// frame, value, performative or message. Condition is the error condition
// the engine should use when closing the connection because of it:
// CondFramingError for frame-level problems, CondDecodeError otherwise.
type DecodeError struct {
	// Condition is CondFramingError or CondDecodeError.
	Condition Symbol
	// Reason says what was wrong with the input.
	Reason string
}

// Error formats the condition and reason.
func (e *DecodeError) Error() string {
	return "amqp10: " + string(e.Condition) + ": " + e.Reason
}

// AMQPError returns the AMQP error to send in a close performative.
func (e *DecodeError) AMQPError() *Error {
	return &Error{Condition: e.Condition, Description: e.Reason}
}

func decodeErrorf(format string, args ...any) *DecodeError {
	return &DecodeError{Condition: CondDecodeError, Reason: fmt.Sprintf(format, args...)}
}

func framingErrorf(format string, args ...any) *DecodeError {
	return &DecodeError{Condition: CondFramingError, Reason: fmt.Sprintf(format, args...)}
}

// wrapDecodeError prefixes context to a decode error, keeping its condition.
func wrapDecodeError(err error, context ...string) error {
	de, ok := err.(*DecodeError)
	if !ok {
		return err
	}
	return &DecodeError{Condition: de.Condition, Reason: strings.Join(context, " ") + ": " + de.Reason}
}
