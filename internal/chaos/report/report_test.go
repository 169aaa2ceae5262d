package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/fake/broker"
	"github.com/switchyard-dev/switchyard/internal/chaos/checker"
	"github.com/switchyard-dev/switchyard/internal/chaos/history"
	"github.com/switchyard-dev/switchyard/internal/chaos/inject"
	"github.com/switchyard-dev/switchyard/internal/chaos/plan"
	"github.com/switchyard-dev/switchyard/internal/chaos/runner"
	"github.com/switchyard-dev/switchyard/internal/chaos/scenario"
)

func result(t *testing.T) *runner.Result {
	t.Helper()
	s, err := scenario.Parse("r.yaml", []byte(`name: r
description: report <test> & friends
duration: 3s
workload:
  - {kind: call, rate: 1}
faults:
  - {at: 1s, for: 1s, kind: pause-deliveries, target: "queue:x*"}
`))
	if err != nil {
		t.Fatal(err)
	}
	rec := history.Record{
		Sends: []history.Send{
			{ID: "a", Kind: scenario.Call, Outcome: history.OK, Start: 0, End: 20 * time.Millisecond, Expect: []string{"*"}, Reply: "a"},
			{ID: "b", Kind: scenario.Call, Outcome: history.OK, Start: 1100 * time.Millisecond, End: 1900 * time.Millisecond, Expect: []string{"*"}, Reply: "b"},
			{ID: "c", Kind: scenario.Call, Outcome: history.Unknown, Err: "timeout", Start: 2 * time.Second, End: 2500 * time.Millisecond, Expect: []string{"*"}},
		},
		Deliveries:   []history.Delivery{{ID: "a", Group: "*", Consumer: "s0", At: 10 * time.Millisecond}},
		BrokerEvents: map[string]int64{"publish": 3, "delivered": 1},
	}
	p := plan.New(s, 1)
	return &runner.Result{
		Scenario: s, Seed: 1, Digest: p.Digest, Backend: "embedded", Started: time.Unix(1700000000, 0),
		WorkloadEnd: 2500 * time.Millisecond, End: 3 * time.Second, Planned: 3, Windows: p.Windows,
		Faults: []inject.Report{{Fault: 0, Kind: "pause-deliveries", Target: "queue:x*", Applied: 1, Acted: 4}},
		Broker: &broker.Totals{Published: 3}, Record: rec, Verdict: checker.Check(s, rec, p.Windows),
	}
}

func TestReportFiles(t *testing.T) {
	r := Build(result(t))
	if r.Holds || r.Counts.Lost != 1 {
		t.Fatalf("b was acknowledged and never processed: holds %v, counts %+v", r.Holds, r.Counts)
	}
	dir := filepath.Join(t.TempDir(), "out")
	if err := r.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"verdict", "counts", "latency", "series", "faults", "broker", "schedule_digest", "processed_per_s"} {
		if _, ok := back[k]; !ok {
			t.Errorf("report.json lacks %q", k)
		}
	}
	f := back["faults"].([]any)[0].(map[string]any)
	w := f["windows"].([]any)[0].(map[string]any)
	if w["start_s"] != 1.0 || w["end_s"] != 2.0 || f["acted"] != 4.0 {
		t.Errorf("fault %v", f)
	}
	html, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	page := string(html)
	for _, want := range []string{
		"report &lt;test&gt; &amp; friends", // escaped
		"<td>lost</td>", `class="bad">FAILS`, "markArea", "pause-deliveries queue:x*", `echarts.init`, "Apache",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	if regexp.MustCompile(`<script[^>]+src=`).MatchString(page) || strings.Contains(page, "<link") {
		t.Error("report.html loads something from outside; it must be self-contained")
	}
}

func TestTable(t *testing.T) {
	r := Build(result(t))
	var b bytes.Buffer
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"INVARIANT", "OBSERVED", "ALLOWED", "HOLDS", "lost ", "≤ 0", "NO", "lost e.g. b", "sends 3 (acked 2, failed 0, unknown 1)"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
