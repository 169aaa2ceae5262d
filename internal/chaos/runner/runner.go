// Package runner runs a chaos scenario: it starts the embedded broker or
// routers (or uses a staging URL, with an in-process TCP proxy when the
// scenario has network faults), starts the workload's servers and
// listeners, drives the planned sends, carries out the fault timeline,
// waits for in-flight messages and hands the history to the checker.
package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
	_ "github.com/switchyard-dev/switchyard/drivers/amqp1"  // amqp://
	_ "github.com/switchyard-dev/switchyard/drivers/rabbit" // rabbit:// and pika://
	"github.com/switchyard-dev/switchyard/fake/broker"
	"github.com/switchyard-dev/switchyard/fake/router"
	"github.com/switchyard-dev/switchyard/internal/chaos/checker"
	"github.com/switchyard-dev/switchyard/internal/chaos/history"
	"github.com/switchyard-dev/switchyard/internal/chaos/inject"
	"github.com/switchyard-dev/switchyard/internal/chaos/plan"
	"github.com/switchyard-dev/switchyard/internal/chaos/scenario"
)

// settle is how long the drain waits with nothing new processed, once
// every acknowledged message was, so late duplicates still show.
const settle = 300 * time.Millisecond

// ControlExchange is the control exchange of the run's drivers.
const ControlExchange = "switchyard-chaos"

// Config adjusts a run.
type Config struct {
	// URL runs against this broker instead of the scenario's backend.
	URL string
	// Seed replaces the scenario's seed when SeedSet.
	Seed    uint64
	SeedSet bool
	// Duration, when positive, replaces the scenario's duration and
	// scales its fault timeline to match.
	Duration time.Duration
	// Progress, when set, is called about five times a second.
	Progress func(Progress)
	// Logger receives the drivers' and the runner's log; nil discards it.
	Logger *slog.Logger
}

// Progress is a snapshot of a running scenario.
type Progress struct {
	Phase    string // "workload", "drain" or "done"
	Elapsed  time.Duration
	Duration time.Duration
	Planned  int
	history.Counters
	Active []string // faults whose window is open
}

// Result is a finished run.
type Result struct {
	Scenario    *scenario.Scenario // as run: duration and seed overrides applied
	Seed        uint64
	Digest      string // of the schedule; equal seeds give equal digests
	Backend     string // "embedded", "embedded-router", "embedded-router×N" or the staging URL without password
	Started     time.Time
	WorkloadEnd time.Duration
	End         time.Duration
	Planned     int
	Windows     []plan.Window
	Faults      []inject.Report
	Broker      *broker.Totals  // embedded broker's counters; nil for staging and routers
	Routers     []router.Totals // embedded routers' counters, one per router
	Record      history.Record
	Verdict     checker.Verdict
	// Notes are problems that did not stop the run: faults that could not
	// be applied, consumer poll errors.
	Notes []string
}

// InputError is a scenario that cannot run as asked (such as broker faults
// against a staging URL); the command exits 2 for it.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// run is one run's state.
type run struct {
	s     *scenario.Scenario
	rec   *history.Recorder
	be    *backend
	log   *slog.Logger
	nonce string // "" for the embedded broker; scopes staging names
}

// Effective returns the scenario as cfg runs it.
func Effective(s *scenario.Scenario, cfg Config) (*scenario.Scenario, uint64, error) {
	e := plan.Scale(s, cfg.Duration)
	seed := e.Seed
	if cfg.SeedSet {
		seed = cfg.Seed
		e.Seed = seed
	}
	if cfg.URL != "" {
		u, err := drivers.ParseURL(cfg.URL)
		if err != nil {
			return nil, 0, &InputError{Err: fmt.Errorf("--url: %w", err)}
		}
		if !scenario.URLDriverOK(s.Driver, u.Driver()) {
			return nil, 0, &InputError{Err: fmt.Errorf("--url: driver %s needs %s, got scheme %q", s.Driver, scenario.URLSchemes(s.Driver), u.Scheme)}
		}
		e.Backend = scenario.Backend{URL: cfg.URL, Management: s.Backend.Management}
		if errs := e.StagingErrors(); len(errs) > 0 {
			return nil, 0, &InputError{Err: errs}
		}
	}
	return e, seed, nil
}

