package contract

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cucumber/godog"

	"github.com/switchyard-dev/switchyard/contract/internal/tally"
	"github.com/switchyard-dev/switchyard/drivers"
)

// Steps for RPC servers, calls and their outcomes (C06-C13, C34).
func (w *world) registerRPCSteps(sc *godog.ScenarioContext) {
	sc.Step(`^(an|\d+) RPC servers? (?:"([^"]*)" )?on topic "([^"]*)"(?: that (.+))?$`, w.rpcServers)
	sc.Step(`^an RPC server "([^"]*)" on topic "([^"]*)" starts$`, w.rpcServerStarts)
	sc.Step(`^a client that allows remote exceptions from module "([^"]*)"$`, w.allowModule)

	sc.Step(`^a client calls "([^"]*)" on topic "([^"]*)"$`, w.callPlain)
	sc.Step(`^a client calls "([^"]*)" on topic "([^"]*)" with the value (.+)$`, w.callValue)
	sc.Step(`^a client calls "([^"]*)" on topic "([^"]*)" with a nested value of (\d+) (KiB|MiB)$`, w.callNested)
	sc.Step(`^a client calls "([^"]*)" on topic "([^"]*)" with a timeout of ([\d.]+) seconds?(?: and a call monitor timeout of ([\d.]+) seconds?)?$`, w.callTimeout)
	sc.Step(`^a client calls "([^"]*)" on topic "([^"]*)" with a timeout of ([\d.]+) seconds? and cancels after ([\d.]+) seconds?$`, w.callCancel)
	sc.Step(`^(a|that) client calls "([^"]*)" on topic "([^"]*)" with retry (-?\d+) and a timeout of ([\d.]+) seconds?$`, w.callRetry)
	sc.Step(`^a client makes (\d+) (concurrent calls|calls) to topic "([^"]*)"(?: one after another)?$`, w.manyCalls)
	sc.Step(`^the same client keeps calling "([^"]*)" on topic "([^"]*)" for ([\d.]+) seconds?$`, w.keepCalling)

	sc.Step(`^the call returns ((?:null|true|false|-?\d|"|\[|\{).*)$`, w.callReturns)
	sc.Step(`^the call returns that nested value$`, w.callReturnsNested)
	sc.Step(`^the call returns its own reply after at least ([\d.]+) seconds?$`, w.callOwnReplyAfter)
	sc.Step(`^every call returns the reply to its own request$`, w.everyOwnReply)
	sc.Step(`^every request reached a server exactly once$`, w.everyRequestOnce)
	sc.Step(`^the call fails with a timeout after between ([\d.]+) and ([\d.]+) seconds$`, w.callTimesOut)
	sc.Step(`^the call fails with a timeout within ([\d.]+) seconds? of the server's last heartbeat$`, w.callMonitorFails)
	sc.Step(`^the call fails with a timeout or an undeliverable error within ([\d.]+) seconds?$`, w.callTimeoutOrUndeliverable)
	sc.Step(`^the call fails with a remote error of class "([^"]*)" from module "([^"]*)" with message "([^"]*)"$`, w.remoteError)
	sc.Step(`^the remote error carries the arguments (.+)$`, w.remoteArgs)
	sc.Step(`^the remote error is rebuilt as its own class$`, w.remoteRebuilt)
	sc.Step(`^the remote error is a generic remote error$`, w.remoteGeneric)
	sc.Step(`^the cast returned within ([\d.]+) seconds? and gave no reply value$`, w.castReturnedQuickly)
	sc.Step(`^a following call from the same client to topic "([^"]*)" returns its own reply$`, w.followingCall)
	sc.Step(`^the call fails with the context's cancellation error within ([\d.]+) seconds? of the cancellation$`, w.cancelledPromptly)
}

func (w *world) rpcServers(count, name, topic, behave string) error {
	n := 1
	if count != "an" {
		n, _ = strconv.Atoi(count)
	}
	b, err := parseBehaviour(behave)
	if err != nil {
		return err
	}
	for i := 1; i <= n; i++ {
		nm := name
		switch {
		case nm == "" && n == 1:
			nm = "server"
		case nm == "":
			nm = fmt.Sprintf("server-%d", i)
		}
		if _, err := w.startListener(listenerSpec{name: nm, server: b, target: drivers.Target{Topic: w.topic(topic), Server: nm}}); err != nil {
			return err
		}
	}
	return nil
}

func (w *world) rpcServerStarts(name, topic string) error { return w.rpcServers("an", name, topic, "") }

func (w *world) allowModule(module string) error {
	if w.client != nil {
		return errors.New("the client is already open; allow modules before its first use")
	}
	w.clientCfg = append(w.clientCfg, func(c *drivers.Config) {
		c.AllowedRemoteExmods = append(c.AllowedRemoteExmods, module)
	})
	return nil
}

