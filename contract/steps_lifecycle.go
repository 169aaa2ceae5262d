package contract

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cucumber/godog"

	"github.com/switchyard-dev/switchyard/contract/internal/tally"
	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
)

// Steps for acknowledgement, batching, stop, close and contexts (C20,
// C21, C27-C31, C33, C34), the wire tap (C22, C26) and Python peers (C35).
func (w *world) registerLifecycleSteps(sc *godog.ScenarioContext) {
	sc.Step(`^listener "([^"]*)" dies$`, w.listenerDies)
	sc.Step(`^"([^"]*)" receives exactly the (\d+) notifications "([^"]*)" held$`, w.receivesHeld)
	sc.Step(`^"([^"]*)" acknowledges everything it holds( and from now on acknowledges each message)?$`, w.acknowledgeHeld)
	sc.Step(`^"([^"]*)" holds between (\d+) and (\d+) notifications$`, w.holdsBetween)
	sc.Step(`^if the driver supports requeue, "([^"]*)" receives each notification exactly (once|twice)$`, w.requeuedEach)
	sc.Step(`^if the driver supports requeue, "([^"]*)" receives at least (\d+) notifications$`, w.requeuedAtLeast)
	sc.Step(`^if the driver does not support requeue, it says so with a not-implemented error$`, w.requeueRefusedProperly)

	sc.Step(`^a notification listener "([^"]*)" on topic "([^"]*)" for priority "([^"]*)" taking batches of (\d+) with a batch timeout of ([\d.]+) seconds?$`, w.batchListener)
	sc.Step(`^"([^"]*)" starts polling$`, w.startsPolling)
	sc.Step(`^the poll returns (\d+) notifications within ([\d.]+) seconds? of the last send$`, w.pollFullBatch)
	sc.Step(`^the poll returns (\d+) notifications between ([\d.]+) and ([\d.]+) seconds after the first send$`, w.pollPartialBatch)
	sc.Step(`^polling "([^"]*)" yields all (\d+) notifications in batches of at most (\d+)$`, w.pollBatches)
	sc.Step(`^"([^"]*)" polls with a deadline of ([\d.]+) seconds? while nothing is sent$`, w.pollDeadline)
	sc.Step(`^the poll returns the context's deadline error and no messages after between ([\d.]+) and ([\d.]+) seconds$`, w.pollDeadlineResult)
	sc.Step(`^listener "([^"]*)" is stopped( and cleaned up)?$`, w.stopListener)
	sc.Step(`^the poll returns a closed error within ([\d.]+) seconds?$`, w.pollClosed)
	sc.Step(`^a later poll of "([^"]*)" returns a closed error within ([\d.]+) seconds?$`, w.laterPollClosed)
	sc.Step(`^polling "([^"]*)" returns a closed error within ([\d.]+) seconds?$`, w.laterPollClosed)
	sc.Step(`^cleaning up "([^"]*)" returns within ([\d.]+) seconds?$`, w.cleanupReturns)

	sc.Step(`^that client is closed$`, w.closeThat)
	sc.Step(`^every operation of that client fails with a closed error within ([\d.]+) seconds?$`, w.everyOpClosed)
	sc.Step(`^closing that client again does not panic$`, w.closeAgain)
	sc.Step(`^the goroutines running now are counted$`, w.countGoroutines)
	sc.Step(`^every driver of this scenario is closed$`, w.closeAll)
	sc.Step(`^no goroutine started since the count is left within ([\d.]+) seconds?$`, w.goroutinesBack)
	sc.Step(`^that client listens for notifications on topic "([^"]*)" for priority "([^"]*)" as "([^"]*)"$`, w.thatListens)
	sc.Step(`^a client (casts 1 message to topic|calls "ping" on topic|sends a notification to topic|listens on topic|listens for notifications on topic) "([^"]*)" with a context that is already cancelled$`, w.cancelledOp)
	sc.Step(`^the operation fails with the context's cancellation error within ([\d.]+) seconds?$`, w.opCancelled)

	sc.Step(`^the wire is watched at the address of topic "([^"]*)" and priority "([^"]*)"$`, w.watchWire)
	sc.Step(`^the wire shows exactly (\d+) messages? at that address$`, w.wireCount)
	sc.Step(`^the wire shows that notification (as a bare message|inside the 2\.0 envelope)$`, w.wireForm)

	sc.Step(`^a Python oslo\.messaging client calls "([^"]*)" on topic "([^"]*)" with the value (.+)$`, w.pythonCalls)
	sc.Step(`^the Python call returns (.+)$`, w.pythonReturns)
	sc.Step(`^the Python call raises "([^"]*)" with message "([^"]*)"$`, w.pythonRaises)
	sc.Step(`^a Python oslo\.messaging RPC server on topic "([^"]*)" that echoes what it is sent$`, w.pythonServer)
	sc.Step(`^a Python oslo\.messaging client casts (\d+) fanout messages to topic "([^"]*)"$`, w.pythonFanout)
	sc.Step(`^a Python oslo\.messaging notifier with driver "([^"]*)" sends (\d+) notifications with priority "([^"]*)" to topic "([^"]*)"$`, w.pythonNotifies)
}