// Run runs s and judges it. An error means the run could not take place
// (an *InputError for a scenario that cannot run as asked); a run whose
// invariants fail is a Result whose Verdict does not hold.
func Run(ctx context.Context, s *scenario.Scenario, cfg Config) (*Result, error) {
	s, seed, err := Effective(s, cfg)
	if err != nil {
		return nil, err
	}
	p := plan.New(s, seed)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &run{s: s, log: log}
	if !s.Backend.Embedded() {
		var b [4]byte
		_, _ = rand.Read(b[:])
		r.nonce = hex.EncodeToString(b[:])
	}
	be, err := startBackend(ctx, s, seed)
	if err != nil {
		return nil, err
	}
	r.be = be
	defer be.close()

	res := &Result{Scenario: s, Seed: seed, Digest: p.Digest, Backend: be.shown, Planned: p.Total(), Windows: p.Windows}

	// Consumers first, so every message has somewhere to go.
	cctx, stopConsumers := context.WithCancel(context.Background())
	defer stopConsumers()
	var consumers []*consumer
	stopAll := func() {
		stopConsumers()
		var wg sync.WaitGroup
		for _, c := range consumers {
			wg.Add(1)
			go func() { defer wg.Done(); c.stop() }()
		}
		wg.Wait()
		consumers = nil
	}
	defer func() { stopAll() }()
	setupCtx, cancelSetup := context.WithTimeout(ctx, 60*time.Second)
	defer cancelSetup()
	for gi := range s.Workload {
		cs, err := r.startConsumers(setupCtx, gi)
		consumers = append(consumers, cs...)
		if err != nil {
			return nil, err
		}
	}
	clientDrivers := make([]drivers.Driver, len(s.Workload))
	defer func() {
		for _, d := range clientDrivers {
			if d != nil {
				d.Close()
			}
		}
	}()
	for gi, g := range s.Workload {
		d, err := r.openDriver(setupCtx, 0, g.Kind, driverName{name: g.Name + "-client", purpose: "send", index: gi + 1})
		if err != nil {
			return nil, err
		}
		clientDrivers[gi] = d
	}

	// The workload's clock starts now.
	start := time.Now()
	r.rec = history.New(start)
	for _, c := range consumers {
		c.start(cctx, r.rec)
	}
	res.Started = start
	be.watch(r.rec)
	in := inject.New(be.targets, s.Faults)

	wctx, cancelWorkload := context.WithCancel(ctx)
	defer cancelWorkload()
	var clients sync.WaitGroup
	for gi := range s.Workload {
		r.clients(wctx, gi, clientDrivers[gi], p.Ops[gi], start, &clients)
	}
	var notesMu sync.Mutex
	note := func(s string) {
		notesMu.Lock()
		res.Notes = append(res.Notes, s)
		notesMu.Unlock()
	}
	timelineDone := make(chan struct{})
	go func() {
		defer close(timelineDone)
		r.timeline(wctx, in, p, start, note)
	}()
	clientsDone := make(chan struct{})
	go func() { clients.Wait(); close(clientsDone) }()

	var phase atomic.Value
	phase.Store("workload")
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		r.showProgress(cfg.Progress, &phase, p, start, stopProgress)
	}()

	// The timeline ends at the workload's duration and switches every
	// fault off; clients blocked in sends then finish without faults.
	<-timelineDone
	<-clientsDone
	res.WorkloadEnd = r.rec.Now()
	phase.Store("drain")
	r.drain(ctx, start.Add(res.WorkloadEnd+s.Drain))
	close(stopProgress)
	<-progressDone
	for i, d := range clientDrivers {
		d.Close()
		clientDrivers[i] = nil
	}
	stopAll()
	res.End = r.rec.Now()
	if cfg.Progress != nil {
		cfg.Progress(r.progress("done", p, start))
	}
	for _, c := range consumersErrs(consumers) {
		note(c)
	}
	res.Faults = in.Reports()
	res.Broker = be.brokerStats()
	res.Routers = be.routerStats()
	if r.nonce != "" && s.Driver != scenario.AMQP1 {
		deleteQueues(be.targets.AMQPURL, r.stagingQueues())
	}
	be.close()
	res.Record = r.rec.Record()
	res.Verdict = checker.Check(s, res.Record, p.Windows)
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("run interrupted: %w", err)
	}
	return res, nil
}

func consumersErrs(cs []*consumer) []string {
	var out []string
	for _, c := range cs {
		c.errMu.Lock()
		for _, e := range c.errs {
			out = append(out, c.name+": "+e)
		}
		c.errMu.Unlock()
	}
	return out
}

// timeline carries out the fault actions at their times, then at the end
// of the workload switches every fault off.
func (r *run) timeline(ctx context.Context, in *inject.Injector, p *plan.Plan, start time.Time, note func(string)) {
	for _, a := range p.Actions {
		if !waitUntil(ctx, start.Add(a.At)) {
			break
		}
		if err := in.Do(ctx, a); err != nil {
			note(err.Error())
			r.log.Warn("fault", slog.String("error", err.Error()))
		}
	}
	waitUntil(ctx, start.Add(r.s.Duration))
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in.Stop(sctx)
}

