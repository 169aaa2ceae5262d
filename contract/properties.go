package contract

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/switchyard-dev/switchyard/contract/internal/tally"
	"github.com/switchyard-dev/switchyard/drivers"
)

// property is a rapid property of one clause, checked against a world
// that setup prepared once.
type property struct {
	clause Clause
	name   string
	// needs lists scenario tags (such as @needs-faults) whose
	// requirements the property shares.
	needs []string
	// checks overrides rapid's number of checks (-rapid.checks) for a
	// property whose every check is slow; 0 keeps rapid's.
	checks int
	setup  func(w *world) error // nil: nothing to prepare
	check  func(t *rapid.T, w *world)
}

var properties = slices.Concat(basicProperties, deliveryProperties)

var basicProperties = []property{
	{
		clause: "C06",
		name:   "a call returns any JSON value the server replies, unchanged",
		setup: func(w *world) error {
			return w.rpcServers("an", "", "prop", "echoes what it is sent")
		},
		check: func(t *rapid.T, w *world) {
			v := jsonValue(3).Draw(t, "value")
			d, err := w.defaultClient()
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(w.ctx, 2*w.h.Wait)
			defer cancel()
			r := w.call(ctx, d, w.topic("prop"), "echo", map[string]any{"value": v}, drivers.SendOptions{Timeout: w.h.Wait})
			if r.err != nil {
				t.Fatalf("call failed: %v", r.err)
			}
			if diff := jsonDiff(v, r.value); diff != "" {
				t.Fatalf("reply changed: %s", diff)
			}
		},
	},
	{
		clause: "C07",
		name:   "concurrent calls answered in random order each get their own reply",
		setup: func(w *world) error {
			return w.rpcServers("2", "", "prop", "answer after a random delay of up to 20 ms")
		},
		check: func(t *rapid.T, w *world) {
			n := rapid.IntRange(1, 24).Draw(t, "calls")
			w.calls = nil
			if err := w.manyCalls(n, "concurrent calls", "prop"); err != nil {
				t.Fatal(err)
			}
			if err := w.everyOwnReply(); err != nil {
				t.Fatal(err)
			}
		},
	},
	{
		clause: "C26",
		name:   "any notification payload decodes the same from envelope 1.0 and 2.0",
		setup: func(w *world) error {
			return w.aNotificationListener("prop", "prop", "info", "", "")
		},
		check: func(t *rapid.T, w *world) {
			payload := jsonValue(2).Draw(t, "payload")
			version := rapid.SampledFrom([]string{"1.0", "2.0"}).Draw(t, "version")
			d, err := w.defaultClient()
			if err != nil {
				t.Fatal(err)
			}
			msg, id, _, err := w.notification("info")
			if err != nil {
				t.Fatal(err)
			}
			msg["payload"] = payload
			id = msg["message_id"].(string)
			ctx, cancel := context.WithTimeout(w.ctx, w.h.Wait)
			defer cancel()
			if err := d.SendNotification(ctx, drivers.Target{Topic: w.topic("prop") + ".info"}, requestContext(), msg, version, -1); err != nil {
				t.Fatalf("SendNotification: %v", err)
			}
			if !w.waitFor(func(rs []tally.Receipt) bool { return countID(rs, "prop", id) > 0 }) {
				t.Fatalf("notification (version %s) not received within %v", version, w.h.Wait)
			}
			for _, r := range w.log.Of("prop") {
				if r.ID == id {
					if diff := jsonDiff(map[string]any(msg), r.Value); diff != "" {
						t.Fatalf("version %s notification changed: %s", version, diff)
					}
				}
			}
		},
	},
}

// jsonValue generates JSON-representable values nested up to depth.
func jsonValue(depth int) *rapid.Generator[any] {
	leaf := rapid.OneOf(
		rapid.Just[any](nil),
		rapid.Map(rapid.Bool(), func(b bool) any { return b }),
		rapid.Map(rapid.Int32(), func(i int32) any { return float64(i) }),
		rapid.Map(rapid.Float64Range(-1e9, 1e9), func(f float64) any { return f }),
		rapid.Map(rapid.StringN(0, 40, -1), func(s string) any { return s }),
	)
	if depth <= 0 {
		return leaf
	}
	inner := jsonValue(depth - 1)
	return rapid.OneOf(
		leaf,
		rapid.Map(rapid.SliceOfN(inner, 0, 4), func(v []any) any { return v }),
		rapid.Map(rapid.MapOfN(rapid.StringN(0, 12, -1), inner, 0, 4), func(m map[string]any) any { return m }),
	)
}

