// Package tally records what the contract suite's listeners receive, so
// steps judge a driver by what was observed: which listener got which
// message id, how often, in what order and when. Waits on the record are
// bounded by a deadline and wake on every new receipt; nothing sleeps.
package tally

import (
	"context"
	"sync"
	"time"
)

// Receipt is one message a listener received.
type Receipt struct {
	Listener string
	// ID identifies the message the suite sent; empty when the message
	// carried none.
	ID string
	// Seq is the message's position in its sender's sequence.
	Seq int
	// Value is the decoded message or notification as received.
	Value map[string]any
	// At is when the listener received it.
	At time.Time
}

// Log is a concurrency-safe record of receipts.
type Log struct {
	mu       sync.Mutex
	receipts []Receipt
	changed  chan struct{} // closed and replaced on every change
}

// New returns an empty log.
func New() *Log { return &Log{changed: make(chan struct{})} }

// Add records r and wakes every waiter.
func (l *Log) Add(r Receipt) {
	l.mu.Lock()
	l.receipts = append(l.receipts, r)
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// All returns a copy of every receipt so far, in arrival order.
func (l *Log) All() []Receipt {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Receipt(nil), l.receipts...)
}

// Of returns the receipts of one listener, in arrival order.
func (l *Log) Of(listener string) []Receipt {
	return Filter(l.All(), func(r Receipt) bool { return r.Listener == listener })
}

// Last is when the latest receipt arrived, zero if none has.
func (l *Log) Last() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.receipts) == 0 {
		return time.Time{}
	}
	return l.receipts[len(l.receipts)-1].At
}

// WaitUntil blocks until cond holds for the receipts so far, ctx ends or
// the deadline passes, and reports whether cond held.
func (l *Log) WaitUntil(ctx context.Context, deadline time.Time, cond func([]Receipt) bool) bool {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		l.mu.Lock()
		ok := cond(l.receipts)
		ch := l.changed
		l.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-timer.C:
			l.mu.Lock()
			defer l.mu.Unlock()
			return cond(l.receipts)
		case <-ctx.Done():
			return false
		}
	}
}

// Filter returns the receipts for which keep is true.
func Filter(rs []Receipt, keep func(Receipt) bool) []Receipt {
	var out []Receipt
	for _, r := range rs {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// Counts returns how many times each id was received.
func Counts(rs []Receipt) map[string]int {
	m := make(map[string]int, len(rs))
	for _, r := range rs {
		m[r.ID]++
	}
	return m
}

// Duplicates lists the ids received more than once, in first-seen order.
func Duplicates(rs []Receipt) []string {
	seen := map[string]int{}
	var dups []string
	for _, r := range rs {
		seen[r.ID]++
		if seen[r.ID] == 2 {
			dups = append(dups, r.ID)
		}
	}
	return dups
}

// OutOfOrder returns the first receipt whose Seq is not greater than the
// one before it, and false when the sequence only rises.
func OutOfOrder(rs []Receipt) (prev, next Receipt, found bool) {
	for i := 1; i < len(rs); i++ {
		if rs[i].Seq <= rs[i-1].Seq {
			return rs[i-1], rs[i], true
		}
	}
	return Receipt{}, Receipt{}, false
}
