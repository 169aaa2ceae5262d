package broker

import (
	"fmt"
	"strconv"
	"time"

	"github.com/switchyard-dev/switchyard/fake/internal/amqp091"
)

// typeName returns RabbitMQ's name for the AMQP type of a field value.
func typeName(v any) string {
	switch v.(type) {
	case int8:
		return "byte"
	case uint8:
		return "unsignedbyte"
	case int16:
		return "short"
	case uint16:
		return "unsignedshort"
	case int32:
		return "signedint"
	case uint32:
		return "unsignedint"
	case int64, int:
		return "long"
	case float32:
		return "float"
	case float64:
		return "double"
	case string:
		return "longstr"
	case []byte:
		return "binary"
	case bool:
		return "bool"
	case amqp091.Table:
		return "table"
	case []any:
		return "array"
	case time.Time:
		return "timestamp"
	case amqp091.Decimal:
		return "decimal"
	case nil:
		return "void"
	}
	return fmt.Sprintf("%T", v)
}

// typeClass groups types the way RabbitMQ does when it compares
// arguments: all integers alike, both floats alike.
func typeClass(v any) string {
	switch v.(type) {
	case int8, uint8, int16, uint16, int32, uint32, int64, int:
		return "int"
	case float32, float64:
		return "float"
	}
	return typeName(v)
}

// formatArg prints a field value as RabbitMQ's error texts do.
func formatArg(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return "undefined"
	case time.Time:
		return strconv.FormatInt(x.Unix(), 10)
	}
	return fmt.Sprint(v)
}

// valueWithType is RabbitMQ's "the value 'X' of type 'T'", or "none".
func valueWithType(v any, ok bool) string {
	if !ok {
		return "none"
	}
	return fmt.Sprintf("the value '%s' of type '%s'", formatArg(v), typeName(v))
}

// checkArgsEquivalent compares the listed arguments of an existing
// entity's declaration with a new one, failing as RabbitMQ does.
func checkArgsEquivalent(cur, got amqp091.Table, keys []string, what string) *amqpError {
	for _, k := range keys {
		cv, cok := cur[k]
		gv, gok := got[k]
		switch {
		case !cok && !gok:
			continue
		case cok && gok:
			if typeClass(cv) == typeClass(gv) && valuesEqual(cv, gv) {
				continue
			}
			return errorf(amqp091.PreconditionFailed, "inequivalent arg '%s' for %s: received '%s' but current is '%s'", k, what, formatArg(gv), formatArg(cv))
		default:
			return errorf(amqp091.PreconditionFailed, "inequivalent arg '%s' for %s: received %s but current is %s", k, what, valueWithType(gv, gok), valueWithType(cv, cok))
		}
	}
	return nil
}

// checkFlagEquivalent compares a declared flag with the current one.
func checkFlagEquivalent(name string, cur, got bool, what string) *amqpError {
	if cur == got {
		return nil
	}
	return errorf(amqp091.PreconditionFailed, "inequivalent arg '%s' for %s: received '%t' but current is '%t'", name, what, got, cur)
}

// queueEquivalenceArgs are the queue arguments RabbitMQ compares when a
// queue is declared again.
var queueEquivalenceArgs = []string{
	"x-expires", "x-message-ttl", "x-dead-letter-exchange", "x-dead-letter-routing-key",
	"x-max-length", "x-max-length-bytes", "x-max-in-memory-length", "x-max-in-memory-bytes",
	"x-max-priority", "x-overflow", "x-queue-mode", "x-queue-version", "x-single-active-consumer",
	"x-delivery-limit", "x-quorum-initial-group-size", "x-queue-master-locator",
}

// exchangeEquivalenceArgs are the exchange arguments RabbitMQ compares.
var exchangeEquivalenceArgs = []string{"alternate-exchange"}

// Overflow behaviours of x-overflow.
const (
	overflowDropHead      = "drop-head"
	overflowRejectPublish = "reject-publish"
	overflowRejectDLX     = "reject-publish-dlx"
)

// queueArgs are a queue's parsed arguments.
type queueArgs struct {
	expires   time.Duration // x-expires; 0 for none
	ttl       int64         // x-message-ttl in ms; -1 for none
	maxLen    int64         // x-max-length; -1 for none
	maxBytes  int64         // x-max-length-bytes; -1 for none
	overflow  string
	dlx       *string // x-dead-letter-exchange
	dlrk      *string // x-dead-letter-routing-key
	queueType string  // classic or quorum
}

// intArg reads an integer argument.
func intArg(v any) (int64, bool) {
	switch n := v.(type) {
	case int8:
		return int64(n), true
	case uint8:
		return int64(n), true
	case int16:
		return int64(n), true
	case uint16:
		return int64(n), true
	case int32:
		return int64(n), true
	case uint32:
		return int64(n), true
	case int64:
		return n, true
	case int:
		return int64(n), true
	}
	return 0, false
}

