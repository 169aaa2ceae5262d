// Package clitest is an in-memory drivers.Driver for the tests of the
// switchyard command: a tiny broker that routes calls, casts, fanout casts
// and notifications between the drivers opened on one Backend, records what
// was sent and received, and lets a test inject failures. It is not a
// faithful backend; the contract suite checks real drivers.
//
// A test binary registers the scheme once, from a test file:
//
//	drivers.Register(drivers.Registration{Scheme: clitest.Scheme, Open: clitest.Open})
//
// and then opens "clitest://user:pass@NAME/" URLs, NAME being a Backend's
// name.
package clitest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
)

// Scheme is the URL scheme Open serves.
const Scheme = "clitest"

var (
	backendsMu sync.Mutex
	backends   = map[string]*Backend{}
	nextID     int
)

// Sent is one Send as the backend received it.
type Sent struct {
	Target  drivers.Target
	Context drivers.Context
	Message drivers.Message
	Options drivers.SendOptions
}

// Notified is one SendNotification as the backend received it.
type Notified struct {
	Target  drivers.Target
	Context drivers.Context
	Message drivers.Message
	Version string
	Retry   int
}

// Subscription is one ListenForNotifications call.
type Subscription struct {
	Targets []drivers.TargetPriority
	Pool    string
	Batch   drivers.Batch
}

// Stats is what the backend has seen so far.
type Stats struct {
	Opens, Closes int // drivers opened and closed
	// AllowedRemoteExmods is the configuration's list, for each Open.
	AllowedRemoteExmods [][]string
	RPCListens          []drivers.Target
	RPCBatches          []drivers.Batch
	ActiveRPCListeners  int // RPC listeners not yet stopped
	Subscriptions       []Subscription
	ActiveNotifyListen  int // notification listeners not yet stopped
	Stops, Cleanups     int // Listener.Stop and Listener.Cleanup calls
	Acks                int // Acknowledge calls
	Heartbeats          int // Heartbeat calls
	Replies             int // Reply calls that delivered a reply to a waiting caller
	Sent                []Sent
	Notified            []Notified
}

// Backend is one in-memory broker. Set its exported fields before any
// driver is opened on it.
type Backend struct {
	// Name is the URL host name that opens this backend.
	Name string
	// Password, when non-empty, is the password Open requires; a different
	// one fails with *drivers.AuthError.
	Password string
	// Respond, when set, answers every Send instead of routing it to
	// listeners: its result is the call's reply and its error the Send's
	// error.
	Respond func(ctx context.Context, s Sent) (any, error)
	// NotifyErr, when set, is returned by every SendNotification after it is
	// recorded.
	NotifyErr error
	// CastsAsRPC delivers casts as drivers.RPCIncomingMessage whose Reply
	// and Heartbeat do nothing, as some drivers do.
	CastsAsRPC bool

	mu        sync.Mutex
	wake      chan struct{}
	stats     Stats
	listeners []*listener
	stored    map[string][]*incoming // notification address -> stored notifications
	rr        int
}

// New makes a backend with a unique name and removes it when the test ends.
func New(t testing.TB) *Backend {
	t.Helper()
	b := NewBackend()
	t.Cleanup(b.Remove)
	return b
}

// NewBackend makes a backend with a unique name, for use outside a test
// function; Remove forgets it.
func NewBackend() *Backend {
	backendsMu.Lock()
	defer backendsMu.Unlock()
	nextID++
	b := &Backend{Name: fmt.Sprintf("backend%d", nextID), wake: make(chan struct{}), stored: map[string][]*incoming{}}
	backends[b.Name] = b
	return b
}

// Remove makes the backend's name unknown to Open.
func (b *Backend) Remove() {
	backendsMu.Lock()
	defer backendsMu.Unlock()
	delete(backends, b.Name)
}

// URL returns a URL that opens this backend with the given credentials.
func (b *Backend) URL(user, password string) string {
	return fmt.Sprintf("%s://%s:%s@%s/", Scheme, user, password, b.Name)
}

// Stats returns a copy of what the backend has seen.
func (b *Backend) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.snapshot()
}

func (b *Backend) snapshot() Stats {
	s := b.stats
	s.AllowedRemoteExmods = slices.Clone(s.AllowedRemoteExmods)
	s.RPCListens = slices.Clone(s.RPCListens)
	s.RPCBatches = slices.Clone(s.RPCBatches)
	s.Subscriptions = slices.Clone(s.Subscriptions)
	s.Sent = slices.Clone(s.Sent)
	s.Notified = slices.Clone(s.Notified)
	return s
}