func (w *world) listenerDies(name string) error {
	l, err := w.listener(name)
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.heldByDie[name] = l.heldIDs()
	w.mu.Unlock()
	return l.die()
}

func (w *world) receivesHeld(name string, n int, holder string) error {
	w.mu.Lock()
	held := w.heldByDie[holder]
	w.mu.Unlock()
	if held == nil {
		l, err := w.listener(holder)
		if err != nil {
			return err
		}
		held = l.heldIDs()
	}
	if len(held) != n {
		return fmt.Errorf("%q held %d notifications, not %d", holder, len(held), n)
	}
	want := map[string]bool{}
	for _, id := range held {
		want[id] = true
	}
	w.waitFor(func(rs []tally.Receipt) bool {
		c := tally.Counts(tally.Filter(rs, byListener(name)))
		for id := range want {
			if c[id] == 0 {
				return false
			}
		}
		return true
	})
	w.quiet()
	c := tally.Counts(w.log.Of(name))
	var missing, extra int
	for id := range want {
		if c[id] == 0 {
			missing++
		}
	}
	for id, k := range c {
		if !want[id] || k > 1 {
			extra++
		}
	}
	if missing+extra > 0 {
		return fmt.Errorf("of the %d notifications %q held unacknowledged when it died, %d never reached %q; %d other or repeated deliveries arrived%s",
			n, holder, missing, name, extra, healthNote(w, name))
	}
	return nil
}

func (w *world) acknowledgeHeld(name, fromNow string) error {
	l, err := w.listener(name)
	if err != nil {
		return err
	}
	if fromNow != "" {
		l.setMode(ackEach)
		return nil
	}
	l.mu.Lock()
	held := l.held
	l.held = nil
	l.mu.Unlock()
	for _, m := range held {
		m.Acknowledge()
	}
	return nil
}

func (w *world) holdsBetween(name string, min, max int) error {
	if err := w.requireSent(); err != nil {
		return err
	}
	l, err := w.listener(name)
	if err != nil {
		return err
	}
	w.waitFor(func(rs []tally.Receipt) bool { return len(tally.Filter(rs, byListener(name))) >= max })
	w.quiet()
	// A message redelivered after a reconnect is held twice, but its first
	// delivery died with the old connection: count messages, not deliveries.
	n := len(distinct(l.heldIDs()))
	if n < min || n > max {
		return fmt.Errorf("%q holds %d unacknowledged notifications, want between %d and %d", name, n, min, max)
	}
	return nil
}

func (w *world) requeueSupported() (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.asked {
		return false, errors.New("no listener asked for requeue support")
	}
	return w.requeue == nil, nil
}

func (w *world) requeuedEach(name, times string) error {
	ok, err := w.requeueSupported()
	if err != nil || !ok {
		return err
	}
	want := 1
	if times == "twice" {
		want = 2
	}
	sent := w.sentIDs(nil)
	w.waitFor(func(rs []tally.Receipt) bool {
		c := tally.Counts(tally.Filter(rs, byListener(name)))
		for _, s := range sent {
			if c[s.ID] < want {
				return false
			}
		}
		return true
	})
	w.quiet()
	c := tally.Counts(w.log.Of(name))
	for _, s := range sent {
		if c[s.ID] != want {
			return fmt.Errorf("%q received notification %d %d times, want %s%s", name, s.Seq, c[s.ID], times, healthNote(w, name))
		}
	}
	return nil
}

