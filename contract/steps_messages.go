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

// Steps that start listeners, send casts and notifications, and count
// what arrives (C01-C05, C22-C25, C29-C32).
func (w *world) registerMessageSteps(sc *godog.ScenarioContext) {
	sc.Step(`^a listener "([^"]*)" on topic "([^"]*)"(?: in exchange "([^"]*)")?(?: that (holds messages without acknowledging|requeues each message the first time it sees it))?$`, w.aListener)
	sc.Step(`^a listener on topic "([^"]*)" with server "([^"]*)"$`, w.aServerListener)
	sc.Step(`^listeners on topic "([^"]*)" with servers "([^"]*)"$`, w.serverListeners)
	sc.Step(`^a notification listener "([^"]*)" on topic "([^"]*)" for priorit(?:y|ies) "([^"]*)"(?: that (holds messages without acknowledging|requeues each message the first time it sees it|requeues every message it sees))?( starts)?$`, w.aNotificationListener)
	sc.Step(`^notification listeners "([^"]*)" (?:in pool "([^"]*)"|without a pool) on topic "([^"]*)" for priority "([^"]*)"$`, w.poolListeners)
	sc.Step(`^listeners use a prefetch count of (\d+)$`, w.usePrefetch)

	sc.Step(`^(a|that) client casts (\d+) (fanout )?messages? to topic "([^"]*)"(?: in exchange "([^"]*)")?(?: on server "([^"]*)")?(?: with retry (-?\d+))?(?: and a deadline of ([\d.]+) seconds?)?( with mandatory delivery)?( in the background)?$`, w.casts)
	sc.Step(`^a client sends (\d+|a) notifications? with priority "([^"]*)" to topic "([^"]*)"(?: with retry (-?\d+))?(?: and a deadline of ([\d.]+) seconds?)?( while nobody listens)?( while the backend drops the listener's and the client's connections)?( at once| in the background)?$`, w.sendsNotifications)
	sc.Step(`^a client sends a notification with priority "([^"]*)" to topic "([^"]*)" as version "([^"]*)" with payload (.+)$`, w.sendsVersioned)
	sc.Step(`^another client sends (\d+) notifications with priority "([^"]*)" to topic "([^"]*)"$`, w.anotherNotifies)
	sc.Step(`^(\d+) times a listener starts on a fresh topic with a server and a client at once casts to its topic, to its server and as fanout$`, w.freshListeners)

	sc.Step(`^(?:the listener on )?"([^"]*)" receives exactly (\d+) (?:messages?|notifications?|requests?)$`, w.receivesExactly)
	sc.Step(`^(?:the listener on )?"([^"]*)" receives no (?:messages|notifications|requests)$`, w.receivesNone)
	sc.Step(`^"([^"]*)" receives at least (\d+) (?:messages?|notifications?)$`, w.receivesAtLeast)
	sc.Step(`^every listener receives exactly (\d+) messages?$`, w.everyReceivesExactly)
	sc.Step(`^every listener receives at least (\d+) messages?$`, w.everyReceivesAtLeast)
	sc.Step(`^no listener receives the same message twice$`, w.noDuplicates)
	sc.Step(`^each message is received exactly once across all listeners$`, w.eachOnceAcross)
	sc.Step(`^every one of those listeners receives all (\d+) of its messages$`, w.freshReceived)
	sc.Step(`^"([^"]*)" receives the messages in the order they were sent$`, w.inOrder)
	sc.Step(`^"([^"]*)" receives each notification it was sent at most once$`, w.atMostOnce)
	sc.Step(`^"([^"]*)" receives every notification whose send succeeded$`, w.everySucceeded)
	sc.Step(`^"([^"]*)" received only notifications with priority "([^"]*)" or "([^"]*)"$`, w.onlyPriorities)
	sc.Step(`^"([^"]*)" receives that notification unchanged$`, w.unchanged)
	sc.Step(`^"([^"]*)" and "([^"]*)" together receive exactly (\d+) notifications$`, w.togetherExactly)
	sc.Step(`^"([^"]*)" receives nothing more$`, w.nothingMore)
	sc.Step(`^"([^"]*)" receives the other notifications$`, w.theOthers)
	sc.Step(`^a client can still cast to topic "([^"]*)" and "([^"]*)" receives it$`, w.stillUsable)

	sc.Step(`^if the driver supports pools, pool "([^"]*)" receives each notification exactly once$`, w.poolOnce)
	sc.Step(`^the listeners without a pool receive each notification exactly once between them$`, w.unpooledOnce)
	sc.Step(`^if the driver supports pools, every listener of pool "([^"]*)" receives at least (\d+) notifications$`, w.poolBalanced)
	sc.Step(`^if the driver does not support pools, it says so with a not-implemented error$`, w.poolsRefusedProperly)
	sc.Step(`^either the send failed or "([^"]*)" receives exactly (\d+) notifications?$`, w.failedOrDelivered)
}

