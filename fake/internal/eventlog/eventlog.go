// Package eventlog is the event log the fakes keep: every event gets the
// next sequence number, the newest events are kept up to a limit, and
// subscribers read them in order, waiting for the next one.
package eventlog

import (
	"context"
	"errors"
	"sync"
)

var (
	// ErrLost is returned by Subscription.Next when events the
	// subscription had not read were discarded because the log is bounded.
	ErrLost = errors.New("events were discarded before they were read")
	// ErrDisabled is returned by Subscription.Next on a log that keeps
	// nothing.
	ErrDisabled = errors.New("the event log is disabled")
)

// initialRing is how many events a log has room for at first: a fake that
// logs little (most tests) never pays for the whole ring, and starts fast.
const initialRing = 1024

// Log keeps the most recent events of type E and wakes the subscribers
// waiting for the next one. It is safe for concurrent use.
type Log[E any] struct {
	stamp func(e E, seq uint64) E

	mu      sync.Mutex
	ring    []E           // grows by doubling up to max before it wraps
	max     int           // the most events kept
	next    uint64        // sequence number of the next event
	changed chan struct{} // closed at the next event; nil while nobody waits
	off     bool
}

// New returns a log that keeps the newest size events; a negative size
// keeps none. stamp returns the event with its sequence number (from 1)
// recorded in it; it runs under the log's lock, so it should do no more.
func New[E any](size int, stamp func(e E, seq uint64) E) *Log[E] {
	l := &Log[E]{stamp: stamp, next: 1}
	if size < 0 {
		l.off = true
	} else {
		l.max = size
		l.ring = make([]E, min(size, initialRing))
	}
	return l
}

// Off reports whether the log keeps nothing, so that callers can skip
// building events.
func (l *Log[E]) Off() bool { return l.off }

// oldest returns the sequence number of the oldest retained event; l.mu
// is held.
func (l *Log[E]) oldest() uint64 {
	n := uint64(len(l.ring))
	if l.next-1 <= n {
		return 1
	}
	return l.next - n
}

func (l *Log[E]) at(seq uint64) E { return l.ring[(seq-1)%uint64(len(l.ring))] }

// Add stamps e with the next sequence number and keeps it.
func (l *Log[E]) Add(e E) {
	if l.off {
		return
	}
	l.mu.Lock()
	seq := l.next
	e = l.stamp(e, seq)
	l.next++
	if n := len(l.ring); seq-1 == uint64(n) && n < l.max {
		// Full but not yet wrapped: every event sits at seq-1, which a
		// bigger ring keeps.
		ring := make([]E, min(2*max(n, 1), l.max))
		copy(ring, l.ring)
		l.ring = ring
	}
	if len(l.ring) > 0 {
		l.ring[(seq-1)%uint64(len(l.ring))] = e
	}
	ch := l.changed
	l.changed = nil
	l.mu.Unlock()
	if ch != nil {
		close(ch) // wake the subscribers waiting for this event
	}
}

// Since returns the retained events from seq on, oldest first, and whether
// some from seq on were discarded.
func (l *Log[E]) Since(seq uint64) ([]E, bool) {
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
	var out []E
	for s := seq; s < l.next; s++ {
		out = append(out, l.at(s))
	}
	return out, lost
}

// Subscribe returns a Subscription that reads the events added from now on.
func (l *Log[E]) Subscribe() *Subscription[E] {
	l.mu.Lock()
	defer l.mu.Unlock()
	return &Subscription[E]{log: l, next: l.next}
}

// SubscribeAll returns a Subscription that reads every retained event and
// then new ones.
func (l *Log[E]) SubscribeAll() *Subscription[E] {
	return &Subscription[E]{log: l, next: 1}
}

// Subscription reads a log in order from the point it was created. One
// goroutine at a time may use it.
type Subscription[E any] struct {
	log  *Log[E]
	next uint64
	buf  []E
}

// Next returns the next event, waiting for one until ctx ends. It returns
// ErrLost (and skips ahead) when the bounded log discarded events the
// subscription had not read.
func (s *Subscription[E]) Next(ctx context.Context) (E, error) {
	var zero E
	for {
		if len(s.buf) > 0 {
			e := s.buf[0]
			s.buf = s.buf[1:]
			return e, nil
		}
		l := s.log
		if l.off {
			return zero, ErrDisabled
		}
		l.mu.Lock()
		if s.next < l.next {
			if o := l.oldest(); s.next < o {
				s.next = o
				l.mu.Unlock()
				return zero, ErrLost
			}
			for seq := s.next; seq < l.next && len(s.buf) < 256; seq++ {
				s.buf = append(s.buf, l.at(seq))
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
			return zero, ctx.Err()
		}
	}
}

// WaitFor reads events until one satisfies match and returns it; it fails
// when ctx ends first. Discarded events are passed over.
func (s *Subscription[E]) WaitFor(ctx context.Context, match func(E) bool) (E, error) {
	for {
		e, err := s.Next(ctx)
		if errors.Is(err, ErrLost) {
			continue
		}
		if err != nil {
			return e, err
		}
		if match(e) {
			return e, nil
		}
	}
}