func (w *world) requeuedAtLeast(name string, n int) error {
	if ok, err := w.requeueSupported(); err != nil || !ok {
		return err
	}
	return w.receivesAtLeast(name, n)
}

func (w *world) requeueRefusedProperly() error {
	w.mu.Lock()
	err := w.requeue
	w.mu.Unlock()
	if err != nil {
		w.h.logf(w.ctx, "the driver does not support requeue: %v", err)
	}
	return nil // startListener already required nil or ErrNotImplemented
}

// Batching and stop.

func (w *world) batchListener(name, topic, prio string, size int, timeout string) error {
	_, err := w.startListener(listenerSpec{
		name: name, notify: true, tps: w.priorities(topic, prio), manual: true,
		batch: drivers.Batch{Size: size, Timeout: seconds(timeout)},
	})
	return err
}

// poll polls l once, acknowledging what it returns.
func (w *world) poll(ctx context.Context, l *listener) opResult {
	r := opResult{what: "poll", start: time.Now()}
	func() {
		defer func() {
			if p := recover(); p != nil {
				r.err = fmt.Errorf("the driver's Poll panicked: %v", p)
			}
		}()
		r.msgs, r.err = l.lis.Poll(ctx)
	}()
	r.end = time.Now()
	for _, m := range r.msgs {
		id, seq := idOf(m.Message())
		w.log.Add(tally.Receipt{Listener: l.name, ID: id, Seq: seq, Value: m.Message(), At: r.end})
		m.Acknowledge()
	}
	return r
}

func (w *world) startsPolling(name string) error {
	l, err := w.listener(name)
	if err != nil {
		return err
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		ctx, cancel := context.WithTimeout(l.ctx, 3*w.h.Wait)
		defer cancel()
		l.polls <- w.poll(ctx, l)
	}()
	return nil
}

// pollResult waits for the poll started by "starts polling".
func (w *world) pollResult(bound time.Duration) (opResult, error) {
	for _, l := range w.allListeners(func(l *listener) bool { return l.manual }) {
		timer := time.NewTimer(bound)
		defer timer.Stop()
		select {
		case r := <-l.polls:
			return r, nil
		case <-timer.C:
			return opResult{}, fmt.Errorf("the poll of %q had not returned after %v", l.name, bound)
		}
	}
	return opResult{}, errors.New("no listener is polled by steps")
}

func (w *world) pollFullBatch(n int, within string) error {
	r, err := w.pollResult(w.h.Wait + seconds(within))
	if err != nil {
		return err
	}
	if r.err != nil {
		return fmt.Errorf("the poll failed: %w", r.err)
	}
	if len(r.msgs) != n {
		return fmt.Errorf("the poll returned %d notifications, want a full batch of %d", len(r.msgs), n)
	}
	w.mu.Lock()
	last := w.lastSend
	w.mu.Unlock()
	if d := r.end.Sub(last); d > seconds(within) {
		return fmt.Errorf("the poll returned its full batch %v after the last send; it must return as soon as the batch is full", d.Round(time.Millisecond))
	}
	return nil
}

func (w *world) pollPartialBatch(n int, min, max string) error {
	r, err := w.pollResult(w.h.Wait + seconds(max))
	if err != nil {
		return err
	}
	if r.err != nil {
		return fmt.Errorf("the poll failed: %w", r.err)
	}
	if len(r.msgs) != n {
		return fmt.Errorf("the poll returned %d notifications, want the %d available", len(r.msgs), n)
	}
	sent := w.sentIDs(nil)
	if len(sent) == 0 {
		return errors.New("nothing was sent")
	}
	first := sent[0]
	if d := r.end.Sub(first.Start); d < seconds(min) {
		return fmt.Errorf("the poll returned a partial batch %v after the first send, before the batch timeout of %ss", d.Round(time.Millisecond), min)
	}
	if d := r.end.Sub(first.End); d > seconds(max) {
		return fmt.Errorf("the poll returned %v after the first send, later than the batch timeout plus tolerance (%ss)", d.Round(time.Millisecond), max)
	}
	return nil
}