// call makes one call with d and returns its outcome.
func (w *world) call(ctx context.Context, d drivers.Driver, topic, method string, extra map[string]any, o drivers.SendOptions) opResult {
	o.WaitForReply = true
	msg, id, seq := w.castMessage(method, extra)
	r := opResult{what: "call", id: id, start: time.Now()}
	func() {
		defer func() {
			if p := recover(); p != nil {
				r.err = fmt.Errorf("the driver's Send panicked: %v", p)
				r.panicked = p
			}
		}()
		r.value, r.err = d.Send(ctx, drivers.Target{Topic: topic}, requestContext(), msg, o)
	}()
	r.end = time.Now()
	w.recordSend(sentMessage{ID: id, Seq: seq, Topic: topic, Err: r.err, Start: r.start, End: r.end, Message: msg})
	return r
}

func (w *world) callWith(method, topic string, extra map[string]any, o drivers.SendOptions) error {
	d, err := w.defaultClient()
	if err != nil {
		return err
	}
	if o.Timeout == 0 {
		o.Timeout = w.h.Wait
	}
	ctx, cancel := context.WithTimeout(w.ctx, o.Timeout+w.h.Wait)
	defer cancel()
	w.op = w.call(ctx, d, w.topic(topic), method, extra, o)
	return nil
}

func (w *world) callPlain(method, topic string) error {
	return w.callWith(method, topic, nil, drivers.SendOptions{})
}

func (w *world) callValue(method, topic, value string) error {
	v, err := parseJSON(value)
	if err != nil {
		return err
	}
	return w.callWith(method, topic, map[string]any{"value": v}, drivers.SendOptions{})
}

var nestedValues sync.Map // size → value, built once

// nestedValue builds a JSON value of about size bytes: a list of nested
// objects with unicode strings, numbers, booleans and nulls.
func nestedValue(size int) any {
	if v, ok := nestedValues.Load(size); ok {
		return v
	}
	var items []any
	total := 0
	for i := 0; total < size; i++ {
		item := map[string]any{
			"i":    i,
			"name": fmt.Sprintf("instance-%d-ü✓", i),
			"ok":   i%2 == 0,
			"none": nil,
			"deep": map[string]any{"tags": []any{"a", "b", float64(i) / 4}, "note": strings.Repeat("x", 200)},
		}
		items = append(items, item)
		total += 330
	}
	v := map[string]any{"items": items, "count": len(items)}
	nestedValues.Store(size, v)
	return v
}

func (w *world) callNested(method, topic string, n int, unit string) error {
	size := n << 10
	if unit == "MiB" {
		size = n << 20
	}
	w.nestedSize = size
	return w.callWith(method, topic, map[string]any{"value": nestedValue(size)}, drivers.SendOptions{})
}

func (w *world) callTimeout(method, topic, timeout, monitor string) error {
	return w.callWith(method, topic, nil, drivers.SendOptions{Timeout: seconds(timeout), CallMonitorTimeout: seconds(monitor)})
}

func (w *world) callCancel(method, topic, timeout, after string) error {
	d, err := w.defaultClient()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(w.ctx)
	defer cancel()
	var once sync.Once
	timer := time.AfterFunc(seconds(after), func() {
		once.Do(func() {
			w.mu.Lock()
			w.cancelAt = time.Now()
			w.mu.Unlock()
			cancel()
		})
	})
	defer timer.Stop()
	w.op = w.call(ctx, d, w.topic(topic), method, nil, drivers.SendOptions{Timeout: seconds(timeout)})
	return nil
}

func (w *world) callRetry(who, method, topic, retry, timeout string) error {
	d, err := w.whichClient(who)
	if err != nil {
		w.mu.Lock()
		start := w.thatStart
		w.mu.Unlock()
		w.op = opResult{what: "call", err: err, start: start, end: time.Now()}
		return nil
	}
	r, _ := strconv.Atoi(retry)
	to := seconds(timeout)
	ctx, cancel := context.WithTimeout(w.ctx, to+w.h.Wait)
	defer cancel()
	w.op = w.call(ctx, d, w.topic(topic), method, nil, drivers.SendOptions{Timeout: to, Retry: r})
	return nil
}

func (w *world) manyCalls(n int, kind, topic string) error {
	d, err := w.defaultClient()
	if err != nil {
		return err
	}
	t := w.topic(topic)
	one := func() callResult {
		ctx, cancel := context.WithTimeout(w.ctx, 2*w.h.Wait)
		defer cancel()
		r := w.call(ctx, d, t, "whoami", nil, drivers.SendOptions{Timeout: w.h.Wait})
		return callResult{id: r.id, reply: r.value, err: r.err, took: r.took()}
	}
	results := make([]callResult, n)
	if kind == "calls" {
		for i := range results {
			results[i] = one()
		}
	} else {
		var wg sync.WaitGroup
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = one()
			}()
		}
		wg.Wait()
	}
	w.calls = append(w.calls, results...)
	return nil
}

