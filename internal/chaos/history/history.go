// Package history records what happened during a chaos run: every send
// with its outcome as the sender saw it, every message a server or listener
// processed, and what the embedded broker's event log reported. The checker
// judges a run from this record alone.
package history

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Outcome is how a send ended, as the sending application saw it.
type Outcome string

// Outcomes of a send.
const (
	OK      Outcome = "ok"      // acknowledged: the driver returned no error
	Failed  Outcome = "failed"  // the driver reported that the message was not sent
	Unknown Outcome = "unknown" // timeout or ambiguous failure: it may have been sent
)

// Send is one send attempt of the workload.
type Send struct {
	ID      string
	Gen     int
	Kind    string        // scenario generator kind
	Start   time.Duration // from the start of the run
	End     time.Duration
	Outcome Outcome
	Err     string // the driver's error, if any
	// Reply is the id the reply of a successful call carried.
	Reply string
	// Expect lists the consumer groups that must each process the
	// message once: "*" for any server of the topic, a server name for
	// fanout, a pool name for notifications ("" is the unpooled group).
	Expect []string
}

// Latency is how long the send took.
func (s Send) Latency() time.Duration { return s.End - s.Start }

// Delivery is one message processed by the workload's servers or
// listeners.
type Delivery struct {
	ID       string // the id found in the message; "" when it had none
	Gen      int    // generator whose topic it came from
	Group    string // the consumer group that processed it (see Send.Expect)
	Consumer string // server or listener name
	At       time.Duration
}

// Counters are running totals, for progress display.
type Counters struct {
	Sent, Acked, Errors, Processed int64
}

// Recorder collects a run's history. It is safe for concurrent use.
type Recorder struct {
	start time.Time

	sent, acked, errs, processed atomic.Int64

	mu         sync.Mutex
	sends      []Send
	deliveries []Delivery
	events     map[string]int64
	closes     []time.Duration // connection closes the broker logged
	eventsLost int64
}

// New returns a recorder whose clock starts at start.
func New(start time.Time) *Recorder {
	return &Recorder{start: start, events: map[string]int64{}}
}

// Start is the recorder's time origin.
func (r *Recorder) Start() time.Time { return r.start }

// Since converts a wall-clock time into run time.
func (r *Recorder) Since(t time.Time) time.Duration { return t.Sub(r.start) }

// Now is the current run time.
func (r *Recorder) Now() time.Duration { return time.Since(r.start) }

// Attempt counts a send as started, for progress display.
func (r *Recorder) Attempt() { r.sent.Add(1) }

// Sent records a finished send.
func (r *Recorder) Sent(s Send) {
	if s.Outcome == OK {
		r.acked.Add(1)
	} else {
		r.errs.Add(1)
	}
	r.mu.Lock()
	r.sends = append(r.sends, s)
	r.mu.Unlock()
}

// Processed records a processed message.
func (r *Recorder) Processed(d Delivery) {
	r.processed.Add(1)
	r.mu.Lock()
	r.deliveries = append(r.deliveries, d)
	r.mu.Unlock()
}

// BrokerEvent records an event of the embedded broker's log.
func (r *Recorder) BrokerEvent(kind string, at time.Duration, connectionClosed bool) {
	r.mu.Lock()
	r.events[kind]++
	if connectionClosed {
		r.closes = append(r.closes, at)
	}
	r.mu.Unlock()
}

// BrokerEventsLost records that the broker's bounded log discarded events
// before they were read.
func (r *Recorder) BrokerEventsLost() {
	r.mu.Lock()
	r.eventsLost++
	r.mu.Unlock()
}

// Counters returns the running totals.
func (r *Recorder) Counters() Counters {
	return Counters{Sent: r.sent.Load(), Acked: r.acked.Load(), Errors: r.errs.Load(), Processed: r.processed.Load()}
}

// Record is a finished run's history.
type Record struct {
	Sends      []Send     // by start time
	Deliveries []Delivery // by time
	// BrokerEvents counts the embedded broker's events by type; empty
	// against a broker URL.
	BrokerEvents     map[string]int64
	ConnectionCloses []time.Duration
	BrokerEventsLost int64
}

// Record returns a copy of everything recorded so far.
func (r *Recorder) Record() Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := Record{
		Sends:            append([]Send(nil), r.sends...),
		Deliveries:       append([]Delivery(nil), r.deliveries...),
		BrokerEvents:     map[string]int64{},
		ConnectionCloses: append([]time.Duration(nil), r.closes...),
		BrokerEventsLost: r.eventsLost,
	}
	for k, v := range r.events {
		rec.BrokerEvents[k] = v
	}
	sort.SliceStable(rec.Sends, func(i, j int) bool { return rec.Sends[i].Start < rec.Sends[j].Start })
	sort.SliceStable(rec.Deliveries, func(i, j int) bool { return rec.Deliveries[i].At < rec.Deliveries[j].At })
	return rec
}

// Pending reports how many acknowledged sends still miss a processing by
// one of their expected groups.
func (r *Recorder) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	done := make(map[key]bool, len(r.deliveries))
	for _, d := range r.deliveries {
		done[key{d.ID, d.Group}] = true
	}
	n := 0
	for _, s := range r.sends {
		if s.Outcome != OK {
			continue
		}
		for _, g := range s.Expect {
			if !done[key{s.ID, g}] {
				n++
				break
			}
		}
	}
	return n
}

type key struct{ id, group string }