func (w *world) pollBatches(name string, total, max int) error {
	if err := w.requireSent(); err != nil {
		return err
	}
	l, err := w.listener(name)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(l.ctx, w.h.Wait)
	defer cancel()
	got := 0
	var sizes []int
	for got < total {
		r := w.poll(ctx, l)
		if r.err != nil {
			return fmt.Errorf("after %d of %d notifications (batches %v) the poll failed: %w", got, total, sizes, r.err)
		}
		sizes = append(sizes, len(r.msgs))
		if len(r.msgs) > max || len(r.msgs) == 0 {
			return fmt.Errorf("a poll returned a batch of %d, want 1 to %d (batches so far %v)", len(r.msgs), max, sizes)
		}
		got += len(r.msgs)
	}
	if got != total {
		return fmt.Errorf("polling yielded %d notifications, want %d", got, total)
	}
	return nil
}

func (w *world) pollDeadline(name, d string) error {
	l, err := w.listener(name)
	if err != nil {
		return err
	}
	if !l.manual {
		// stop the polling goroutine first; a listener is polled by one
		// caller at a time
		l.cancel()
		if err := l.waitDone(w.h.Wait, "after its context was cancelled"); err != nil {
			return err
		}
		l.ctx, l.cancel = context.WithCancel(w.ctx)
	}
	ctx, cancel := context.WithTimeout(l.ctx, seconds(d))
	defer cancel()
	w.op = w.poll(ctx, l)
	return nil
}

func (w *world) pollDeadlineResult(min, max string) error {
	r := w.op
	if r.what != "poll" {
		return errors.New("no poll was made")
	}
	switch {
	case len(r.msgs) > 0:
		return fmt.Errorf("the poll returned %d messages although nothing was sent", len(r.msgs))
	case r.err == nil:
		return errors.New("the poll returned an empty batch with no error")
	case !errors.Is(r.err, context.DeadlineExceeded):
		return fmt.Errorf("the poll failed with %v, want the context's deadline error", r.err)
	case r.took() < seconds(min):
		return fmt.Errorf("the poll returned after %v, before its deadline of %ss", r.took().Round(time.Millisecond), min)
	case r.took() > seconds(max):
		return fmt.Errorf("the poll returned %v after it started, later than %ss", r.took().Round(time.Millisecond), max)
	}
	return nil
}

func (w *world) stopListener(name, cleanup string) error {
	l, err := w.listener(name)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.stopped = true
	l.stopTime = time.Now()
	l.mu.Unlock()
	if err := boundedCall(w.h.Wait, func() error { l.lis.Stop(); return nil }); err != nil {
		return fmt.Errorf("the listener's Stop %v", err)
	}
	if !l.manual {
		if err := l.waitDone(time.Second, "after Stop"); err != nil {
			return err
		}
	}
	if cleanup != "" {
		return w.cleanupReturns(name, "5")
	}
	return nil
}

func (w *world) pollClosed(within string) error {
	var l *listener
	for _, x := range w.allListeners(func(l *listener) bool { return l.manual }) {
		l = x
	}
	if l == nil {
		return errors.New("no listener is polled by steps")
	}
	r, err := w.pollResult(seconds(within) + time.Second)
	if err != nil {
		return err
	}
	switch {
	case !errors.Is(r.err, drivers.ErrClosed):
		return fmt.Errorf("the blocked poll returned %d messages and %v after Stop, want a closed error", len(r.msgs), r.err)
	case r.end.Sub(l.stopTime) > seconds(within):
		return fmt.Errorf("the blocked poll returned %v after Stop, more than %ss", r.end.Sub(l.stopTime).Round(time.Millisecond), within)
	}
	return nil
}