func (w *world) keepCalling(method, topic, dur string) error {
	d, err := w.defaultClient()
	if err != nil {
		return err
	}
	t := w.topic(topic)
	end := time.Now().Add(seconds(dur))
	for time.Now().Before(end) {
		ctx, cancel := context.WithTimeout(w.ctx, 2*w.h.Wait)
		r := w.call(ctx, d, t, method, nil, drivers.SendOptions{Timeout: 2 * time.Second})
		cancel()
		w.calls = append(w.calls, callResult{id: r.id, reply: r.value, err: r.err, took: r.took()})
	}
	return nil
}

func (w *world) callOK() error {
	if w.op.what != "call" {
		return errors.New("no call was made")
	}
	if w.op.err != nil {
		return fmt.Errorf("the call failed after %v: %w", w.op.took().Round(time.Millisecond), w.op.err)
	}
	return nil
}

func (w *world) callReturns(value string) error {
	want, err := parseJSON(value)
	if err != nil {
		return err
	}
	if err := w.callOK(); err != nil {
		return err
	}
	if d := jsonDiff(want, w.op.value); d != "" {
		return fmt.Errorf("the call returned something else than the server's reply: %s", d)
	}
	return nil
}

func (w *world) callReturnsNested() error {
	if err := w.callOK(); err != nil {
		return err
	}
	if d := jsonDiff(nestedValue(w.nestedSize), w.op.value); d != "" {
		return fmt.Errorf("the %d-byte nested reply changed: %s", w.nestedSize, d)
	}
	return nil
}

// ownReply checks that reply answers the request with id.
func ownReply(id string, reply any) error {
	m, ok := reply.(map[string]any)
	if !ok {
		return fmt.Errorf("the reply is %s, not the server's {id, server} object", short(reply))
	}
	if got, _ := m["id"].(string); got != id {
		return fmt.Errorf("the call for request %s received the reply to request %v (crossed reply)", id, m["id"])
	}
	return nil
}

func (w *world) callOwnReplyAfter(min string) error {
	if err := w.callOK(); err != nil {
		return err
	}
	if err := ownReply(w.op.id, w.op.value); err != nil {
		return err
	}
	if took := w.op.took(); took < seconds(min) {
		return fmt.Errorf("the call returned after %v, before the server could have answered (%ss)", took.Round(time.Millisecond), min)
	}
	return nil
}

func (w *world) everyOwnReply() error {
	if len(w.calls) == 0 {
		return errors.New("no calls were made")
	}
	var failed, crossed int
	var first error
	for _, c := range w.calls {
		err := c.err
		if err == nil {
			if err = ownReply(c.id, c.reply); err != nil {
				crossed++
			}
		} else {
			failed++
		}
		if err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return fmt.Errorf("of %d calls, %d failed and %d got a reply that was not theirs; first: %w", len(w.calls), failed, crossed, first)
	}
	return nil
}

func (w *world) everyRequestOnce() error {
	w.quiet()
	servers := map[string]bool{}
	for _, l := range w.allListeners(func(l *listener) bool { return l.server != nil }) {
		servers[l.name] = true
	}
	c := tally.Counts(tally.Filter(w.log.All(), func(r tally.Receipt) bool { return servers[r.Listener] }))
	var lost, dup int
	for _, call := range w.calls {
		switch {
		case c[call.id] == 0:
			lost++
		case c[call.id] > 1:
			dup++
		}
	}
	if lost+dup > 0 {
		return fmt.Errorf("of %d requests, %d reached no server and %d reached one more than once", len(w.calls), lost, dup)
	}
	return nil
}

func (w *world) callTimesOut(min, max string) error {
	if w.op.what != "call" {
		return errors.New("no call was made")
	}
	took := w.op.took()
	switch {
	case w.op.err == nil:
		return fmt.Errorf("the call returned %s after %v instead of timing out", short(w.op.value), took.Round(time.Millisecond))
	case !errors.Is(w.op.err, drivers.ErrTimeout):
		return fmt.Errorf("the call failed with %v (%T), want a timeout error", w.op.err, w.op.err)
	case w.op.value != nil:
		return fmt.Errorf("the call failed but also returned a value %s", short(w.op.value))
	case took < seconds(min):
		return fmt.Errorf("the call timed out after %v, earlier than its timeout of %ss", took.Round(time.Millisecond), min)
	case took > seconds(max):
		return fmt.Errorf("the call timed out after %v, later than %ss", took.Round(time.Millisecond), max)
	}
	return nil
}

