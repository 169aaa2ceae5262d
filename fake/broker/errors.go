package broker

import (
	"fmt"
	"strconv"

	"github.com/switchyard-dev/switchyard/fake/internal/amqp091"
)

// amqpError is an AMQP exception raised while handling what a client sent:
// a reply code, the reply text in RabbitMQ's "NAME - detail" form and the
// method that caused it. Its code decides the scope: a soft code closes the
// channel, a hard one the connection.
type amqpError struct {
	code     uint16
	text     string
	classID  uint16
	methodID uint16
}

func (e *amqpError) Error() string { return strconv.Itoa(int(e.code)) + " " + e.text }

// hard reports whether the error closes the whole connection.
func (e *amqpError) hard() bool { return amqp091.IsHardError(e.code) }

// errorf builds an amqpError whose text is the code's name, " - " and the
// formatted detail, cut to fit a shortstr.
func errorf(code uint16, format string, args ...any) *amqpError {
	return &amqpError{code: code, text: amqp091.TruncateShortstr(amqp091.ReplyCodeName(code) + " - " + fmt.Sprintf(format, args...))}
}

// fromCodec converts a codec failure into the exception it calls for.
func fromCodec(e *amqp091.Error) *amqpError {
	return &amqpError{code: e.Code, text: e.ReplyText(), classID: e.ClassID, methodID: e.MethodID}
}

// withMethod records the method that caused the error, if none is set.
func (e *amqpError) withMethod(m amqp091.Method) *amqpError {
	if e != nil && m != nil && e.classID == 0 && e.methodID == 0 {
		e.classID, e.methodID = m.ClassID(), m.MethodID()
	}
	return e
}

// Common exceptions, with RabbitMQ's texts.

func errNoQueue(vh, name string) *amqpError {
	return errorf(amqp091.NotFound, "no queue '%s' in vhost '%s'", name, vh)
}

func errNoExchange(vh, name string) *amqpError {
	return errorf(amqp091.NotFound, "no exchange '%s' in vhost '%s'", name, vh)
}

func errDefaultExchange() *amqpError {
	return errorf(amqp091.AccessRefused, "operation not permitted on the default exchange")
}

func errLocked(vh, name string) *amqpError {
	return errorf(amqp091.ResourceLocked, "cannot obtain exclusive access to locked queue '%s' in vhost '%s'. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.", name, vh)
}

func errUnimplemented() *amqpError {
	return errorf(amqp091.CommandInvalid, "unimplemented method")
}
