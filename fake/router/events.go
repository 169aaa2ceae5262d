package router

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
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
var ErrEventsLost = errors.New("router: events were discarded before they were read")

// eventLog keeps the most recent events in a ring and wakes waiters.
type eventLog struct {
	mu      sync.Mutex
	ring    []Event
	next    uint64
	changed chan struct{}
	off     bool
}

func newEventLog(size int) *eventLog {
	l := &eventLog{next: 1}
	if size < 0 {
		l.off = true
	} else {
		l.ring = make([]Event, size)
	}
	return l
}

func (l *eventLog) oldest() uint64 {
	if n := uint64(len(l.ring)); l.next-1 > n {
		return l.next - n
	}
	return 1
}

func (l *eventLog) add(e Event) {
	if l.off {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	l.mu.Lock()
	e.Seq = l.next
	l.next++
	l.ring[(e.Seq-1)%uint64(len(l.ring))] = e
	ch := l.changed
	l.changed = nil
	l.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

// Events returns the retained events, oldest first.
func (r *Router) Events() []Event {
	l := r.events
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.off {
		return nil
	}
	var out []Event
	for s := l.oldest(); s < l.next; s++ {
		out = append(out, l.ring[(s-1)%uint64(len(l.ring))])
	}
	return out
}

// Subscription reads the event log from the point it was created.
type Subscription struct {
	log  *eventLog
	next uint64
}

// Subscribe returns a Subscription that reads events logged from now on.
func (r *Router) Subscribe() *Subscription {
	r.events.mu.Lock()
	defer r.events.mu.Unlock()
	return &Subscription{log: r.events, next: r.events.next}
}

// Next returns the next event, waiting for one until ctx ends.
func (s *Subscription) Next(ctx context.Context) (Event, error) {
	for {
		l := s.log
		l.mu.Lock()
		if l.off {
			l.mu.Unlock()
			return Event{}, errors.New("router: the event log is disabled")
		}
		if s.next < l.next {
			if o := l.oldest(); s.next < o {
				s.next = o
				l.mu.Unlock()
				return Event{}, ErrEventsLost
			}
			e := l.ring[(s.next-1)%uint64(len(l.ring))]
			s.next++
			l.mu.Unlock()
			return e, nil
		}
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		wait := l.changed
		l.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

// WaitFor reads events until one satisfies match and returns it, failing
// when ctx ends first.
func (s *Subscription) WaitFor(ctx context.Context, match func(Event) bool) (Event, error) {
	for {
		e, err := s.Next(ctx)
		if errors.Is(err, ErrEventsLost) {
			continue
		}
		if err != nil {
			return Event{}, err
		}
		if match(e) {
			return e, nil
		}
	}
}