// WaitUntil blocks until cond holds for the backend's stats or ctx ends,
// and returns the stats it last saw.
func (b *Backend) WaitUntil(ctx context.Context, cond func(Stats) bool) (Stats, error) {
	for {
		b.mu.Lock()
		s := b.snapshot()
		wake := b.wake
		b.mu.Unlock()
		if cond(s) {
			return s, nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return s, fmt.Errorf("clitest: condition not met: %w", ctx.Err())
		}
	}
}

// changed wakes every waiter; b.mu must be held.
func (b *Backend) changed() {
	close(b.wake)
	b.wake = make(chan struct{})
}

// Open is the drivers.Factory of the clitest scheme.
func Open(_ context.Context, u *drivers.TransportURL, cfg *drivers.Config) (drivers.Driver, error) {
	if len(u.Hosts) == 0 {
		return nil, &drivers.URLError{URL: u.String(), Reason: "clitest needs a backend name as host"}
	}
	h := u.Hosts[0]
	backendsMu.Lock()
	b := backends[h.Hostname]
	backendsMu.Unlock()
	if b == nil {
		return nil, fmt.Errorf("clitest: no backend named %q", h.Hostname)
	}
	if b.Password != "" && h.Password != b.Password {
		return nil, &drivers.AuthError{Host: h.Addr(drivers.DefaultPort), User: h.Username, Err: errors.New("ACCESS_REFUSED - login refused")}
	}
	b.mu.Lock()
	b.stats.Opens++
	b.stats.AllowedRemoteExmods = append(b.stats.AllowedRemoteExmods, slices.Clone(cfg.AllowedRemoteExmods))
	b.changed()
	b.mu.Unlock()
	return &driver{b: b, cfg: cfg}, nil
}

type driver struct {
	b      *Backend
	cfg    *drivers.Config
	mu     sync.Mutex
	closed bool
}

func (d *driver) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

func (d *driver) exchange(t drivers.Target) string {
	if t.Exchange == "" {
		return d.cfg.Default.ControlExchange
	}
	return t.Exchange
}

// wire passes v through the oslo JSON encoding, as a real backend would.
func wire[T any](v T) (T, error) {
	var zero T
	raw, err := envelope.MarshalJSON(v)
	if err != nil {
		return zero, err
	}
	back, err := envelope.UnmarshalJSON(raw)
	if err != nil {
		return zero, err
	}
	if back == nil {
		return zero, nil
	}
	switch any(zero).(type) {
	case drivers.Message:
		m, _ := back.(map[string]any)
		return any(drivers.Message(m)).(T), nil
	case drivers.Context:
		m, _ := back.(map[string]any)
		return any(drivers.Context(m)).(T), nil
	}
	out, _ := back.(T)
	return out, nil
}

func (d *driver) Send(ctx context.Context, t drivers.Target, mctx drivers.Context, msg drivers.Message, o drivers.SendOptions) (any, error) {
	if d.isClosed() {
		return nil, drivers.ErrClosed
	}
	if err := t.ValidateSend(o.WaitForReply); err != nil {
		return nil, err
	}
	wmsg, err := wire(msg)
	if err != nil {
		return nil, err
	}
	wctx, err := wire(mctx)
	if err != nil {
		return nil, err
	}
	s := Sent{Target: t, Context: wctx, Message: wmsg, Options: o}
	b := d.b
	b.mu.Lock()
	b.stats.Sent = append(b.stats.Sent, s)
	b.changed()
	b.mu.Unlock()
	if b.Respond != nil {
		r, err := b.Respond(ctx, s)
		if !o.WaitForReply {
			return nil, err
		}
		return r, err
	}
	exchange := d.exchange(t)
	var reply *pendingReply
	if o.WaitForReply {
		reply = &pendingReply{done: make(chan struct{}), heartbeat: make(chan struct{}, 1)}
	}
	b.mu.Lock()
	var targets []*listener
	for _, l := range b.listeners {
		if l.rpc && !l.stopped && l.target.Topic == t.Topic && d.exchange(l.target) == exchange && (t.Server == "" || l.target.Server == t.Server) {
			targets = append(targets, l)
		}
	}
	if !t.Fanout && len(targets) > 1 {
		b.rr++
		targets = targets[b.rr%len(targets) : b.rr%len(targets)+1]
	}
	for _, l := range targets {
		in := &incoming{b: b, ctx: wctx, msg: wmsg}
		switch {
		case reply != nil:
			l.queue = append(l.queue, &rpcIncoming{incoming: in, reply: reply, cmt: o.CallMonitorTimeout, allowed: d.cfg.AllowedRemoteExmods})
		case b.CastsAsRPC:
			l.queue = append(l.queue, &rpcIncoming{incoming: in})
		default:
			l.queue = append(l.queue, in)
		}
	}
	b.changed()
	b.mu.Unlock()
	if reply == nil {
		return nil, nil
	}
	return reply.wait(ctx, t, o, d.cfg.Default.RPCResponseTimeout)
}

