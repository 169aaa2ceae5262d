package plan

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/internal/chaos/scenario"
)

func demo(t *testing.T) *scenario.Scenario {
	t.Helper()
	s, err := scenario.Parse("p.yaml", []byte(`name: p
duration: 10s
workload:
  - {kind: call, rate: 50, concurrency: 3, size: {min: 1, max: 1000}}
  - {kind: notify, rate: 20}
faults:
  - {at: 2s, for: 3s, every: 1s, kind: close-connections}
  - {at: 1s, for: 4s, kind: pause-deliveries}
  - {at: 6s, kind: restart}
`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSameSeedSamePlan(t *testing.T) {
	s := demo(t)
	a, b := New(s, 42), New(s, 42)
	if a.Digest != b.Digest || a.Total() != b.Total() {
		t.Fatalf("same seed, different plans: %s/%d and %s/%d", a.Digest, a.Total(), b.Digest, b.Total())
	}
	for g := range a.Ops {
		for i := range a.Ops[g] {
			if a.Ops[g][i] != b.Ops[g][i] {
				t.Fatalf("op %d/%d differs: %+v vs %+v", g, i, a.Ops[g][i], b.Ops[g][i])
			}
		}
	}
	if c := New(s, 43); c.Digest == a.Digest {
		t.Errorf("seeds 42 and 43 gave the same schedule %s", a.Digest)
	}
}

func TestPlanShape(t *testing.T) {
	s := demo(t)
	p := New(s, 1)
	// Poisson arrivals at 50/s and 20/s over 10 s: about 500 and 200.
	if n := len(p.Ops[0]); n < 400 || n > 600 {
		t.Errorf("call ops: %d, want about 500", n)
	}
	if n := len(p.Ops[1]); n < 140 || n > 260 {
		t.Errorf("notify ops: %d, want about 200", n)
	}
	ids := map[string]bool{}
	for _, ops := range p.Ops {
		last := time.Duration(0)
		for _, op := range ops {
			if op.At < last || op.At >= s.Duration {
				t.Fatalf("op %s at %s out of order or past the end", op.ID, op.At)
			}
			last = op.At
			if ids[op.ID] {
				t.Fatalf("id %s twice", op.ID)
			}
			ids[op.ID] = true
			g := s.Workload[op.Gen]
			if op.Size < g.Size.Min || op.Size > g.Size.Max || op.Client < 0 || op.Client >= g.Concurrency {
				t.Fatalf("op %+v outside the generator's size or clients", op)
			}
		}
	}
	// close-connections every 1s within 3s: 3 firings; pause on and off;
	// restart once.
	var kinds []string
	for _, a := range p.Actions {
		k := s.Faults[a.Fault].Kind
		if !a.On {
			k += " off"
		}
		kinds = append(kinds, a.At.String()+" "+k)
	}
	want := []string{"1s pause-deliveries", "2s close-connections", "3s close-connections", "4s close-connections", "5s pause-deliveries off", "6s restart"}
	if len(kinds) != len(want) {
		t.Fatalf("actions %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("actions %v, want %v", kinds, want)
		}
	}
	// One window per firing of close-connections, one for the pause, one
	// for the restart.
	var windows []string
	for _, w := range p.Windows {
		windows = append(windows, fmt.Sprintf("%d:%s-%s", w.Fault, w.Start, w.End))
	}
	if got := strings.Join(windows, " "); got != "0:2s-3s 0:3s-4s 0:4s-5s 1:1s-5s 2:6s-7s" {
		t.Errorf("windows %s", got)
	}
}

func TestScale(t *testing.T) {
	s := demo(t)
	c := Scale(s, 2*time.Second)
	if c.Duration != 2*time.Second || s.Duration != 10*time.Second {
		t.Fatalf("durations %s (copy) and %s (original)", c.Duration, s.Duration)
	}
	f := c.Faults[0]
	if f.At != 400*time.Millisecond || f.For != 600*time.Millisecond || f.Every != 200*time.Millisecond {
		t.Errorf("scaled fault %+v", f)
	}
	if s.Faults[0].At != 2*time.Second {
		t.Errorf("Scale changed the original: %+v", s.Faults[0])
	}
	for _, f := range c.Faults {
		if f.At+f.For > c.Duration {
			t.Errorf("scaled fault %+v ends after %s", f, c.Duration)
		}
	}
	if same := Scale(s, 0); same.Duration != s.Duration {
		t.Errorf("Scale(0) changed the duration to %s", same.Duration)
	}
}
