package contract

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/switchyard-dev/switchyard/contract/internal/tally"
	"github.com/switchyard-dev/switchyard/drivers"
)

// ackMode is what a listener does with each message it receives.
type ackMode int

const (
	ackEach       ackMode = iota // acknowledge at once
	holdAll                      // keep unacknowledged
	requeueFirst                 // requeue the first delivery of each id, acknowledge later ones
	requeueAlways                // requeue every delivery
)

// listener is one subscription of the scenario, on a driver of its own
// (one process per listener), with a goroutine that polls it and records
// every message in the world's log, unless it is polled by steps (manual).
type listener struct {
	w      *world
	name   string
	drv    drivers.Driver
	lis    drivers.Listener
	notify bool
	pool   string
	inPool bool
	server *behaviour // non-nil for RPC servers
	manual bool

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when the polling goroutine ends

	mu       sync.Mutex
	mode     ackMode
	held     []drivers.IncomingMessage
	seen     map[string]int
	pollErr  error
	empty    bool
	dead     bool
	stopped  bool
	cleaned  bool
	polls    chan opResult // manual polls started by "starts polling"
	stopTime time.Time
}

type listenerSpec struct {
	name     string
	target   drivers.Target
	tps      []drivers.TargetPriority
	notify   bool
	pool     string
	inPool   bool
	batch    drivers.Batch
	mode     ackMode
	server   *behaviour
	manual   bool
	driver   drivers.Driver // listen on this driver instead of a new one
	checkReq bool           // ask RequireFeatures(requeue) first
}

// startListener opens a driver for the listener, subscribes and starts
// polling.
func (w *world) startListener(s listenerSpec) (*listener, error) {
	w.mu.Lock()
	_, dup := w.listeners[s.name]
	w.mu.Unlock()
	if dup {
		return nil, fmt.Errorf("the scenario already has a listener %q", s.name)
	}
	d := s.driver
	if d == nil {
		var err error
		if d, err = w.open(); err != nil {
			return nil, err
		}
	}
	if s.checkReq {
		err := d.RequireFeatures(drivers.Features{Requeue: true})
		w.mu.Lock()
		w.asked, w.requeue = true, err
		w.mu.Unlock()
		if err != nil {
			if !errors.Is(err, drivers.ErrNotImplemented) {
				return nil, fmt.Errorf("RequireFeatures(requeue) = %v; want nil or a not-implemented error", err)
			}
			s.mode = ackEach
		}
	}
	if s.batch.Size == 0 {
		s.batch.Size = 1
	}
	ctx, cancel := context.WithTimeout(w.ctx, w.h.Wait)
	var lis drivers.Listener
	var err error
	if s.notify {
		lis, err = d.ListenForNotifications(ctx, s.tps, s.pool, s.batch)
	} else {
		lis, err = d.Listen(ctx, s.target, s.batch)
	}
	cancel()
	if err != nil {
		return nil, err
	}
	if lis == nil {
		return nil, errors.New("the driver's Listen returned neither a listener nor an error")
	}
	l := &listener{
		w: w, name: s.name, drv: d, lis: lis, notify: s.notify, pool: s.pool, inPool: s.inPool,
		server: s.server, manual: s.manual, mode: s.mode, seen: map[string]int{},
		done: make(chan struct{}), polls: make(chan opResult, 4),
	}
	l.ctx, l.cancel = context.WithCancel(w.ctx)
	w.mu.Lock()
	w.listeners[s.name] = l
	w.order = append(w.order, s.name)
	w.mu.Unlock()
	if s.manual {
		close(l.done)
	} else {
		go l.collect()
	}
	return l, nil
}

func (w *world) listener(name string) (*listener, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	l, ok := w.listeners[name]
	if !ok {
		return nil, fmt.Errorf("the scenario has no listener %q", name)
	}
	return l, nil
}

func (w *world) allListeners(keep func(*listener) bool) []*listener {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*listener
	for _, n := range w.order {
		if l := w.listeners[n]; keep == nil || keep(l) {
			out = append(out, l)
		}
	}
	return out
}

// collect polls until the listener is stopped, dies or the scenario ends.
func (l *listener) collect() {
	defer close(l.done)
	for {
		msgs, err := l.lis.Poll(l.ctx)
		if err != nil {
			l.mu.Lock()
			if !errors.Is(err, drivers.ErrClosed) && l.ctx.Err() == nil && !l.dead && !l.stopped {
				l.pollErr = err
			}
			l.mu.Unlock()
			return
		}
		if len(msgs) == 0 {
			l.mu.Lock()
			l.empty = true
			l.mu.Unlock()
			return
		}
		for _, m := range msgs {
			l.handle(m)
		}
	}
}

