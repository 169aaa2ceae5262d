package contract

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/switchyard-dev/switchyard/contract/internal/tally"
	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
)

// world is the state of one scenario: the drivers and listeners it opened,
// what it sent, what was received, and the outcome of the last operation.
// Steps are its methods. Every resource it opens is released in teardown.
type world struct {
	h      *Harness
	ctx    context.Context
	cancel context.CancelFunc
	prefix string
	log    *tally.Log
	seq    atomic.Int64
	wg     sync.WaitGroup // server behaviours and background operations

	mu        sync.Mutex
	opened    []drivers.Driver
	closed    map[drivers.Driver]bool
	client    drivers.Driver // "a client"
	clientCfg []func(*drivers.Config)
	other     drivers.Driver // "another client"
	that      drivers.Driver // "that client", when a step opened a special one
	thatErr   error          // why "that client" could not be opened
	thatStart time.Time      // when opening "that client" began
	listeners map[string]*listener
	order     []string
	faultEnds map[FaultKind]func()
	faulted   bool     // a fault was injected in this scenario
	closers   []func() // Python servers and the like, ended in teardown
	tap       Tap

	sent       []sentMessage
	lastSend   time.Time
	op         opResult     // the last single send, call, open or poll
	calls      []callResult // results of multi-call steps
	pending    *pendingOp   // a send started in the background
	prefetch   int          // prefetch count for listeners opened from now on
	requeue    error        // RequireFeatures(requeue) result, once asked
	asked      bool         // requeue support was asked
	poolErr    error        // why pools are unsupported, if they are
	hbLast     atomic.Int64 // unix nanos of the last heartbeat a server sent
	baseline   int          // goroutine count taken by a step
	attempts   int          // connection attempts of "that client" at a fault
	cancelAt   time.Time    // when a step cancelled an operation's context
	problems   []string     // teardown findings
	heldByDie  map[string][]string
	nestedSize int // size of the nested value a call sent
}

// sentMessage is one message the scenario sent, by id.
type sentMessage struct {
	ID         string
	Seq        int
	Topic      string // resolved topic or notification address
	Err        error
	Value      any // what Send returned besides the error
	Start, End time.Time
	Message    drivers.Message
}

// opResult is the outcome of one operation.
type opResult struct {
	what       string
	value      any
	err        error
	msgs       []drivers.IncomingMessage
	start, end time.Time
	id         string
	panicked   any
}

func (o opResult) took() time.Duration { return o.end.Sub(o.start) }

// callResult is one call of a multi-call step.
type callResult struct {
	id    string
	reply any
	err   error
	took  time.Duration
}

type pendingOp struct {
	done chan struct{}
	res  opResult
}

func newWorld(h *Harness) *world {
	return &world{h: h}
}

// begin prepares the world for a scenario.
func (w *world) begin(parent context.Context) {
	w.ctx, w.cancel = context.WithCancel(parent)
	w.prefix = "sy" + randomHex(4)
	w.log = tally.New()
	w.closed = map[drivers.Driver]bool{}
	w.listeners = map[string]*listener{}
	w.faultEnds = map[FaultKind]func(){}
	w.faulted = false
	w.heldByDie = map[string][]string{}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("contract: no randomness: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// topic makes a scenario's topic name unique; "" stays empty (for the
// invalid-target scenarios).
func (w *world) topic(name string) string {
	if name == "" {
		return ""
	}
	return w.prefix + "-" + name
}

// exchange makes a named exchange unique; "" is the driver's default.
func (w *world) exchange(name string) string { return w.topic(name) }

// pool makes a pool name unique.
func (w *world) pool(name string) string { return w.topic(name) }

func (w *world) config(mods ...func(*drivers.Config)) *drivers.Config {
	cfg := w.h.Config()
	if w.prefetch > 0 && w.h.Prefetch != nil {
		w.h.Prefetch(cfg, w.prefetch)
	}
	for _, m := range mods {
		m(cfg)
	}
	return cfg
}

// openURL opens a driver on url, remembering it for teardown.
func (w *world) openURL(url string, mods ...func(*drivers.Config)) (drivers.Driver, error) {
	ctx, cancel := context.WithTimeout(w.ctx, w.h.Wait)
	defer cancel()
	d, err := w.h.Open(ctx, url, w.config(mods...))
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.opened = append(w.opened, d)
	w.mu.Unlock()
	return d, nil
}

// open opens a driver on the harness's backend.
func (w *world) open(mods ...func(*drivers.Config)) (drivers.Driver, error) {
	d, err := w.openURL(w.h.URL, mods...)
	if err != nil {
		return nil, fmt.Errorf("opening a driver on %s: %w", w.h.Backend, err)
	}
	return d, nil
}

// defaultClient returns "a client", opening it on first use.
func (w *world) defaultClient() (drivers.Driver, error) {
	w.mu.Lock()
	c := w.client
	w.mu.Unlock()
	if c != nil {
		return c, nil
	}
	c, err := w.open(w.clientCfg...)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.client = c
	w.mu.Unlock()
	return c, nil
}

// whichClient resolves "a client" and "that client".
func (w *world) whichClient(who string) (drivers.Driver, error) {
	if who == "that" {
		w.mu.Lock()
		d, err := w.that, w.thatErr
		w.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if d != nil {
			return d, nil
		}
	}
	return w.defaultClient()
}

func (w *world) closeDriver(d drivers.Driver) (err error) {
	w.mu.Lock()
	if w.closed[d] {
		w.mu.Unlock()
		return nil
	}
	w.closed[d] = true
	w.mu.Unlock()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("the driver's Close panicked: %v", p)
		}
	}()
	return d.Close()
}