func (w *world) laterPollClosed(name, within string) error {
	l, err := w.listener(name)
	if err != nil {
		return err
	}
	if err := l.waitDone(w.h.Wait, "before polling it again"); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(w.ctx, w.h.Wait)
	defer cancel()
	r := w.poll(ctx, l)
	switch {
	case !errors.Is(r.err, drivers.ErrClosed):
		return fmt.Errorf("polling a stopped listener returned %d messages and %v, want a closed error", len(r.msgs), r.err)
	case r.took() > seconds(within):
		return fmt.Errorf("polling a stopped listener took %v to fail", r.took().Round(time.Millisecond))
	}
	return nil
}

func (w *world) cleanupReturns(name, within string) error {
	l, err := w.listener(name)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.cleaned = true
	l.mu.Unlock()
	if err := boundedCall(seconds(within), func() error { l.lis.Cleanup(); return nil }); err != nil {
		return fmt.Errorf("listener %q: Cleanup %v", name, err)
	}
	return nil
}

// Close and goroutines.

func (w *world) closeThat() error {
	d, err := w.thatClient()
	if err != nil {
		return err
	}
	start := time.Now()
	err = boundedCall(w.h.Wait, func() error { return w.closeDriver(d) })
	w.op = opResult{what: "close", err: err, start: start, end: time.Now()}
	if err != nil {
		return fmt.Errorf("closing the driver: %w", err)
	}
	return nil
}

