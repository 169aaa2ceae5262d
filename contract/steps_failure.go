package contract

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/cucumber/godog"

	"github.com/switchyard-dev/switchyard/contract/internal/tally"
	"github.com/switchyard-dev/switchyard/drivers"
)

// Steps for retry, failover, faults and bad input (C14-C21, C19).
func (w *world) registerFailureSteps(sc *godog.ScenarioContext) {
	sc.Step(`^a client whose transport URL points at a closed port$`, w.clientClosedPort)
	sc.Step(`^a client whose transport URL lists an unreachable host before the backend$`, w.clientFailover)
	sc.Step(`^a client that has already cast 1 message to topic "([^"]*)"$`, w.warmClient)
	sc.Step(`^a client with a wrong password casts 1 message to topic "([^"]*)" with retry 0$`, w.wrongPassword)
	sc.Step(`^a client whose hosts are all unreachable casts 1 message to topic "([^"]*)" with retry 0$`, w.allUnreachable)
	sc.Step(`^a client is opened with a transport URL whose host has an unbalanced bracket$`, w.malformedURL)
	sc.Step(`^a client casts 1 message to an empty topic$`, w.castEmptyTopic)
	sc.Step(`^a client calls "([^"]*)" as fanout on topic "([^"]*)"$`, w.callFanout)
	sc.Step(`^a client sends a notification to an empty topic$`, w.notifyEmptyTopic)
	sc.Step(`^a client listens on an empty topic$`, w.listenEmptyTopic)
	sc.Step(`^a client casts a message larger than the backend accepts to topic "([^"]*)"$`, w.castOversized)

	sc.Step(`^the send fails with (a delivery failure|an undeliverable error|an authentication error|an invalid-target error|a timeout) within ([\d.]+) seconds?$`, w.sendFailsWith)
	sc.Step(`^the send fails with (the context's deadline error|a timeout) after between ([\d.]+) and ([\d.]+) seconds$`, w.sendFailsBetween)
	sc.Step(`^the send fails with a typed error$`, w.sendFailsTyped)
	sc.Step(`^the send fails within ([\d.]+) seconds?$`, w.sendFailsWithin)
	sc.Step(`^the send fails within ([\d.]+) seconds?, or "([^"]*)" receives it again after requeueing it$`, w.sendFailsOrRequeued)
	sc.Step(`^the send succeeded$`, w.sendSucceeded)
	sc.Step(`^the send has not returned after ([\d.]+) seconds?$`, w.sendPending)
	sc.Step(`^the send succeeds within ([\d.]+) seconds?$`, w.sendSucceedsWithin)
	sc.Step(`^opening fails with a URL error within ([\d.]+) seconds?$`, w.openFailsURL)

	sc.Step(`^the backend refuses new connections and drops the client's connections$`, w.refuseAndDrop)
	sc.Step(`^the backend saw the client try to connect at least once and at most (\d+) times after the drop$`, w.attemptsAtMost)
	sc.Step(`^the backend will drop the client's connection (before|after accepting but before confirming|after confirming) its next publish$`, w.dropAtPublish)
	sc.Step(`^the backend drops every connection$`, w.dropAll)
	sc.Step(`^the backend withholds its confirmations and its deliveries to listeners$`, w.withhold)
	sc.Step(`^the backend releases its (confirmations|deliveries)$`, w.release)
}

// closedPorts returns n loopback addresses nothing listens on.
func closedPorts(n int) ([]string, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []string
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}

// urlWithHosts rewrites the harness URL: its hosts become hosts (given as
// host:port, keeping the first host's credentials), optionally followed by
// the original ones; pass changes the password.
func (w *world) urlWithHosts(hosts []string, keepOriginal bool, pass string) (string, error) {
	u, err := drivers.ParseURL(w.h.URL)
	if err != nil {
		return "", err
	}
	var cred drivers.TransportHost
	if len(u.Hosts) > 0 {
		cred = u.Hosts[0]
	}
	var hs []drivers.TransportHost
	for _, h := range hosts {
		host, port, err := net.SplitHostPort(h)
		if err != nil {
			return "", err
		}
		p, _ := strconv.Atoi(port)
		hs = append(hs, drivers.TransportHost{Hostname: host, Port: p, Username: cred.Username, Password: cred.Password, HasCredentials: cred.HasCredentials})
	}
	if keepOriginal {
		hs = append(hs, u.Hosts...)
	}
	if hosts == nil {
		hs = u.Hosts
	}
	if pass != "" {
		for i := range hs {
			hs[i].Password, hs[i].HasCredentials = pass, true
			if hs[i].Username == "" {
				hs[i].Username = "guest"
			}
		}
	}
	u.Hosts = hs
	return u.Secret(), nil
}

