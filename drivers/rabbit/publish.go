package rabbit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// publisher is one send connection with one channel in confirm mode. It is
// used by one send at a time, so a basic.return that arrives during a
// publish belongs to that publish.
type publisher struct {
	conn     *amqp.Connection
	ch       *amqp.Channel
	returns  chan amqp.Return
	created  time.Time
	lastUsed time.Time
	declared map[string]bool // exchanges and queues declared on this channel
}

func (p *publisher) broken() bool { return p.conn.IsClosed() || p.ch.IsClosed() }

func (p *publisher) close() { _ = p.conn.Close() }

// bounded runs a channel operation that amqp091-go cannot cancel (a
// declaration) within ctx: when ctx ends first, the connection is closed,
// which ends the operation, and ctx's error is returned.
func (p *publisher) bounded(ctx context.Context, op func() error) error {
	done := make(chan error, 1)
	go func() { done <- op() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		p.close()
		<-done
		return ctx.Err()
	}
}

// outcome of one publish attempt.
type outcome int

const (
	confirmed   outcome = iota // the broker acknowledged it
	returned                   // mandatory and unroutable: basic.return
	refused                    // the broker does not have it: safe to resend
	ambiguous                  // written, then the connection failed before the confirm
	interrupted                // the context ended while waiting for the confirm
)

// publish sends one message and waits for its confirm.
func (p *publisher) publish(ctx context.Context, exchange, key string, mandatory bool, msg amqp.Publishing) (outcome, error) {
	p.lastUsed = time.Now()
	for drained := false; !drained; {
		select {
		case _, ok := <-p.returns: // a stale return of an earlier, abandoned publish
			drained = !ok // closed: the connection is gone
		default:
			drained = true
		}
	}
	dc, err := p.ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, mandatory, false, msg)
	if err != nil {
		if errors.Is(err, amqp.ErrClosed) || ctx.Err() != nil {
			return refused, err // nothing was written
		}
		return ambiguous, err
	}
	select {
	case <-dc.Done():
	case <-ctx.Done():
		return interrupted, ctx.Err()
	}
	if !dc.Acked() {
		if p.broken() {
			// amqp091-go resolves pending confirms as nacks when the
			// channel dies; that is not the broker's answer. An ack, on
			// the other hand, is the broker's even if the connection
			// dropped right after it.
			return ambiguous, errors.New("connection lost before the broker confirmed the message")
		}
		return refused, errors.New("the broker refused the message (basic.nack)")
	}
	select {
	case r, ok := <-p.returns:
		if ok {
			return returned, fmt.Errorf("returned by the broker: %d %s", r.ReplyCode, r.ReplyText)
		}
		// amqp091-go closes the channel when the connection drops.
		return confirmed, nil
	default:
		return confirmed, nil
	}
}

// poolLimits shape the send pool.
type poolLimits struct {
	maxIdle  int // connections kept for reuse
	maxTotal int // connections in use and idle together (≥ maxIdle)
	minKeep  int // idle connections never closed for staleness
	// wait bounds how long get waits for a free connection at maxTotal;
	// 0: as long as the caller's context allows.
	wait time.Duration
	// recycle closes, on get, a connection older than this; stale closes
	// one idle for longer than this. 0 disables either.
	recycle, stale time.Duration
}

// sendPool keeps send connections for reuse: oslo rabbit's connection pool
// (rpc_conn_pool_size, conn_pool_min_size, conn_pool_ttl) and pika's
// (pool_max_size, pool_max_overflow, pool_timeout, pool_recycle,
// pool_stale).
type sendPool struct {
	dial func(ctx context.Context) (*publisher, error)
	lim  poolLimits

	mu     sync.Mutex
	idle   []*publisher // most recently used last
	total  int
	freed  chan struct{} // signalled when a publisher is released or dropped
	closed bool
	events poolEvents
}

// poolEvents counts what the pool did, for tests and diagnostics.
type poolEvents struct {
	dialed, recycled, staled, overflowClosed, timeouts int
}