func (w *world) everyOpClosed(within string) error {
	d, err := w.thatClient()
	if err != nil {
		return err
	}
	topic := w.topic("after-close")
	note, _, _, _ := w.notification("info")
	ops := []struct {
		name string
		run  func(ctx context.Context) error
	}{
		{"cast", func(ctx context.Context) error {
			_, err := d.Send(ctx, drivers.Target{Topic: topic}, requestContext(), drivers.Message{"method": "ping", "args": map[string]any{}}, drivers.SendOptions{})
			return err
		}},
		{"call", func(ctx context.Context) error {
			_, err := d.Send(ctx, drivers.Target{Topic: topic}, requestContext(), drivers.Message{"method": "ping", "args": map[string]any{}}, drivers.SendOptions{WaitForReply: true, Timeout: time.Second})
			return err
		}},
		{"notification", func(ctx context.Context) error {
			return d.SendNotification(ctx, drivers.Target{Topic: topic + ".info"}, requestContext(), note, "2.0", 0)
		}},
		{"listen", func(ctx context.Context) error {
			l, err := d.Listen(ctx, drivers.Target{Topic: topic}, drivers.Batch{Size: 1})
			if l != nil {
				l.Stop()
				l.Cleanup()
			}
			return err
		}},
		{"listen for notifications", func(ctx context.Context) error {
			l, err := d.ListenForNotifications(ctx, []drivers.TargetPriority{{Target: drivers.Target{Topic: topic}, Priority: "info"}}, "", drivers.Batch{Size: 1})
			if l != nil {
				l.Stop()
				l.Cleanup()
			}
			return err
		}},
		{"require features", func(context.Context) error { return d.RequireFeatures(drivers.Features{}) }},
	}
	var bad []string
	for _, op := range ops {
		ctx, cancel := context.WithTimeout(w.ctx, w.h.Wait)
		start := time.Now()
		err := boundedCall(w.h.Wait+time.Second, func() error { return op.run(ctx) })
		took := time.Since(start)
		cancel()
		switch {
		case !errors.Is(err, drivers.ErrClosed):
			bad = append(bad, fmt.Sprintf("%s gave %v", op.name, err))
		case took > seconds(within):
			bad = append(bad, fmt.Sprintf("%s took %v", op.name, took.Round(time.Millisecond)))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("after Close, want a closed error from every operation: %s", strings.Join(bad, "; "))
	}
	return nil
}

func (w *world) closeAgain() error {
	d, err := w.thatClient()
	if err != nil {
		return err
	}
	return boundedCall(w.h.Wait, func() (err error) {
		_ = d.Close() // nil or ErrClosed are both fine; a panic is not
		return nil
	})
}

func (w *world) countGoroutines() error {
	w.baseline = goroutines()
	return nil
}

func (w *world) closeAll() error {
	w.mu.Lock()
	opened := append([]drivers.Driver(nil), w.opened...)
	w.mu.Unlock()
	for _, d := range opened {
		if err := boundedCall(w.h.Wait, func() error { return w.closeDriver(d) }); err != nil {
			return fmt.Errorf("closing the driver: %w", err)
		}
	}
	for _, l := range w.collectors() {
		if err := l.waitDone(time.Second, "after its driver closed"); err != nil {
			return err
		}
	}
	return nil
}

func (w *world) goroutinesBack(within string) error {
	deadline := time.Now().Add(seconds(within))
	ticker := time.NewTicker(10 * time.Millisecond)
	defer ticker.Stop()
	for {
		n := goroutines()
		if n <= w.baseline {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d goroutines are running, %d more than when counted, %ss after cleanup returned", n, n-w.baseline, within)
		}
		select {
		case <-ticker.C:
		case <-w.ctx.Done():
			return w.ctx.Err()
		}
	}
}

func (w *world) thatListens(topic, prio, name string) error {
	d, err := w.thatClient()
	if err != nil {
		return err
	}
	_, err = w.startListener(listenerSpec{name: name, driver: d, notify: true, tps: w.priorities(topic, prio)})
	return err
}

func (w *world) cancelledOp(op, topic string) error {
	d, err := w.defaultClient()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(w.ctx)
	cancel()
	t := drivers.Target{Topic: w.topic(topic)}
	start := time.Now()
	switch op {
	case "casts 1 message to topic":
		_, err = d.Send(ctx, t, requestContext(), drivers.Message{"method": "ping", "args": map[string]any{}}, drivers.SendOptions{})
	case "calls \"ping\" on topic":
		_, err = d.Send(ctx, t, requestContext(), drivers.Message{"method": "ping", "args": map[string]any{}}, drivers.SendOptions{WaitForReply: true, Timeout: w.h.Wait})
	case "sends a notification to topic":
		var msg drivers.Message
		if msg, _, _, err = w.notification("info"); err == nil {
			t.Topic += ".info"
			err = d.SendNotification(ctx, t, requestContext(), msg, "2.0", -1)
		}
	case "listens on topic", "listens for notifications on topic":
		var l drivers.Listener
		if op == "listens on topic" {
			l, err = d.Listen(ctx, t, drivers.Batch{Size: 1})
		} else {
			l, err = d.ListenForNotifications(ctx, []drivers.TargetPriority{{Target: t, Priority: "info"}}, "", drivers.Batch{Size: 1})
		}
		if l != nil {
			l.Stop()
			l.Cleanup()
		}
	}
	w.op = opResult{what: strings.Fields(op)[0], err: err, start: start, end: time.Now()}
	return nil
}

func (w *world) opCancelled(within string) error {
	return w.opFailed("the context's cancellation error", 0, seconds(within))
}

// Wire tap.

func (w *world) watchWire(topic, prio string) error {
	if w.h.Observer == nil {
		return errors.New("the harness has no wire observer (Harness.Observer is nil)")
	}
	tap, err := w.h.Observer.TapNotifications(w.ctx, "", w.topic(topic)+"."+strings.ToLower(prio))
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.tap = tap
	w.mu.Unlock()
	return nil
}

func (w *world) tapNext(d time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(w.ctx, d)
	defer cancel()
	return w.tap.Next(ctx)
}

func (w *world) wireCount(n int) error {
	if err := w.requireSent(); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		if _, err := w.tapNext(w.h.Wait); err != nil {
			return fmt.Errorf("the wire showed %d messages at the address, want %d: %w", i, n, err)
		}
	}
	if b, err := w.tapNext(w.h.Quiet); err == nil {
		return fmt.Errorf("the wire showed more than %d messages at the address: %.80s", n, b)
	}
	return nil
}