// openThat opens "that client" on url; an error to open is kept and
// reported by the step that uses the client.
func (w *world) openThat(url string) {
	start := time.Now()
	d, err := w.openURL(url)
	w.mu.Lock()
	w.that, w.thatErr, w.thatStart = d, err, start
	w.mu.Unlock()
}

func (w *world) clientClosedPort() error {
	addrs, err := closedPorts(1)
	if err != nil {
		return err
	}
	u, err := w.urlWithHosts(addrs, false, "")
	if err != nil {
		return err
	}
	w.openThat(u)
	return nil
}

func (w *world) clientFailover() error {
	addrs, err := closedPorts(1)
	if err != nil {
		return err
	}
	u, err := w.urlWithHosts(addrs, true, "")
	if err != nil {
		return err
	}
	w.openThat(u)
	return w.thatErr
}

func (w *world) warmClient(topic string) error {
	d, err := w.defaultClient()
	if err != nil {
		return err
	}
	msg, id, seq := w.castMessage("ping", nil)
	ctx, cancel := context.WithTimeout(w.ctx, w.h.Wait)
	defer cancel()
	target := drivers.Target{Topic: w.topic(topic)}
	if w.h.Kind == Router {
		// A router takes a message only when someone listens: the client
		// listens itself while it warms up.
		stop, err := sink(ctx, d, target)
		if err != nil {
			return fmt.Errorf("listening to warm up: %w", err)
		}
		defer stop()
	}
	if s := w.send(ctx, d, target, msg, id, seq, drivers.SendOptions{}); s.Err != nil {
		return fmt.Errorf("the first cast failed: %w", s.Err)
	}
	w.mu.Lock()
	w.that = d
	w.mu.Unlock()
	return nil
}

// badClientCast opens a driver on url and casts once with retry 0; the
// outcome (from the start of opening) goes to w.op.
func (w *world) badClientCast(url, topic string) {
	start := time.Now()
	d, err := w.openURL(url)
	if err == nil {
		msg, id, seq := w.castMessage("ping", nil)
		ctx, cancel := context.WithTimeout(w.ctx, w.h.Wait)
		s := w.send(ctx, d, drivers.Target{Topic: w.topic(topic)}, msg, id, seq, drivers.SendOptions{Retry: 0})
		cancel()
		err = s.Err
	}
	w.op = opResult{what: "cast", err: err, start: start, end: time.Now()}
}

func (w *world) wrongPassword(topic string) error {
	u, err := w.urlWithHosts(nil, false, "wrong-"+randomHex(4))
	if err != nil {
		return err
	}
	w.badClientCast(u, topic)
	return nil
}

func (w *world) allUnreachable(topic string) error {
	addrs, err := closedPorts(2)
	if err != nil {
		return err
	}
	u, err := w.urlWithHosts(addrs, false, "")
	if err != nil {
		return err
	}
	w.badClientCast(u, topic)
	return nil
}

func (w *world) malformedURL() error {
	u, err := drivers.ParseURL(w.h.URL)
	if err != nil {
		return err
	}
	start := time.Now()
	_, err = w.openURL(u.Scheme + "://[::1/")
	w.op = opResult{what: "open", err: err, start: start, end: time.Now()}
	return nil
}

func (w *world) castEmptyTopic() error {
	return w.casts("a", 1, "", "", "", "", "", "", "", "")
}

