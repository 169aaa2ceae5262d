// Package plan turns a scenario and a seed into the schedule of a run: when
// each client sends which message of which size, and when each fault starts
// and stops. The same scenario and seed always give the same plan.
package plan

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/switchyard-dev/switchyard/internal/chaos/scenario"
)

// MinWindow is the shortest fault window a report marks: a one-shot fault
// (a connection kill, a restart) has effects that outlast its instant.
const MinWindow = time.Second

// Op is one planned send.
type Op struct {
	Gen    int           // index of the generator in the scenario's workload
	Seq    int           // position in the generator's schedule, from 0
	ID     string        // the id the message carries, unique in the run
	At     time.Duration // when it is due, from the start of the workload
	Client int           // which of the generator's clients sends it
	Size   int           // payload bytes
}

// Action is a fault switching on or off.
type Action struct {
	At    time.Duration
	Fault int  // index in the scenario's faults
	On    bool // false: the end of the fault
}

// Window is a part of the run a fault is marked on: from when it starts
// until it ends, or for MinWindow after a one-shot fault fires.
type Window struct {
	Fault      int
	Kind       string
	Target     string
	Start, End time.Duration
}

// Plan is a run's schedule.
type Plan struct {
	Ops     [][]Op // per generator, in time order
	Actions []Action
	Windows []Window
	Digest  string // hex SHA-256 of the schedule, equal for equal plans
}

// Total is the number of planned sends.
func (p *Plan) Total() int {
	n := 0
	for _, ops := range p.Ops {
		n += len(ops)
	}
	return n
}

// New plans a run of s with seed.
func New(s *scenario.Scenario, seed uint64) *Plan {
	p := &Plan{}
	h := sha256.New()
	var buf [8]byte
	put := func(v uint64) {
		binary.LittleEndian.PutUint64(buf[:], v)
		h.Write(buf[:])
	}
	for gi, g := range s.Workload {
		rng := rand.New(rand.NewPCG(seed, uint64(gi)+1))
		var ops []Op
		at := time.Duration(0)
		for seq := 0; ; seq++ {
			// Exponential inter-arrival times give a Poisson process of
			// the generator's rate.
			at += time.Duration(rng.ExpFloat64() / g.Rate * float64(time.Second))
			if at >= s.Duration {
				break
			}
			size := g.Size.Min
			if g.Size.Max > g.Size.Min {
				size += rng.IntN(g.Size.Max - g.Size.Min + 1)
			}
			op := Op{Gen: gi, Seq: seq, ID: fmt.Sprintf("%s-%06d", g.Name, seq), At: at, Client: seq % g.Concurrency, Size: size}
			ops = append(ops, op)
			put(uint64(gi))
			put(uint64(op.At))
			put(uint64(op.Client))
			put(uint64(op.Size))
		}
		p.Ops = append(p.Ops, ops)
	}
	for fi, f := range s.Faults {
		w := Window{Fault: fi, Kind: f.Kind, Target: f.Target}
		if f.Every > 0 {
			// A repeated one-shot fault acts only when it fires: one
			// window per firing.
			for at := f.At; at < f.At+f.For; at += f.Every {
				p.Actions = append(p.Actions, Action{At: at, Fault: fi, On: true})
				w.Start, w.End = at, at+MinWindow
				p.Windows = append(p.Windows, w)
			}
			continue
		}
		p.Actions = append(p.Actions, Action{At: f.At, Fault: fi, On: true})
		if f.For > 0 {
			p.Actions = append(p.Actions, Action{At: f.At + f.For, Fault: fi, On: false})
		}
		w.Start, w.End = f.At, f.At+max(f.For, MinWindow)
		p.Windows = append(p.Windows, w)
	}
	sort.SliceStable(p.Actions, func(i, j int) bool { return p.Actions[i].At < p.Actions[j].At })
	for _, a := range p.Actions {
		put(uint64(a.At))
		put(uint64(a.Fault))
		if a.On {
			put(1)
		} else {
			put(0)
		}
	}
	p.Digest = hex.EncodeToString(h.Sum(nil))
	return p
}

// Scale returns a copy of s whose workload runs for d, with the fault
// timeline stretched or shrunk to match, so short runs of long scenarios
// keep their shape. Durations of faults never shrink below 100 ms.
func Scale(s *scenario.Scenario, d time.Duration) *scenario.Scenario {
	c := *s
	if d <= 0 || d == s.Duration {
		return &c
	}
	k := float64(d) / float64(s.Duration)
	scale := func(x time.Duration, floor time.Duration) time.Duration {
		if x == 0 {
			return 0
		}
		return max(time.Duration(float64(x)*k), floor)
	}
	c.Duration = d
	c.Faults = make([]scenario.Fault, len(s.Faults))
	for i, f := range s.Faults {
		f.At = time.Duration(float64(f.At) * k)
		f.For = scale(f.For, 100*time.Millisecond)
		f.Every = scale(f.Every, 100*time.Millisecond)
		if f.At+f.For > d {
			f.For = max(d-f.At, 0)
		}
		c.Faults[i] = f
	}
	return &c
}