func (w *world) wireForm(form string) error {
	if err := w.requireSent(); err != nil {
		return err
	}
	body, err := w.tapNext(w.h.Wait)
	if err != nil {
		return fmt.Errorf("nothing appeared on the wire: %w", err)
	}
	v, err := envelope.UnmarshalJSON(body)
	if err != nil {
		return fmt.Errorf("the body is not JSON: %w", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("the body is not a JSON object: %.80s", body)
	}
	inner := obj
	_, wrapped := obj[envelope.KeyVersion]
	switch form {
	case "as a bare message":
		if wrapped {
			return fmt.Errorf("a version below 2.0 was sent in the envelope: %.120s", body)
		}
	default:
		if obj[envelope.KeyVersion] != "2.0" || len(obj) != 2 {
			return fmt.Errorf("want exactly {\"oslo.version\": \"2.0\", \"oslo.message\": ...}, got %.120s", body)
		}
		text, ok := obj[envelope.KeyMessage].(string)
		if !ok {
			return fmt.Errorf("oslo.message is not a JSON string: %.120s", body)
		}
		iv, err := envelope.UnmarshalJSON([]byte(text))
		if err != nil {
			return fmt.Errorf("oslo.message does not hold JSON text: %w", err)
		}
		if inner, ok = iv.(map[string]any); !ok {
			return fmt.Errorf("oslo.message is not an object: %.120s", text)
		}
	}
	sent := w.sentIDs(nil)
	if id, _ := inner["message_id"].(string); len(sent) == 0 || id != sent[len(sent)-1].ID {
		return fmt.Errorf("the message on the wire is not the notification sent: %.120s", body)
	}
	return nil
}

// Python peer.

func (w *world) python() (PythonPeer, error) {
	if w.h.Python == nil {
		return nil, errors.New("the harness has no Python peer (Harness.Python is nil)")
	}
	return w.h.Python, nil
}

func (w *world) pythonCalls(method, topic, value string) error {
	p, err := w.python()
	if err != nil {
		return err
	}
	v, err := parseJSON(value)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(w.ctx, 2*w.h.Wait)
	defer cancel()
	start := time.Now()
	res, err := p.Call(ctx, drivers.Target{Topic: w.topic(topic)}, method, map[string]any{"value": v, "id": newID()}, w.h.Wait)
	w.op = opResult{what: "python call", value: res, err: err, start: start, end: time.Now()}
	return nil
}

func (w *world) pythonReturns(value string) error {
	want, err := parseJSON(value)
	if err != nil {
		return err
	}
	if w.op.err != nil {
		return fmt.Errorf("the Python call failed: %w", w.op.err)
	}
	if d := jsonDiff(want, w.op.value); d != "" {
		return fmt.Errorf("the Python call returned something else: %s", d)
	}
	return nil
}

func (w *world) pythonRaises(class, message string) error {
	var re *drivers.RemoteError
	if !errors.As(w.op.err, &re) {
		return fmt.Errorf("the Python call ended with %v, want a raised %s", w.op.err, class)
	}
	if re.Class != class || !strings.Contains(re.Message, message) {
		return fmt.Errorf("the Python call raised %s(%q), want %s(%q)", re.Class, re.Message, class, message)
	}
	return nil
}

func (w *world) pythonServer(topic string) error {
	p, err := w.python()
	if err != nil {
		return err
	}
	stop, err := p.Serve(w.ctx, drivers.Target{Topic: w.topic(topic)})
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.closers = append(w.closers, func() { _ = stop() })
	w.mu.Unlock()
	return nil
}

func (w *world) pythonFanout(n int, topic string) error {
	p, err := w.python()
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		msg, id, seq := w.castMessage("ping", nil)
		args := msg["args"].(map[string]any)
		ctx, cancel := context.WithTimeout(w.ctx, 2*w.h.Wait)
		s := sentMessage{ID: id, Seq: seq, Start: time.Now()}
		s.Err = p.Cast(ctx, drivers.Target{Topic: w.topic(topic), Fanout: true}, "ping", args)
		s.End = time.Now()
		cancel()
		w.recordSend(s)
	}
	return nil
}

func (w *world) pythonNotifies(driver string, n int, prio, topic string) error {
	p, err := w.python()
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		id, seq := newID(), int(w.seq.Add(1))
		ctx, cancel := context.WithTimeout(w.ctx, 2*w.h.Wait)
		s := sentMessage{ID: id, Seq: seq, Start: time.Now()}
		s.Err = p.Notify(ctx, driver, drivers.Target{Topic: w.topic(topic)}, prio, "contract.check", map[string]any{"id": id, "seq": seq})
		s.End = time.Now()
		cancel()
		w.recordSend(s)
	}
	return nil
}

// distinct returns ids without repeats.
func distinct(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}