func (w *world) callFanout(method, topic string) error {
	d, err := w.defaultClient()
	if err != nil {
		return err
	}
	msg, id, _ := w.castMessage(method, nil)
	ctx, cancel := context.WithTimeout(w.ctx, w.h.Wait)
	defer cancel()
	start := time.Now()
	v, err := d.Send(ctx, drivers.Target{Topic: w.topic(topic), Fanout: true}, requestContext(), msg, drivers.SendOptions{WaitForReply: true, Timeout: time.Second})
	w.op = opResult{what: "call", value: v, err: err, start: start, end: time.Now(), id: id}
	return nil
}

func (w *world) notifyEmptyTopic() error {
	d, err := w.defaultClient()
	if err != nil {
		return err
	}
	msg, id, _, err := w.notification("info")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(w.ctx, w.h.Wait)
	defer cancel()
	start := time.Now()
	err = d.SendNotification(ctx, drivers.Target{}, requestContext(), msg, "2.0", 0)
	w.op = opResult{what: "notification", err: err, start: start, end: time.Now(), id: id}
	return nil
}

func (w *world) listenEmptyTopic() error {
	d, err := w.defaultClient()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(w.ctx, w.h.Wait)
	defer cancel()
	start := time.Now()
	l, err := d.Listen(ctx, drivers.Target{}, drivers.Batch{Size: 1})
	if l != nil {
		l.Stop()
		l.Cleanup()
	}
	w.op = opResult{what: "listen", err: err, start: start, end: time.Now()}
	return nil
}

func (w *world) castOversized(topic string) error {
	d, err := w.defaultClient()
	if err != nil {
		return err
	}
	msg, id, seq := w.castMessage("ping", map[string]any{"blob": strings.Repeat("x", w.h.MaxMessageSize+64<<10)})
	ctx, cancel := context.WithTimeout(w.ctx, 60*time.Second)
	defer cancel()
	s := w.send(ctx, d, drivers.Target{Topic: w.topic(topic)}, msg, id, seq, drivers.SendOptions{Retry: 0})
	w.forgetSend(id) // an expected failure, not a lost message
	w.op = opResult{what: "cast", err: s.Err, start: s.Start, end: s.End, id: id}
	return nil
}

// forgetSend drops a send from the record, for sends meant to fail.
func (w *world) forgetSend(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, s := range w.sent {
		if s.ID == id {
			w.sent = append(w.sent[:i], w.sent[i+1:]...)
			return
		}
	}
}

var failureKinds = map[string]struct {
	match func(error) bool
	what  string
}{
	"a delivery failure":     {func(e error) bool { return errors.Is(e, drivers.ErrDeliveryFailure) }, "ErrDeliveryFailure"},
	"an undeliverable error": {func(e error) bool { return errors.Is(e, drivers.ErrUndeliverable) }, "ErrUndeliverable"},
	"an authentication error": {func(e error) bool {
		var a *drivers.AuthError
		return errors.As(e, &a)
	}, "*drivers.AuthError"},
	"an invalid-target error":          {func(e error) bool { return errors.Is(e, drivers.ErrInvalidTarget) }, "ErrInvalidTarget"},
	"a timeout":                        {func(e error) bool { return errors.Is(e, drivers.ErrTimeout) }, "ErrTimeout"},
	"the context's deadline error":     {func(e error) bool { return errors.Is(e, context.DeadlineExceeded) }, "context.DeadlineExceeded"},
	"the context's cancellation error": {func(e error) bool { return errors.Is(e, context.Canceled) }, "context.Canceled"},
}

// opFailed checks the last operation failed as kind, within [min, max].
func (w *world) opFailed(kind string, min, max time.Duration) error {
	fk := failureKinds[kind]
	o := w.op
	if o.what == "" {
		return errors.New("no operation was made")
	}
	took := o.took()
	switch {
	case o.err == nil:
		return fmt.Errorf("the %s succeeded after %v, want %s", o.what, took.Round(time.Millisecond), kind)
	case !fk.match(o.err):
		return fmt.Errorf("the %s failed with %v (%T), want %s (%s)", o.what, o.err, o.err, kind, fk.what)
	case took < min:
		return fmt.Errorf("the %s failed after %v, earlier than %v", o.what, took.Round(time.Millisecond), min)
	case max > 0 && took > max:
		return fmt.Errorf("the %s took %v to fail, more than %v", o.what, took.Round(time.Millisecond), max)
	}
	return nil
}