// handle applies the listener's acknowledgement mode to m, records it and,
// for an RPC server, answers it as the server's behaviour says.
func (l *listener) handle(m drivers.IncomingMessage) {
	msg := m.Message()
	id, seq := idOf(msg)
	if l.server != nil {
		m.Acknowledge() // oslo acknowledges requests before dispatching them
		l.w.log.Add(tally.Receipt{Listener: l.name, ID: id, Seq: seq, Value: msg, At: time.Now()})
		if rm, ok := m.(drivers.RPCIncomingMessage); ok {
			l.w.wg.Add(1)
			go func() {
				defer l.w.wg.Done()
				l.server.serve(l, rm, msg)
			}()
		}
		return
	}
	l.mu.Lock()
	l.seen[id]++
	first := l.seen[id] == 1
	mode := l.mode
	if mode == holdAll {
		l.held = append(l.held, m)
	}
	l.mu.Unlock()
	l.w.log.Add(tally.Receipt{Listener: l.name, ID: id, Seq: seq, Value: msg, At: time.Now()})
	switch {
	case mode == ackEach, mode == requeueFirst && !first:
		m.Acknowledge()
	case mode == requeueFirst, mode == requeueAlways:
		m.Requeue()
	}
}

// setMode changes the acknowledgement mode; with ackEach it also
// acknowledges everything held.
func (l *listener) setMode(m ackMode) {
	l.mu.Lock()
	l.mode = m
	var held []drivers.IncomingMessage
	if m == ackEach {
		held, l.held = l.held, nil
	}
	l.mu.Unlock()
	for _, h := range held {
		h.Acknowledge()
	}
}

func (l *listener) heldIDs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := make([]string, 0, len(l.held))
	for _, m := range l.held {
		id, _ := idOf(m.Message())
		ids = append(ids, id)
	}
	return ids
}

// health reports what the polling goroutine found wrong, if anything.
func (l *listener) health() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.pollErr != nil:
		return fmt.Errorf("listener %q: Poll failed: %w", l.name, l.pollErr)
	case l.empty:
		return fmt.Errorf("listener %q: Poll returned an empty batch with no error (C27 forbids it)", l.name)
	}
	return nil
}

func (l *listener) waitDone(d time.Duration, after string) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-l.done:
		return nil
	case <-timer.C:
		return fmt.Errorf("listener %q: a blocked Poll did not return within %v %s", l.name, d, after)
	}
}

// die ends the listener the way a crashing service does: its driver is
// closed without stopping the listener first.
func (l *listener) die() error {
	l.mu.Lock()
	l.dead = true
	l.mu.Unlock()
	if err := boundedCall(l.w.h.Wait, func() error { return l.w.closeDriver(l.drv) }); err != nil && !errors.Is(err, drivers.ErrClosed) {
		return fmt.Errorf("closing the driver of listener %q: %w", l.name, err)
	}
	if l.waitDone(time.Second, "after its driver closed") != nil {
		l.cancel() // C33 is checked by its own scenario; here just end the poller
		return l.waitDone(l.w.h.Wait, "after its driver closed and its context was cancelled")
	}
	return nil
}

// shutdown ends the listener at the end of a scenario, calling Stop and
// Cleanup unless a step already did.
func (l *listener) shutdown(bound time.Duration) error {
	l.cancel()
	l.mu.Lock()
	stopped, cleaned := l.stopped, l.cleaned
	l.stopped, l.cleaned = true, true
	l.mu.Unlock()
	if !stopped {
		if err := boundedCall(bound, func() error { l.lis.Stop(); return nil }); err != nil {
			return fmt.Errorf("listener %q: Stop %v", l.name, err)
		}
	}
	if err := l.waitDone(bound, "at the end of the scenario"); err != nil {
		return err
	}
	if !cleaned {
		if err := boundedCall(bound, func() error { l.lis.Cleanup(); return nil }); err != nil {
			return fmt.Errorf("listener %q: Cleanup %v", l.name, err)
		}
	}
	return nil
}

// behaviour is how a scenario's RPC server answers requests.
type behaviour struct {
	echo          bool
	never         bool
	randomUpTo    time.Duration
	delay         time.Duration
	slowMethod    string
	slowDelay     time.Duration
	failure       *drivers.RemoteError
	twice         bool
	heartbeat     time.Duration // interval
	answerAfter   time.Duration // with heartbeats
	heartbeatsFor time.Duration // then silent
}

