package drivers

import (
	"fmt"
	"strings"
)

// Target names where a message goes or what a listener subscribes to, as
// oslo.messaging's Target does.
type Target struct {
	// Exchange scopes the topic; empty means the driver's default exchange,
	// [DEFAULT] control_exchange.
	Exchange string
	// Topic is the service's address; required for every send and listen.
	Topic string
	// Server addresses one listener of the topic; empty means any listener.
	Server string
	// Fanout delivers one copy to every listener of the topic (C03).
	Fanout bool
	// Namespace and Version select the RPC endpoint; drivers carry them in
	// the request body and never use them for routing.
	Namespace string
	Version   string
}

// String renders the target in oslo's repr style, omitting empty fields.
func (t Target) String() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("exchange", t.Exchange)
	add("topic", t.Topic)
	add("server", t.Server)
	if t.Fanout {
		parts = append(parts, "fanout=true")
	}
	add("namespace", t.Namespace)
	add("version", t.Version)
	return "<Target " + strings.Join(parts, ", ") + ">"
}

// ValidateSend checks the target for a send: a topic is required, and a call
// (waitForReply) cannot be fanout. The error wraps ErrInvalidTarget (C19).
func (t Target) ValidateSend(waitForReply bool) error {
	if err := t.validateNames(); err != nil {
		return err
	}
	if waitForReply && t.Fanout {
		return &TargetError{Target: t, Reason: "a call cannot be sent fanout"}
	}
	return nil
}

// ValidateListen checks the target for a listener: a topic is required.
func (t Target) ValidateListen() error { return t.validateNames() }

func (t Target) validateNames() error {
	if t.Topic == "" {
		return &TargetError{Target: t, Reason: "a topic is required"}
	}
	for _, f := range []struct{ name, v string }{{"exchange", t.Exchange}, {"topic", t.Topic}, {"server", t.Server}} {
		if len(f.v) > 200 {
			return &TargetError{Target: t, Reason: fmt.Sprintf("%s is %d bytes long; names are limited to 200", f.name, len(f.v))}
		}
		if strings.ContainsAny(f.v, "\x00\r\n") {
			return &TargetError{Target: t, Reason: f.name + " contains a control character"}
		}
	}
	return nil
}

// TargetPriority is one notification subscription: the target's exchange and
// topic with a priority such as "info"; the address is "<topic>.<priority>"
// (C22).
type TargetPriority struct {
	Target   Target
	Priority string
}

// Address is the notification topic this subscription listens on.
func (tp TargetPriority) Address() string {
	return tp.Target.Topic + "." + strings.ToLower(tp.Priority)
}

// Context is the request context that travels with a message, the
// serialized oslo.context (request_id, user_id, ...). Values must be
// JSON-representable.
type Context map[string]any

// Message is an application message: an RPC request ({"method", "args",
// optional "namespace" and "version"}) or a notification ({"message_id",
// "publisher_id", "event_type", "priority", "payload", "timestamp"}).
// Values must be JSON-representable.
type Message map[string]any

// ValidateNotificationListen checks the subscriptions of a notification
// listener: at least one, each with a topic and a priority. The error wraps
// ErrInvalidTarget (C19).
func ValidateNotificationListen(tps []TargetPriority) error {
	if len(tps) == 0 {
		return &TargetError{Reason: "no (target, priority) pairs to listen to"}
	}
	for _, tp := range tps {
		if err := tp.Target.ValidateListen(); err != nil {
			return err
		}
		if tp.Priority == "" {
			return &TargetError{Target: tp.Target, Reason: "a notification priority is required"}
		}
	}
	return nil
}
