package fault_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchyard-dev/switchyard/fake/fault"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"", "a", false},
		{"*", "", true},
		{"*", "anything", true},
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"a*c", "abbbc", true},
		{"a*c", "ab", false},
		{"*:listener", "nova:1:abc:listener", true},
		{"*:listener", "nova:1:abc:publisher", false},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXcYb", false},
		{"**", "x", true},
		{"*a", "bbba", true},
		{"*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
	} {
		if got := fault.Glob(tc.pattern, tc.s); got != tc.want {
			t.Errorf("Glob(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func TestScope(t *testing.T) {
	p := fault.Point{VHost: "/", Queue: "q1", Connection: "svc:listener"}
	for _, tc := range []struct {
		s    fault.Scope
		p    fault.Point
		want bool
	}{
		{fault.Scope{}, p, true},
		{fault.Scope{}, fault.Point{}, true},
		{fault.Scope{VHost: "/"}, p, true},
		{fault.Scope{VHost: "other"}, p, false},
		{fault.Scope{Queue: "q*"}, p, true},
		{fault.Scope{Queue: "q1"}, fault.Point{VHost: "/"}, false}, // not about a queue
		{fault.Scope{Connection: "*:listener", Queue: "q1"}, p, true},
		{fault.Scope{Connection: "*:publisher"}, p, false},
	} {
		if got := tc.s.Matches(tc.p); got != tc.want {
			t.Errorf("%v matches %+v = %v, want %v", tc.s, tc.p, got, tc.want)
		}
	}
	if s := (fault.Scope{}).String(); s != "everything" {
		t.Errorf("String() = %q", s)
	}
}

func TestValidation(t *testing.T) {
	in := fault.New(1)
	for _, f := range []fault.Fault{
		{Kind: "melt-down"},
		{Kind: fault.NackPublishes, Probability: 1.5},
		{Kind: fault.NackPublishes, Probability: -0.1},
		{Kind: fault.NackPublishes, Limit: -1},
		{Kind: fault.DelayConfirms},
		{Kind: fault.DelayConfirms, Delay: -time.Second},
	} {
		if _, err := in.Enable(f); err == nil {
			t.Errorf("Enable(%v) accepted", f)
		}
	}
	if len(in.Enabled()) != 0 {
		t.Fatal("an invalid fault was enabled")
	}
}

func TestKinds(t *testing.T) {
	mutants := 0
	for _, k := range fault.Kinds {
		if !k.Valid() {
			t.Errorf("%s not valid", k)
		}
		if k.Mutant() {
			mutants++
		}
	}
	if mutants != 5 {
		t.Errorf("%d mutants, want 5", mutants)
	}
	if !fault.CloseConnections.OneShot() || fault.PauseDeliveries.OneShot() {
		t.Error("OneShot is wrong")
	}
}

func TestCheckScopeSkipLimit(t *testing.T) {
	in := fault.New(1)
	if in.Any(fault.NackPublishes) {
		t.Fatal("Any with nothing enabled")
	}
	id := in.MustEnable(fault.Fault{Kind: fault.NackPublishes, Scope: fault.Scope{Queue: "q"}, Skip: 2, Limit: 3})
	if !in.Any(fault.NackPublishes) || in.Any(fault.PauseDeliveries) {
		t.Fatal("Any is wrong")
	}
	var got []bool
	for range 8 {
		_, ok := in.Check(fault.NackPublishes, fault.Point{Queue: "q"})
		got = append(got, ok)
		if _, ok := in.Check(fault.NackPublishes, fault.Point{Queue: "other"}); ok {
			t.Fatal("matched another queue")
		}
		if _, ok := in.Check(fault.PauseDeliveries, fault.Point{Queue: "q"}); ok {
			t.Fatal("matched another kind")
		}
	}
	want := []bool{false, false, true, true, true, false, false, false}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if n := in.Fired(id); n != 3 {
		t.Fatalf("Fired = %d", n)
	}
	if !in.Disable(id) || in.Disable(id) {
		t.Fatal("Disable")
	}
	if n := in.Fired(id); n != 3 {
		t.Fatalf("Fired after Disable = %d", n)
	}
	if _, ok := in.Check(fault.NackPublishes, fault.Point{Queue: "q"}); ok {
		t.Fatal("matched after Disable")
	}
}

// decisions returns which of n events a fault with probability p hits
// under seed.
func decisions(seed uint64, p float64, n int) []bool {
	in := fault.New(seed)
	in.MustEnable(fault.Fault{Kind: fault.DuplicateDelivery, Probability: p})
	out := make([]bool, n)
	for i := range out {
		_, out[i] = in.Check(fault.DuplicateDelivery, fault.Point{Queue: "q"})
	}
	return out
}

func TestDeterministicUnderSeed(t *testing.T) {
	a, b, c := decisions(42, 0.3, 1000), decisions(42, 0.3, 1000), decisions(43, 0.3, 1000)
	if !slices.Equal(a, b) {
		t.Fatal("the same seed gave different decisions")
	}
	if slices.Equal(a, c) {
		t.Fatal("different seeds gave the same 1000 decisions")
	}
	hits := 0
	for _, v := range a {
		if v {
			hits++
		}
	}
	if hits < 230 || hits > 370 {
		t.Fatalf("%d hits of 1000 at p=0.3", hits)
	}
}

func TestWatchAndOneShot(t *testing.T) {
	in := fault.New(1)
	var mu sync.Mutex
	var changes []fault.Change
	var seenEnabled bool
	cancel := in.Watch(func(c fault.Change) {
		mu.Lock()
		defer mu.Unlock()
		changes = append(changes, c)
		if c.Fault.Kind == fault.CloseConnections {
			// A one-shot fault is still enabled while watchers run.
			_, seenEnabled = in.Check(fault.CloseConnections, fault.Point{Connection: "x"})
		}
	})
	id := in.MustEnable(fault.Fault{Kind: fault.PauseDeliveries})
	in.Disable(id)
	in.MustEnable(fault.Fault{Kind: fault.CloseConnections})
	if len(in.Enabled()) != 0 {
		t.Fatalf("one-shot fault left enabled: %v", in.Enabled())
	}
	cancel()
	in.MustEnable(fault.Fault{Kind: fault.PauseDeliveries})
	mu.Lock()
	defer mu.Unlock()
	if len(changes) != 3 || !changes[0].On || changes[1].On || !changes[2].On || changes[2].Fault.Kind != fault.CloseConnections {
		t.Fatalf("changes %+v", changes)
	}
	if !seenEnabled {
		t.Fatal("the one-shot fault was not visible to Check inside the watcher")
	}
}

func TestForSwitchesOff(t *testing.T) {
	in := fault.New(1)
	off := make(chan fault.Change, 1)
	defer in.Watch(func(c fault.Change) {
		if !c.On {
			off <- c
		}
	})()
	start := time.Now()
	in.MustEnable(fault.Fault{Kind: fault.RefuseConnections, For: 50 * time.Millisecond})
	select {
	case c := <-off:
		if el := time.Since(start); el < 50*time.Millisecond {
			t.Fatalf("off after %v", el)
		}
		if c.Fault.Kind != fault.RefuseConnections {
			t.Fatalf("change %+v", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the fault did not switch itself off")
	}
	if in.Any(fault.RefuseConnections) {
		t.Fatal("still enabled")
	}
}

func TestDisableAll(t *testing.T) {
	in := fault.New(1)
	in.MustEnable(fault.Fault{Kind: fault.PauseDeliveries, For: time.Hour})
	in.MustEnable(fault.Fault{Kind: fault.StopHeartbeats})
	in.DisableAll()
	if len(in.Enabled()) != 0 || in.Any(fault.PauseDeliveries) {
		t.Fatal("DisableAll left faults on")
	}
}

func TestConcurrentUse(t *testing.T) {
	in := fault.New(7)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				if g == 0 && i%20 == 0 {
					id := in.MustEnable(fault.Fault{Kind: fault.NackPublishes, Probability: 0.5})
					in.Disable(id)
				}
				in.Check(fault.NackPublishes, fault.Point{Queue: "q"})
				in.Enabled()
			}
		}()
	}
	wg.Wait()
}