// newID returns a fresh message id.
func newID() string { return uuid.NewString() }

// requestContext is the oslo context sent with every message.
func requestContext() drivers.Context {
	return drivers.Context{"request_id": "req-" + newID(), "user_id": "contract", "project_id": "switchyard"}
}

// castMessage is an RPC request carrying the suite's id and sequence.
func (w *world) castMessage(method string, extra map[string]any) (drivers.Message, string, int) {
	id := newID()
	seq := int(w.seq.Add(1))
	args := map[string]any{"id": id, "seq": seq}
	for k, v := range extra {
		args[k] = v
	}
	return drivers.Message{"method": method, "args": args}, id, seq
}

// notification is a notification whose payload carries the suite's id and
// sequence.
func (w *world) notification(priority string) (drivers.Message, string, int, error) {
	id := newID()
	seq := int(w.seq.Add(1))
	m, err := envelope.NewNotification("switchyard.contract", "contract.check", priority, map[string]any{"id": id, "seq": seq}).Message()
	return m, id, seq, err
}

// idOf extracts the suite's id and sequence from a received message: from
// an RPC request's args, a notification's payload, or else the
// notification's message_id.
func idOf(m drivers.Message) (string, int) {
	for _, key := range []string{"args", "payload"} {
		if inner, ok := m[key].(map[string]any); ok {
			if id, ok := inner["id"].(string); ok {
				return id, toInt(inner["seq"])
			}
		}
	}
	if id, ok := m["message_id"].(string); ok {
		return id, 0
	}
	return "", 0
}

func toInt(v any) int {
	switch n := v.(type) {
	case int:
		return n
	case int64:
		return int(n)
	case float64:
		return int(n)
	case interface{ Int64() (int64, error) }:
		i, _ := n.Int64()
		return int(i)
	case string:
		i, _ := strconv.Atoi(n)
		return i
	}
	return 0
}

func (w *world) recordSend(s sentMessage) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sent = append(w.sent, s)
	if s.End.After(w.lastSend) {
		w.lastSend = s.End
	}
}

func (w *world) sentIDs(keep func(sentMessage) bool) []sentMessage {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []sentMessage
	for _, s := range w.sent {
		if keep == nil || keep(s) {
			out = append(out, s)
		}
	}
	return out
}

// quiet waits until nothing has been sent or received for the harness's
// quiet period, bounded by Wait, so a step can assert that something
// unwanted did not happen.
func (w *world) quiet() {
	limit := time.Now().Add(w.h.Wait)
	for {
		w.mu.Lock()
		last := w.lastSend
		w.mu.Unlock()
		if l := w.log.Last(); l.After(last) {
			last = l
		}
		until := last.Add(w.h.Quiet)
		if now := time.Now(); !until.After(now) || now.After(limit) {
			return
		}
		if until.After(limit) {
			until = limit
		}
		timer := time.NewTimer(time.Until(until))
		select {
		case <-timer.C:
		case <-w.ctx.Done():
			timer.Stop()
			return
		}
	}
}

// waitFor waits up to Wait for cond on the receipts.
func (w *world) waitFor(cond func([]tally.Receipt) bool) bool {
	return w.log.WaitUntil(w.ctx, time.Now().Add(w.h.Wait), cond)
}

// teardown releases everything the scenario opened. A resource that does
// not let go within its bound is a contract failure (C28, C33) and is
// returned as an error.
func (w *world) teardown() error {
	w.mu.Lock()
	ends := w.faultEnds
	w.faultEnds = map[FaultKind]func(){}
	tap := w.tap
	closers := w.closers
	w.closers = nil
	lis := make([]*listener, 0, len(w.order))
	for _, n := range w.order {
		lis = append(lis, w.listeners[n])
	}
	w.mu.Unlock()
	for _, end := range ends {
		end()
	}
	for _, c := range closers {
		c()
	}
	if tap != nil {
		_ = tap.Close()
	}
	w.cancel()
	var problems []string
	for _, l := range lis {
		if err := l.shutdown(10 * time.Second); err != nil {
			problems = append(problems, err.Error())
		}
	}
	w.mu.Lock()
	opened := append([]drivers.Driver(nil), w.opened...)
	w.mu.Unlock()
	for i, d := range opened {
		if err := boundedCall(10*time.Second, func() error { return w.closeDriver(d) }); err != nil && !errors.Is(err, drivers.ErrClosed) {
			problems = append(problems, fmt.Sprintf("closing driver %d of the scenario: %v", i+1, err))
		}
	}
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		problems = append(problems, "a server or background send was still blocked in the driver 10 s after every driver closed")
	}
	w.mu.Lock()
	problems = append(problems, w.problems...)
	w.mu.Unlock()
	if len(problems) > 0 {
		return fmt.Errorf("cleanup: %s", strings.Join(problems, "; "))
	}
	return nil
}

// boundedCall runs f and returns its error, or a timeout error if it has
// not returned within d (f keeps running; the leak is reported).
func boundedCall(d time.Duration, f func() error) error {
	ch := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- fmt.Errorf("panicked: %v", p)
			}
		}()
		ch <- f()
	}()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case err := <-ch:
		return err
	case <-timer.C:
		return fmt.Errorf("did not return within %v", d)
	}
}

func goroutines() int { return runtime.NumGoroutine() }

// seconds parses a decimal number of seconds from a step.
func seconds(s string) time.Duration {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

func splitNames(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
