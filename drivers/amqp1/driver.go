package amqp1

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
)

// MaxMessageSize is the largest body the driver sends. Larger messages
// fail with drivers.ErrMessageTooLarge before anything is sent (C19); a
// peer that advertises a smaller max-message-size on the link is obeyed
// too.
const MaxMessageSize = 64 << 20

func init() {
	drivers.Register(drivers.Registration{Scheme: "amqp", Group: "oslo_messaging_amqp", Open: Open})
}

// Driver is the amqp:// driver. Use drivers.Open, or Open directly.
type Driver struct {
	cfg         *drivers.Config
	opts        drivers.AMQPOptions
	conn        *connector
	replies     *replies
	log         *slog.Logger
	containerID string
	maxSize     int // MaxMessageSize; smaller in tests

	stopCtx context.Context // ends when the driver closes
	stop    context.CancelFunc

	mu        sync.Mutex
	closed    bool
	listeners map[*listener]struct{}
	loops     sync.WaitGroup
}

var _ drivers.Driver = (*Driver)(nil)

// Open returns a driver for the URL's hosts. It connects lazily: the first
// send or listen dials the peer, so a peer that is down at start-up does
// not stop the service from starting.
func Open(_ context.Context, u *drivers.TransportURL, cfg *drivers.Config) (drivers.Driver, error) {
	if cfg == nil {
		cfg = drivers.DefaultConfig()
	}
	d := &Driver{
		cfg: cfg, opts: cfg.AMQP,
		log:       slog.Default().With(slog.String("driver", "amqp1")),
		listeners: map[*listener]struct{}{},
		maxSize:   MaxMessageSize,
	}
	d.containerID = d.opts.ContainerName
	if d.containerID == "" {
		d.containerID = fmt.Sprintf("openstack.org/om/container/%s/%s/%d/%s", hostname(), processName(), os.Getpid(), envelope.NewID())
	}
	conn, err := newConnector(d, u)
	if err != nil {
		return nil, err
	}
	d.conn = conn
	d.replies = &replies{d: d, waiters: map[string]chan replyMsg{}}
	d.stopCtx, d.stop = context.WithCancel(context.Background())
	d.goLoop(d.purgeLoop)
	return d, nil
}

// goLoop runs f as one of the driver's goroutines, waited for by Close.
// Once Close has begun it runs nothing and returns false.
func (d *Driver) goLoop(f func()) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.loops.Add(1)
	go func() {
		defer d.loops.Done()
		f()
	}()
	return true
}

// purgeLoop detaches idle sender links every default_sender_link_timeout,
// as oslo does.
func (d *Driver) purgeLoop() {
	every := d.opts.DefaultSenderLinkTimeout
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if conn, _ := d.conn.current(); conn != nil {
				conn.purgeSenders(every)
			}
		case <-d.stopCtx.Done():
			return
		}
	}
}

func (d *Driver) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

// presettled reports whether messages of kind ("rpc-call", "rpc-cast",
// "rpc-reply", "notify") are sent pre-settled (pre_settled).
func (d *Driver) presettled(kind string) bool {
	return slices.Contains(d.opts.PreSettled, kind)
}

// Send sends an RPC call or cast; see drivers.Driver. A cast waits for the
// peer's acknowledgement unless pre_settled has rpc-cast (its default):
// then it returns once the message is written (C09, C20, C21).
func (d *Driver) Send(ctx context.Context, target drivers.Target, mctx drivers.Context, msg drivers.Message, o drivers.SendOptions) (any, error) {
	if d.isClosed() {
		return nil, drivers.ErrClosed
	}
	if err := target.ValidateSend(o.WaitForReply); err != nil {
		return nil, err
	}
	if !o.WaitForReply {
		body, err := encodeRequest(msg, mctx, "1.0", 0)
		if err != nil {
			return nil, err
		}
		// With a caller's timeout the cast carries it as ttl and its expiry
		// is a timeout; otherwise default_send_timeout bounds it (§4.4).
		timeout, ttl := o.Timeout, o.Timeout
		if timeout <= 0 {
			timeout, ttl = d.opts.DefaultSendTimeout, 0
		}
		sctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return nil, d.send(sctx, ctx, sendSpec{what: "RPC cast", target: target, svc: serviceRPC, body: &body,
			ttl: ttl, presettled: d.presettled("rpc-cast"), retry: o.Retry})
	}
	body, err := encodeRequest(msg, mctx, "1.0", o.CallMonitorTimeout)
	if err != nil {
		return nil, err
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = d.cfg.Default.RPCResponseTimeout
	}
	callCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	id := envelope.NewID()
	ch := d.replies.register(id)
	defer d.replies.unregister(id)
	err = d.send(callCtx, ctx, sendSpec{what: "RPC call", target: target, svc: serviceRPC, body: &body,
		ttl: timeout, msgID: id, presettled: d.presettled("rpc-call"), retry: o.Retry,
		prepare: func(ctx context.Context, conn *connection, m *amqpMessage) error {
			addr, err := d.replyAddress(ctx, conn)
			if err != nil {
				return err
			}
			m.Properties.ReplyTo = &addr
			return nil
		}})
	if err != nil {
		return nil, err
	}
	result, err := d.replies.wait(callCtx, ch, o.CallMonitorTimeout)
	var re *drivers.RemoteError
	switch {
	case err == nil:
		return result, nil
	case errors.As(err, &re), errors.Is(err, drivers.ErrClosed):
		return nil, err
	case errors.Is(err, errMonitor):
		return nil, &drivers.TimeoutError{Op: "reply to call on " + target.String(), Reason: err.Error()}
	case ctx.Err() != nil:
		return nil, errors.Join(ctx.Err(), err)
	case callCtx.Err() != nil:
		return nil, &drivers.TimeoutError{Op: "reply to call on " + target.String()}
	}
	return nil, err
}

