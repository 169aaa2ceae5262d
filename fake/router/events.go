package router

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
	EventConnectionOpened  EventType = "connection.opened"
	EventConnectionClosed  EventType = "connection.closed"  // Reason says why
	EventConnectionRefused EventType = "connection.refused" // by a fault
	EventLinkAttached      EventType = "link.attached"      // Role is the client's role
	EventLinkRefused       EventType = "link.refused"       // Reason says why
	EventLinkDetached      EventType = "link.detached"      // Reason says why, if with an error
	EventReceived          EventType = "received"           // a complete delivery from a sender
	EventForwarded         EventType = "forwarded"          // a copy went to a consumer
	EventSettled           EventType = "settled"            // the sender's delivery got Outcome
	EventReleased          EventType = "released"           // no consumer with credit: released to the sender
	EventDropped           EventType = "dropped"            // a presettled delivery no consumer could take, or a mutant (Reason)
)

// Event is one entry of the router's event log. Fields that do not apply
// to an event's type are zero.
type Event struct {
	Seq        uint64    // position in the log, from 1
	Time       time.Time // when it happened
	Type       EventType // what happened
	Connection string    // the client's container-id, or its address before open
	Address    string    // address concerned
	Link       string    // link name
	Role       string    // the client's role on the link: "sender" or "receiver"
	Presettled bool      // the sender sent the delivery settled
	Outcome    string    // accepted, rejected, released, modified or settled
	BodyHash   uint64    // FNV-1a 64 of the encoded message
	Reason     string    // an error condition and description, or a cause
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
	add("conn", e.Connection)
	add("address", e.Address)
	add("link", e.Link)
	add("role", e.Role)
	if e.Presettled {
		sb.WriteString(" presettled")
	}
	add("outcome", e.Outcome)
	if e.BodyHash != 0 {
		fmt.Fprintf(&sb, " body=%016x", e.BodyHash)
	}
	add("reason", e.Reason)
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

// emit records an event, with the time now unless it has one.
func (r *Router) emit(e Event) {
	if r.events.Off() {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	r.events.Add(e)
}

// Events returns the retained events, oldest first.
func (r *Router) Events() []Event {
	evs, _ := r.events.Since(1)
	return evs
}

// Subscription reads the event log in order from the point it was
// created; Next waits for the next event, WaitFor for one that matches.
type Subscription = eventlog.Subscription[Event]

// Subscribe returns a Subscription that reads events logged from now on.
func (r *Router) Subscribe() *Subscription { return r.events.Subscribe() }
