package rabbit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
)

// MaxMessageSize is the largest body the driver sends: RabbitMQ's default
// max_message_size (128 MiB). Larger messages fail with
// drivers.ErrMessageTooLarge before anything is sent (C19).
const MaxMessageSize = 128 << 20

// replyRetryInterval is how often a reply to a missing reply queue is
// tried again, as oslo does.
const replyRetryInterval = 250 * time.Millisecond

func init() {
	drivers.Register(drivers.Registration{Scheme: "rabbit", Group: "oslo_messaging_rabbit", Open: Open})
}

// Driver is the rabbit:// driver. Use drivers.Open, or Open directly.
type Driver struct {
	cfg     *drivers.Config
	opts    drivers.RabbitOptions
	dia     dialect
	conn    *connector
	pool    *sendPool
	replies *replyWaiter
	gone    *goneQueues
	log     *slog.Logger
	maxSize int // MaxMessageSize; smaller in tests

	replyRetry   int           // resends of a reply after connection failures
	replyTimeout time.Duration // bound on a reply's sending, beyond the missing-queue wait

	mu        sync.Mutex
	closed    bool
	listeners map[*listener]struct{}
	loops     sync.WaitGroup
}

var _ drivers.Driver = (*Driver)(nil)

// Open returns a rabbit:// driver for the URL's hosts. It connects lazily:
// the first send or listen dials the broker, so a broker that is down at
// start-up does not stop the service from starting.
func Open(_ context.Context, u *drivers.TransportURL, cfg *drivers.Config) (drivers.Driver, error) {
	if cfg == nil {
		cfg = drivers.DefaultConfig()
	}
	o := cfg.Rabbit
	if o.RabbitHAQueues && o.RabbitQuorumQueue {
		return nil, errors.New("rabbit: rabbit_ha_queues and rabbit_quorum_queue cannot both be set")
	}
	params, err := rabbitConnParams(u, o)
	if err != nil {
		return nil, err
	}
	conn, err := newConnector(u, params)
	if err != nil {
		return nil, err
	}
	topo := topology{o: o, controlExchange: cfg.Default.ControlExchange}
	if topo.controlExchange == "" {
		topo.controlExchange = "openstack"
	}
	return newDriver(cfg, conn, rabbitDialect{topology: topo, conn: conn}, poolLimits{
		maxIdle: o.RPCConnPoolSize, maxTotal: o.RPCConnPoolSize, minKeep: o.ConnPoolMinSize, stale: o.ConnPoolTTL,
		multiplex: true,
	}), nil
}

// newDriver assembles a driver of either dialect.
func newDriver(cfg *drivers.Config, conn *connector, dia dialect, lim poolLimits) *Driver {
	d := &Driver{
		cfg: cfg, opts: cfg.Rabbit, conn: conn, dia: dia,
		gone:       newGoneQueues(200, 60*time.Second),
		log:        slog.Default().With(slog.String("driver", dia.scheme())),
		listeners:  map[*listener]struct{}{},
		maxSize:    MaxMessageSize,
		replyRetry: -1, replyTimeout: time.Second,
	}
	d.pool = newSendPool(lim, d.dialPublisher)
	d.replies = newReplyWaiter(d)
	return d
}

