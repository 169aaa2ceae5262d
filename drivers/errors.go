package drivers

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every error a driver returns wraps one of these (or is one
// of the struct error types below), so callers test with errors.Is/errors.As.
var (
	// ErrTimeout is oslo.messaging's MessagingTimeout: no reply, heartbeat or
	// acknowledgement arrived within the allowed time (C08, C12, C13).
	ErrTimeout = errors.New("messaging timeout")
	// ErrDeliveryFailure is MessageDeliveryFailure: the backend could not
	// take the message within the retry budget (C14, C15).
	ErrDeliveryFailure = errors.New("message delivery failure")
	// ErrUndeliverable is MessageUndeliverable: a mandatory publish was
	// returned by the broker because no queue could take it (C17).
	ErrUndeliverable = errors.New("message undeliverable")
	// ErrInvalidTarget is InvalidTarget: the target cannot be used for the
	// operation, such as a send without a topic or a fanout call (C19).
	ErrInvalidTarget = errors.New("invalid target")
	// ErrNotImplemented is NotImplementedError: the driver does not support a
	// requested feature, such as requeue or notification pools (C25, C30).
	ErrNotImplemented = errors.New("not implemented")
	// ErrClosed is returned by every call made after Close (C33) or on a
	// stopped listener (C28).
	ErrClosed = errors.New("driver closed")
	// ErrUnsupportedVersion is UnsupportedRpcEnvelopeVersion: a message
	// carries an envelope version whose major number is not 2.
	ErrUnsupportedVersion = errors.New("unsupported envelope version")
	// ErrMessageTooLarge reports a message above the backend's size limit (C19).
	ErrMessageTooLarge = errors.New("message too large")
)

// TimeoutError is ErrTimeout with the operation and limit that expired.
type TimeoutError struct {
	Op     string // what was waited for, such as "reply to call on topic compute"
	Reason string // optional detail
}

func (e *TimeoutError) Error() string {
	if e.Reason == "" {
		return "messaging timeout: " + e.Op
	}
	return "messaging timeout: " + e.Op + ": " + e.Reason
}

// Is reports ErrTimeout as the error's kind.
func (e *TimeoutError) Is(target error) bool { return target == ErrTimeout }

// DeliveryError is ErrDeliveryFailure (or ErrUndeliverable when Undeliverable
// is set) with the address and the cause that ended the attempts.
type DeliveryError struct {
	Address       string // exchange/routing key or AMQP 1.0 address
	Attempts      int    // how many publishes were tried
	Undeliverable bool   // the broker returned the message (no route)
	// Ambiguous is set when the connection failed after the message was
	// written and before the backend confirmed it: it may have been
	// delivered. Drivers never resend such a message, so retrying cannot
	// duplicate it (C16).
	Ambiguous bool
	Err       error // the last underlying error, if any
}

func (e *DeliveryError) Error() string {
	var b strings.Builder
	if e.Undeliverable {
		b.WriteString("message undeliverable")
	} else {
		b.WriteString("message delivery failure")
	}
	if e.Address != "" {
		fmt.Fprintf(&b, " to %q", e.Address)
	}
	if e.Attempts > 0 {
		fmt.Fprintf(&b, " after %d attempt(s)", e.Attempts)
	}
	if e.Ambiguous {
		b.WriteString(" (outcome unknown: the connection failed before the broker confirmed; not resent, to avoid a duplicate)")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Is matches ErrUndeliverable for returned messages and ErrDeliveryFailure
// otherwise.
func (e *DeliveryError) Is(target error) bool {
	if e.Undeliverable {
		return target == ErrUndeliverable
	}
	return target == ErrDeliveryFailure
}

// Unwrap returns the underlying cause.
func (e *DeliveryError) Unwrap() error { return e.Err }

// TargetError is ErrInvalidTarget with the offending target and the rule it
// broke.
type TargetError struct {
	Target Target
	Reason string
}

func (e *TargetError) Error() string {
	return fmt.Sprintf("invalid target %s: %s", e.Target, e.Reason)
}

// Is reports ErrInvalidTarget as the error's kind.
func (e *TargetError) Is(target error) bool { return target == ErrInvalidTarget }

// NotImplementedError is ErrNotImplemented naming the missing feature.
type NotImplementedError struct {
	Driver  string
	Feature string
}

func (e *NotImplementedError) Error() string {
	return fmt.Sprintf("%s driver: %s not implemented", e.Driver, e.Feature)
}

// Is reports ErrNotImplemented as the error's kind.
func (e *NotImplementedError) Is(target error) bool { return target == ErrNotImplemented }

// RemoteError is a failure raised by the RPC server and carried back to the
// caller (C10). It holds the fields of oslo.messaging's serialized exception.
// When the exception's module is allowed by the caller, Rebuilt is true and
// Class/Module name the original exception; otherwise it is oslo's generic
// RemoteError.
type RemoteError struct {
	Class     string         // exception class name, such as "ValueError"
	Module    string         // exception module, such as "builtins"
	Message   string         // str(exc)
	Traceback []string       // traceback lines as formatted by the server
	Args      []any          // exception args
	Kwargs    map[string]any // exception kwargs
	Rebuilt   bool           // the class is from an allowed module
}

func (e *RemoteError) Error() string {
	if e.Rebuilt {
		return fmt.Sprintf("%s.%s: %s", e.Module, e.Class, e.Message)
	}
	return fmt.Sprintf("remote error: %s %s", e.Class, e.Message)
}

// URLError reports a transport URL that cannot be parsed or used.
type URLError struct {
	URL    string // the URL with any password masked
	Reason string
}

func (e *URLError) Error() string {
	if e.URL == "" {
		return "invalid transport URL: " + e.Reason
	}
	return fmt.Sprintf("invalid transport URL %q: %s", e.URL, e.Reason)
}

// AuthError reports credentials the backend refused (C19).
type AuthError struct {
	Host string // host:port that refused
	User string
	Err  error
}

func (e *AuthError) Error() string {
	msg := fmt.Sprintf("authentication failed for user %q on %s", e.User, e.Host)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the backend's error.
func (e *AuthError) Unwrap() error { return e.Err }
