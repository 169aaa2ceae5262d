package rabbit

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
)

type listenerKind int

const (
	rpcListener listenerKind = iota
	notifyListener
)

// pending is a delivery waiting for Poll.
type pending struct {
	del       amqp.Delivery
	gen       uint64
	arrived   time.Time
	autoAcked bool // the broker already forgot it: never acknowledge
}

// listener is a drivers.Listener over one consumer.
type listener struct {
	d     *Driver
	kind  listenerKind
	batch drivers.Batch
	c     *consumer
	dedup *idWindow

	mu      sync.Mutex
	buf     []pending
	stopped bool
	signal  chan struct{} // a delivery arrived or the listener stopped
	stopCh  chan struct{}
	stopOne sync.Once
}

func newListener(d *Driver, kind listenerKind, queues []queueDecl, b drivers.Batch, purpose string) *listener {
	if b.Size < 1 {
		b.Size = 1
	}
	l := &listener{d: d, kind: kind, batch: b, dedup: newIDWindow(4096),
		signal: make(chan struct{}, 1), stopCh: make(chan struct{})}
	l.c = &consumer{d: d, purpose: purpose, queues: queues, prefetch: d.dia.prefetch(kind),
		handle: l.handle, onLost: l.lost}
	for _, q := range queues {
		if q.exchange.kind == "fanout" {
			l.c.deleteOnStop = append(l.c.deleteOnStop, q.name)
		}
	}
	l.c.init()
	return l
}

// start runs the consumer and waits until it consumes (C05).
func (l *listener) start(ctx context.Context) error {
	ready := make(chan error, 1)
	l.c.onReady = func() { ready <- nil }
	l.c.onFatal = func(err error) { ready <- err }
	l.d.goLoop(l.c.run)
	return waitReady(ctx, l.c, ready)
}

func (l *listener) handle(del amqp.Delivery, gen uint64, autoAcked bool) {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return // the connection is closing; the broker takes it back
	}
	l.buf = append(l.buf, pending{del: del, gen: gen, arrived: time.Now(), autoAcked: autoAcked})
	l.mu.Unlock()
	l.wake()
}

func (l *listener) wake() {
	select {
	case l.signal <- struct{}{}:
	default:
	}
}

// lost drops what a dead connection delivered and nobody polled: the
// broker delivers it again.
func (l *listener) lost(gen uint64) {
	l.mu.Lock()
	kept := l.buf[:0]
	for _, p := range l.buf {
		if p.gen != gen {
			kept = append(kept, p)
		}
	}
	l.buf = kept
	l.mu.Unlock()
}