var behaviourPatterns = []struct {
	re  *regexp.Regexp
	set func(b *behaviour, m []string)
}{
	{regexp.MustCompile(`^echoe?s? what it is sent$`), func(b *behaviour, _ []string) { b.echo = true }},
	{regexp.MustCompile(`^never answers?$`), func(b *behaviour, _ []string) { b.never = true }},
	{regexp.MustCompile(`^answers? at once$`), func(*behaviour, []string) {}},
	{regexp.MustCompile(`^answers? after a random delay of up to (\d+) ms$`), func(b *behaviour, m []string) {
		n, _ := strconv.Atoi(m[1])
		b.randomUpTo = time.Duration(n) * time.Millisecond
	}},
	{regexp.MustCompile(`^answers? "([^"]*)" after ([\d.]+) seconds? and everything else at once$`), func(b *behaviour, m []string) {
		b.slowMethod, b.slowDelay = m[1], seconds(m[2])
	}},
	{regexp.MustCompile(`^takes? ([\d.]+) seconds? per request$`), func(b *behaviour, m []string) { b.delay = seconds(m[1]) }},
	{regexp.MustCompile(`^fails? with "([^"]*)" from module "([^"]*)" saying "([^"]*)"$`), func(b *behaviour, m []string) {
		b.failure = &drivers.RemoteError{Class: m[1], Module: m[2], Message: m[3], Args: []any{m[3]}, Kwargs: map[string]any{},
			Traceback: []string{"Traceback (most recent call last):\n", "  switchyard contract server\n", m[1] + ": " + m[3] + "\n"}}
	}},
	{regexp.MustCompile(`^answers? every request twice$`), func(b *behaviour, _ []string) { b.twice = true }},
	{regexp.MustCompile(`^heartbeats? every ([\d.]+) seconds? and answers? after ([\d.]+) seconds?$`), func(b *behaviour, m []string) {
		b.heartbeat, b.answerAfter = seconds(m[1]), seconds(m[2])
	}},
	{regexp.MustCompile(`^heartbeats? every ([\d.]+) seconds? for ([\d.]+) seconds? and then goes? silent$`), func(b *behaviour, m []string) {
		b.heartbeat, b.heartbeatsFor = seconds(m[1]), seconds(m[2])
	}},
}

// parseBehaviour reads the "that ..." part of an RPC server step.
func parseBehaviour(s string) (*behaviour, error) {
	b := &behaviour{}
	if s == "" {
		return b, nil
	}
	for _, p := range behaviourPatterns {
		if m := p.re.FindStringSubmatch(s); m != nil {
			p.set(b, m)
			return b, nil
		}
	}
	return nil, fmt.Errorf("unknown RPC server behaviour %q", s)
}

// serve answers one request. Replies carry the request's id and the
// server's name, or echo the request's "value" argument.
func (b *behaviour) serve(l *listener, m drivers.RPCIncomingMessage, msg drivers.Message) {
	ctx := l.ctx
	id, _ := idOf(msg)
	method, _ := msg["method"].(string)
	args, _ := msg["args"].(map[string]any)
	var reply any = map[string]any{"id": id, "server": l.name}
	if b.echo {
		reply = args["value"]
	}
	if b.never {
		return
	}
	if b.failure != nil {
		l.w.reply(ctx, m, nil, b.failure)
		return
	}
	delay := b.delay
	if b.randomUpTo > 0 {
		delay = rand.N(b.randomUpTo)
	}
	if b.slowMethod != "" && method == b.slowMethod {
		delay = b.slowDelay
	}
	if b.heartbeat > 0 {
		start := time.Now()
		end := b.answerAfter
		if b.heartbeatsFor > 0 {
			end = b.heartbeatsFor
		}
		ticker := time.NewTicker(b.heartbeat)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
			if time.Since(start) > end+b.heartbeat/2 {
				break
			}
			hctx, cancel := context.WithTimeout(ctx, l.w.h.Wait)
			m.Heartbeat(hctx)
			cancel()
			l.w.hbLast.Store(time.Now().UnixNano())
			if time.Since(start) >= end-b.heartbeat/2 {
				break
			}
		}
		if b.heartbeatsFor > 0 {
			return // silent from now on
		}
		delay = b.answerAfter - time.Since(start)
	}
	if delay > 0 && !sleepCtx(ctx, delay) {
		return
	}
	l.w.reply(ctx, m, reply, nil)
	if b.twice {
		l.w.reply(ctx, m, reply, nil)
	}
}

func (w *world) reply(ctx context.Context, m drivers.RPCIncomingMessage, result any, failure error) {
	rctx, cancel := context.WithTimeout(ctx, w.h.Wait)
	defer cancel()
	m.Reply(rctx, result, failure)
}

// sleepCtx waits d, as a server's simulated work does; false if ctx ended
// first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
