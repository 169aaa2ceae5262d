package amqp1

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/Azure/go-amqp"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
)

// pending is a delivery waiting for Poll.
type pending struct {
	msg     *amqp.Message
	rcv     *amqp.Receiver
	arrived time.Time
}

// listener is a drivers.Listener over one receiver link per address. Its
// loop attaches the links on the driver's connection and attaches them
// again, after link_retry_delay or the connection back-off, when a link or
// the connection fails (C18).
type listener struct {
	d         *Driver
	rpc       bool
	batch     drivers.Batch
	credit    int
	addresses func(addresser) []string

	mu      sync.Mutex
	buf     []pending
	stopped bool
	lastErr error         // why the last connect or attach failed
	signal  chan struct{} // a delivery arrived
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{} // closed when the loop ended
	stopOne sync.Once
}

func newListener(d *Driver, rpc bool, addrs func(addresser) []string, b drivers.Batch) *listener {
	if b.Size < 1 {
		b.Size = 1
	}
	credit := d.opts.NotifyServerCredit
	if rpc {
		credit = d.opts.RPCServerCredit
	}
	l := &listener{d: d, rpc: rpc, batch: b, credit: credit, addresses: addrs,
		signal: make(chan struct{}, 1), done: make(chan struct{})}
	l.ctx, l.cancel = context.WithCancel(d.stopCtx)
	return l
}

// start runs the loop and returns once every link is attached (C05), or
// with the reason when ctx ends or the credentials are refused first.
func (l *listener) start(ctx context.Context) error {
	ready := make(chan error, 1)
	if !l.d.goLoop(func() {
		defer close(l.done)
		l.run(ready)
	}) {
		close(l.done)
		return drivers.ErrClosed
	}
	select {
	case err := <-ready:
		if err == nil {
			err = ctx.Err() // a context that ended meanwhile wins (C34)
		}
		return err
	case <-l.done: // stopped (the driver closed) before attaching
		return drivers.ErrClosed
	case <-ctx.Done():
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.lastErr != nil {
			return errors.Join(ctx.Err(), l.lastErr)
		}
		return ctx.Err()
	}
}

// setErr records why the links are not attached, for Listen's error.
func (l *listener) setErr(err error) {
	l.mu.Lock()
	l.lastErr = err
	l.mu.Unlock()
}

// run attaches and reads until the listener stops. ready gets nil after
// the first complete attach, or a fatal error.
func (l *listener) run(ready chan<- error) {
	first := true
	for l.ctx.Err() == nil {
		conn, err := l.d.conn.getRetry(l.ctx, l.setErr)
		if err != nil {
			if l.ctx.Err() != nil || errors.Is(err, drivers.ErrClosed) {
				return
			}
			if first {
				ready <- err // wrong credentials: Listen fails
				return
			}
			// Credentials refused on a reconnect: keep trying, slowly;
			// they may be fixed on the peer.
			l.d.log.Error("listener cannot reconnect", "error", err)
			wait(l.ctx, l.d.opts.ConnectionRetryIntervalMax)
			continue
		}
		rcvs, err := l.attach(conn)
		if err != nil {
			l.setErr(err)
			l.d.log.Warn("listener links failed to attach; retrying", "error", err, "in", l.d.opts.LinkRetryDelay)
			if !conn.alive() {
				l.d.conn.drop(conn)
				wait(l.ctx, l.d.conn.backoff(1))
			} else {
				wait(l.ctx, l.d.opts.LinkRetryDelay)
			}
			continue
		}
		if first {
			first = false
			ready <- nil
		}
		err = l.read(rcvs)
		for _, r := range rcvs {
			closeReceiver(r)
		}
		if l.ctx.Err() != nil {
			return
		}
		l.d.log.Warn("listener link failed; attaching again", "error", err)
		if !conn.alive() {
			l.d.conn.drop(conn)
			wait(l.ctx, l.d.conn.backoff(1))
		} else {
			wait(l.ctx, l.d.opts.LinkRetryDelay)
		}
	}
}

