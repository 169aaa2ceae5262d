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
		case <-p.returns: // a stale return of an earlier, abandoned publish
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
	if p.broken() {
		// amqp091-go resolves pending confirms as nacks when the channel
		// dies; that is not the broker's answer.
		return ambiguous, errors.New("connection lost before the broker confirmed the message")
	}
	if !dc.Acked() {
		return refused, errors.New("the broker refused the message (basic.nack)")
	}
	select {
	case r := <-p.returns:
		return returned, fmt.Errorf("returned by the broker: %d %s", r.ReplyCode, r.ReplyText)
	default:
		return confirmed, nil
	}
}

// sendPool keeps send connections for reuse, oslo's connection pool: at
// most size connections; idle ones beyond minSize are closed after ttl.
type sendPool struct {
	dial    func(ctx context.Context) (*publisher, error)
	size    int
	minSize int
	ttl     time.Duration

	mu     sync.Mutex
	idle   []*publisher // most recently used last
	total  int
	freed  chan struct{} // signalled when a publisher is released or dropped
	closed bool
}

func newSendPool(size, minSize int, ttl time.Duration, dial func(ctx context.Context) (*publisher, error)) *sendPool {
	return &sendPool{dial: dial, size: max(size, 1), minSize: minSize, ttl: ttl, freed: make(chan struct{}, 1)}
}

var errPoolClosed = errors.New("send pool closed")

// get returns an idle healthy publisher or dials a new one within size,
// waiting for a release when all are busy.
func (sp *sendPool) get(ctx context.Context) (*publisher, error) {
	for {
		sp.mu.Lock()
		if sp.closed {
			sp.mu.Unlock()
			return nil, errPoolClosed
		}
		sp.expireLocked()
		for len(sp.idle) > 0 {
			p := sp.idle[len(sp.idle)-1]
			sp.idle = sp.idle[:len(sp.idle)-1]
			if !p.broken() {
				sp.mu.Unlock()
				return p, nil
			}
			sp.total--
			p.close()
		}
		if sp.total < sp.size {
			sp.total++
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
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// expireLocked closes idle publishers unused for ttl, keeping minSize.
func (sp *sendPool) expireLocked() {
	if sp.ttl <= 0 {
		return
	}
	now := time.Now()
	kept := sp.idle[:0]
	for i, p := range sp.idle {
		if now.Sub(p.lastUsed) > sp.ttl && sp.total > sp.minSize && i < len(sp.idle)-1 {
			sp.total--
			p.close()
			continue
		}
		kept = append(kept, p)
	}
	sp.idle = kept
}

// put returns a healthy publisher to the pool.
func (sp *sendPool) put(p *publisher) {
	sp.mu.Lock()
	if sp.closed || p.broken() {
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
