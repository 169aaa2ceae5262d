// Package checker judges a chaos run from its history alone, in the
// vocabulary of Jepsen's total-queue checker: a message is lost when its
// send was acknowledged and no consumer processed it, duplicated when one
// consumer group processed it more than once, unexpected when it was
// processed but never sent, and recovered when its send failed or ended
// unknown and it was processed anyway. It also checks reply correlation,
// the call success rate and latency percentiles in and out of fault windows.
//
// The checker trusts nothing the driver under test says beyond the outcome
// of each send: what was processed is what the workload's own servers and
// listeners recorded.
package checker

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/switchyard-dev/switchyard/internal/chaos/history"
	"github.com/switchyard-dev/switchyard/internal/chaos/plan"
	"github.com/switchyard-dev/switchyard/internal/chaos/scenario"
)

// MaxExamples is how many message ids each count keeps as examples.
const MaxExamples = 10

// Result is one invariant's verdict.
type Result struct {
	Invariant string `json:"invariant"`
	Observed  string `json:"observed"`
	Allowed   string `json:"allowed"`
	Holds     bool   `json:"holds"`
}

// Counts are the run's totals.
type Counts struct {
	Sends      int64 `json:"sends"`
	Acked      int64 `json:"acked"`
	Failed     int64 `json:"failed"`
	Unknown    int64 `json:"unknown"`
	Processed  int64 `json:"processed"`
	Lost       int64 `json:"lost"`
	Duplicated int64 `json:"duplicated"`
	Unexpected int64 `json:"unexpected"`
	Recovered  int64 `json:"recovered"`
	Crossed    int64 `json:"crossed_replies"`
	Calls      int64 `json:"calls"`
	CallsOK    int64 `json:"calls_ok"`

	// Examples of message ids behind each non-zero count.
	LostIDs       []string `json:"lost_ids,omitempty"`
	DuplicatedIDs []string `json:"duplicated_ids,omitempty"`
	UnexpectedIDs []string `json:"unexpected_ids,omitempty"`
	RecoveredIDs  []string `json:"recovered_ids,omitempty"`
	CrossedIDs    []string `json:"crossed_ids,omitempty"`
	// Errors counts the sends' errors by message, the most frequent first.
	Errors []ErrorCount `json:"errors,omitempty"`
}

// ErrorCount is how often one send error occurred.
type ErrorCount struct {
	Error string `json:"error"`
	Count int64  `json:"count"`
}

// LatencyStats are latency percentiles of one part of the run.
type LatencyStats struct {
	Window string  `json:"window"` // scenario.OutsideFaults, DuringFaults or AllTime
	Of     string  `json:"of"`     // "calls" or "sends"
	Count  int     `json:"count"`
	P50    float64 `json:"p50_ms"`
	P90    float64 `json:"p90_ms"`
	P99    float64 `json:"p99_ms"`
	Max    float64 `json:"max_ms"`
}

// Second is one second of the run.
type Second struct {
	T         int     `json:"t"` // seconds from the start
	Sent      int     `json:"sent"`
	Acked     int     `json:"acked"`
	Failed    int     `json:"failed"` // failed or unknown
	Processed int     `json:"processed"`
	P50       float64 `json:"p50_ms"` // of the sends started in this second
	P99       float64 `json:"p99_ms"`
	Closes    int     `json:"connection_closes"` // as the embedded broker logged them
}

// Verdict is the judgement of a run.
type Verdict struct {
	Holds   bool           `json:"holds"`
	Results []Result       `json:"results"`
	Counts  Counts         `json:"counts"`
	Latency []LatencyStats `json:"latency"`
	Series  []Second       `json:"series"`
}

// Failed lists the invariants that do not hold.
func (v Verdict) Failed() []string {
	var out []string
	for _, r := range v.Results {
		if !r.Holds {
			out = append(out, r.Invariant)
		}
	}
	return out
}

type key struct{ id, group string }