// parseQueueArgs validates a queue's arguments as RabbitMQ does.
func parseQueueArgs(args amqp091.Table, what string) (queueArgs, *amqpError) {
	qa := queueArgs{ttl: -1, maxLen: -1, maxBytes: -1, overflow: overflowDropHead, queueType: "classic"}
	invalid := func(k, detail string) *amqpError {
		return errorf(amqp091.PreconditionFailed, "invalid arg '%s' for %s: %s", k, what, detail)
	}
	integer := func(k string, zeroOK bool) (int64, *amqpError) {
		v := args[k]
		n, ok := intArg(v)
		if !ok {
			return 0, invalid(k, fmt.Sprintf("\"expected integer, got %s\"", typeName(v)))
		}
		if n < 0 {
			return 0, invalid(k, fmt.Sprintf("{value_negative,%d}", n))
		}
		if n == 0 && !zeroOK {
			return 0, invalid(k, "{value_zero,0}")
		}
		return n, nil
	}
	str := func(k string) (string, *amqpError) {
		v := args[k]
		s, ok := v.(string)
		if !ok {
			return "", errorf(amqp091.PreconditionFailed, "invalid type '%s' for arg '%s' in %s", typeName(v), k, what)
		}
		return s, nil
	}
	if _, ok := args["x-expires"]; ok {
		n, err := integer("x-expires", false)
		if err != nil {
			return qa, err
		}
		qa.expires = time.Duration(n) * time.Millisecond
	}
	if _, ok := args["x-message-ttl"]; ok {
		n, err := integer("x-message-ttl", true)
		if err != nil {
			return qa, err
		}
		qa.ttl = n
	}
	if _, ok := args["x-max-length"]; ok {
		n, err := integer("x-max-length", true)
		if err != nil {
			return qa, err
		}
		qa.maxLen = n
	}
	if _, ok := args["x-max-length-bytes"]; ok {
		n, err := integer("x-max-length-bytes", true)
		if err != nil {
			return qa, err
		}
		qa.maxBytes = n
	}
	if _, ok := args["x-max-priority"]; ok {
		n, err := integer("x-max-priority", true)
		if err != nil {
			return qa, err
		}
		if n > 255 {
			return qa, invalid("x-max-priority", fmt.Sprintf("{max_value_exceeded,%d}", n))
		}
	}
	if _, ok := args["x-dead-letter-exchange"]; ok {
		s, err := str("x-dead-letter-exchange")
		if err != nil {
			return qa, err
		}
		qa.dlx = &s
	}
	if _, ok := args["x-dead-letter-routing-key"]; ok {
		s, err := str("x-dead-letter-routing-key")
		if err != nil {
			return qa, err
		}
		if qa.dlx == nil {
			return qa, invalid("x-dead-letter-routing-key", "routing_key_but_no_dlx_defined")
		}
		qa.dlrk = &s
	}
	if v, ok := args["x-overflow"]; ok {
		s, _ := v.(string)
		switch s {
		case overflowDropHead, overflowRejectPublish, overflowRejectDLX:
			qa.overflow = s
		default:
			return qa, invalid("x-overflow", "invalid_overflow")
		}
	}
	if v, ok := args["x-queue-type"]; ok {
		s, _ := v.(string)
		switch s {
		case "classic", "quorum":
			qa.queueType = s
		default:
			return qa, invalid("x-queue-type", fmt.Sprintf("\"unsupported queue type '%s'\"", formatArg(v)))
		}
	}
	if v, ok := args["x-queue-mode"]; ok {
		if s, _ := v.(string); s != "default" && s != "lazy" {
			return qa, invalid("x-queue-mode", fmt.Sprintf("{unacceptable_value,<<\"%s\">>}", formatArg(v)))
		}
	}
	if v, ok := args["x-single-active-consumer"]; ok {
		if _, isBool := v.(bool); !isBool {
			return qa, invalid("x-single-active-consumer", fmt.Sprintf("\"expected bool, got %s\"", typeName(v)))
		}
	}
	return qa, nil
}

// parseExpiration reads a message's expiration property: a non-negative
// number of milliseconds as text. It returns -1 for none.
func parseExpiration(s string) (int64, *amqpError) {
	if s == "" {
		return -1, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, errorf(amqp091.PreconditionFailed, "invalid expiration '%s': %s", s, expirationProblem(s, n))
	}
	return n, nil
}

func expirationProblem(s string, n int64) string {
	if n < 0 {
		return fmt.Sprintf("{value_negative,%d}", n)
	}
	return fmt.Sprintf("{invalid_expiration,%q}", s)
}
