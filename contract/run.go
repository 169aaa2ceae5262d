package contract

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cucumber/godog"

	"github.com/switchyard-dev/switchyard/features"
)

// Scenario tags besides the clause tags.
const (
	tagBroker      = "@broker"         // only on broker backends
	tagRouter      = "@router"         // only on router backends
	tagNeedsFaults = "@needs-faults"   // needs Harness.Faults
	tagInterop     = "@interop"        // needs Harness.Python
	tagNeedsTap    = "@needs-tap"      // needs Harness.Observer
	tagPrefetch    = "@needs-prefetch" // needs Harness.Prefetch
	tagHeavy       = "@heavy"          // too slow under the race detector
)

// runner holds the state of one Run.
type runner struct {
	h       Harness
	started time.Time

	mu      sync.Mutex
	checks  []CheckResult
	pending map[string]*CheckResult // scenario id → result being built
	worlds  []*world
}

// Run checks the driver of h against every clause: it runs every feature
// scenario through godog (as subtests of t) and every rapid property,
// prints the clause table, writes the JSON and Markdown report, and
// returns the report. A failing check fails t, except that with
// h.ExpectFail set Run instead asserts that those clauses fail.
func Run(t *testing.T, h Harness) *Report {
	t.Helper()
	if h.Name == "" || h.URL == "" {
		t.Fatal("contract.Run: the harness needs a Name and a URL")
	}
	if h.Kind != Broker && h.Kind != Router {
		t.Fatal("contract.Run: the harness needs a Kind (contract.Broker or contract.Router)")
	}
	r := &runner{h: h.withDefaults(), started: time.Now(), pending: map[string]*CheckResult{}}
	mutation := len(r.h.ExpectFail) > 0
	t.Run("scenarios", func(t *testing.T) { r.runScenarios(t, mutation) })
	t.Run("properties", func(t *testing.T) { r.runProperties(t, mutation) })
	r.closeStrayWorlds(t)

	rep := buildReport(r.h, r.started, r.results(), r.h.Tags != "" || r.h.Properties != nil)
	var table strings.Builder
	_ = rep.WriteTable(&table)
	t.Logf("contract clauses for %s:\n%s", rep.Column(), table.String())
	dir := r.h.ReportDir
	if mutation {
		// Deliberately broken drivers stay out of the summary of real ones.
		dir = filepath.Join(dir, "mutation")
	}
	if paths, err := rep.Write(dir); err != nil {
		t.Errorf("writing the clause report: %v", err)
	} else {
		t.Logf("clause report written to %s", strings.Join(paths, ", "))
	}
	if mutation {
		checkExpectedFailures(t, r.h, rep)
	}
	return rep
}

// checkExpectedFailures asserts the mutation check: every clause the
// harness breaks on purpose must fail.
func checkExpectedFailures(t testing.TB, h Harness, rep *Report) {
	t.Helper()
	var held []string
	for _, c := range sortedClauses(h.ExpectFail) {
		cr := rep.Clause(c)
		if cr == nil || cr.Status != Fail {
			status := "missing"
			if cr != nil {
				status = string(cr.Status)
			}
			held = append(held, fmt.Sprintf("%s (%s)", c, status))
		}
	}
	if len(held) > 0 {
		t.Errorf("mutation check on %s: the driver is broken on purpose, yet these clauses did not fail: %s; the suite cannot detect the fault",
			rep.Column(), strings.Join(held, ", "))
	}
}