// attach opens one receiver per address (name
// "openstack.org/om/receiver/[<address>]/<uuid>", source and target the
// address, sender settle mode mixed, credit rpc_server_credit or
// notify_server_credit).
func (l *listener) attach(conn *connection) ([]*amqp.Receiver, error) {
	var out []*amqp.Receiver
	mixed := amqp.SenderSettleModeMixed
	for _, a := range l.addresses(conn.addr) {
		ctx, cancel := context.WithTimeout(l.ctx, attachTimeout)
		r, err := conn.sess.NewReceiver(ctx, a, &amqp.ReceiverOptions{
			Name:                      "openstack.org/om/receiver/[" + a + "]/" + envelope.NewID(),
			TargetAddress:             a,
			Credit:                    int32(l.credit),
			RequestedSenderSettleMode: &mixed,
		})
		cancel()
		if err != nil {
			for _, r := range out {
				closeReceiver(r)
			}
			return nil, fmt.Errorf("attach receiver for %s: %w", a, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// read pumps every receiver into the buffer until one fails or the
// listener stops.
func (l *listener) read(rcvs []*amqp.Receiver) error {
	ctx, cancel := context.WithCancel(l.ctx)
	defer cancel()
	errc := make(chan error, len(rcvs))
	var wg sync.WaitGroup
	for _, r := range rcvs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				msg, err := r.Receive(ctx, nil)
				if err != nil {
					errc <- err
					return
				}
				l.mu.Lock()
				if l.stopped {
					l.mu.Unlock()
					continue // closing: the link's end returns it
				}
				l.buf = append(l.buf, pending{msg: msg, rcv: r, arrived: time.Now()})
				l.mu.Unlock()
				select {
				case l.signal <- struct{}{}:
				default:
				}
			}
		}()
	}
	err := <-errc
	cancel()
	wg.Wait()
	return err
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
			continue // every message was malformed
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
	case <-l.ctx.Done():
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
	if l.stopped || l.ctx.Err() != nil {
		return nil, 0, drivers.ErrClosed
	}
	if len(l.buf) == 0 {
		return nil, 0, nil
	}
	if len(l.buf) < l.batch.Size {
		if wait := time.Until(l.buf[0].arrived.Add(l.batch.Timeout)); wait > 0 {
			return nil, wait, nil
		}
	}
	n := min(len(l.buf), l.batch.Size)
	taken := make([]pending, n)
	copy(taken, l.buf)
	l.buf = append(l.buf[:0], l.buf[n:]...)
	return taken, 0, nil
}

// prepare decodes deliveries. RPC requests are accepted here, before
// dispatch, as oslo does (at most once, C29); a body that is not an oslo
// message is rejected.
func (l *listener) prepare(taken []pending) []drivers.IncomingMessage {
	var out []drivers.IncomingMessage
	for _, p := range taken {
		req, err := decodeMessage(p.msg)
		if err != nil {
			l.d.log.Warn("rejecting a message that is not an oslo message", "error", err)
			_ = p.rcv.RejectMessage(l.ctx, p.msg, &amqp.Error{Condition: amqp.ErrCondDecodeError, Description: err.Error()})
			continue
		}
		if !l.rpc {
			out = append(out, &incoming{l: l, p: p, ctx: req.Context, msg: req.Message})
			continue
		}
		m := &rpcIncoming{incoming: incoming{l: l, p: p, ctx: req.Context, msg: req.Message}, monitor: req.Monitor}
		m.settle(false)
		if p.msg.Properties != nil {
			m.msgID = p.msg.Properties.MessageID
			if p.msg.Properties.ReplyTo != nil {
				m.replyTo = *p.msg.Properties.ReplyTo
			}
		}
		out = append(out, m)
	}
	return out
}

// decodeMessage decodes a request, cast or notification message.
func decodeMessage(m *amqp.Message) (*request, error) {
	text, ok, err := bodyText(m.Value, m.Data)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("message has no body")
	}
	return decodeRequest(text)
}

// Stop ends the subscription; Poll returns ErrClosed from now on and the
// links are detached, which returns unsettled messages to a broker (C28).
func (l *listener) Stop() {
	l.stopOne.Do(func() {
		l.mu.Lock()
		l.stopped = true
		l.buf = nil
		l.mu.Unlock()
		l.cancel()
		l.d.forget(l)
	})
}

// Cleanup stops the listener and waits until its links and goroutines are
// gone (C28).
func (l *listener) Cleanup() {
	l.Stop()
	<-l.done
}

// incoming is a received notification (or the shared part of a request).
type incoming struct {
	l    *listener
	p    pending
	ctx  drivers.Context
	msg  drivers.Message
	done atomic.Bool
}

func (m *incoming) Context() drivers.Context { return m.ctx }
func (m *incoming) Message() drivers.Message { return m.msg }

// settle accepts the message, or releases it.
func (m *incoming) settle(release bool) {
	if m.done.Swap(true) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var err error
	if release {
		err = m.p.rcv.ReleaseMessage(ctx, m.p.msg)
	} else {
		err = m.p.rcv.AcceptMessage(ctx, m.p.msg)
	}
	if err != nil {
		m.l.d.log.Warn("settling a message failed; a broker delivers it again", "release", release, "error", err)
	}
}

// Acknowledge accepts the message (C29).
func (m *incoming) Acknowledge() { m.settle(false) }

// Requeue releases the message, so the peer may deliver it again, possibly
// to another listener (C30).
func (m *incoming) Requeue() { m.settle(true) }

// rpcIncoming is a received RPC request, accepted on receipt.
type rpcIncoming struct {
	incoming
	msgID   any
	replyTo string
	monitor time.Duration
	replied atomic.Bool
}

// Acknowledge does nothing: requests are accepted before dispatch.
func (m *rpcIncoming) Acknowledge() {}

// Requeue does nothing for requests, which are accepted before dispatch.
func (m *rpcIncoming) Requeue() {}

// CallMonitorTimeout is the caller's call_monitor_timeout.
func (m *rpcIncoming) CallMonitorTimeout() time.Duration { return m.monitor }

// Reply sends the result once to the request's reply-to, correlated by its
// message-id; casts get no reply (C09, C11).
func (m *rpcIncoming) Reply(ctx context.Context, result any, failure error) {
	if m.replyTo == "" || m.msgID == nil {
		return
	}
	if m.replied.Swap(true) {
		m.l.d.log.Warn("ignoring a second reply to one request", "message_id", m.msgID)
		return
	}
	m.l.d.sendReply(ctx, m.replyTo, m.msgID, result, failure)
}

// Heartbeat sends the caller a null-body message, pre-settled and without
// retry, that restarts its call monitor (C12). Only a caller that set a
// call-monitor timeout gets one: an unmonitored oslo caller would take the
// null body for its reply.
func (m *rpcIncoming) Heartbeat(ctx context.Context) {
	if m.replyTo == "" || m.msgID == nil || m.monitor <= 0 || m.replied.Load() {
		return
	}
	m.l.d.sendHeartbeat(ctx, m.replyTo, m.msgID, m.monitor)
}