func (r *runner) selectedProperties() []property {
	var out []property
	for _, p := range properties {
		switch {
		case r.h.Properties != nil:
			if !slices.Contains(r.h.Properties, p.clause) {
				continue
			}
		case r.h.Tags != "":
			tag := "@" + string(p.clause)
			if !strings.Contains(r.h.Tags, tag) || strings.Contains(r.h.Tags, "~"+tag) {
				continue
			}
		}
		out = append(out, p)
	}
	return out
}

func (r *runner) runProperties(t *testing.T, mutation bool) {
	if mutation {
		// Expected failures must not leave rapid fail files in the tree,
		// and need no minimal counterexample.
		for name, v := range map[string]string{"rapid.nofailfile": "true", "rapid.shrinktime": "2s"} {
			if f := flag.Lookup(name); f != nil {
				old := f.Value.String()
				_ = f.Value.Set(v)
				defer func() { _ = f.Value.Set(old) }()
			}
		}
	}
	r.properties(func(p property) (Status, string) {
		var st Status
		var detail string
		t.Run(string(p.clause)+" "+p.name, func(t *testing.T) {
			var parent testing.TB = t
			if mutation {
				parent = nil
			}
			st, detail = r.checkProperty(parent, p)
		})
		return st, detail
	})
}

// properties runs each selected property through check and records the
// results.
func (r *runner) properties(check func(property) (Status, string)) {
	for _, p := range r.selectedProperties() {
		res := CheckResult{Name: p.name, Source: "property", Clauses: []Clause{p.clause}}
		if why := notApplicable(r.h, append([]string{"@" + string(p.clause)}, p.needs...)); why != "" {
			res.Status, res.Detail = NotApplicable, why
			r.record(res)
			continue
		}
		start := time.Now()
		res.Status, res.Detail = check(p)
		res.Seconds = roundSeconds(time.Since(start))
		r.record(res)
	}
}

// checkProperty prepares a world, runs the property with rapid and
// releases the world. With a nil parent the outcome is only returned.
func (r *runner) checkProperty(parent testing.TB, p property) (Status, string) {
	w := newWorld(&r.h)
	w.begin(context.Background())
	rec := &recordingTB{parent: parent, name: "property " + string(p.clause)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if p.setup != nil {
			if err := p.setup(w); err != nil {
				rec.Fatalf("setting up: %v", err)
			}
		}
		if p.checks > 0 {
			if f := flag.Lookup("rapid.checks"); f != nil {
				old := f.Value.String()
				// A smaller count given on the command line wins.
				if n, err := strconv.Atoi(old); err != nil || n > p.checks {
					_ = f.Value.Set(strconv.Itoa(p.checks))
					defer func() { _ = f.Value.Set(old) }()
				}
			}
		}
		rapid.Check(rec, func(t *rapid.T) { p.check(t, w) })
	}()
	<-done
	if err := w.teardown(); err != nil {
		rec.Errorf("%v", err)
	}
	if rec.Failed() {
		return Fail, rec.firstError()
	}
	return Pass, ""
}

// recordingTB is the testing.TB rapid reports to: it keeps the first
// failure for the clause report and forwards everything to parent, if
// any. Fatal ends the calling goroutine, as testing.T's does.
type recordingTB struct {
	parent testing.TB
	name   string

	mu     sync.Mutex
	failed bool
	errs   []string
}

var _ rapid.TB = (*recordingTB)(nil)

func (r *recordingTB) Helper() {}

func (r *recordingTB) Name() string {
	if r.parent != nil {
		return r.parent.Name()
	}
	return r.name
}

func (r *recordingTB) Logf(format string, args ...any) {
	if r.parent != nil {
		r.parent.Logf(format, args...)
	}
}

func (r *recordingTB) Log(args ...any) {
	if r.parent != nil {
		r.parent.Log(args...)
	}
}

func (r *recordingTB) Skipf(format string, args ...any) { r.Logf("skip: "+format, args...) }
func (r *recordingTB) Skip(args ...any)                 { r.Log(append([]any{"skip:"}, args...)...) }
func (r *recordingTB) SkipNow()                         { runtime.Goexit() }

func (r *recordingTB) Errorf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	r.failed = true
	r.errs = append(r.errs, msg)
	r.mu.Unlock()
	if r.parent != nil {
		r.parent.Error(msg)
	}
}

func (r *recordingTB) Error(args ...any) { r.Errorf("%s", fmt.Sprint(args...)) }

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

func (r *recordingTB) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }
func (r *recordingTB) FailNow()          { r.Fail(); runtime.Goexit() }

func (r *recordingTB) Fail() {
	r.mu.Lock()
	r.failed = true
	r.mu.Unlock()
	if r.parent != nil {
		r.parent.Fail()
	}
}

func (r *recordingTB) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

func (r *recordingTB) firstError() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) == 0 {
		return "failed"
	}
	return r.errs[0]
}
