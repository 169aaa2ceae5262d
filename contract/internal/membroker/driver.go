package membroker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
)

// retryPause is the wait between connection attempts.
const retryPause = 100 * time.Millisecond

// Open opens a driver on the broker a membroker:// URL names. It connects
// lazily, on the first operation, trying the URL's hosts in order.
func Open(_ context.Context, rawURL string, cfg *drivers.Config) (drivers.Driver, error) {
	u, err := drivers.ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Driver() != Scheme {
		return nil, &drivers.URLError{URL: u.String(), Reason: "not a " + Scheme + " URL"}
	}
	if cfg == nil {
		cfg = drivers.DefaultConfig()
	}
	return &Driver{u: u, cfg: cfg, replyQ: "reply_" + envelope.NewID(), waiters: map[string]chan reply{}, listeners: map[*listener]bool{}}, nil
}

// Driver is the membroker driver.
type Driver struct {
	u      *drivers.TransportURL
	cfg    *drivers.Config
	replyQ string

	mu        sync.Mutex
	b         *Broker
	closed    bool
	waiters   map[string]chan reply
	listeners map[*listener]bool
}

var _ drivers.Driver = (*Driver)(nil)

func (d *Driver) exchange(t drivers.Target) string {
	if t.Exchange != "" {
		return t.Exchange
	}
	return d.cfg.Default.ControlExchange
}

// connect returns the broker, trying the hosts up to retry more times
// (-1: until ctx ends).
func (d *Driver) connect(ctx context.Context, retry int) (*Broker, error) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, drivers.ErrClosed
	}
	if d.b != nil {
		b := d.b
		d.mu.Unlock()
		return b, nil
	}
	d.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for _, h := range d.u.Hosts {
			brokersMu.Lock()
			b := brokers[h.Hostname]
			brokersMu.Unlock()
			if b == nil {
				continue
			}
			if h.Username != b.user || h.Password != b.pass {
				return nil, &drivers.AuthError{Host: h.Hostname, User: h.Username, Err: errors.New("ACCESS_REFUSED")}
			}
			d.mu.Lock()
			d.b = b
			b.mu.Lock()
			b.replies[d.replyQ] = d.onReply
			b.mu.Unlock()
			d.mu.Unlock()
			return b, nil
		}
		if retry >= 0 && attempt >= retry {
			return nil, &drivers.DeliveryError{Address: d.u.String(), Attempts: attempt + 1, Err: errors.New("no host is reachable")}
		}
		t := time.NewTimer(retryPause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
}

func (d *Driver) onReply(r reply) {
	d.mu.Lock()
	ch := d.waiters[r.msgID]
	d.mu.Unlock()
	if ch == nil {
		return // late or duplicate: discarded (C08, C11)
	}
	select {
	case ch <- r:
	default:
	}
}

func encode(msg drivers.Message, version string) ([]byte, error) {
	inner, err := envelope.MarshalJSON(map[string]any(msg))
	if err != nil {
		return nil, err
	}
	wrap, err := envelope.Wrap(version)
	if err != nil {
		return nil, err
	}
	if wrap {
		return envelope.Seal(inner), nil
	}
	return inner, nil
}

// Send casts or calls.
func (d *Driver) Send(ctx context.Context, t drivers.Target, mctx drivers.Context, msg drivers.Message, o drivers.SendOptions) (any, error) {
	if d.isClosed() {
		return nil, drivers.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := t.ValidateSend(o.WaitForReply); err != nil {
		return nil, err
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = d.cfg.Default.RPCResponseTimeout
	}
	cctx := ctx
	if o.WaitForReply {
		var cancel context.CancelFunc
		cctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	b, err := d.connect(cctx, o.Retry)
	if err != nil {
		if o.WaitForReply && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return nil, &drivers.TimeoutError{Op: "connecting for a call on " + t.Topic}
		}
		return nil, err
	}
	body, err := encode(msg, "2.0")
	if err != nil {
		return nil, err
	}
	m := &envelopeMsg{body: body, ctx: mctx}
	key := t.Topic
	if t.Server != "" {
		key += "." + t.Server
	}
	exchange := d.exchange(t)
	if t.Fanout {
		exchange = t.Topic + "_fanout"
	}
	if !o.WaitForReply {
		n, err := b.publish(exchange, key, t.Fanout, m)
		if err != nil {
			return nil, err
		}
		if n == 0 && o.Mandatory {
			return nil, &drivers.DeliveryError{Address: exchange + "/" + key, Attempts: 1, Undeliverable: true}
		}
		return nil, nil
	}
	m.msgID, m.replyTo, m.monitor = envelope.NewID(), d.replyQ, o.CallMonitorTimeout
	ch := make(chan reply, 8)
	d.mu.Lock()
	d.waiters[m.msgID] = ch
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.waiters, m.msgID)
		d.mu.Unlock()
	}()
	if _, err := b.publish(exchange, key, false, m); err != nil {
		return nil, err
	}
	var monitor <-chan time.Time
	var mt *time.Timer
	if o.CallMonitorTimeout > 0 {
		mt = time.NewTimer(o.CallMonitorTimeout)
		defer mt.Stop()
		monitor = mt.C
	}
	for {
		select {
		case r := <-ch:
			if r.heartbeat {
				if mt != nil {
					mt.Reset(o.CallMonitorTimeout)
				}
				continue
			}
			if r.failure != "" {
				f, err := envelope.DeserializeFailure(r.failure, d.cfg.AllowedRemoteExmods)
				if err != nil {
					return nil, err
				}
				return nil, f
			}
			return r.result, nil
		case <-monitor:
			return nil, &drivers.TimeoutError{Op: "reply to call on " + t.Topic, Reason: "no heartbeat within the call monitor timeout"}
		case <-cctx.Done():
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if d.isClosed() {
				return nil, drivers.ErrClosed
			}
			return nil, &drivers.TimeoutError{Op: "reply to call on " + t.Topic}
		}
	}
}

