package rabbit

import (
	"context"
	"log/slog"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
)

// replyWaiter owns the driver's reply queue and hands replies to the calls
// waiting for them, at most once each (C07, C11).
type replyWaiter struct {
	d     *Driver
	queue queueDecl
	dedup *idWindow

	mu      sync.Mutex
	waiters map[string]chan *envelope.Reply // by _msg_id
	c       *consumer                       // nil until the first call
	ready   chan struct{}                   // closed once c consumes, or failed
	err     error                           // why c failed to start
	stopped bool
	closing chan struct{} // closed by stop: waiting calls end with ErrClosed
}

func newReplyWaiter(d *Driver) *replyWaiter {
	return &replyWaiter{d: d, queue: d.dia.replyQueue(), waiters: map[string]chan *envelope.Reply{},
		dedup: newIDWindow(4096), closing: make(chan struct{})}
}

// start launches the reply consumer on first use (or again after it failed
// to start, such as on wrong credentials) and waits until it consumes.
func (rw *replyWaiter) start(ctx context.Context) error {
	rw.mu.Lock()
	if rw.stopped {
		rw.mu.Unlock()
		return drivers.ErrClosed
	}
	if rw.c == nil || (isClosed(rw.ready) && rw.err != nil) {
		ready := make(chan struct{})
		c := &consumer{d: rw.d, purpose: "reply", queues: []queueDecl{rw.queue}, handle: rw.handle, autoAck: true}
		c.onReady = func() { rw.markReady(ready, nil) }
		c.onFatal = func(err error) { rw.markReady(ready, err) }
		c.init()
		rw.c, rw.ready, rw.err = c, ready, nil
		rw.d.goLoop(c.run)
	}
	ready := rw.ready
	rw.mu.Unlock()
	select {
	case <-ready:
		rw.mu.Lock()
		defer rw.mu.Unlock()
		return rw.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func (rw *replyWaiter) markReady(ready chan struct{}, err error) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if ready == rw.ready && !isClosed(ready) {
		rw.err = err
		close(ready)
	}
}

// stop ends the reply consumer, if it ever started, and waits for it.
func (rw *replyWaiter) stop() {
	rw.mu.Lock()
	if !rw.stopped {
		close(rw.closing)
	}
	rw.stopped = true
	c := rw.c
	rw.mu.Unlock()
	if c != nil {
		c.halt()
		<-c.done
	}
}

// register makes room for the replies to msgID.
func (rw *replyWaiter) register(msgID string) chan *envelope.Reply {
	ch := make(chan *envelope.Reply, 16)
	rw.mu.Lock()
	rw.waiters[msgID] = ch
	rw.mu.Unlock()
	return ch
}

// unregister forgets msgID: replies arriving later are dropped (C08).
func (rw *replyWaiter) unregister(msgID string) {
	rw.mu.Lock()
	delete(rw.waiters, msgID)
	rw.mu.Unlock()
}

// handle is called by the consumer for each delivery on the reply queue.
// Replies are consumed without acknowledgements: a reply is at most once
// anyway, and this spares a frame per call.
func (rw *replyWaiter) handle(del amqp.Delivery, _ uint64, _ bool) {
	r, err := rw.d.dia.decodeReply(del, rw.d.cfg.AllowedRemoteExmods)
	if err != nil {
		rw.d.log.Warn("dropping a malformed reply", slog.String("queue", rw.queue.name), slog.Any("error", err))
		return
	}
	if !rw.dedup.add(r.UniqueID) {
		rw.d.log.Info("dropping a repeated reply", slog.String("msg_id", r.MsgID), slog.String("unique_id", r.UniqueID))
		return
	}
	rw.mu.Lock()
	ch, ok := rw.waiters[r.MsgID]
	rw.mu.Unlock()
	if !ok {
		rw.d.log.Info("dropping a reply for a call no longer waiting (timed out or unknown _msg_id)", slog.String("msg_id", r.MsgID))
		return
	}
	select {
	case ch <- r:
	default:
		rw.d.log.Warn("dropping a reply: the caller's buffer is full", slog.String("msg_id", r.MsgID))
	}
}

// wait returns the call's result, its failure, or a timeout (C06, C08,
// C10, C12).
func (rw *replyWaiter) wait(ctx context.Context, ch chan *envelope.Reply, monitor time.Duration) (result any, failure error, err error) {
	var monitorC <-chan time.Time
	var mt *time.Timer
	if monitor > 0 {
		mt = time.NewTimer(monitor)
		defer mt.Stop()
		monitorC = mt.C
	}
	var final any
	for {
		select {
		case r := <-ch:
			if r.Failure != nil {
				return nil, r.Failure, nil
			}
			if r.Result != nil {
				final = r.Result
			}
			if r.Ending {
				return final, nil, nil
			}
			if r.Result == nil && mt != nil {
				// A call-monitor heartbeat: the server is still working.
				mt.Reset(monitor)
			}
		case <-monitorC:
			return nil, nil, errMonitor
		case <-rw.closing:
			return nil, nil, drivers.ErrClosed
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}