func (w *world) sendFailsWith(kind, within string) error {
	bound := seconds(within)
	if kind == "an authentication error" {
		bound += w.h.AuthDelay
	}
	return w.opFailed(kind, 0, bound)
}

func (w *world) sendFailsBetween(kind, min, max string) error {
	return w.opFailed(kind, seconds(min), seconds(max))
}

// typedErrors are the error kinds drivers return.
var typedErrors = []error{
	drivers.ErrMessageTooLarge, drivers.ErrDeliveryFailure, drivers.ErrUndeliverable, drivers.ErrTimeout,
	drivers.ErrInvalidTarget, drivers.ErrNotImplemented, drivers.ErrClosed, drivers.ErrUnsupportedVersion,
}

func isTyped(err error) bool {
	for _, t := range typedErrors {
		if errors.Is(err, t) {
			return true
		}
	}
	var re *drivers.RemoteError
	var ue *drivers.URLError
	var ae *drivers.AuthError
	return errors.As(err, &re) || errors.As(err, &ue) || errors.As(err, &ae)
}

func (w *world) sendFailsTyped() error {
	if w.op.err == nil {
		return fmt.Errorf("a %d-byte message was accepted; the backend limit is %d (set Harness.MaxMessageSize if the backend allows more)", w.h.MaxMessageSize+64<<10, w.h.MaxMessageSize)
	}
	if !isTyped(w.op.err) {
		return fmt.Errorf("the oversized send failed with an untyped error: %v (%T)", w.op.err, w.op.err)
	}
	w.h.logf(w.ctx, "oversized message refused after %v: %v", w.op.took().Round(time.Millisecond), w.op.err)
	return nil
}

func (w *world) sendFailsWithin(within string) error {
	if w.op.err == nil {
		return fmt.Errorf("the %s succeeded; nothing could have taken it", w.op.what)
	}
	if took := w.op.took(); took > seconds(within) {
		return fmt.Errorf("the %s took %v to fail, more than %ss", w.op.what, took.Round(time.Millisecond), within)
	}
	return nil
}

func (w *world) sendFailsOrRequeued(within, name string) error {
	if w.op.err != nil {
		return w.sendFailsWithin(within)
	}
	id := w.op.id
	if w.waitFor(func(rs []tally.Receipt) bool { return countID(rs, name, id) >= 2 }) {
		return nil
	}
	return fmt.Errorf("the send succeeded although %q released the message, and it was not delivered again", name)
}

func (w *world) sendSucceeded() error {
	if w.op.what == "" {
		return errors.New("nothing was sent")
	}
	if w.op.err != nil {
		return fmt.Errorf("the %s failed: %w", w.op.what, w.op.err)
	}
	return nil
}

func (w *world) sendPending(after string) error {
	p := w.pending
	if p == nil {
		return errors.New("no send was started in the background")
	}
	timer := time.NewTimer(seconds(after))
	defer timer.Stop()
	select {
	case <-p.done:
		return fmt.Errorf("the send returned (%v) after %v, before it could have been %s", p.res.err, p.res.took().Round(time.Millisecond),
			map[BackendKind]string{Broker: "stored", Router: "accepted by the listener"}[w.h.Kind])
	case <-timer.C:
		return nil
	}
}

func (w *world) sendSucceedsWithin(within string) error {
	p := w.pending
	if p == nil {
		return errors.New("no send was started in the background")
	}
	released := time.Now()
	timer := time.NewTimer(seconds(within))
	defer timer.Stop()
	select {
	case <-p.done:
		w.op = p.res
		if p.res.err != nil {
			return fmt.Errorf("the send failed: %w", p.res.err)
		}
		return nil
	case <-timer.C:
		return fmt.Errorf("the send had not returned %ss after %v", within, time.Since(released).Round(time.Millisecond))
	}
}