// SendNotification declares the notification queue and publishes to it.
func (d *Driver) SendNotification(ctx context.Context, t drivers.Target, _ drivers.Context, msg drivers.Message, version string, retry int) error {
	if d.isClosed() {
		return drivers.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := t.ValidateSend(false); err != nil {
		return err
	}
	b, err := d.connect(ctx, retry)
	if err != nil {
		return err
	}
	body, err := encode(msg, version)
	if err != nil {
		return err
	}
	ex := d.exchange(t)
	b.mu.Lock()
	b.bind(b.declare(t.Topic, false), ex, t.Topic)
	b.mu.Unlock()
	_, err = b.publish(ex, t.Topic, false, &envelopeMsg{body: body})
	return err
}

func (d *Driver) prefetch() int { return d.cfg.Rabbit.RabbitQoSPrefetchCount }

// Listen subscribes to the topic, topic.server and fanout queues.
func (d *Driver) Listen(ctx context.Context, t drivers.Target, batch drivers.Batch) (drivers.Listener, error) {
	if d.isClosed() {
		return nil, drivers.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := t.ValidateListen(); err != nil {
		return nil, err
	}
	b, err := d.connect(ctx, -1)
	if err != nil {
		return nil, err
	}
	l := d.newListener(b, batch)
	ex := d.exchange(t)
	b.mu.Lock()
	q := b.declare(t.Topic, false)
	b.bind(q, ex, t.Topic)
	l.consumers = append(l.consumers, b.subscribe(l, q, d.prefetch()))
	if t.Server != "" {
		qs := b.declare(t.Topic+"."+t.Server, false)
		b.bind(qs, ex, t.Topic+"."+t.Server)
		l.consumers = append(l.consumers, b.subscribe(l, qs, d.prefetch()))
	}
	fq := b.declare(t.Topic+"_fanout_"+envelope.NewID(), true)
	b.fanouts[t.Topic+"_fanout"] = append(b.fanouts[t.Topic+"_fanout"], fq)
	l.consumers = append(l.consumers, b.subscribe(l, fq, d.prefetch()))
	b.mu.Unlock()
	return l, nil
}

// ListenForNotifications subscribes to "<topic>.<priority>" queues, or to
// the pool's queue bound to them.
func (d *Driver) ListenForNotifications(ctx context.Context, tps []drivers.TargetPriority, pool string, batch drivers.Batch) (drivers.Listener, error) {
	if d.isClosed() {
		return nil, drivers.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, tp := range tps {
		if err := tp.Target.ValidateListen(); err != nil {
			return nil, err
		}
	}
	b, err := d.connect(ctx, -1)
	if err != nil {
		return nil, err
	}
	l := d.newListener(b, batch)
	l.notify = true
	b.mu.Lock()
	seen := map[*queue]bool{}
	for _, tp := range tps {
		addr := tp.Address()
		name := addr
		if pool != "" {
			name = pool
		}
		q := b.declare(name, false)
		b.bind(q, d.exchange(tp.Target), addr)
		if !seen[q] {
			seen[q] = true
			l.consumers = append(l.consumers, b.subscribe(l, q, d.prefetch()))
		}
	}
	b.mu.Unlock()
	return l, nil
}

// RequireFeatures: requeue is supported.
func (d *Driver) RequireFeatures(drivers.Features) error {
	if d.isClosed() {
		return drivers.ErrClosed
	}
	return nil
}

// Close stops every listener and forgets the broker.
func (d *Driver) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return drivers.ErrClosed
	}
	d.closed = true
	ls := d.listeners
	d.listeners = map[*listener]bool{}
	b := d.b
	d.mu.Unlock()
	for l := range ls {
		l.Stop()
	}
	if b != nil {
		b.mu.Lock()
		delete(b.replies, d.replyQ)
		b.mu.Unlock()
	}
	return nil
}

func (d *Driver) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

func (d *Driver) newListener(b *Broker, batch drivers.Batch) *listener {
	if batch.Size < 1 {
		batch.Size = 1
	}
	l := &listener{d: d, b: b, batch: batch, notifyCh: make(chan struct{})}
	d.mu.Lock()
	d.listeners[l] = true
	d.mu.Unlock()
	return l
}

// listener is a poll-style subscription on one or more queues.
type listener struct {
	d         *Driver
	b         *Broker
	batch     drivers.Batch
	notify    bool
	consumers []*consumer

	mu       sync.Mutex
	inbox    []*delivery
	arrived  []time.Time
	notifyCh chan struct{}
	stopped  bool
}

func (l *listener) push(d *delivery) {
	l.mu.Lock()
	l.inbox = append(l.inbox, d)
	l.arrived = append(l.arrived, time.Now())
	close(l.notifyCh)
	l.notifyCh = make(chan struct{})
	l.mu.Unlock()
}

// Poll returns a batch as drivers.Listener documents.
func (l *listener) Poll(ctx context.Context) ([]drivers.IncomingMessage, error) {
	for {
		l.mu.Lock()
		if l.stopped {
			l.mu.Unlock()
			return nil, drivers.ErrClosed
		}
		n := len(l.inbox)
		var first time.Time
		if n > 0 {
			first = l.arrived[0]
		}
		ch := l.notifyCh
		if n >= l.batch.Size || (n > 0 && time.Since(first) >= l.batch.Timeout) {
			k := min(n, l.batch.Size)
			ds := l.inbox[:k:k]
			l.inbox = l.inbox[k:]
			l.arrived = l.arrived[k:]
			l.mu.Unlock()
			return l.decode(ds), nil
		}
		l.mu.Unlock()
		var timer <-chan time.Time
		if n > 0 {
			t := time.NewTimer(time.Until(first.Add(l.batch.Timeout)))
			defer t.Stop()
			timer = t.C
		}
		select {
		case <-ch:
		case <-timer:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (l *listener) decode(ds []*delivery) []drivers.IncomingMessage {
	out := make([]drivers.IncomingMessage, 0, len(ds))
	for _, d := range ds {
		msg, _, err := envelope.Open(d.m.body)
		if err != nil {
			msg = map[string]any{"undecodable": err.Error()}
		}
		for k := range msg {
			if strings.HasPrefix(k, "_") {
				delete(msg, k)
			}
		}
		out = append(out, &incoming{l: l, d: d, msg: drivers.Message(msg)})
	}
	return out
}

// Stop cancels the subscriptions; unacknowledged messages go back.
func (l *listener) Stop() {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return
	}
	l.stopped = true
	l.inbox, l.arrived = nil, nil
	close(l.notifyCh)
	l.notifyCh = make(chan struct{})
	l.mu.Unlock()
	l.b.mu.Lock()
	l.b.cancel(l.consumers)
	l.b.mu.Unlock()
}

// Cleanup: the listener holds no goroutines or connections.
func (l *listener) Cleanup() {
	l.Stop()
	l.d.mu.Lock()
	delete(l.d.listeners, l)
	l.d.mu.Unlock()
}

type incoming struct {
	l       *listener
	d       *delivery
	msg     drivers.Message
	replied sync.Once
}

func (m *incoming) Context() drivers.Context { return m.d.m.ctx }
func (m *incoming) Message() drivers.Message { return m.msg }
func (m *incoming) Acknowledge()             { m.l.b.settle(m.d, false) }
func (m *incoming) Requeue()                 { m.l.b.settle(m.d, true) }

func (m *incoming) CallMonitorTimeout() time.Duration { return m.d.m.monitor }

func (m *incoming) Reply(_ context.Context, result any, failure error) {
	if m.d.m.msgID == "" {
		return // a cast: no reply (C09)
	}
	m.replied.Do(func() {
		r := reply{msgID: m.d.m.msgID, result: roundTrip(result)}
		if failure != nil {
			s, err := envelope.SerializeFailure(envelope.FailureOf(failure))
			if err != nil {
				s = `{"class": "Exception", "module": "builtins", "message": "unserializable failure"}`
			}
			r.failure, r.result = s, nil
		}
		m.send(r)
	})
}

func (m *incoming) Heartbeat(context.Context) {
	if m.d.m.msgID != "" {
		m.send(reply{msgID: m.d.m.msgID, heartbeat: true})
	}
}

func (m *incoming) send(r reply) {
	m.l.b.mu.Lock()
	to := m.l.b.replies[m.d.m.replyTo]
	m.l.b.mu.Unlock()
	if to != nil {
		to(r)
	}
}

// roundTrip passes a reply value through JSON, as it would travel.
func roundTrip(v any) any {
	b, err := envelope.MarshalJSON(v)
	if err != nil {
		return fmt.Sprintf("unencodable reply: %v", err)
	}
	out, err := envelope.UnmarshalJSON(b)
	if err != nil {
		return nil
	}
	return out
}