func (d *Driver) dialPublisher(ctx context.Context) (*publisher, error) {
	conn, err := d.conn.dialOnce(ctx, "send")
	if err != nil {
		return nil, err
	}
	ch, err := conn.Channel()
	if err == nil {
		err = ch.Confirm(false)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return newPublisher(conn, ch, d.goLoop), nil
}

// goLoop runs f as one of the driver's goroutines, waited for by Close.
func (d *Driver) goLoop(f func()) {
	d.loops.Add(1)
	go func() {
		defer d.loops.Done()
		f()
	}()
}

func (d *Driver) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

// errMonitor marks a call whose server stopped heartbeating.
var errMonitor = errors.New("no heartbeat or reply within call_monitor_timeout")

// Send sends an RPC call or cast; see drivers.Driver.
func (d *Driver) Send(ctx context.Context, target drivers.Target, mctx drivers.Context, msg drivers.Message, o drivers.SendOptions) (any, error) {
	if d.isClosed() {
		return nil, drivers.ErrClosed
	}
	if err := target.ValidateSend(o.WaitForReply); err != nil {
		return nil, err
	}
	rt := d.dia.requestRoute(target, o.Retry)
	if o.Mandatory {
		rt.mandatory = true
	}
	out := envelope.Outgoing{Message: msg, Context: mctx}
	if !o.WaitForReply {
		p, err := d.dia.encodeRequest(out, 0)
		if err != nil {
			return nil, err
		}
		return nil, d.publish(ctx, publishSpec{route: rt, msg: p, retry: o.Retry, kind: sendRPC})
	}

	timeout := o.Timeout
	if timeout <= 0 {
		timeout = d.cfg.Default.RPCResponseTimeout
	}
	monitor := o.CallMonitorTimeout
	if !d.dia.heartbeats() {
		monitor = 0
	}
	callCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := d.replies.start(callCtx); err != nil {
		return nil, d.callError(ctx, callCtx, target, err)
	}
	out.MsgID = envelope.NewID()
	out.ReplyQueue = d.replies.queue.name
	out.Timeout = monitor
	p, err := d.dia.encodeRequest(out, timeout)
	if err != nil {
		return nil, err
	}
	replies := d.replies.register(out.MsgID)
	defer d.replies.unregister(out.MsgID)
	if err := d.publish(callCtx, publishSpec{route: rt, msg: p, retry: o.Retry, kind: sendRPC}); err != nil {
		return nil, d.callError(ctx, callCtx, target, err)
	}
	result, failure, err := d.replies.wait(callCtx, replies, monitor)
	switch {
	case errors.Is(err, errMonitor):
		return nil, &drivers.TimeoutError{Op: "reply to call on " + target.String(), Reason: err.Error()}
	case err != nil:
		return nil, d.callError(ctx, callCtx, target, err)
	case failure != nil:
		return nil, failure
	}
	return result, nil
}

// callError turns the end of a call's own deadline into ErrTimeout and
// keeps the caller's cancellation as the context's error (C08, C34).
func (d *Driver) callError(parent, callCtx context.Context, target drivers.Target, err error) error {
	if parent.Err() != nil {
		return errors.Join(parent.Err(), err)
	}
	if callCtx.Err() != nil {
		te := &drivers.TimeoutError{Op: "reply to call on " + target.String()}
		if !errors.Is(err, context.DeadlineExceeded) {
			te.Reason = err.Error()
		}
		return te
	}
	return err
}

// SendNotification publishes a notification; the dialect makes sure its
// queue "<topic>.<priority>" exists (C20, C22, C23, C26).
func (d *Driver) SendNotification(ctx context.Context, target drivers.Target, mctx drivers.Context, msg drivers.Message, version string, retry int) error {
	if d.isClosed() {
		return drivers.ErrClosed
	}
	if err := target.ValidateSend(false); err != nil {
		return err
	}
	p, err := d.dia.encodeNotification(msg, mctx, version)
	if err != nil {
		return err
	}
	return d.publish(ctx, publishSpec{route: d.dia.notificationRoute(target), msg: p, retry: retry, kind: sendNotification})
}

// publishSpec is one logical message to publish.
type publishSpec struct {
	route
	msg   amqp.Publishing
	retry int
	kind  sendKind
}

// publish sends one logical message with confirms, retrying only when the
// broker certainly does not have it (C14-C16).
func (d *Driver) publish(ctx context.Context, s publishSpec) error {
	address := s.exchange.name + "/" + s.key
	if len(s.msg.Body) > d.maxSize {
		return fmt.Errorf("%w: %d bytes to %s, the limit is %d", drivers.ErrMessageTooLarge, len(s.msg.Body), address, d.maxSize)
	}
	if err := ctx.Err(); err != nil {
		return err // nothing is written for a context that already ended (C34)
	}
	var last error
	for attempt := 1; ; attempt++ {
		if d.isClosed() {
			return drivers.ErrClosed
		}
		p, err := d.pool.get(ctx)
		if err == nil {
			if undeclared(p, s.exchange, s.queue, !s.declareOnReturn) {
				err = p.bounded(ctx, func() error { return d.declare(p, s.exchange, s.queue, !s.declareOnReturn) })
			}
			if err != nil {
				d.pool.drop(p)
				var ae *amqp.Error
				if errors.As(err, &ae) && isDeclareRefusal(ae) {
					return &drivers.DeliveryError{Address: address, Attempts: attempt, Err: err}
				}
			}
		}
		if err == nil {
			var oc outcome
			oc, err = d.send(ctx, p, s)
			switch oc {
			case confirmed:
				return nil
			case returned:
				if s.declareOnReturn && s.queue != nil {
					// pika: declare the queue the message had no route to,
					// then try again within the retry budget.
					if derr := d.declareNow(ctx, s.exchange, *s.queue); derr != nil {
						err = derr
					} else {
						err = fmt.Errorf("no queue bound for %s; declared it", address)
					}
					break
				}
				return &drivers.DeliveryError{Address: address, Attempts: attempt, Undeliverable: true, Err: err}
			case ambiguous:
				return &drivers.DeliveryError{Address: address, Attempts: attempt, Ambiguous: true, Err: err}
			case interrupted:
				return errors.Join(ctx.Err(), &drivers.DeliveryError{Address: address, Attempts: attempt, Ambiguous: true, Err: err})
			}
		}
		if errors.Is(err, errPoolClosed) {
			return drivers.ErrClosed
		}
		if errors.Is(err, errPoolTimeout) {
			return &drivers.TimeoutError{Op: "send to " + address, Reason: err.Error()}
		}
		var ae *drivers.AuthError
		if errors.As(err, &ae) {
			return err
		}
		var te *drivers.TimeoutError
		if errors.As(err, &te) {
			return err
		}
		if ctx.Err() != nil {
			return errors.Join(ctx.Err(), &drivers.DeliveryError{Address: address, Attempts: attempt, Err: err})
		}
		last = err
		if s.retry >= 0 && attempt > s.retry {
			return &drivers.DeliveryError{Address: address, Attempts: attempt, Err: last}
		}
		delay := d.dia.retryDelay(s.kind, attempt)
		d.log.Info("send failed; retrying", slog.String("address", address), slog.Int("attempt", attempt),
			slog.Any("error", err), slog.Duration("in", delay))
		if !sleepCtx(ctx, nil, delay) {
			return errors.Join(ctx.Err(), &drivers.DeliveryError{Address: address, Attempts: attempt, Err: last})
		}
	}
}

// send writes s on p, gives p back to the pool (at once when the pool
// multiplexes, after the confirm otherwise; closed when it failed or, when
// not multiplexing, when the wait was abandoned) and waits for the
// confirm.
func (d *Driver) send(ctx context.Context, p *publisher, s publishSpec) (outcome, error) {
	w, oc, err := p.write(ctx, s.exchange.name, s.key, s.mandatory, s.msg)
	if err != nil {
		if oc == ambiguous || p.broken() {
			d.pool.drop(p)
		} else {
			d.pool.put(p)
		}
		return oc, err
	}
	if d.pool.lim.multiplex {
		d.pool.put(p)
		// A publisher that fails from now on is dropped by the pool
		// when next taken.
		return w.wait(ctx)
	}
	oc, err = w.wait(ctx)
	switch {
	case oc == ambiguous || oc == interrupted || p.broken():
		d.pool.drop(p)
	default:
		d.pool.put(p)
	}
	return oc, err
}

// declareNow declares q (and e) on a pooled publisher, even if this
// publisher declared it before: the queue may have gone since.
func (d *Driver) declareNow(ctx context.Context, e exchangeDecl, q queueDecl) error {
	p, err := d.pool.get(ctx)
	if err != nil {
		return err
	}
	delete(p.declared, "q:"+q.name)
	if err := p.bounded(ctx, func() error { return d.declare(p, e, &q, true) }); err != nil {
		d.pool.drop(p)
		return err
	}
	d.pool.put(p)
	return nil
}

// undeclared reports whether declare has work to do on p's channel; the
// common case, everything declared already, needs no bounded operation.
func undeclared(p *publisher, e exchangeDecl, q *queueDecl, withQueue bool) bool {
	return (e.name != "" && !p.declared["e:"+e.name]) || (withQueue && q != nil && !p.declared["q:"+q.name])
}

// declare declares an exchange (and, when withQueue, a queue) once per
// channel.
func (d *Driver) declare(p *publisher, e exchangeDecl, q *queueDecl, withQueue bool) error {
	if e.name != "" && !p.declared["e:"+e.name] {
		if err := declareExchange(p.ch, e); err != nil {
			return err
		}
		p.declared["e:"+e.name] = true
	}
	if withQueue && q != nil && !p.declared["q:"+q.name] {
		if err := declareQueue(p.ch, *q); err != nil {
			return err
		}
		p.declared["q:"+q.name] = true
	}
	return nil
}

// sendReply publishes a reply or heartbeat to the caller's queue,
// mandatory; a queue that is missing is tried again every 0.25 s for the
// dialect's missing-queue time (rabbit: kombu_missing_consumer_retry_timeout),
// then remembered as gone. It logs failures and never returns them.
func (d *Driver) sendReply(ctx context.Context, queue string, r envelope.Reply) {
	if d.gone.has(queue) {
		d.log.Info("dropping a reply to a reply queue known to be gone", slog.String("queue", queue), slog.String("msg_id", r.MsgID))
		return
	}
	p, err := d.dia.encodeReply(r)
	if err != nil {
		d.log.Error("cannot encode reply", slog.String("msg_id", r.MsgID), slog.Any("error", err))
		return
	}
	wait := d.dia.missingReplyQueueRetry()
	ctx, cancel := context.WithTimeout(ctx, wait+d.replyTimeout)
	defer cancel()
	deadline := time.Now().Add(wait)
	spec := publishSpec{route: d.dia.replyRoute(queue), msg: p, retry: d.replyRetry, kind: sendReply}
	for {
		err = d.publish(ctx, spec)
		if err == nil {
			return
		}
		if !errors.Is(err, drivers.ErrUndeliverable) || time.Now().After(deadline) {
			break
		}
		if !sleepCtx(ctx, nil, replyRetryInterval) {
			break
		}
	}
	if errors.Is(err, drivers.ErrUndeliverable) {
		d.gone.add(queue)
	}
	d.log.Warn("reply not delivered", slog.String("queue", queue), slog.String("msg_id", r.MsgID), slog.Any("error", err))
}

// Listen subscribes an RPC server (C01-C05).
func (d *Driver) Listen(ctx context.Context, target drivers.Target, b drivers.Batch) (drivers.Listener, error) {
	if err := target.ValidateListen(); err != nil {
		return nil, err
	}
	return d.listen(ctx, rpcListener, d.dia.rpcQueues(target), b, "rpc-server")
}

// ListenForNotifications subscribes a notification listener (C22, C25).
func (d *Driver) ListenForNotifications(ctx context.Context, tps []drivers.TargetPriority, pool string, b drivers.Batch) (drivers.Listener, error) {
	if err := drivers.ValidateNotificationListen(tps); err != nil {
		return nil, err
	}
	return d.listen(ctx, notifyListener, d.dia.notificationQueues(tps, pool), b, "notification")
}

func (d *Driver) listen(ctx context.Context, kind listenerKind, queues []queueDecl, b drivers.Batch, purpose string) (drivers.Listener, error) {
	if err := ctx.Err(); err != nil {
		return nil, err // no subscription for a context that already ended (C34)
	}
	l := newListener(d, kind, queues, b, purpose)
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
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

// RequireFeatures accepts requeue, which notification listeners support;
// after Close it returns ErrClosed (C30, C33).
func (d *Driver) RequireFeatures(drivers.Features) error {
	if d.isClosed() {
		return drivers.ErrClosed
	}
	return nil
}

// ConnectionName is the prefix of the connection_name every connection of
// this driver presents to the broker ("<program>:<pid>:<id>", followed by
// ":<purpose>"), so operators, the management UI and Switchyard's fake
// broker can tell which connections belong to which driver.
func (d *Driver) ConnectionName() string { return d.conn.name }

// Close stops every listener and the reply consumer, closes the send
// connections and waits for all goroutines (C33).
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
	d.replies.stop()
	d.pool.close()
	d.loops.Wait()
	d.pool.close() // publishers put back while closing
	return nil
}

// goneQueues remembers reply queues that did not exist, for a while.
type goneQueues struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	until map[string]time.Time
}

func newGoneQueues(n int, ttl time.Duration) *goneQueues {
	return &goneQueues{max: n, ttl: ttl, until: map[string]time.Time{}}
}

func (g *goneQueues) add(q string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	for k, t := range g.until {
		if now.After(t) {
			delete(g.until, k)
		}
	}
	if len(g.until) >= g.max {
		return
	}
	g.until[q] = now.Add(g.ttl)
}

func (g *goneQueues) has(q string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	t, ok := g.until[q]
	return ok && time.Now().Before(t)
}