func modeOf(s string) ackMode {
	switch {
	case strings.HasPrefix(s, "holds"):
		return holdAll
	case strings.HasPrefix(s, "requeues each"):
		return requeueFirst
	case strings.HasPrefix(s, "requeues every"):
		return requeueAlways
	}
	return ackEach
}

func (w *world) aListener(name, topic, exchange, mode string) error {
	m := modeOf(mode)
	_, err := w.startListener(listenerSpec{
		name: name, target: drivers.Target{Exchange: w.exchange(exchange), Topic: w.topic(topic)},
		mode: m, checkReq: m == requeueFirst || m == requeueAlways,
	})
	return err
}

func (w *world) aServerListener(topic, server string) error {
	_, err := w.startListener(listenerSpec{name: server, target: drivers.Target{Topic: w.topic(topic), Server: server}})
	return err
}

func (w *world) serverListeners(topic, servers string) error {
	for _, s := range splitNames(servers) {
		if err := w.aServerListener(topic, s); err != nil {
			return err
		}
	}
	return nil
}

func (w *world) priorities(topic, prios string) []drivers.TargetPriority {
	var tps []drivers.TargetPriority
	for _, p := range splitNames(prios) {
		tps = append(tps, drivers.TargetPriority{Target: drivers.Target{Topic: w.topic(topic)}, Priority: p})
	}
	return tps
}

func (w *world) aNotificationListener(name, topic, prios, mode, _ string) error {
	m := modeOf(mode)
	_, err := w.startListener(listenerSpec{
		name: name, notify: true, tps: w.priorities(topic, prios), mode: m,
		checkReq: m == requeueFirst || m == requeueAlways,
	})
	return err
}