// SendNotification sends a notification to the anycast notify address of
// target ("<topic>.<priority>", C22), enveloped for version 2.0 (C26). It
// waits for the peer's acknowledgement (unless pre_settled has notify),
// within default_notify_timeout and retry (C14-C16, C20).
func (d *Driver) SendNotification(ctx context.Context, target drivers.Target, mctx drivers.Context, msg drivers.Message, version string, retry int) error {
	if d.isClosed() {
		return drivers.ErrClosed
	}
	if err := target.ValidateSend(false); err != nil {
		return err
	}
	body, err := encodeRequest(msg, mctx, version, 0)
	if err != nil {
		return err
	}
	target.Server, target.Fanout = "", false
	sctx, cancel := context.WithTimeout(ctx, d.opts.DefaultNotifyTimeout)
	defer cancel()
	return d.send(sctx, ctx, sendSpec{what: "notification", target: target, svc: serviceNotify, body: &body,
		presettled: d.presettled("notify"), retry: retry})
}

// sendReply sends a reply to replyTo within default_reply_timeout and
// default_reply_retry; it logs failures and never returns them.
func (d *Driver) sendReply(ctx context.Context, replyTo string, corr any, result any, failure error) {
	body, err := encodeReply(result, failure)
	if err != nil {
		d.log.Error("cannot encode reply; sending the encoding error as the failure", "error", err)
		body, _ = encodeReply(nil, fmt.Errorf("the reply cannot be serialized: %v", err))
	}
	rctx, cancel := context.WithTimeout(ctx, d.opts.DefaultReplyTimeout)
	defer cancel()
	err = d.send(rctx, ctx, sendSpec{what: "RPC reply", address: replyTo, body: &body, corrID: corr,
		presettled: d.presettled("rpc-reply"), retry: d.opts.DefaultReplyRetry})
	if err != nil {
		d.log.Warn("reply not delivered", "reply_to", replyTo, "correlation_id", corr, "error", err)
	}
}

// sendHeartbeat sends a call-monitor heartbeat: no body, correlation-id
// the request's message-id, ttl the caller's monitor timeout, pre-settled,
// never retried.
func (d *Driver) sendHeartbeat(ctx context.Context, replyTo string, corr any, monitor time.Duration) {
	hctx, cancel := context.WithTimeout(ctx, d.opts.DefaultReplyTimeout)
	defer cancel()
	err := d.send(hctx, ctx, sendSpec{what: "RPC heartbeat", address: replyTo, corrID: corr, ttl: monitor, presettled: true, retry: 0})
	if err != nil {
		d.log.Info("heartbeat not delivered", "reply_to", replyTo, "error", err)
	}
}

// Listen subscribes an RPC server to the unicast (with a server),
// multicast and anycast addresses of target (C01-C05).
func (d *Driver) Listen(ctx context.Context, target drivers.Target, b drivers.Batch) (drivers.Listener, error) {
	if err := target.ValidateListen(); err != nil {
		return nil, err
	}
	return d.listen(ctx, newListener(d, true, func(a addresser) []string { return a.serverAddresses(target) }, b))
}

// ListenForNotifications subscribes to the anycast notify address of each
// "<topic>.<priority>" (C22). Pools are not implemented, as in oslo's
// driver: a pool returns ErrNotImplemented (C25).
func (d *Driver) ListenForNotifications(ctx context.Context, tps []drivers.TargetPriority, pool string, b drivers.Batch) (drivers.Listener, error) {
	if pool != "" {
		return nil, &drivers.NotImplementedError{Driver: "amqp1", Feature: "notification listener pools"}
	}
	if err := drivers.ValidateNotificationListen(tps); err != nil {
		return nil, err
	}
	tps = slices.Clone(tps)
	return d.listen(ctx, newListener(d, false, func(a addresser) []string {
		seen := map[string]bool{}
		var out []string
		for _, tp := range tps {
			if addr := a.notifyAddress(tp); !seen[addr] {
				seen[addr] = true
				out = append(out, addr)
			}
		}
		return out
	}, b))
}

func (d *Driver) listen(ctx context.Context, l *listener) (drivers.Listener, error) {
	if err := ctx.Err(); err != nil {
		l.cancel()
		return nil, err // no subscription for a context that already ended (C34)
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		l.cancel()
		return nil, drivers.ErrClosed
	}
	d.listeners[l] = struct{}{}
	d.mu.Unlock()
	if err := l.start(ctx); err != nil {
		l.Cleanup()
		return nil, err
	}
	return l, nil
}

func (d *Driver) forget(l *listener) {
	d.mu.Lock()
	delete(d.listeners, l)
	d.mu.Unlock()
}

// RequireFeatures accepts requeue: a notification's Requeue releases it,
// and a broker delivers a released message again (C30). After Close it
// returns ErrClosed.
func (d *Driver) RequireFeatures(drivers.Features) error {
	if d.isClosed() {
		return drivers.ErrClosed
	}
	return nil
}

// Close stops every listener and the reply link, closes the connection
// and waits for all goroutines (C33); calls waiting for replies return
// ErrClosed.
func (d *Driver) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	ls := make([]*listener, 0, len(d.listeners))
	for l := range d.listeners {
		ls = append(ls, l)
	}
	d.mu.Unlock()
	for _, l := range ls {
		l.Stop()
	}
	d.stop()
	d.loops.Wait()
	d.conn.close()
	return nil
}
