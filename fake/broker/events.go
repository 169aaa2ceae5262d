package broker

import (
	"fmt"
	"strings"
	"time"

	"github.com/switchyard-dev/switchyard/fake/internal/eventlog"
)

// EventType says what an Event records.
type EventType string

// Event types.
const (
	EventConnectionOpened    EventType = "connection.opened"
	EventConnectionClosed    EventType = "connection.closed"    // Reason says why
	EventConnectionRefused   EventType = "connection.refused"   // failed authentication, or refused by a fault
	EventConnectionBlocked   EventType = "connection.blocked"   // by a fault
	EventConnectionUnblocked EventType = "connection.unblocked" // the fault ended
	EventChannelClosed       EventType = "channel.closed"       // Code and Reason say why
	EventExchangeDeclared    EventType = "exchange.declared"
	EventExchangeDeleted     EventType = "exchange.deleted"
	EventQueueDeclared       EventType = "queue.declared"
	EventQueueDeleted        EventType = "queue.deleted" // Reason says why
	EventPurged              EventType = "queue.purged"  // Count messages
	EventPublished           EventType = "publish"       // a complete publish was accepted for routing
	EventRouted              EventType = "routed"        // the message is for Queue (a dropped event follows if the queue refuses it)
	EventReturned            EventType = "returned"      // basic.return sent: mandatory and unroutable
	EventConfirmed           EventType = "confirmed"     // basic.ack sent to the publisher
	EventPublishNacked       EventType = "publish.nacked"
	EventDelivered           EventType = "delivered"     // to a consumer, or by basic.get
	EventAcked               EventType = "acked"         // by the consumer
	EventNacked              EventType = "nacked"        // nack or reject; Reason "requeue" or "discard"
	EventRequeued            EventType = "requeued"      // back in Queue, to be redelivered
	EventExpired             EventType = "expired"       // TTL ran out in Queue
	EventDeadLettered        EventType = "dead-lettered" // from Queue through Exchange to Target
	EventDropped             EventType = "dropped"       // lost on purpose: unroutable, max-length, overflow or a mutant (Reason)
	EventBrokerRestarted     EventType = "broker.restarted"
)

// Event is one entry of the broker's event log. Fields that do not apply
// to an event's type are zero.
type Event struct {
	Seq         uint64    // position in the log, from 1
	Time        time.Time // when it happened
	Type        EventType // what happened
	VHost       string    // virtual host concerned
	Exchange    string    // exchange the message was published to (or dead-lettered through)
	Queue       string    // queue concerned
	RoutingKey  string    // the message's routing key
	DeliveryTag uint64    // the channel's delivery tag, or the publish sequence number in confirm mode
	ConsumerTag string    // consumer a delivery went to
	Redelivered bool      // the delivery carried the redelivered flag
	MessageID   string    // the message-id property
	BodyHash    uint64    // FNV-1a 64 of the body
	Connection  string    // the client's connection_name, or its address
	Channel     uint16    // channel number on Connection
	Code        uint16    // reply code, for closes and returns
	Reason      string    // why: a close's reply text, a drop's cause
	Target      string    // the queue a dead-lettered message went to
	Count       int       // messages concerned, for purges
}

// String formats the event on one line.
func (e Event) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "#%d %s", e.Seq, e.Type)
	add := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&sb, " %s=%q", k, v)
		}
	}
	add("vhost", e.VHost)
	add("exchange", e.Exchange)
	add("queue", e.Queue)
	add("key", e.RoutingKey)
	if e.DeliveryTag != 0 {
		fmt.Fprintf(&sb, " tag=%d", e.DeliveryTag)
	}
	add("ctag", e.ConsumerTag)
	if e.Redelivered {
		sb.WriteString(" redelivered")
	}
	add("msgid", e.MessageID)
	if e.BodyHash != 0 {
		fmt.Fprintf(&sb, " body=%016x", e.BodyHash)
	}
	add("conn", e.Connection)
	if e.Channel != 0 {
		fmt.Fprintf(&sb, " ch=%d", e.Channel)
	}
	if e.Code != 0 {
		fmt.Fprintf(&sb, " code=%d", e.Code)
	}
	add("reason", e.Reason)
	add("target", e.Target)
	if e.Count != 0 {
		fmt.Fprintf(&sb, " count=%d", e.Count)
	}
	return sb.String()
}

// ErrEventsLost is returned by Subscription.Next when events the
// subscription had not read were discarded because the log is bounded.
var ErrEventsLost = eventlog.ErrLost

// stampEvent gives an event its place in the log.
func stampEvent(e Event, seq uint64) Event {
	e.Seq = seq
	return e
}

// emit records an event. Callers usually hold b.mu, which keeps events in
// the order things happened.
func (b *Broker) emit(e Event) {
	if b.events.Off() {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	b.events.Add(e)
}

// Events returns the retained events, oldest first.
func (b *Broker) Events() []Event {
	evs, _ := b.events.Since(1)
	return evs
}

// Subscription reads the event log in order from the point it was
// created; Next waits for the next event, WaitFor for one that matches.
type Subscription = eventlog.Subscription[Event]

// Subscribe returns a Subscription that reads events logged from now on.
func (b *Broker) Subscribe() *Subscription { return b.events.Subscribe() }

// SubscribeAll returns a Subscription that reads every retained event and
// then new ones.
func (b *Broker) SubscribeAll() *Subscription { return b.events.SubscribeAll() }