func (w *world) poolListeners(names, pool, topic, prio string) error {
	for _, n := range splitNames(names) {
		spec := listenerSpec{name: n, notify: true, tps: w.priorities(topic, prio)}
		if pool != "" {
			spec.pool, spec.inPool = w.pool(pool), true
		}
		_, err := w.startListener(spec)
		if err != nil && pool != "" && errors.Is(err, drivers.ErrNotImplemented) {
			w.mu.Lock()
			w.poolErr = err
			w.mu.Unlock()
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (w *world) usePrefetch(n int) error {
	if w.h.Prefetch == nil {
		return errors.New("the harness cannot set a prefetch count (Harness.Prefetch is nil)")
	}
	w.prefetch = n
	return nil
}

// send performs one send and records it.
func (w *world) send(ctx context.Context, d drivers.Driver, t drivers.Target, msg drivers.Message, id string, seq int, o drivers.SendOptions) sentMessage {
	s := sentMessage{ID: id, Seq: seq, Topic: t.Topic, Message: msg, Start: time.Now()}
	func() {
		defer func() {
			if p := recover(); p != nil {
				s.Err = fmt.Errorf("the driver's Send panicked: %v", p)
			}
		}()
		s.Value, s.Err = d.Send(ctx, t, requestContext(), msg, o)
	}()
	s.End = time.Now()
	w.recordSend(s)
	return s
}

func (w *world) casts(who string, n int, fanout, topic, exchange, server, retry, deadline, mandatory, background string) error {
	d, openErr := w.whichClient(who)
	t := drivers.Target{Exchange: w.exchange(exchange), Topic: w.topic(topic), Server: server, Fanout: fanout != ""}
	o := drivers.SendOptions{Mandatory: mandatory != ""}
	if retry != "" {
		o.Retry, _ = strconv.Atoi(retry)
	}
	limit := w.h.Wait
	if deadline != "" {
		limit = seconds(deadline)
	}
	run := func() opResult {
		if openErr != nil {
			w.mu.Lock()
			start := w.thatStart
			w.mu.Unlock()
			return opResult{what: "cast", err: openErr, start: start, end: time.Now()}
		}
		var last opResult
		for i := 0; i < n; i++ {
			msg, id, seq := w.castMessage("ping", nil)
			ctx, cancel := context.WithTimeout(w.ctx, limit)
			s := w.send(ctx, d, t, msg, id, seq, o)
			cancel()
			last = opResult{what: "cast", value: s.Value, err: s.Err, start: s.Start, end: s.End, id: id}
			if s.Err != nil {
				break
			}
		}
		return last
	}
	if background != "" {
		p := &pendingOp{done: make(chan struct{})}
		w.pending = p
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			p.res = run()
			close(p.done)
		}()
		return nil
	}
	// A failed send is not a step failure: "the send fails ..." steps
	// expect some, and counting steps report any through requireSent.
	w.op = run()
	return nil
}

func (w *world) sendsNotifications(count, prio, topic, retry, deadline, _ /* nobody listens */, dropping, how string) error {
	n := 1
	if count != "a" {
		n, _ = strconv.Atoi(count)
	}
	d, err := w.defaultClient()
	if err != nil {
		return err
	}
	r := -1
	if retry != "" {
		r, _ = strconv.Atoi(retry)
	}
	limit := w.h.Wait
	if deadline != "" {
		limit = seconds(deadline)
	}
	t := drivers.Target{Topic: w.topic(topic) + "." + strings.ToLower(prio)}
	if how == " at once" {
		return w.notifyAtOnce(d, t, n, prio, r, limit)
	}
	run := func() (opResult, error) {
		var last opResult
		for i := 0; i < n; i++ {
			if dropping != "" {
				if err := w.dropDuring(i, n); err != nil {
					return last, err
				}
			}
			msg, id, seq, err := w.notification(prio)
			if err != nil {
				return last, err
			}
			ctx, cancel := context.WithTimeout(w.ctx, limit)
			s := sentMessage{ID: id, Seq: seq, Topic: t.Topic, Message: msg, Start: time.Now()}
			s.Err = d.SendNotification(ctx, t, requestContext(), msg, "2.0", r)
			s.End = time.Now()
			cancel()
			w.recordSend(s)
			last = opResult{what: "notification", err: s.Err, start: s.Start, end: s.End, id: id}
			w.mu.Lock()
			faulted := w.faulted
			w.mu.Unlock()
			if s.Err != nil && dropping == "" && !faulted {
				// Without faults one failure predicts the rest; under faults
				// each send is judged on its own.
				break
			}
		}
		return last, nil
	}
	if how == " in the background" {
		p := &pendingOp{done: make(chan struct{})}
		w.pending = p
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			res, err := run()
			if err != nil {
				res = opResult{what: "notification", err: err}
			}
			p.res = res
			close(p.done)
		}()
		return nil
	}
	res, err := run()
	if res.what != "" {
		w.op = res
	}
	return err
}

// anotherNotifies sends n notifications from a client of its own, so that
// what sending leaves behind (cached links, pooled connections) is not the
// default client's.
func (w *world) anotherNotifies(n int, prio, topic string) error {
	w.mu.Lock()
	d := w.other
	w.mu.Unlock()
	if d == nil {
		var err error
		if d, err = w.open(w.clientCfg...); err != nil {
			return err
		}
		w.mu.Lock()
		w.other = d
		w.mu.Unlock()
	}
	t := drivers.Target{Topic: w.topic(topic) + "." + strings.ToLower(prio)}
	for range n {
		msg, id, seq, err := w.notification(prio)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(w.ctx, w.h.Wait)
		s := sentMessage{ID: id, Seq: seq, Topic: t.Topic, Message: msg, Start: time.Now()}
		s.Err = d.SendNotification(ctx, t, requestContext(), msg, "2.0", -1)
		s.End = time.Now()
		cancel()
		w.recordSend(s)
		if s.Err != nil {
			return fmt.Errorf("another client's notification: %w", s.Err)
		}
	}
	return nil
}

// notifyAtOnce sends n notifications from n goroutines, as n notifiers
// would, and waits for every send to end. Through a router, where each send
// waits for its listener (C21), this is how a batch can fill.
func (w *world) notifyAtOnce(d drivers.Driver, t drivers.Target, n int, prio string, retry int, limit time.Duration) error {
	var wg sync.WaitGroup
	for range n {
		msg, id, seq, err := w.notification(prio)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(w.ctx, limit)
			defer cancel()
			s := sentMessage{ID: id, Seq: seq, Topic: t.Topic, Message: msg, Start: time.Now()}
			s.Err = d.SendNotification(ctx, t, requestContext(), msg, "2.0", retry)
			s.End = time.Now()
			w.recordSend(s)
		}()
	}
	wg.Wait()
	return nil
}