func (w *world) callMonitorFails(bound string) error {
	last := w.hbLast.Load()
	if last == 0 {
		return errors.New("the server never managed to send a heartbeat")
	}
	lastHB := time.Unix(0, last)
	switch {
	case w.op.err == nil:
		return fmt.Errorf("the call returned %s although the server went silent", short(w.op.value))
	case !errors.Is(w.op.err, drivers.ErrTimeout):
		return fmt.Errorf("the call failed with %v, want a timeout error", w.op.err)
	case w.op.end.Sub(lastHB) > seconds(bound):
		return fmt.Errorf("the call failed %v after the server's last heartbeat, more than %ss", w.op.end.Sub(lastHB).Round(time.Millisecond), bound)
	}
	return nil
}

func (w *world) callTimeoutOrUndeliverable(bound string) error {
	took := w.op.took()
	switch {
	case w.op.err == nil:
		return fmt.Errorf("the call to a topic nobody listens on returned %s", short(w.op.value))
	case !errors.Is(w.op.err, drivers.ErrTimeout) && !errors.Is(w.op.err, drivers.ErrUndeliverable):
		return fmt.Errorf("the call failed with %v, want a timeout or undeliverable error", w.op.err)
	case took > seconds(bound):
		return fmt.Errorf("the call took %v to fail, more than %ss", took.Round(time.Millisecond), bound)
	}
	return nil
}

func (w *world) remoteErr() (*drivers.RemoteError, error) {
	if w.op.err == nil {
		return nil, fmt.Errorf("the call returned %s instead of failing (a failure must never come back as a value)", short(w.op.value))
	}
	if w.op.value != nil {
		return nil, fmt.Errorf("the call failed but also returned a value %s", short(w.op.value))
	}
	var re *drivers.RemoteError
	if !errors.As(w.op.err, &re) {
		return nil, fmt.Errorf("the call failed with %v (%T), want a *drivers.RemoteError", w.op.err, w.op.err)
	}
	return re, nil
}

func (w *world) remoteError(class, module, message string) error {
	re, err := w.remoteErr()
	if err != nil {
		return err
	}
	if re.Class != class || re.Module != module || re.Message != message {
		return fmt.Errorf("remote error is %s.%s %q, want %s.%s %q", re.Module, re.Class, re.Message, module, class, message)
	}
	return nil
}

func (w *world) remoteArgs(args string) error {
	want, err := parseJSON(args)
	if err != nil {
		return err
	}
	re, err := w.remoteErr()
	if err != nil {
		return err
	}
	if d := jsonDiff(want, re.Args); d != "" {
		return fmt.Errorf("remote error arguments: %s", d)
	}
	return nil
}

func (w *world) remoteRebuilt() error {
	re, err := w.remoteErr()
	if err != nil {
		return err
	}
	if !re.Rebuilt {
		return fmt.Errorf("%s.%s came back as a generic remote error; its module is allowed, so it must be rebuilt", re.Module, re.Class)
	}
	return nil
}

func (w *world) remoteGeneric() error {
	re, err := w.remoteErr()
	if err != nil {
		return err
	}
	if re.Rebuilt {
		return fmt.Errorf("%s.%s was rebuilt although its module is not allowed", re.Module, re.Class)
	}
	return nil
}

func (w *world) castReturnedQuickly(bound string) error {
	if w.op.what != "cast" {
		return errors.New("no cast was made")
	}
	if w.op.err != nil {
		return fmt.Errorf("the cast failed: %w", w.op.err)
	}
	if took := w.op.took(); took > seconds(bound) {
		return fmt.Errorf("the cast took %v to return; a cast must not wait for the server", took.Round(time.Millisecond))
	}
	return nil
}

func (w *world) followingCall(topic string) error {
	if err := w.callWith("whoami", topic, nil, drivers.SendOptions{Timeout: w.h.Wait}); err != nil {
		return err
	}
	if err := w.callOK(); err != nil {
		return err
	}
	return ownReply(w.op.id, w.op.value)
}

func (w *world) cancelledPromptly(bound string) error {
	w.mu.Lock()
	at := w.cancelAt
	w.mu.Unlock()
	switch {
	case at.IsZero():
		return fmt.Errorf("the call ended (%v) before its context was cancelled", w.op.err)
	case !errors.Is(w.op.err, context.Canceled):
		return fmt.Errorf("the call failed with %v, want the context's error (context.Canceled)", w.op.err)
	case w.op.end.Sub(at) > seconds(bound):
		return fmt.Errorf("the call returned %v after its context was cancelled, more than %ss", w.op.end.Sub(at).Round(time.Millisecond), bound)
	}
	return nil
}