// Check judges rec against the scenario's invariants; windows are the
// fault windows of the run.
func Check(s *scenario.Scenario, rec history.Record, windows []plan.Window) Verdict {
	var c Counts
	sent := make(map[string]*history.Send, len(rec.Sends))
	errs := map[string]int64{}
	for i := range rec.Sends {
		snd := &rec.Sends[i]
		sent[snd.ID] = snd
		c.Sends++
		switch snd.Outcome {
		case history.OK:
			c.Acked++
		case history.Failed:
			c.Failed++
		default:
			c.Unknown++
		}
		if snd.Err != "" {
			errs[snd.Err]++
		}
		if snd.Kind == scenario.Call {
			c.Calls++
			if snd.Outcome == history.OK {
				c.CallsOK++
				if snd.Reply != snd.ID {
					c.Crossed++
					c.CrossedIDs = example(c.CrossedIDs, snd.ID+" got "+quote(snd.Reply))
				}
			}
		}
	}
	processed := map[key]int{}
	processedAny := map[string]bool{}
	by := map[key][]string{} // consumers that processed each message
	var dups []key
	for _, d := range rec.Deliveries {
		c.Processed++
		snd, ok := sent[d.ID]
		if !ok {
			c.Unexpected++
			c.UnexpectedIDs = example(c.UnexpectedIDs, quote(d.ID))
			continue
		}
		if !contains(snd.Expect, d.Group) {
			// A consumer group the message was not for: as unexpected as
			// a message never sent.
			c.Unexpected++
			c.UnexpectedIDs = example(c.UnexpectedIDs, d.ID+" in group "+quote(d.Group))
			continue
		}
		k := key{d.ID, d.Group}
		processed[k]++
		by[k] = append(by[k], d.Consumer)
		if processed[k] == 2 {
			c.Duplicated++
			dups = append(dups, k)
		}
		processedAny[d.ID] = true
	}
	for _, k := range dups {
		c.DuplicatedIDs = example(c.DuplicatedIDs, k.id+" by "+strings.Join(by[k], " and "))
	}
	for _, snd := range rec.Sends {
		switch snd.Outcome {
		case history.OK:
			for _, g := range snd.Expect {
				if processed[key{snd.ID, g}] == 0 {
					c.Lost++
					id := snd.ID
					if g != "*" && g != "" {
						id += " (" + g + ")"
					}
					c.LostIDs = example(c.LostIDs, id)
				}
			}
		default:
			if processedAny[snd.ID] {
				c.Recovered++
				c.RecoveredIDs = example(c.RecoveredIDs, snd.ID)
			}
		}
	}
	for e, n := range errs {
		c.Errors = append(c.Errors, ErrorCount{Error: e, Count: n})
	}
	sort.Slice(c.Errors, func(i, j int) bool {
		if c.Errors[i].Count != c.Errors[j].Count {
			return c.Errors[i].Count > c.Errors[j].Count
		}
		return c.Errors[i].Error < c.Errors[j].Error
	})
	if len(c.Errors) > 20 {
		c.Errors = c.Errors[:20]
	}

	v := Verdict{Counts: c, Holds: true}
	inv := s.Invariants
	add := func(name string, observed int64, l scenario.Limit) {
		v.Results = append(v.Results, Result{Invariant: name, Observed: fmt.Sprint(observed), Allowed: l.String(), Holds: l.Allows(observed)})
	}
	add("lost", c.Lost, inv.Lost)
	add("duplicated", c.Duplicated, inv.Duplicated)
	add("unexpected", c.Unexpected, inv.Unexpected)
	add("recovered", c.Recovered, inv.Recovered)
	if c.Calls > 0 {
		add("crossed replies", c.Crossed, inv.CrossedReplies)
	}
	if inv.CallSuccessRate >= 0 {
		// No call at all proves nothing about calls: the bound fails.
		r := Result{Invariant: "call success rate", Observed: "no calls", Allowed: fmt.Sprintf("≥ %.3f", inv.CallSuccessRate)}
		if c.Calls > 0 {
			rate := float64(c.CallsOK) / float64(c.Calls)
			r.Observed = fmt.Sprintf("%.3f (%d/%d)", rate, c.CallsOK, c.Calls)
			r.Holds = rate >= inv.CallSuccessRate
		}
		v.Results = append(v.Results, r)
	}
	lat := latencies(rec.Sends, windows)
	for _, w := range []string{scenario.OutsideFaults, scenario.DuringFaults, scenario.AllTime} {
		v.Latency = append(v.Latency, stats(w, lat))
	}
	for _, b := range inv.Latency {
		xs := lat.of(b.Window)
		r := Result{Invariant: fmt.Sprintf("latency p%g %s", b.Percentile, strings.ReplaceAll(b.Window, "_", " ")), Allowed: b.Allowed()}
		if len(xs) == 0 {
			r.Observed = "no samples"
			r.Holds = true
		} else {
			p := percentile(xs, b.Percentile)
			r.Observed = p.Round(time.Millisecond / 10).String()
			r.Holds = b.Holds(p)
		}
		v.Results = append(v.Results, r)
	}
	for _, r := range v.Results {
		if !r.Holds {
			v.Holds = false
		}
	}
	v.Series = series(rec)
	return v
}

