package contract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cucumber/godog"

	"github.com/switchyard-dev/switchyard/features"
)

func TestParseClauseTag(t *testing.T) {
	for tag, want := range map[string]Clause{"@C07": "C07", "C35": "C35", "@C01": "C01"} {
		if got, ok := ParseClauseTag(tag); !ok || got != want {
			t.Errorf("ParseClauseTag(%q) = %q, %v; want %q", tag, got, ok, want)
		}
	}
	for _, tag := range []string{"@C36", "@C00", "@c07", "@broker", "@C7", "@C007", "", "@Cxx"} {
		if got, ok := ParseClauseTag(tag); ok {
			t.Errorf("ParseClauseTag(%q) = %q; want no clause", tag, got)
		}
	}
}

func TestClausesOfKeepsOrderOnce(t *testing.T) {
	got := clausesOf([]string{"@C17", "@broker", "@C03", "@C17", "@needs-faults"})
	if fmt.Sprint(got) != "[C17 C03]" {
		t.Errorf("clausesOf = %v, want [C17 C03]", got)
	}
}

func TestClauseCatalogue(t *testing.T) {
	if len(Clauses) != 35 {
		t.Fatalf("%d clauses, want 35", len(Clauses))
	}
	for i, c := range Clauses {
		if want := Clause(fmt.Sprintf("C%02d", i+1)); c.Clause != want {
			t.Errorf("clause %d is %s, want %s", i, c.Clause, want)
		}
	}
}

func TestNotApplicable(t *testing.T) {
	broker := Harness{Name: "d", Backend: "B", Kind: Broker}
	router := Harness{Name: "d", Backend: "R", Kind: Router}
	faulty := broker
	faulty.Faults = nopFaults{}
	declared := broker
	declared.NotApplicable = map[Clause]string{"C25": "no pools in this driver"}
	cases := []struct {
		h    Harness
		tags []string
		want string // substring of the reason; "" means applicable
	}{
		{broker, []string{"@C01"}, ""},
		{broker, []string{"@C21", "@router"}, "[router] clause"},
		{router, []string{"@C23", "@broker"}, "[broker] clause"},
		{router, []string{"@C29", "@broker"}, "broker scenario"},
		{broker, []string{"@C29", "@broker"}, ""},
		{broker, []string{"@C16", "@needs-faults"}, "needs fault injection"},
		{faulty, []string{"@C16", "@needs-faults"}, ""},
		{broker, []string{"@C35", "@interop"}, "Python"},
		{broker, []string{"@C26", "@needs-tap"}, "wire observer"},
		{broker, []string{"@C31", "@needs-prefetch"}, "prefetch"},
		{declared, []string{"@C25"}, "no pools in this driver"},
	}
	for _, c := range cases {
		got := notApplicable(c.h, c.tags)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("notApplicable(%s, %v) = %q, want %q", c.h.Kind, c.tags, got, c.want)
		}
	}
}

type nopFaults struct{ FaultInjector }

// featureScenarios reads every scenario of the embedded feature files.
func featureScenarios(t *testing.T) []*godog.Scenario {
	t.Helper()
	suite := godog.TestSuite{Options: &godog.Options{Paths: []string{"."}, FS: features.FS, Format: "progress"}}
	fts, err := suite.RetrieveFeatures()
	if err != nil {
		t.Fatal(err)
	}
	var out []*godog.Scenario
	for _, ft := range fts {
		out = append(out, ft.Pickles...)
	}
	return out
}

// TestEveryClauseHasAScenario: the suite covers the whole contract, and
// every scenario says which clause it checks and uses only known tags.
func TestEveryClauseHasAScenario(t *testing.T) {
	known := map[string]bool{tagBroker: true, tagRouter: true, tagNeedsFaults: true, tagInterop: true, tagNeedsTap: true, tagPrefetch: true, tagHeavy: true}
	covered := map[Clause]int{}
	for _, sc := range featureScenarios(t) {
		cs := scenarioClauses(sc)
		if len(cs) == 0 {
			t.Errorf("scenario %q (%s) has no clause tag", sc.Name, sc.Uri)
		}
		for _, c := range cs {
			covered[c]++
		}
		for _, tag := range tagNames(sc) {
			if _, ok := ParseClauseTag(tag); !ok && !known[tag] {
				t.Errorf("scenario %q has unknown tag %s", sc.Name, tag)
			}
		}
	}
	for _, ci := range Clauses {
		if covered[ci.Clause] == 0 {
			t.Errorf("no scenario checks %s (%s)", ci.Clause, ci.Title)
		}
	}
}

// TestRunnableClausesNeedNoCapability: the clauses that must run on a
// plain broker harness (no faults, no Python, no tap) keep at least one
// scenario that such a harness can run.
func TestRunnableClausesNeedNoCapability(t *testing.T) {
	plain := Harness{Name: "d", Backend: "B", Kind: Broker}
	runnable := map[Clause]bool{}
	for _, sc := range featureScenarios(t) {
		if notApplicable(plain, tagNames(sc)) == "" {
			for _, c := range scenarioClauses(sc) {
				runnable[c] = true
			}
		}
	}
	for _, c := range strings.Fields("C01 C02 C03 C04 C05 C06 C07 C08 C09 C10 C11 C12 C13 C19 C22 C23 C25 C26 C27 C28 C29 C30 C32 C33 C34") {
		if !runnable[Clause(c)] {
			t.Errorf("%s has no scenario a plain broker harness can run", c)
		}
	}
}