func sortedClauses(m map[Clause]bool) []Clause {
	var out []Clause
	for c, on := range m {
		if on {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// suiteOptions are the godog options of a run.
func (r *runner) suiteOptions(t *testing.T, mutation bool) (*godog.Options, *bytes.Buffer) {
	format := os.Getenv(EnvFormat)
	if format == "" {
		format = "progress"
	}
	opts := &godog.Options{
		Format:   format,
		Paths:    []string{"."},
		FS:       features.FS,
		Tags:     r.h.Tags,
		Strict:   true,
		NoColors: true,
	}
	var buf *bytes.Buffer
	if mutation {
		// Scenarios are meant to fail: run them outside subtests so their
		// failures are collected into the report instead of failing t.
		buf = &bytes.Buffer{}
		opts.Output = buf
	} else {
		opts.TestingT = t
		opts.Output = io.Writer(os.Stdout)
	}
	return opts, buf
}

func (r *runner) runScenarios(t *testing.T, mutation bool) {
	opts, buf := r.suiteOptions(t, mutation)
	status, err := r.scenarios(opts)
	if err != nil {
		t.Fatal(err)
	}
	if status != 0 && !mutation && !t.Failed() {
		t.Errorf("godog exited with status %d", status)
	}
	if mutation && testing.Verbose() && buf != nil {
		t.Logf("godog output (expected failures):\n%s", buf.String())
	}
}

// scenarios runs the selected feature scenarios with opts and records
// their results; it returns godog's exit status.
func (r *runner) scenarios(opts *godog.Options) (int, error) {
	scenarios, err := listScenarios(opts)
	if err != nil {
		return 0, fmt.Errorf("reading the feature files: %w", err)
	}
	suite := godog.TestSuite{
		Name:                "contract-" + r.h.ID(),
		ScenarioInitializer: r.initScenario,
		Options:             opts,
	}
	status := suite.Run()
	r.mu.Lock()
	for _, sc := range scenarios {
		if res, ok := r.pending[sc.Id]; ok {
			r.checks = append(r.checks, *res)
			continue
		}
		r.checks = append(r.checks, CheckResult{
			Name: sc.Name, Source: sc.Uri, Clauses: scenarioClauses(sc), Status: Fail,
			Detail: "the scenario produced no result (godog did not run it to the end)",
		})
	}
	r.mu.Unlock()
	return status, nil
}

// listScenarios returns the scenarios the run will execute.
func listScenarios(opts *godog.Options) ([]*godog.Scenario, error) {
	o := *opts
	suite := godog.TestSuite{Options: &o}
	fts, err := suite.RetrieveFeatures()
	if err != nil {
		return nil, err
	}
	var out []*godog.Scenario
	for _, ft := range fts {
		out = append(out, ft.Pickles...)
	}
	return out, nil
}

func tagNames(sc *godog.Scenario) []string {
	out := make([]string, 0, len(sc.Tags))
	for _, t := range sc.Tags {
		out = append(out, t.Name)
	}
	return out
}

func scenarioClauses(sc *godog.Scenario) []Clause {
	return clausesOf(tagNames(sc))
}

// clausesOf returns the clauses named by tags, in order, once each.
func clausesOf(tags []string) []Clause {
	var out []Clause
	seen := map[Clause]bool{}
	for _, t := range tags {
		if c, ok := ParseClauseTag(t); ok && !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

// notApplicable returns why a check with these tags cannot run on h, or
// "" if it can.
func notApplicable(h Harness, tags []string) string {
	has := map[string]bool{}
	for _, t := range tags {
		has[t] = true
	}
	for _, c := range clausesOf(tags) {
		if why, ok := h.NotApplicable[c]; ok {
			return why
		}
		if ci, _ := c.Info(); ci.Scope == BrokerOnly && h.Kind != Broker {
			return "[broker] clause; " + h.Backend + " is a router"
		} else if ci.Scope == RouterOnly && h.Kind != Router {
			return "[router] clause; " + h.Backend + " is a broker"
		}
	}
	switch {
	case has[tagBroker] && h.Kind != Broker:
		return "broker scenario; " + h.Backend + " is a router"
	case has[tagRouter] && h.Kind != Router:
		return "router scenario; " + h.Backend + " is a broker"
	case has[tagNeedsFaults] && h.Faults == nil:
		return "needs fault injection, which only Switchyard's fake broker and router offer"
	case has[tagInterop] && h.Python == nil:
		return "needs a Python oslo.messaging peer on the backend"
	case has[tagNeedsTap] && h.Observer == nil:
		return "needs a wire observer for the backend"
	case has[tagPrefetch] && h.Prefetch == nil:
		return "the harness cannot set a prefetch count"
	case has[tagHeavy] && raceDetector && os.Getenv(EnvHeavy) != "1":
		return "too slow under the race detector (it encodes a message over the size limit); run without -race or set " + EnvHeavy + "=1"
	}
	return ""
}

// initScenario wires one scenario: a fresh world, its steps, and hooks
// that decide applicability, record the result and release everything.
func (r *runner) initScenario(sc *godog.ScenarioContext) {
	w := newWorld(&r.h)
	var began time.Time
	sc.Before(func(ctx context.Context, s *godog.Scenario) (context.Context, error) {
		began = time.Now()
		tags := tagNames(s)
		res := &CheckResult{Name: s.Name, Source: s.Uri, Clauses: clausesOf(tags)}
		r.mu.Lock()
		r.pending[s.Id] = res
		r.mu.Unlock()
		if why := notApplicable(r.h, tags); why != "" {
			res.Status, res.Detail = NotApplicable, why
			r.h.logf(ctx, "n.a. on %s/%s: %s", r.h.Name, r.h.Backend, why)
			return ctx, godog.ErrSkip
		}
		w.begin(context.Background())
		r.mu.Lock()
		r.worlds = append(r.worlds, w)
		r.mu.Unlock()
		return ctx, nil
	})
	sc.After(func(ctx context.Context, s *godog.Scenario, err error) (context.Context, error) {
		r.mu.Lock()
		res := r.pending[s.Id]
		r.mu.Unlock()
		if res == nil {
			return ctx, nil
		}
		if res.Status == NotApplicable {
			if errors.Is(err, godog.ErrUndefined) || errors.Is(err, godog.ErrAmbiguous) {
				// n.a. scenarios must still be runnable once the harness
				// can: every step needs a definition.
				res.Status, res.Detail = Fail, err.Error()
			}
			return ctx, nil
		}
		var cleanupErr error
		if w.cancel != nil {
			cleanupErr = w.teardown()
			r.mu.Lock()
			w.cancel = nil
			r.mu.Unlock()
		}
		res.Seconds = roundSeconds(time.Since(began))
		switch {
		case err != nil && !errors.Is(err, godog.ErrSkip):
			res.Status, res.Detail = Fail, err.Error()
		case cleanupErr != nil:
			res.Status, res.Detail = Fail, cleanupErr.Error()
		default:
			res.Status = Pass
		}
		return ctx, cleanupErr
	})
	w.registerMessageSteps(sc)
	w.registerRPCSteps(sc)
	w.registerFailureSteps(sc)
	w.registerLifecycleSteps(sc)
}

// closeStrayWorlds releases the worlds of scenarios that did not reach
// their After hook, so nothing outlives Run.
func (r *runner) closeStrayWorlds(t *testing.T) {
	if err := r.releaseWorlds(); err != nil {
		t.Error(err)
	}
}

// releaseWorlds tears down the worlds still open.
func (r *runner) releaseWorlds() error {
	r.mu.Lock()
	ws := r.worlds
	r.worlds = nil
	r.mu.Unlock()
	var errs []error
	for _, w := range ws {
		if w.cancel != nil {
			if err := w.teardown(); err != nil {
				errs = append(errs, fmt.Errorf("releasing a scenario that did not finish: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

func (r *runner) record(c CheckResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checks = append(r.checks, c)
}

func (r *runner) results() []CheckResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]CheckResult(nil), r.checks...)
}
