package rabbit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// publisher is one send connection with one channel in confirm mode. A
// send has it to itself while it declares and writes its message; with a
// multiplexing pool (poolLimits.multiplex) it goes back to the pool right
// after the write, and many sends wait for their confirms on the one
// channel. Otherwise it is held until the confirm.
type publisher struct {
	conn     *amqp.Connection
	ch       *amqp.Channel
	created  time.Time
	lastUsed time.Time       // while checked out only
	declared map[string]bool // exchanges and queues declared on this channel; while checked out only
	// background runs the wait of an abandoned mandatory send (the
	// driver's goLoop, so that Close waits for it).
	background func(func())

	// returns receives basic.return from amqp091-go's reader, which blocks
	// when it is full: tokens (one per mandatory send written and not yet
	// confirmed, as many as returns holds) keep it from filling.
	returns chan amqp.Return
	tokens  chan struct{}
	rmu     sync.Mutex
	waiting []*returnSlot // mandatory sends written and not yet confirmed, oldest first
}

// maxMandatoryInFlight bounds the mandatory sends waiting for their
// confirms on one publisher.
const maxMandatoryInFlight = 64

func newPublisher(conn *amqp.Connection, ch *amqp.Channel, background func(func())) *publisher {
	now := time.Now()
	p := &publisher{conn: conn, ch: ch, created: now, lastUsed: now, declared: map[string]bool{}, background: background,
		returns: make(chan amqp.Return, maxMandatoryInFlight), tokens: make(chan struct{}, maxMandatoryInFlight)}
	ch.NotifyReturn(p.returns)
	return p
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

// returnSlot is a mandatory send waiting for its confirm; a basic.return
// with its exchange, routing key and body is its own. Two identical
// messages to one address in flight at once cannot be told apart: the
// older takes the first return.
type returnSlot struct {
	exchange, key string
	body          []byte
	ret           *amqp.Return
}

// collectReturns hands the returns amqp091-go has delivered to their
// sends. RabbitMQ sends a message's basic.return before its basic.ack, and
// amqp091-go delivers the return before it resolves the confirm, so a send
// that sees its confirm and then collects finds its return if it has one.
func (p *publisher) collectReturns() {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	for {
		select {
		case r, ok := <-p.returns:
			if !ok {
				return // amqp091-go closes it when the connection drops
			}
			for _, w := range p.waiting {
				if w.ret == nil && w.exchange == r.Exchange && w.key == r.RoutingKey && bytes.Equal(w.body, r.Body) {
					w.ret = &r
					break
				}
			}
		default:
			return
		}
	}
}

// settle forgets a mandatory send and gives back its token; nil is a send
// that was not mandatory.
func (p *publisher) settle(slot *returnSlot) *amqp.Return {
	if slot == nil {
		return nil
	}
	p.rmu.Lock()
	p.waiting = slices.DeleteFunc(p.waiting, func(w *returnSlot) bool { return w == slot })
	ret := slot.ret
	p.rmu.Unlock()
	<-p.tokens
	return ret
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

// sent is a message written and waiting for its confirm.
type sent struct {
	p    *publisher
	dc   *amqp.DeferredConfirmation
	slot *returnSlot
}

// write publishes one message; the caller must have p checked out.
// Without an error, the returned sent waits for the confirm.
func (p *publisher) write(ctx context.Context, exchange, key string, mandatory bool, msg amqp.Publishing) (*sent, outcome, error) {
	p.lastUsed = time.Now()
	p.collectReturns() // those of abandoned sends, so the reader never blocks
	var slot *returnSlot
	if mandatory {
		select {
		case p.tokens <- struct{}{}:
		case <-ctx.Done():
			return nil, refused, ctx.Err()
		}
		slot = &returnSlot{exchange: exchange, key: key, body: msg.Body}
		p.rmu.Lock()
		p.waiting = append(p.waiting, slot)
		p.rmu.Unlock()
	}
	dc, err := p.ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, mandatory, false, msg)
	if err != nil {
		p.settle(slot)
		if errors.Is(err, amqp.ErrClosed) || ctx.Err() != nil {
			return nil, refused, err // nothing was written
		}
		return nil, ambiguous, err
	}
	return &sent{p: p, dc: dc, slot: slot}, 0, nil
}

// wait waits for the confirm of what write sent, and for a mandatory
// send, whether the broker returned it.
func (s *sent) wait(ctx context.Context) (outcome, error) {
	select {
	case <-s.dc.Done():
	case <-ctx.Done():
		if s.slot != nil {
			// Its return may still come: the token stays taken until the
			// confirm resolves (or the channel closes), so that the
			// returns channel cannot fill.
			s.p.background(func() {
				<-s.dc.Done()
				s.p.collectReturns()
				s.p.settle(s.slot)
			})
		}
		return interrupted, ctx.Err()
	}
	if !s.dc.Acked() {
		s.p.settle(s.slot)
		if s.p.broken() {
			// amqp091-go resolves pending confirms as nacks when the
			// channel dies; that is not the broker's answer. An ack, on
			// the other hand, is the broker's even if the connection
			// dropped right after it.
			return ambiguous, errors.New("connection lost before the broker confirmed the message")
		}
		return refused, errors.New("the broker refused the message (basic.nack)")
	}
	if s.slot != nil {
		s.p.collectReturns()
		if r := s.p.settle(s.slot); r != nil {
			return returned, fmt.Errorf("returned by the broker: %d %s", r.ReplyCode, r.ReplyText)
		}
	}
	return confirmed, nil
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
	// multiplex puts a publisher back as soon as a send has written its
	// message, so that concurrent sends share connections and wait for
	// their confirms together; otherwise a send holds its connection
	// until the confirm, as pika's pool does.
	multiplex bool
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