// errPoolTimeout is returned by get when no connection freed up within the
// pool's wait.
var errPoolTimeout = errors.New("no send connection became free within pool_timeout")

func newSendPool(lim poolLimits, dial func(ctx context.Context) (*publisher, error)) *sendPool {
	lim.maxTotal = max(lim.maxTotal, 1)
	lim.maxIdle = min(max(lim.maxIdle, 1), lim.maxTotal)
	return &sendPool{dial: dial, lim: lim, freed: make(chan struct{}, 1)}
}

var errPoolClosed = errors.New("send pool closed")

// get returns an idle healthy publisher or dials a new one within the
// limits, waiting for a release when all are busy.
func (sp *sendPool) get(ctx context.Context) (*publisher, error) {
	var waitC <-chan time.Time
	if sp.lim.wait > 0 {
		t := time.NewTimer(sp.lim.wait)
		defer t.Stop()
		waitC = t.C
	}
	for {
		sp.mu.Lock()
		if sp.closed {
			sp.mu.Unlock()
			return nil, errPoolClosed
		}
		for len(sp.idle) > 0 {
			p := sp.idle[len(sp.idle)-1]
			sp.idle = sp.idle[:len(sp.idle)-1]
			if reason := sp.unusable(p); reason != "" {
				sp.total--
				p.close()
				continue
			}
			sp.mu.Unlock()
			return p, nil
		}
		if sp.total < sp.lim.maxTotal {
			sp.total++
			sp.events.dialed++
			sp.mu.Unlock()
			p, err := sp.dial(ctx)
			if err != nil {
				sp.drop(nil)
				return nil, err
			}
			return p, nil
		}
		sp.mu.Unlock()
		select {
		case <-sp.freed:
		case <-waitC:
			sp.mu.Lock()
			sp.events.timeouts++
			sp.mu.Unlock()
			return nil, errPoolTimeout
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// unusable says why an idle publisher must be closed instead of reused:
// broken, recycled (too old) or stale (idle too long); "" when usable.
func (sp *sendPool) unusable(p *publisher) string {
	now := time.Now()
	switch {
	case p.broken():
		return "broken"
	case sp.lim.recycle > 0 && now.Sub(p.created) > sp.lim.recycle:
		sp.events.recycled++
		return "recycled"
	case sp.lim.stale > 0 && now.Sub(p.lastUsed) > sp.lim.stale && sp.total > sp.lim.minKeep:
		sp.events.staled++
		return "stale"
	}
	return ""
}

// put returns a publisher to the pool; beyond maxIdle (pika's overflow) it
// is closed instead.
func (sp *sendPool) put(p *publisher) {
	p.lastUsed = time.Now()
	sp.mu.Lock()
	if sp.closed || p.broken() || len(sp.idle) >= sp.lim.maxIdle {
		if !sp.closed && !p.broken() {
			sp.events.overflowClosed++
		}
		sp.total--
		sp.mu.Unlock()
		p.close()
		sp.signal()
		return
	}
	sp.idle = append(sp.idle, p)
	sp.mu.Unlock()
	sp.signal()
}

// drop forgets a publisher that failed (nil: a dial that failed).
func (sp *sendPool) drop(p *publisher) {
	if p != nil {
		p.close()
	}
	sp.mu.Lock()
	sp.total--
	sp.mu.Unlock()
	sp.signal()
}

func (sp *sendPool) signal() {
	select {
	case sp.freed <- struct{}{}:
	default:
	}
}

// stats returns the pool's counters and its size now.
func (sp *sendPool) stats() (poolEvents, int, int) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.events, sp.total, len(sp.idle)
}

// close closes idle publishers; busy ones close when put back.
func (sp *sendPool) close() {
	sp.mu.Lock()
	sp.closed = true
	idle := sp.idle
	sp.idle = nil
	sp.total -= len(idle)
	sp.mu.Unlock()
	for _, p := range idle {
		p.close()
	}
}
