// Package report presents a chaos run: the verdict table printed at the end
// of a run, report.json with every count, per-second series and fault
// windows, and report.html, a self-contained page with throughput and
// latency over time, fault windows shaded, and the verdict table.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/switchyard-dev/switchyard/fake/broker"
	"github.com/switchyard-dev/switchyard/fake/router"
	"github.com/switchyard-dev/switchyard/internal/chaos/checker"
	"github.com/switchyard-dev/switchyard/internal/chaos/runner"
)

// Report is the content of report.json.
type Report struct {
	Scenario    string  `json:"scenario"`
	File        string  `json:"file"`
	Description string  `json:"description,omitempty"`
	Driver      string  `json:"driver"`
	Backend     string  `json:"backend"`
	Seed        uint64  `json:"seed"`
	Schedule    string  `json:"schedule_digest"`
	ExpectFail  bool    `json:"expect_fail,omitempty"`
	Started     string  `json:"started"`
	DurationS   float64 `json:"duration_s"`     // the workload's planned duration
	WorkloadS   float64 `json:"workload_end_s"` // when the last send finished
	EndS        float64 `json:"end_s"`          // when the drain ended
	Planned     int     `json:"planned_sends"`
	// RateProcessed is messages processed per second of workload.
	RateProcessed float64                `json:"processed_per_s"`
	Holds         bool                   `json:"holds"`
	Verdict       []checker.Result       `json:"verdict"`
	Counts        checker.Counts         `json:"counts"`
	Latency       []checker.LatencyStats `json:"latency"`
	Series        []checker.Second       `json:"series"`
	Faults        []Fault                `json:"faults"`
	Broker        *Broker                `json:"broker,omitempty"`
	Router        *Router                `json:"router,omitempty"`
	Notes         []string               `json:"notes,omitempty"`
}

// Fault is one fault of the timeline: what it did and the windows it is
// marked on.
type Fault struct {
	Kind    string   `json:"kind"`
	Target  string   `json:"target"`
	Applied int      `json:"applied"` // times switched on or fired
	Acted   int      `json:"acted"`   // events, connections or queues it acted on
	Errors  []string `json:"errors,omitempty"`
	Windows []Window `json:"windows"`
}

// Window is a span of the run, in seconds from the start of the workload.
type Window struct {
	StartS float64 `json:"start_s"`
	EndS   float64 `json:"end_s"`
}

// Broker is what the embedded broker observed.
type Broker struct {
	Totals     broker.Totals    `json:"totals"`
	Events     map[string]int64 `json:"events"`
	EventsLost int64            `json:"events_lost,omitempty"`
}

// Router is what the embedded routers observed.
type Router struct {
	Totals     []router.Totals  `json:"totals"` // one per router
	Events     map[string]int64 `json:"events"` // over every router
	EventsLost int64            `json:"events_lost,omitempty"`
}

func secs(d time.Duration) float64 { return float64(d.Round(time.Millisecond)) / float64(time.Second) }

// Build assembles the report of a run.
func Build(res *runner.Result) *Report {
	s := res.Scenario
	r := &Report{
		Scenario: s.Name, File: s.File, Description: s.Description, Driver: s.Driver, Backend: res.Backend,
		Seed: res.Seed, Schedule: res.Digest, ExpectFail: s.ExpectFail,
		Started:   res.Started.UTC().Format(time.RFC3339Nano),
		DurationS: secs(s.Duration), WorkloadS: secs(res.WorkloadEnd), EndS: secs(res.End),
		Planned: res.Planned,
		Holds:   res.Verdict.Holds, Verdict: res.Verdict.Results, Counts: res.Verdict.Counts,
		Latency: res.Verdict.Latency, Series: res.Verdict.Series, Notes: res.Notes,
	}
	if res.WorkloadEnd > 0 {
		r.RateProcessed = float64(res.Verdict.Counts.Processed) / res.WorkloadEnd.Seconds()
	}
	for i, f := range s.Faults {
		rf := Fault{Kind: f.Kind, Target: f.Target, Windows: []Window{}}
		if i < len(res.Faults) {
			rf.Applied, rf.Acted, rf.Errors = res.Faults[i].Applied, res.Faults[i].Acted, res.Faults[i].Errors
		}
		for _, w := range res.Windows {
			if w.Fault == i {
				rf.Windows = append(rf.Windows, Window{StartS: secs(w.Start), EndS: secs(w.End)})
			}
		}
		r.Faults = append(r.Faults, rf)
	}
	if res.Broker != nil {
		r.Broker = &Broker{Totals: *res.Broker, Events: res.Record.BrokerEvents, EventsLost: res.Record.BrokerEventsLost}
	}
	if len(res.Routers) > 0 {
		r.Router = &Router{Totals: res.Routers, Events: res.Record.BrokerEvents, EventsLost: res.Record.BrokerEventsLost}
	}
	return r
}

// WriteJSON writes r as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteFiles writes report.json and report.html into dir, creating it.
func (r *Report) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, write := range map[string]func(io.Writer) error{"report.json": r.WriteJSON, "report.html": r.WriteHTML} {
		if err := writeFile(filepath.Join(dir, name), write); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// WriteTable writes the verdict table and a summary line of counts.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INVARIANT\tOBSERVED\tALLOWED\tHOLDS")
	for _, v := range r.Verdict {
		holds := "yes"
		if !v.Holds {
			holds = "NO"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.Invariant, v.Observed, v.Allowed, holds)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	c := r.Counts
	_, err := fmt.Fprintf(w, "sends %d (acked %d, failed %d, unknown %d), processed %d, %.0f processed/s, schedule %s\n",
		c.Sends, c.Acked, c.Failed, c.Unknown, c.Processed, r.RateProcessed, shortDigest(r.Schedule))
	if err != nil {
		return err
	}
	for _, ex := range []struct {
		what string
		ids  []string
	}{{"lost", c.LostIDs}, {"duplicated", c.DuplicatedIDs}, {"unexpected", c.UnexpectedIDs}, {"crossed", c.CrossedIDs}} {
		if len(ex.ids) > 0 {
			if _, err := fmt.Fprintf(w, "%s e.g. %s\n", ex.what, strings.Join(ex.ids, ", ")); err != nil {
				return err
			}
		}
	}
	return nil
}

func shortDigest(d string) string {
	if len(d) > 12 {
		return d[:12]
	}
	return d
}

// eventNames returns the broker's event types sorted by name.
func eventNames(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