func (d *driver) SendNotification(_ context.Context, t drivers.Target, mctx drivers.Context, msg drivers.Message, version string, retry int) error {
	if d.isClosed() {
		return drivers.ErrClosed
	}
	if err := t.ValidateSend(false); err != nil {
		return err
	}
	wmsg, err := wire(msg)
	if err != nil {
		return err
	}
	wctx, err := wire(mctx)
	if err != nil {
		return err
	}
	b := d.b
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stats.Notified = append(b.stats.Notified, Notified{Target: t, Context: wctx, Message: wmsg, Version: version, Retry: retry})
	b.changed()
	if b.NotifyErr != nil {
		return b.NotifyErr
	}
	key := d.exchange(t) + "/" + t.Topic
	b.stored[key] = append(b.stored[key], &incoming{b: b, ctx: wctx, msg: wmsg})
	return nil
}

func (d *driver) Listen(_ context.Context, t drivers.Target, batch drivers.Batch) (drivers.Listener, error) {
	if d.isClosed() {
		return nil, drivers.ErrClosed
	}
	if err := t.ValidateListen(); err != nil {
		return nil, err
	}
	l := &listener{b: d.b, rpc: true, target: t}
	if t.Exchange == "" {
		l.target.Exchange = d.cfg.Default.ControlExchange
	}
	b := d.b
	b.mu.Lock()
	defer b.mu.Unlock()
	b.listeners = append(b.listeners, l)
	b.stats.RPCListens = append(b.stats.RPCListens, t)
	b.stats.RPCBatches = append(b.stats.RPCBatches, batch)
	b.stats.ActiveRPCListeners++
	b.changed()
	return l, nil
}

func (d *driver) ListenForNotifications(_ context.Context, tps []drivers.TargetPriority, pool string, batch drivers.Batch) (drivers.Listener, error) {
	if d.isClosed() {
		return nil, drivers.ErrClosed
	}
	l := &listener{b: d.b}
	for _, tp := range tps {
		if err := tp.Target.ValidateListen(); err != nil {
			return nil, err
		}
		l.addresses = append(l.addresses, d.exchange(tp.Target)+"/"+tp.Address())
	}
	b := d.b
	b.mu.Lock()
	defer b.mu.Unlock()
	b.listeners = append(b.listeners, l)
	b.stats.Subscriptions = append(b.stats.Subscriptions, Subscription{Targets: slices.Clone(tps), Pool: pool, Batch: batch})
	b.stats.ActiveNotifyListen++
	b.changed()
	return l, nil
}

func (d *driver) RequireFeatures(f drivers.Features) error {
	if f.Requeue {
		return &drivers.NotImplementedError{Driver: Scheme, Feature: "requeue"}
	}
	return nil
}

func (d *driver) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return drivers.ErrClosed
	}
	d.closed = true
	d.mu.Unlock()
	d.b.mu.Lock()
	d.b.stats.Closes++
	d.b.changed()
	d.b.mu.Unlock()
	return nil
}

type listener struct {
	b         *Backend
	rpc       bool
	target    drivers.Target // RPC listeners
	addresses []string       // notification listeners: "exchange/topic.priority"
	queue     []drivers.IncomingMessage
	stopped   bool
}

// take returns the next message for the listener; b.mu must be held.
func (l *listener) take() drivers.IncomingMessage {
	if l.rpc {
		if len(l.queue) == 0 {
			return nil
		}
		m := l.queue[0]
		l.queue = l.queue[1:]
		return m
	}
	for _, a := range l.addresses {
		if q := l.b.stored[a]; len(q) > 0 {
			l.b.stored[a] = q[1:]
			return q[0]
		}
	}
	return nil
}