func (w *world) sendsVersioned(prio, topic, version, payload string) error {
	v, err := parseJSON(payload)
	if err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	d, err := w.defaultClient()
	if err != nil {
		return err
	}
	msg, _, _, err := w.notification(prio)
	if err != nil {
		return err
	}
	msg["payload"] = v
	id := msg["message_id"].(string)
	t := drivers.Target{Topic: w.topic(topic) + "." + strings.ToLower(prio)}
	ctx, cancel := context.WithTimeout(w.ctx, w.h.Wait)
	defer cancel()
	s := sentMessage{ID: id, Topic: t.Topic, Message: msg, Start: time.Now()}
	s.Err = d.SendNotification(ctx, t, requestContext(), msg, version, -1)
	s.End = time.Now()
	w.recordSend(s)
	w.op = opResult{what: "notification", err: s.Err, start: s.Start, end: s.End, id: id}
	if s.Err != nil {
		return fmt.Errorf("SendNotification version %s: %w", version, s.Err)
	}
	return nil
}

// freshListeners checks C05: each listener starts on a new topic and the
// client sends at once, to the topic, to the server and as fanout.
func (w *world) freshListeners(n int) error {
	d, err := w.open()
	if err != nil {
		return err
	}
	c, err := w.defaultClient()
	if err != nil {
		return err
	}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("fresh-%d", i)
		topic := w.topic(name)
		if _, err := w.startListener(listenerSpec{name: name, driver: d, target: drivers.Target{Topic: topic, Server: "host"}}); err != nil {
			return err
		}
		for _, t := range []drivers.Target{{Topic: topic}, {Topic: topic, Server: "host"}, {Topic: topic, Fanout: true}} {
			msg, id, seq := w.castMessage("ping", nil)
			ctx, cancel := context.WithTimeout(w.ctx, w.h.Wait)
			s := w.send(ctx, c, t, msg, id, seq, drivers.SendOptions{})
			cancel()
			if s.Err != nil {
				return fmt.Errorf("cast to %s: %w", t, s.Err)
			}
		}
	}
	return nil
}

func (w *world) freshReceived(k int) error {
	ls := w.allListeners(func(l *listener) bool { return strings.HasPrefix(l.name, "fresh-") })
	ok := w.waitFor(func(rs []tally.Receipt) bool {
		for _, l := range ls {
			if len(tally.Filter(rs, byListener(l.name))) < k {
				return false
			}
		}
		return true
	})
	if !ok {
		var missing []string
		for _, l := range ls {
			if got := len(w.log.Of(l.name)); got < k {
				missing = append(missing, fmt.Sprintf("%s got %d", l.name, got))
			}
		}
		return fmt.Errorf("messages sent right after Listen returned were missed: %s (want %d each)", strings.Join(missing, ", "), k)
	}
	return nil
}

func byListener(name string) func(tally.Receipt) bool {
	return func(r tally.Receipt) bool { return r.Listener == name }
}

// requireSent fails if the scenario's sends failed; counting steps use it
// so a send error is reported as such rather than as a missing message.
func (w *world) requireSent() error {
	for _, s := range w.sentIDs(nil) {
		if s.Err != nil {
			return fmt.Errorf("a send failed: %w", s.Err)
		}
	}
	return nil
}