func (w *world) openFailsURL(within string) error {
	var ue *drivers.URLError
	switch {
	case w.op.err == nil:
		return errors.New("a malformed URL was accepted")
	case !errors.As(w.op.err, &ue):
		return fmt.Errorf("opening failed with %v (%T), want a *drivers.URLError", w.op.err, w.op.err)
	case w.op.took() > seconds(within):
		return fmt.Errorf("opening took %v to fail", w.op.took().Round(time.Millisecond))
	}
	return nil
}

// Faults.

func (w *world) inject(f Fault) error {
	if w.h.Faults == nil {
		return errors.New("the harness cannot inject faults (Harness.Faults is nil)")
	}
	end, err := w.h.Faults.Inject(w.ctx, f)
	if err != nil {
		return fmt.Errorf("injecting fault %d: %w", f.Kind, err)
	}
	w.mu.Lock()
	w.faulted = true
	w.mu.Unlock()
	if end != nil {
		w.mu.Lock()
		if prev := w.faultEnds[f.Kind]; prev != nil {
			w.faultEnds[f.Kind] = func() { prev(); end() }
		} else {
			w.faultEnds[f.Kind] = end
		}
		w.mu.Unlock()
	}
	return nil
}

func (w *world) thatClient() (drivers.Driver, error) { return w.whichClient("that") }

func (w *world) refuseAndDrop() error {
	d, err := w.thatClient()
	if err != nil {
		return err
	}
	if err := w.inject(Fault{Kind: RefuseConnections}); err != nil {
		return err
	}
	w.attempts = w.h.Faults.ConnectionAttempts(d)
	return w.inject(Fault{Kind: DropConnections, Driver: d})
}

func (w *world) attemptsAtMost(n int) error {
	d, err := w.thatClient()
	if err != nil {
		return err
	}
	got := w.h.Faults.ConnectionAttempts(d) - w.attempts
	if got > n {
		return fmt.Errorf("the client tried to connect %d times after the drop, more than one attempt plus its retries (%d)", got, n)
	}
	if got < 1 {
		return errors.New("the backend saw no connection attempt from the client after the drop")
	}
	return nil
}

func (w *world) dropAtPublish(moment string) error {
	d, err := w.thatClient()
	if err != nil {
		return err
	}
	kind := map[string]FaultKind{
		"before": DropBeforePublish, "after accepting but before confirming": DropAfterPublish, "after confirming": DropAfterConfirm,
	}[moment]
	return w.inject(Fault{Kind: kind, Driver: d})
}

func (w *world) dropAll() error { return w.inject(Fault{Kind: DropConnections}) }

// dropDuring drops the listeners' connections a quarter of the way
// through a send loop and the client's halfway.
func (w *world) dropDuring(i, n int) error {
	switch i {
	case n / 4:
		for _, l := range w.collectors() {
			if err := w.inject(Fault{Kind: DropConnections, Driver: l.drv}); err != nil {
				return err
			}
		}
	case n / 2:
		d, err := w.defaultClient()
		if err != nil {
			return err
		}
		return w.inject(Fault{Kind: DropConnections, Driver: d})
	}
	return nil
}

func (w *world) withhold() error {
	if err := w.inject(Fault{Kind: WithholdConfirms}); err != nil {
		return err
	}
	return w.inject(Fault{Kind: PauseDeliveries})
}

func (w *world) release(what string) error {
	kind := WithholdConfirms
	if what == "deliveries" {
		kind = PauseDeliveries
	}
	w.mu.Lock()
	end := w.faultEnds[kind]
	delete(w.faultEnds, kind)
	w.mu.Unlock()
	if end == nil {
		return fmt.Errorf("no %s are withheld", what)
	}
	end()
	return nil
}

// sink listens on target with d and acknowledges whatever arrives until
// the returned function stops it.
func sink(ctx context.Context, d drivers.Driver, target drivers.Target) (stop func(), err error) {
	l, err := d.Listen(ctx, target, drivers.Batch{Size: 1})
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			msgs, err := l.Poll(ctx)
			if err != nil {
				return
			}
			for _, m := range msgs {
				m.Acknowledge()
			}
		}
	}()
	return func() {
		l.Stop()
		<-done
		l.Cleanup()
	}, nil
}