// waitUntil waits for t or ctx, reporting whether t came.
func waitUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}

// drain waits until every acknowledged message was processed and nothing
// new was processed for settle, or until deadline.
func (r *run) drain(ctx context.Context, deadline time.Time) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	last := r.rec.Counters().Processed
	quietSince := time.Now()
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n := r.rec.Counters().Processed
		if n != last {
			last, quietSince = n, time.Now()
			continue
		}
		if time.Since(quietSince) >= settle && r.rec.Pending() == 0 {
			return
		}
	}
}

// showProgress calls show about five times a second until stop.
func (r *run) showProgress(show func(Progress), phase *atomic.Value, p *plan.Plan, start time.Time, stop <-chan struct{}) {
	if show == nil {
		return
	}
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		show(r.progress(phase.Load().(string), p, start))
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

func (r *run) progress(phase string, p *plan.Plan, start time.Time) Progress {
	el := time.Since(start)
	pr := Progress{Phase: phase, Elapsed: el, Duration: r.s.Duration, Planned: p.Total(), Counters: r.rec.Counters()}
	for _, w := range p.Windows {
		if el >= w.Start && el < w.End {
			desc := w.Kind
			if w.Target != "" && w.Target != "all" {
				desc += "(" + w.Target + ")"
			}
			pr.Active = append(pr.Active, desc)
		}
	}
	return pr
}

// topic is generator gi's RPC topic (or notification topic).
func (r *run) topic(gi int) string {
	t := "chaos-" + r.s.Workload[gi].Name
	if r.nonce != "" {
		t += "-" + r.nonce
	}
	return t
}

// driverName names a driver of the run: the amqp1 driver's container-id
// is chaos-NAME:PURPOSE, so that fault targets such as rpc-server match
// it as they match the rabbit driver's connection names; index picks the
// router a driver connects to first in a mesh.
type driverName struct {
	name    string
	purpose string // send, rpc-server or notification
	index   int
}

// openDriver opens a driver with the scenario's options, and prefetch as
// the consumer prefetch when positive.
func (r *run) openDriver(ctx context.Context, prefetch int, kind string, dn driverName) (drivers.Driver, error) {
	cfg := drivers.DefaultConfig()
	cfg.Default.ControlExchange = ControlExchange
	group := scenario.OptionGroup(r.s.Driver)
	for _, o := range r.s.Options {
		if err := cfg.Set(group, o.Name, o.Value); err != nil {
			return nil, &InputError{Err: fmt.Errorf("%s:%d: options.%s: %w", r.s.File, o.Line, o.Name, err)}
		}
	}
	if prefetch > 0 {
		var err error
		switch {
		case r.s.Driver == scenario.AMQP1 && kind == scenario.Notify:
			err = cfg.Set(group, "notify_server_credit", strconv.Itoa(prefetch))
		case r.s.Driver == scenario.AMQP1:
			err = cfg.Set(group, "rpc_server_credit", strconv.Itoa(prefetch))
		case r.s.Driver == "rabbit":
			err = cfg.Set(group, "rabbit_qos_prefetch_count", strconv.Itoa(prefetch))
		case kind == scenario.Notify:
			err = cfg.Set(group, "notification_listener_prefetch_count", strconv.Itoa(prefetch))
		default:
			err = cfg.Set(group, "rpc_listener_prefetch_count", strconv.Itoa(prefetch))
		}
		if err != nil {
			return nil, err
		}
	}
	if r.s.Driver == scenario.AMQP1 && cfg.AMQP.ContainerName == "" {
		cfg.AMQP.ContainerName = "chaos-" + dn.name + ":" + dn.purpose
		if r.nonce != "" {
			cfg.AMQP.ContainerName = "chaos-" + r.nonce + "-" + dn.name + ":" + dn.purpose
		}
	}
	d, err := drivers.Open(ctx, r.be.urlFor(dn.index), cfg)
	if err != nil {
		return nil, fmt.Errorf("open the %s driver: %w", r.s.Driver, err)
	}
	return d, nil
}

// stagingQueues are the queues a staging run declared that do not expire
// by themselves.
func (r *run) stagingQueues() []string {
	var out []string
	for gi, g := range r.s.Workload {
		t := r.topic(gi)
		if g.Kind == scenario.Notify {
			out = append(out, t+"."+g.Priority)
			for _, p := range r.pools(gi) {
				if p != "" {
					out = append(out, p)
				}
			}
			continue
		}
		out = append(out, t)
		for i := 0; i < g.Consumers.Count; i++ {
			out = append(out, t+"."+r.serverName(gi, i))
		}
	}
	sort.Strings(out)
	return out
}