func (l *listener) Poll(ctx context.Context) ([]drivers.IncomingMessage, error) {
	b := l.b
	for {
		b.mu.Lock()
		if l.stopped {
			b.mu.Unlock()
			return nil, drivers.ErrClosed
		}
		m := l.take()
		wake := b.wake
		b.mu.Unlock()
		if m != nil {
			return []drivers.IncomingMessage{m}, nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (l *listener) Stop() {
	b := l.b
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stats.Stops++
	if !l.stopped {
		l.stopped = true
		if l.rpc {
			b.stats.ActiveRPCListeners--
		} else {
			b.stats.ActiveNotifyListen--
		}
	}
	b.changed()
}

func (l *listener) Cleanup() {
	b := l.b
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stats.Cleanups++
	b.changed()
}

// StopListeners stops every listener of the backend, as a lost connection
// would: their Polls return drivers.ErrClosed.
func (b *Backend) StopListeners() {
	b.mu.Lock()
	ls := slices.Clone(b.listeners)
	b.mu.Unlock()
	for _, l := range ls {
		l.Stop()
	}
}

type incoming struct {
	b   *Backend
	ctx drivers.Context
	msg drivers.Message
}

func (m *incoming) Context() drivers.Context { return m.ctx }
func (m *incoming) Message() drivers.Message { return m.msg }
func (m *incoming) Requeue()                 {}

func (m *incoming) Acknowledge() {
	m.b.mu.Lock()
	defer m.b.mu.Unlock()
	m.b.stats.Acks++
	m.b.changed()
}

// rpcIncoming is a call, or a cast when reply is nil (CastsAsRPC).
type rpcIncoming struct {
	*incoming
	reply   *pendingReply
	cmt     time.Duration
	allowed []string
}

// ReplyExpected tells the CLI whether the caller waits for a reply.
func (m *rpcIncoming) ReplyExpected() bool { return m.reply != nil }

func (m *rpcIncoming) CallMonitorTimeout() time.Duration { return m.cmt }

func (m *rpcIncoming) Reply(_ context.Context, result any, failure error) {
	if m.reply == nil {
		return
	}
	var r replyValue
	if failure != nil {
		data, err := envelope.SerializeFailure(envelope.FailureOf(failure))
		if err == nil {
			r.err, err = envelope.DeserializeFailure(data, m.allowed)
		}
		if err != nil {
			r.err = err
		}
	} else {
		raw, err := envelope.MarshalJSON(result)
		if err == nil {
			r.result, err = envelope.UnmarshalJSON(raw)
		}
		if err != nil {
			r.err = err
		}
	}
	if m.reply.deliver(r) {
		m.b.mu.Lock()
		m.b.stats.Replies++
		m.b.changed()
		m.b.mu.Unlock()
	}
}

func (m *rpcIncoming) Heartbeat(context.Context) {
	if m.reply == nil {
		return
	}
	m.b.mu.Lock()
	m.b.stats.Heartbeats++
	m.b.changed()
	m.b.mu.Unlock()
	select {
	case m.reply.heartbeat <- struct{}{}:
	default:
	}
}

type replyValue struct {
	result any
	err    error
}

type pendingReply struct {
	once      sync.Once
	done      chan struct{}
	value     replyValue
	heartbeat chan struct{}
}

// deliver stores the reply once and reports whether this call stored it.
func (p *pendingReply) deliver(r replyValue) bool {
	stored := false
	p.once.Do(func() {
		p.value = r
		close(p.done)
		stored = true
	})
	return stored
}

func (p *pendingReply) wait(ctx context.Context, t drivers.Target, o drivers.SendOptions, def time.Duration) (any, error) {
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = def
	}
	overall := time.NewTimer(timeout)
	defer overall.Stop()
	var monitor <-chan time.Time
	var mt *time.Timer
	if o.CallMonitorTimeout > 0 {
		mt = time.NewTimer(o.CallMonitorTimeout)
		defer mt.Stop()
		monitor = mt.C
	}
	for {
		select {
		case <-p.done:
			return p.value.result, p.value.err
		case <-p.heartbeat:
			if mt != nil {
				mt.Reset(o.CallMonitorTimeout)
			}
		case <-monitor:
			return nil, &drivers.TimeoutError{Op: "reply to call on topic " + t.Topic, Reason: fmt.Sprintf("no heartbeat within %s", o.CallMonitorTimeout)}
		case <-overall.C:
			return nil, &drivers.TimeoutError{Op: "reply to call on topic " + t.Topic, Reason: fmt.Sprintf("no reply within %s", timeout)}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
