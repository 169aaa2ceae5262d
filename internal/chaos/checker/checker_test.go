package checker

import (
	"strings"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/internal/chaos/history"
	"github.com/switchyard-dev/switchyard/internal/chaos/plan"
	"github.com/switchyard-dev/switchyard/internal/chaos/scenario"
)

func parse(t *testing.T, inv string) *scenario.Scenario {
	t.Helper()
	s, err := scenario.Parse("c.yaml", []byte("name: c\nworkload:\n  - {kind: call, rate: 1}\n"+inv))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func millis(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func send(id, kind string, out history.Outcome, start, end int, expect ...string) history.Send {
	if len(expect) == 0 {
		expect = []string{"*"}
	}
	s := history.Send{ID: id, Kind: kind, Outcome: out, Start: millis(start), End: millis(end), Expect: expect}
	if kind == scenario.Call && out == history.OK {
		s.Reply = id
	}
	return s
}

func result(v Verdict, name string) Result {
	for _, r := range v.Results {
		if r.Invariant == name {
			return r
		}
	}
	return Result{Invariant: "missing " + name}
}

func TestCleanRunHolds(t *testing.T) {
	s := parse(t, "invariants:\n  call_success_rate: 1\n")
	rec := history.Record{
		Sends: []history.Send{
			send("a", scenario.Call, history.OK, 0, 10),
			send("b", scenario.Cast, history.OK, 5, 6),
			send("f", scenario.Fanout, history.OK, 7, 8, "s0", "s1"),
		},
		Deliveries: []history.Delivery{
			{ID: "a", Group: "*", Consumer: "s0", At: millis(5)},
			{ID: "b", Group: "*", Consumer: "s1", At: millis(7)},
			{ID: "f", Group: "s0", Consumer: "s0", At: millis(9)},
			{ID: "f", Group: "s1", Consumer: "s1", At: millis(9)},
		},
	}
	v := Check(s, rec, nil)
	if !v.Holds {
		t.Fatalf("clean run fails: %+v", v.Results)
	}
	c := v.Counts
	if c.Sends != 3 || c.Acked != 3 || c.Processed != 4 || c.Calls != 1 || c.CallsOK != 1 {
		t.Errorf("counts %+v", c)
	}
}

// TestCheckerCatches feeds one history with every kind of violation and
// checks each is counted and fails its invariant.
func TestCheckerCatches(t *testing.T) {
	s := parse(t, "invariants:\n  recovered: 0\n  call_success_rate: 0.9\n  latency:\n    outside_faults: {p99: 50ms}\n")
	crossed := send("c2", scenario.Call, history.OK, 0, 10)
	crossed.Reply = "c1"
	rec := history.Record{
		Sends: []history.Send{
			send("lost", scenario.Cast, history.OK, 0, 1),
			send("dup", scenario.Cast, history.OK, 0, 1),
			send("rec", scenario.Cast, history.Unknown, 0, 1),
			send("failed", scenario.Call, history.Failed, 0, 1),
			send("slow", scenario.Call, history.OK, 100, 300),
			send("fan", scenario.Fanout, history.OK, 0, 1, "s0", "s1"),
			crossed,
		},
		Deliveries: []history.Delivery{
			{ID: "dup", Group: "*", Consumer: "s0"},
			{ID: "dup", Group: "*", Consumer: "s1"},
			{ID: "rec", Group: "*", Consumer: "s0"},
			{ID: "never-sent", Group: "*", Consumer: "s0"},
			{ID: "", Group: "*", Consumer: "s0"},
			{ID: "slow", Group: "*", Consumer: "s0"},
			{ID: "c2", Group: "*", Consumer: "s0"},
			{ID: "fan", Group: "s0", Consumer: "s0"},
			{ID: "fan", Group: "s9", Consumer: "s9"},
		},
	}
	v := Check(s, rec, nil)
	if v.Holds {
		t.Fatal("a history with every violation holds")
	}
	c := v.Counts
	// lost: "lost", and fan's copy for s1; unexpected: never-sent, the
	// empty id and fan's copy in group s9.
	if c.Lost != 2 || c.Duplicated != 1 || c.Unexpected != 3 || c.Recovered != 1 || c.Crossed != 1 {
		t.Errorf("counts %+v", c)
	}
	if !strings.Contains(strings.Join(c.DuplicatedIDs, ","), "dup by s0 and s1") || !strings.Contains(strings.Join(c.LostIDs, ","), "fan (s1)") {
		t.Errorf("examples %v %v", c.DuplicatedIDs, c.LostIDs)
	}
	for _, name := range []string{"lost", "duplicated", "unexpected", "recovered", "crossed replies", "call success rate", "latency p99 outside faults"} {
		if r := result(v, name); r.Holds {
			t.Errorf("%s holds: %+v", name, r)
		}
	}
	if r := result(v, "call success rate"); r.Observed != "0.667 (2/3)" {
		t.Errorf("call success rate observed %q", r.Observed)
	}
	if got := v.Failed(); len(got) != 7 {
		t.Errorf("Failed() = %v", got)
	}
}

func TestLatencyWindows(t *testing.T) {
	s := parse(t, "invariants:\n  latency:\n    outside_faults: {p50: 20ms}\n    during_faults: {p50: 20ms}\n")
	rec := history.Record{Sends: []history.Send{
		send("a", scenario.Call, history.OK, 0, 10),
		send("b", scenario.Call, history.OK, 20, 30),
		send("c", scenario.Call, history.OK, 1000, 1500), // inside the window
		send("d", scenario.Call, history.OK, 900, 1001),  // overlaps it
	}}
	for _, snd := range rec.Sends {
		rec.Deliveries = append(rec.Deliveries, history.Delivery{ID: snd.ID, Group: "*"})
	}
	v := Check(s, rec, []plan.Window{{Start: millis(1000), End: millis(2000)}})
	if r := result(v, "latency p50 outside faults"); !r.Holds || r.Observed != "10ms" {
		t.Errorf("outside: %+v", r)
	}
	if r := result(v, "latency p50 during faults"); r.Holds || r.Observed != "101ms" {
		t.Errorf("during: %+v", r)
	}
	if v.Latency[0].Count != 2 || v.Latency[1].Count != 2 || v.Latency[2].Count != 4 || v.Latency[2].Max != 500 {
		t.Errorf("latency stats %+v", v.Latency)
	}
}

func TestSeries(t *testing.T) {
	s := parse(t, "")
	rec := history.Record{
		Sends:            []history.Send{send("a", scenario.Cast, history.OK, 100, 200), send("b", scenario.Cast, history.Failed, 1100, 2100)},
		Deliveries:       []history.Delivery{{ID: "a", Group: "*", At: millis(1500)}},
		ConnectionCloses: []time.Duration{millis(2500)},
	}
	v := Check(s, rec, nil)
	if len(v.Series) != 3 {
		t.Fatalf("series %+v", v.Series)
	}
	want := []Second{{T: 0, Sent: 1, Acked: 1, P50: 100, P99: 100}, {T: 1, Sent: 1, Processed: 1}, {T: 2, Failed: 1, Closes: 1}}
	for i := range want {
		if v.Series[i] != want[i] {
			t.Errorf("second %d: %+v, want %+v", i, v.Series[i], want[i])
		}
	}
}