// Poll returns the next batch (C27): once Size messages are buffered, or
// once Timeout has passed since the first of them arrived.
func (l *listener) Poll(ctx context.Context) ([]drivers.IncomingMessage, error) {
	for {
		taken, wait, err := l.take()
		if err != nil {
			return nil, err
		}
		if len(taken) > 0 {
			if msgs := l.prepare(taken); len(msgs) > 0 {
				return msgs, nil
			}
			continue // every message was a duplicate or malformed
		}
		if err := l.await(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// await blocks until a delivery arrives, wait passes (when positive), the
// listener stops or ctx ends.
func (l *listener) await(ctx context.Context, wait time.Duration) error {
	var timer <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-l.signal:
	case <-timer:
	case <-l.stopCh:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// take removes a ready batch from the buffer, or says how long to wait
// (0: until something arrives).
func (l *listener) take() ([]pending, time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return nil, 0, drivers.ErrClosed
	}
	if len(l.buf) == 0 {
		return nil, 0, nil
	}
	due := l.buf[0].arrived.Add(l.batch.Timeout)
	if len(l.buf) < l.batch.Size {
		if wait := time.Until(due); wait > 0 {
			return nil, wait, nil
		}
	}
	n := min(len(l.buf), l.batch.Size)
	taken := make([]pending, n)
	copy(taken, l.buf)
	l.buf = append(l.buf[:0], l.buf[n:]...)
	return taken, 0, nil
}

// prepare decodes deliveries into messages. RPC requests are acknowledged
// here, before dispatch, as oslo does (at most once, C29).
func (l *listener) prepare(taken []pending) []drivers.IncomingMessage {
	var out []drivers.IncomingMessage
	for _, p := range taken {
		in, err := l.d.dia.decodeRequest(p.del)
		if err != nil {
			l.d.log.Warn("rejecting a message that is not an oslo message", slog.String("queue", p.del.RoutingKey),
				slog.String("content_type", p.del.ContentType), slog.Any("error", err))
			if !p.autoAcked {
				_ = p.del.Reject(false)
			}
			continue
		}
		if l.kind == rpcListener {
			if !p.autoAcked {
				if err := p.del.Ack(false); err != nil {
					// As oslo (LP #1695746): a request whose ack failed is
					// dropped; the broker delivers it again.
					l.d.log.Warn("dropping a request whose acknowledgement failed", slog.Any("error", err))
					continue
				}
			}
			if !l.dedup.add(in.UniqueID) {
				l.d.log.Info("dropping a repeated request", slog.String("unique_id", in.UniqueID))
				continue
			}
			m := &rpcIncoming{msgID: in.MsgID, replyQ: in.ReplyQueue, timeout: in.Timeout}
			m.l, m.del, m.ctx, m.msg, m.uid = l, p.del, in.Context, in.Message, in.UniqueID
			out = append(out, m)
			continue
		}
		if l.dedup.has(in.UniqueID) {
			l.d.log.Info("dropping a repeated notification", slog.String("unique_id", in.UniqueID))
			_ = p.del.Ack(false)
			continue
		}
		out = append(out, &incoming{l: l, del: p.del, ctx: in.Context, msg: in.Message, uid: in.UniqueID, autoAcked: p.autoAcked})
	}
	return out
}

// Stop ends the subscription; Poll returns ErrClosed from now on (C28).
func (l *listener) Stop() {
	l.stopOne.Do(func() {
		l.mu.Lock()
		l.stopped = true
		l.buf = nil
		l.mu.Unlock()
		close(l.stopCh)
		l.c.halt()
		l.d.forget(l)
	})
}

// Cleanup stops the listener and waits until its connection and
// goroutines are gone (C28).
func (l *listener) Cleanup() {
	l.Stop()
	<-l.c.done
}

// incoming is a received notification (or the shared part of a request).
type incoming struct {
	l    *listener
	del  amqp.Delivery
	ctx  drivers.Context
	msg  drivers.Message
	uid  string
	done atomic.Bool
	// autoAcked: the broker forgot the message when it sent it.
	autoAcked bool
}

func (m *incoming) Context() drivers.Context { return m.ctx }
func (m *incoming) Message() drivers.Message { return m.msg }

// Acknowledge removes the notification from its queue (C29).
func (m *incoming) Acknowledge() {
	if m.done.Swap(true) || m.autoAcked {
		return
	}
	if err := m.del.Ack(false); err != nil {
		m.l.d.log.Warn("acknowledgement failed; the broker will deliver the message again", slog.Any("error", err))
		return
	}
	m.l.dedup.add(m.uid)
}

// Requeue returns the notification to its queue for another delivery (C30).
func (m *incoming) Requeue() {
	if m.done.Swap(true) || m.autoAcked {
		return
	}
	if err := m.del.Nack(false, true); err != nil {
		m.l.d.log.Warn("requeue failed; the broker will deliver the message again", slog.Any("error", err))
	}
}

// rpcIncoming is a received RPC request, acknowledged on receipt.
type rpcIncoming struct {
	incoming
	msgID, replyQ string
	timeout       time.Duration
	replied       atomic.Bool
}

// Acknowledge does nothing: requests are acknowledged before dispatch.
func (m *rpcIncoming) Acknowledge() {}

// Requeue does nothing for requests, as in oslo.
func (m *rpcIncoming) Requeue() {}

func (m *rpcIncoming) CallMonitorTimeout() time.Duration { return m.timeout }

// ReplyExpected reports whether the request is a call (true) or a cast.
func (m *rpcIncoming) ReplyExpected() bool { return m.msgID != "" }

// Reply sends the result once; casts get no reply (C09, C11).
func (m *rpcIncoming) Reply(ctx context.Context, result any, failure error) {
	if m.msgID == "" {
		return
	}
	if m.replied.Swap(true) {
		m.l.d.log.Warn("ignoring a second reply to one request", slog.String("msg_id", m.msgID))
		return
	}
	r := envelope.Reply{Result: result, Ending: true, EndingPresent: true, MsgID: m.msgID}
	if failure != nil {
		r.Failure = envelope.FailureOf(failure)
	}
	m.l.d.sendReply(ctx, m.replyQ, r)
}

// Heartbeat tells the caller the call is still running (C12).
func (m *rpcIncoming) Heartbeat(ctx context.Context) {
	if m.msgID == "" || m.replied.Load() {
		return
	}
	m.l.d.sendReply(ctx, m.replyQ, envelope.Heartbeat(m.msgID))
}