func (w *world) listenerHealth(names ...string) error {
	for _, n := range names {
		if l, err := w.listener(n); err == nil {
			if err := l.health(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *world) receivesExactly(name string, n int) error {
	if err := w.requireSent(); err != nil {
		return err
	}
	if _, err := w.listener(name); err != nil {
		return err
	}
	w.waitFor(func(rs []tally.Receipt) bool { return len(tally.Filter(rs, byListener(name))) >= n })
	w.quiet()
	got := w.log.Of(name)
	if len(got) != n {
		return fmt.Errorf("%q received %d messages, want exactly %d%s%s", name, len(got), n, dupNote(got), healthNote(w, name))
	}
	return nil
}

func dupNote(rs []tally.Receipt) string {
	if d := tally.Duplicates(rs); len(d) > 0 {
		return fmt.Sprintf(" (%d of them received more than once)", len(d))
	}
	return ""
}

func healthNote(w *world, name string) string {
	if err := w.listenerHealth(name); err != nil {
		return "; " + err.Error()
	}
	return ""
}

func (w *world) receivesNone(name string) error {
	if err := w.requireSent(); err != nil {
		return err
	}
	if _, err := w.listener(name); err != nil {
		return err
	}
	w.quiet()
	if got := w.log.Of(name); len(got) != 0 {
		return fmt.Errorf("%q received %d messages, want none (first: %v)", name, len(got), got[0].Value)
	}
	return w.listenerHealth(name)
}

func (w *world) receivesAtLeast(name string, n int) error {
	if !w.waitFor(func(rs []tally.Receipt) bool { return len(tally.Filter(rs, byListener(name))) >= n }) {
		return fmt.Errorf("%q received %d messages within %v, want at least %d%s", name, len(w.log.Of(name)), w.h.Wait, n, healthNote(w, name))
	}
	return nil
}

func (w *world) collectors() []*listener {
	return w.allListeners(func(l *listener) bool { return !l.manual })
}

func (w *world) everyReceivesExactly(n int) error {
	if err := w.requireSent(); err != nil {
		return err
	}
	ls := w.collectors()
	w.waitFor(func(rs []tally.Receipt) bool {
		for _, l := range ls {
			if len(tally.Filter(rs, byListener(l.name))) < n {
				return false
			}
		}
		return true
	})
	w.quiet()
	var bad []string
	for _, l := range ls {
		if got := w.log.Of(l.name); len(got) != n {
			bad = append(bad, fmt.Sprintf("%s got %d%s", l.name, len(got), dupNote(got)))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("want exactly %d each: %s", n, strings.Join(bad, ", "))
	}
	return nil
}

func (w *world) everyReceivesAtLeast(n int) error {
	var bad []string
	counts := map[string]int{}
	for _, l := range w.collectors() {
		counts[l.name] = len(w.log.Of(l.name))
		if counts[l.name] < n {
			bad = append(bad, l.name)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("unbalanced distribution: %s received fewer than %d (counts %v)", strings.Join(bad, ", "), n, counts)
	}
	return nil
}

func (w *world) noDuplicates() error {
	w.quiet()
	for _, l := range w.collectors() {
		if d := tally.Duplicates(w.log.Of(l.name)); len(d) > 0 {
			return fmt.Errorf("%q received %d messages more than once (first id %s)", l.name, len(d), d[0])
		}
	}
	return nil
}

func (w *world) eachOnceAcross() error {
	if err := w.requireSent(); err != nil {
		return err
	}
	sent := w.sentIDs(nil)
	want := map[string]bool{}
	for _, s := range sent {
		want[s.ID] = true
	}
	w.waitFor(func(rs []tally.Receipt) bool {
		c := tally.Counts(rs)
		for id := range want {
			if c[id] == 0 {
				return false
			}
		}
		return true
	})
	w.quiet()
	c := tally.Counts(w.log.All())
	var lost, dup, stray int
	for id := range want {
		switch {
		case c[id] == 0:
			lost++
		case c[id] > 1:
			dup++
		}
	}
	for id := range c {
		if !want[id] {
			stray++
		}
	}
	if lost+dup+stray > 0 {
		return fmt.Errorf("of %d messages sent, %d were received by no listener, %d by more than one (or twice); %d unknown messages arrived", len(want), lost, dup, stray)
	}
	return nil
}

func (w *world) inOrder(name string) error {
	if err := w.requireSent(); err != nil {
		return err
	}
	want := len(w.sentIDs(nil))
	w.waitFor(func(rs []tally.Receipt) bool { return len(tally.Filter(rs, byListener(name))) >= want })
	got := w.log.Of(name)
	if len(got) != want {
		return fmt.Errorf("%q received %d of %d messages%s", name, len(got), want, healthNote(w, name))
	}
	if prev, next, found := tally.OutOfOrder(got); found {
		return fmt.Errorf("%q received message %d after message %d", name, next.Seq, prev.Seq)
	}
	return nil
}

func (w *world) atMostOnce(name string) error {
	ok := w.sentIDs(func(s sentMessage) bool { return s.Err == nil && isNotification(s) })
	w.waitFor(func(rs []tally.Receipt) bool {
		c := tally.Counts(tally.Filter(rs, byListener(name)))
		for _, s := range ok {
			if c[s.ID] == 0 {
				return false
			}
		}
		return true
	})
	w.quiet()
	if d := tally.Duplicates(w.log.Of(name)); len(d) > 0 {
		return fmt.Errorf("%q received %d notifications more than once (first id %s)", name, len(d), d[0])
	}
	return nil
}

func (w *world) everySucceeded(name string) error {
	ok := w.sentIDs(func(s sentMessage) bool { return s.Err == nil && isNotification(s) })
	if !w.waitFor(func(rs []tally.Receipt) bool {
		c := tally.Counts(tally.Filter(rs, byListener(name)))
		for _, s := range ok {
			if c[s.ID] == 0 {
				return false
			}
		}
		return true
	}) {
		c := tally.Counts(w.log.Of(name))
		var lost int
		for _, s := range ok {
			if c[s.ID] == 0 {
				lost++
			}
		}
		return fmt.Errorf("%d of the %d notifications whose send succeeded never reached %q%s", lost, len(ok), name, healthNote(w, name))
	}
	return nil
}

func (w *world) onlyPriorities(name, p1, p2 string) error {
	for _, r := range w.log.Of(name) {
		p, _ := r.Value["priority"].(string)
		if lp := strings.ToLower(p); lp != p1 && lp != p2 {
			return fmt.Errorf("%q received a notification with priority %q", name, p)
		}
	}
	return nil
}

func (w *world) unchanged(name string) error {
	sent := w.sentIDs(nil)
	if len(sent) == 0 {
		return errors.New("nothing was sent")
	}
	s := sent[len(sent)-1]
	if !w.waitFor(func(rs []tally.Receipt) bool {
		return len(tally.Filter(rs, func(r tally.Receipt) bool { return r.Listener == name && r.ID == s.ID })) > 0
	}) {
		return fmt.Errorf("%q did not receive the notification within %v%s", name, w.h.Wait, healthNote(w, name))
	}
	for _, r := range w.log.Of(name) {
		if r.ID == s.ID {
			if d := jsonDiff(map[string]any(s.Message), r.Value); d != "" {
				return fmt.Errorf("the notification changed in transit: %s", d)
			}
		}
	}
	return nil
}

func (w *world) togetherExactly(a, b string, n int) error {
	if err := w.requireSent(); err != nil {
		return err
	}
	both := func(r tally.Receipt) bool { return r.Listener == a || r.Listener == b }
	w.waitFor(func(rs []tally.Receipt) bool { return len(tally.Filter(rs, both)) >= n })
	w.quiet()
	if got := tally.Filter(w.log.All(), both); len(got) != n {
		return fmt.Errorf("%q and %q received %d notifications between them, want %d%s", a, b, len(got), n, dupNote(got))
	}
	return nil
}

func (w *world) nothingMore(name string) error {
	l, err := w.listener(name)
	if err != nil {
		return err
	}
	w.quiet()
	for _, r := range w.log.Of(name) {
		if !l.stopTime.IsZero() && r.At.After(l.stopTime) {
			return fmt.Errorf("%q received a message after it was stopped", name)
		}
	}
	return nil
}

func (w *world) theOthers(name string) error {
	// every sent notification reached someone, and the later ones reached name
	all := w.sentIDs(nil)
	if !w.waitFor(func(rs []tally.Receipt) bool {
		c := tally.Counts(rs)
		for _, s := range all {
			if c[s.ID] == 0 {
				return false
			}
		}
		return true
	}) {
		return fmt.Errorf("some notifications reached no listener%s", healthNote(w, name))
	}
	return nil
}

func (w *world) stillUsable(topic, name string) error {
	d, err := w.defaultClient()
	if err != nil {
		return err
	}
	msg, id, seq := w.castMessage("ping", nil)
	ctx, cancel := context.WithTimeout(w.ctx, w.h.Wait)
	defer cancel()
	if s := w.send(ctx, d, drivers.Target{Topic: w.topic(topic)}, msg, id, seq, drivers.SendOptions{}); s.Err != nil {
		return fmt.Errorf("the client is no longer usable: a cast failed: %w", s.Err)
	}
	if !w.waitFor(func(rs []tally.Receipt) bool {
		return len(tally.Filter(rs, func(r tally.Receipt) bool { return r.Listener == name && r.ID == id })) > 0
	}) {
		return fmt.Errorf("a cast sent after the error did not reach %q within %v%s", name, w.h.Wait, healthNote(w, name))
	}
	return nil
}

func (w *world) poolsSupported() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.poolErr == nil
}

func (w *world) groupOnce(keep func(*listener) bool, what string) error {
	ls := w.allListeners(keep)
	names := map[string]bool{}
	for _, l := range ls {
		names[l.name] = true
	}
	in := func(r tally.Receipt) bool { return names[r.Listener] }
	sent := w.sentIDs(nil)
	w.waitFor(func(rs []tally.Receipt) bool {
		c := tally.Counts(tally.Filter(rs, in))
		for _, s := range sent {
			if c[s.ID] == 0 {
				return false
			}
		}
		return true
	})
	w.quiet()
	c := tally.Counts(tally.Filter(w.log.All(), in))
	var lost, dup int
	for _, s := range sent {
		switch {
		case c[s.ID] == 0:
			lost++
		case c[s.ID] > 1:
			dup++
		}
	}
	if lost+dup > 0 {
		return fmt.Errorf("%s: of %d notifications, %d never arrived and %d arrived more than once", what, len(sent), lost, dup)
	}
	return nil
}

func (w *world) poolOnce(pool string) error {
	if !w.poolsSupported() {
		return nil
	}
	p := w.pool(pool)
	return w.groupOnce(func(l *listener) bool { return l.inPool && l.pool == p }, "pool "+pool)
}

func (w *world) unpooledOnce() error {
	return w.groupOnce(func(l *listener) bool { return l.notify && !l.inPool }, "the listeners without a pool")
}

func (w *world) poolBalanced(pool string, n int) error {
	if !w.poolsSupported() {
		return nil
	}
	p := w.pool(pool)
	counts := map[string]int{}
	var low []string
	for _, l := range w.allListeners(func(l *listener) bool { return l.inPool && l.pool == p }) {
		counts[l.name] = len(w.log.Of(l.name))
		if counts[l.name] < n {
			low = append(low, l.name)
		}
	}
	if len(low) > 0 {
		return fmt.Errorf("pool %s is unbalanced: %v received fewer than %d (counts %v)", pool, low, n, counts)
	}
	return nil
}

func (w *world) poolsRefusedProperly() error {
	w.mu.Lock()
	err := w.poolErr
	w.mu.Unlock()
	if err != nil && !errors.Is(err, drivers.ErrNotImplemented) {
		return fmt.Errorf("a pool was refused with %v, want a not-implemented error", err)
	}
	if err != nil {
		w.h.logf(w.ctx, "the driver does not support pools: %v", err)
	}
	return nil
}

func (w *world) failedOrDelivered(name string, n int) error {
	if w.op.err != nil {
		return nil
	}
	return w.receivesExactly(name, n)
}

// countID counts how often listener name received id.
func countID(rs []tally.Receipt, name, id string) int {
	n := 0
	for _, r := range rs {
		if r.Listener == name && r.ID == id {
			n++
		}
	}
	return n
}

// isNotification reports whether s was a notification (not, say, the cast
// that warmed a client up).
func isNotification(s sentMessage) bool {
	_, ok := s.Message["event_type"]
	return ok
}