func quote(s string) string { return fmt.Sprintf("%q", s) }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func example(list []string, s string) []string {
	if len(list) < MaxExamples {
		return append(list, s)
	}
	return list
}

// samples are latencies sorted ascending, by window.
type samples struct {
	what            string // "calls" or "sends"
	outside, during []time.Duration
}

func (s samples) of(window string) []time.Duration {
	switch window {
	case scenario.OutsideFaults:
		return s.outside
	case scenario.DuringFaults:
		return s.during
	}
	all := append(append([]time.Duration(nil), s.outside...), s.during...)
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	return all
}

// latencies takes the successful calls, or every acknowledged send when
// the run made no call, and sorts them by whether they overlap a fault
// window.
func latencies(sends []history.Send, windows []plan.Window) samples {
	s := samples{what: "sends"}
	calls := false
	for _, snd := range sends {
		if snd.Kind == scenario.Call {
			calls = true
			s.what = "calls"
			break
		}
	}
	for _, snd := range sends {
		if snd.Outcome != history.OK || (calls && snd.Kind != scenario.Call) {
			continue
		}
		if overlaps(snd, windows) {
			s.during = append(s.during, snd.Latency())
		} else {
			s.outside = append(s.outside, snd.Latency())
		}
	}
	sort.Slice(s.outside, func(i, j int) bool { return s.outside[i] < s.outside[j] })
	sort.Slice(s.during, func(i, j int) bool { return s.during[i] < s.during[j] })
	return s
}

func overlaps(snd history.Send, windows []plan.Window) bool {
	for _, w := range windows {
		if snd.Start <= w.End && snd.End >= w.Start {
			return true
		}
	}
	return false
}

// percentile is the nearest-rank percentile of sorted xs.
func percentile(xs []time.Duration, p float64) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(xs)))) - 1
	return xs[min(max(i, 0), len(xs)-1)]
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

func stats(window string, s samples) LatencyStats {
	xs := s.of(window)
	out := LatencyStats{Window: window, Of: s.what, Count: len(xs)}
	if len(xs) > 0 {
		out.P50, out.P90, out.P99, out.Max = ms(percentile(xs, 50)), ms(percentile(xs, 90)), ms(percentile(xs, 99)), ms(xs[len(xs)-1])
	}
	return out
}

func series(rec history.Record) []Second {
	end := time.Duration(0)
	for _, s := range rec.Sends {
		end = max(end, s.End)
	}
	for _, d := range rec.Deliveries {
		end = max(end, d.At)
	}
	n := int(end/time.Second) + 1
	out := make([]Second, n)
	lat := make([][]time.Duration, n)
	for i := range out {
		out[i].T = i
	}
	sec := func(d time.Duration) int { return min(max(int(d/time.Second), 0), n-1) }
	for _, s := range rec.Sends {
		i := sec(s.Start)
		out[i].Sent++
		if s.Outcome == history.OK {
			out[sec(s.End)].Acked++
			lat[i] = append(lat[i], s.Latency())
		} else {
			out[sec(s.End)].Failed++
		}
	}
	for _, d := range rec.Deliveries {
		out[sec(d.At)].Processed++
	}
	for _, c := range rec.ConnectionCloses {
		out[sec(c)].Closes++
	}
	for i, xs := range lat {
		sort.Slice(xs, func(a, b int) bool { return xs[a] < xs[b] })
		out[i].P50, out[i].P99 = ms(percentile(xs, 50)), ms(percentile(xs, 99))
	}
	return out
}
