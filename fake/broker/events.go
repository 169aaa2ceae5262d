package broker

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
var ErrEventsLost = errors.New("broker: events were discarded before they were read")

// eventLog keeps the most recent events in a ring and wakes waiting
// subscribers.
type eventLog struct {
	mu      sync.Mutex
	ring    []Event       // grows by doubling up to max before it wraps
	max     int           // the most events kept
	next    uint64        // sequence number of the next event
	changed chan struct{} // closed at the next event; nil while nobody waits
	off     bool
}

func newEventLog(size int) *eventLog {
	l := &eventLog{next: 1}
	if size < 0 {
		l.off = true
	} else {
		// Start small: a broker that logs little (most tests) never pays
		// for the whole ring, and Start stays fast.
		l.max = size
		l.ring = make([]Event, min(size, initialEventRing))
	}
	return l
}

// initialEventRing is how many events the log has room for at first.
const initialEventRing = 1024

// oldest returns the sequence number of the oldest retained event.
func (l *eventLog) oldest() uint64 {
	n := uint64(len(l.ring))
	if l.next-1 <= n {
		return 1
	}
	return l.next - n
}

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	e.Seq = l.next
	l.next++
	if n := len(l.ring); e.Seq-1 == uint64(n) && n < l.max {
		// Full but not yet wrapped: every event sits at Seq-1, which a
		// bigger ring keeps.
		ring := make([]Event, min(2*max(n, 1), l.max))
		copy(ring, l.ring)
		l.ring = ring
	}
	if len(l.ring) > 0 {
		l.ring[(e.Seq-1)%uint64(len(l.ring))] = e
	}
	ch := l.changed
	l.changed = nil
	l.mu.Unlock()
	if ch != nil {
		close(ch) // wake the subscribers waiting for this event
	}
}

// since returns the retained events from seq on, and whether some earlier
// ones from seq were lost.
func (l *eventLog) since(seq uint64) ([]Event, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ring) == 0 {
		return nil, seq < l.next
	}
	lost := false
	if o := l.oldest(); seq < o {
		lost = seq < l.next && seq != 0
		seq = o
	}
	var out []Event
	for s := seq; s < l.next; s++ {
		out = append(out, l.ring[(s-1)%uint64(len(l.ring))])
	}
	return out, lost
}

// emit records an event. Callers usually hold b.mu, which keeps events in
// the order things happened.
func (b *Broker) emit(e Event) {
	if b.events.off {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	b.events.add(e)
}

// Events returns the retained events, oldest first.
func (b *Broker) Events() []Event {
	evs, _ := b.events.since(1)
	return evs
}

// Subscription reads the event log from the point it was created.
type Subscription struct {
	log  *eventLog
	next uint64
	buf  []Event
}

// Subscribe returns a Subscription that reads events logged from now on.
func (b *Broker) Subscribe() *Subscription {
	b.events.mu.Lock()
	defer b.events.mu.Unlock()
	return &Subscription{log: b.events, next: b.events.next}
}

// SubscribeAll returns a Subscription that reads every retained event and
// then new ones.
func (b *Broker) SubscribeAll() *Subscription {
	return &Subscription{log: b.events, next: 1}
}

// Next returns the next event, waiting for one until ctx ends. It returns
// ErrEventsLost (and skips ahead) when the bounded log discarded events the
// subscription had not read.
func (s *Subscription) Next(ctx context.Context) (Event, error) {
	for {
		if len(s.buf) > 0 {
			e := s.buf[0]
			s.buf = s.buf[1:]
			return e, nil
		}
		l := s.log
		l.mu.Lock()
		if l.off {
			l.mu.Unlock()
			return Event{}, errors.New("broker: the event log is disabled")
		}
		if s.next < l.next {
			o := l.oldest()
			if s.next < o {
				s.next = o
				l.mu.Unlock()
				return Event{}, ErrEventsLost
			}
			for seq := s.next; seq < l.next && len(s.buf) < 256; seq++ {
				s.buf = append(s.buf, l.ring[(seq-1)%uint64(len(l.ring))])
			}
			s.next += uint64(len(s.buf))
			l.mu.Unlock()
			continue
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

// WaitFor reads events until one satisfies match, and returns it. It fails
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