func TestAggregate(t *testing.T) {
	pass := CheckResult{Name: "p", Status: Pass}
	fail := CheckResult{Name: "f", Status: Fail, Detail: "boom\nmore"}
	na := CheckResult{Name: "n", Status: NotApplicable, Detail: "needs faults"}
	cases := []struct {
		checks   []CheckResult
		filtered bool
		status   Status
		detail   string
	}{
		{nil, false, Fail, "no scenario"},
		{nil, true, NotRun, "selected"},
		{[]CheckResult{pass, pass}, false, Pass, ""},
		{[]CheckResult{pass, na}, false, Pass, "1 of 2 checks n.a.: needs faults"},
		{[]CheckResult{na, na}, false, NotApplicable, "needs faults"},
		{[]CheckResult{pass, fail, na}, false, Fail, "f: boom"},
	}
	for i, c := range cases {
		s, d := aggregate(c.checks, c.filtered)
		if s != c.status || !strings.Contains(d, c.detail) || (c.detail == "" && d != "") {
			t.Errorf("case %d: aggregate = %s %q, want %s %q", i, s, d, c.status, c.detail)
		}
		if strings.Contains(d, "more") {
			t.Errorf("case %d: detail keeps only the first line, got %q", i, d)
		}
	}
}

var sampleStart = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func sampleReport() *Report {
	h := Harness{Name: "rabbit", Backend: "RabbitMQ", Kind: Broker}
	checks := []CheckResult{
		{Name: "s1", Source: "addressing.feature", Clauses: []Clause{"C01"}, Status: Pass},
		{Name: "s2", Source: "rpc.feature", Clauses: []Clause{"C07"}, Status: Fail, Detail: "crossed | reply"},
		{Name: "s3", Source: "retry.feature", Clauses: []Clause{"C16"}, Status: NotApplicable, Detail: "needs fault injection"},
	}
	return buildReport(h, sampleStart, checks, true)
}

func TestReportTable(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"rabbit/RabbitMQ", "C01", "pass", "C07", "fail (s2: crossed | reply)", "C16", "n.a. (needs fault injection)", "C02", "not run", "pass 1, fail 1, n.a. 1, not run 32"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestReportFiles(t *testing.T) {
	dir := t.TempDir()
	rep := sampleReport()
	paths, err := rep.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 3 {
		t.Fatalf("wrote %v, want json, md and summary", paths)
	}
	b, err := os.ReadFile(filepath.Join(dir, "rabbit_RabbitMQ.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if c := back.Clause("C07"); c == nil || c.Status != Fail || len(c.Checks) != 1 || c.Checks[0].Source != "rpc.feature" {
		t.Errorf("C07 after a JSON round trip: %+v", c)
	}
	if back.Totals[Pass] != 1 || back.Totals[NotRun] != 32 {
		t.Errorf("totals %v", back.Totals)
	}
	md, err := os.ReadFile(filepath.Join(dir, "rabbit_RabbitMQ.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| C07 | concurrent calls get their own replies | fail (s2: crossed \\| reply) |", "- **C16** n.a. `s3` (retry.feature): needs fault injection"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}

	// A second harness's report joins the summary as a column.
	other := buildReport(Harness{Name: "amqp1", Backend: "router", Kind: Router}, sampleStart,
		[]CheckResult{{Name: "x", Clauses: []Clause{"C21"}, Status: Pass}}, true)
	if _, err := other.Write(dir); err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(dir, "summary.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| Clause | Title | amqp1/router | rabbit/RabbitMQ |", "| C21 | a send returns once the listener accepted it | pass | not run"} {
		if !strings.Contains(string(sum), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
}

// recordingT is a testing.TB that records failures instead of failing.
type recordingT struct {
	testing.TB
	errs []string
}

func (r *recordingT) Helper() {}
func (r *recordingT) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestExpectedFailures(t *testing.T) {
	rep := sampleReport()
	rec := &recordingT{TB: t}
	checkExpectedFailures(rec, Harness{ExpectFail: map[Clause]bool{"C07": true}}, rep)
	if len(rec.errs) != 0 {
		t.Errorf("C07 failed as expected, yet: %v", rec.errs)
	}
	checkExpectedFailures(rec, Harness{ExpectFail: map[Clause]bool{"C01": true, "C16": true, "C07": true}}, rep)
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], "C01 (pass), C16 (n.a.)") {
		t.Errorf("want one error naming C01 and C16, got %v", rec.errs)
	}
}

func TestParseBehaviour(t *testing.T) {
	for _, s := range []string{
		"", "echoes what it is sent", "never answers", "answer after a random delay of up to 20 ms",
		`answers "slow" after 1.5 seconds and everything else at once`, "takes 2 seconds per request",
		`fails with "ValueError" from module "builtins" saying "x"`, "answers every request twice",
		"heartbeats every 1 second and answers after 4 seconds", "heartbeats every 1 second for 1 second and then goes silent",
	} {
		if _, err := parseBehaviour(s); err != nil {
			t.Errorf("parseBehaviour(%q): %v", s, err)
		}
	}
	if _, err := parseBehaviour("dances"); err == nil {
		t.Error("an unknown behaviour was accepted")
	}
}

func TestJSONDiff(t *testing.T) {
	if d := jsonDiff(map[string]any{"a": []any{1, "x"}}, map[string]any{"a": []any{1.0, "x"}}); d != "" {
		t.Errorf("equal JSON reported different: %s", d)
	}
	if d := jsonDiff(map[string]any{"a": []any{1, "x"}}, map[string]any{"a": []any{1, "y"}}); !strings.Contains(d, `.a[1]: want "x", got "y"`) {
		t.Errorf("diff = %q", d)
	}
	if d := jsonDiff(map[string]any{"a": 1}, map[string]any{"a": 1, "b": 2}); !strings.Contains(d, ".b was added") {
		t.Errorf("diff = %q", d)
	}
}
