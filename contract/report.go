package contract

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
)

// Status is the outcome of a clause, scenario or property.
type Status string

// Outcomes.
const (
	Pass Status = "pass"
	Fail Status = "fail"
	// NotApplicable: the check cannot run on this harness; the detail
	// says why.
	NotApplicable Status = "n.a."
	// NotRun: no check of the clause was selected (a tag filter left it
	// out).
	NotRun Status = "not run"
)

// CheckResult is the outcome of one scenario or property.
type CheckResult struct {
	// Name is the scenario's or property's name.
	Name string `json:"name"`
	// Source is the feature file, or "property" for rapid properties.
	Source  string   `json:"source"`
	Clauses []Clause `json:"clauses"`
	Status  Status   `json:"status"`
	// Detail is the failure message or the reason it does not apply.
	Detail  string  `json:"detail,omitempty"`
	Seconds float64 `json:"seconds"`
}

// ClauseResult is the outcome of one clause on one harness.
type ClauseResult struct {
	Clause Clause `json:"clause"`
	Title  string `json:"title"`
	Status Status `json:"status"`
	// Detail is the first failure for a failing clause, the reasons for
	// an n.a. clause, and for a passing clause a note on checks that did
	// not apply.
	Detail string `json:"detail,omitempty"`
	// Checks are the scenarios and properties of the clause.
	Checks []CheckResult `json:"checks"`
}

// Report is the clause report of one Run.
type Report struct {
	Harness string         `json:"harness"`
	Driver  string         `json:"driver"`
	Backend string         `json:"backend"`
	Kind    string         `json:"kind"`
	Started time.Time      `json:"started"`
	Seconds float64        `json:"seconds"`
	Clauses []ClauseResult `json:"clauses"`
	// Totals counts clauses per status.
	Totals map[Status]int `json:"totals"`
}

// Column is how the harness is labelled in tables: "driver/backend".
func (r *Report) Column() string { return r.Driver + "/" + r.Backend }

// Clause returns the result for c, or nil.
func (r *Report) Clause(c Clause) *ClauseResult {
	for i := range r.Clauses {
		if r.Clauses[i].Clause == c {
			return &r.Clauses[i]
		}
	}
	return nil
}

// buildReport aggregates check results into clause results: a clause
// fails if any check of it failed, passes if any passed and none failed,
// and is n.a. when every check of it was n.a.
func buildReport(h Harness, started time.Time, checks []CheckResult, filtered bool) *Report {
	r := &Report{
		Harness: h.ID(),
		Driver:  h.Name,
		Backend: h.Backend,
		Kind:    h.Kind.String(),
		Started: started.UTC().Truncate(time.Second),
		Seconds: roundSeconds(time.Since(started)),
		Totals:  map[Status]int{},
	}
	byClause := map[Clause][]CheckResult{}
	for _, c := range checks {
		for _, cl := range c.Clauses {
			byClause[cl] = append(byClause[cl], c)
		}
	}
	for _, ci := range Clauses {
		cr := ClauseResult{Clause: ci.Clause, Title: ci.Title, Checks: byClause[ci.Clause]}
		if cr.Checks == nil {
			cr.Checks = []CheckResult{}
		}
		cr.Status, cr.Detail = aggregate(cr.Checks, filtered)
		r.Totals[cr.Status]++
		r.Clauses = append(r.Clauses, cr)
	}
	return r
}

func aggregate(checks []CheckResult, filtered bool) (Status, string) {
	if len(checks) == 0 {
		if filtered {
			return NotRun, "no scenario of this clause was selected"
		}
		return Fail, "no scenario or property checks this clause"
	}
	var pass, na int
	var reasons []string
	for _, c := range checks {
		switch c.Status {
		case Fail:
			return Fail, fmt.Sprintf("%s: %s", c.Name, firstLine(c.Detail))
		case Pass:
			pass++
		case NotApplicable:
			na++
			if !contains(reasons, c.Detail) {
				reasons = append(reasons, c.Detail)
			}
		}
	}
	switch {
	case pass > 0 && na == 0:
		return Pass, ""
	case pass > 0:
		return Pass, fmt.Sprintf("%d of %d checks n.a.: %s", na, len(checks), strings.Join(reasons, "; "))
	case na > 0:
		return NotApplicable, strings.Join(reasons, "; ")
	}
	return NotRun, "no check of this clause ran"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	const max = 240
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}

func roundSeconds(d time.Duration) float64 {
	return float64(d.Round(10*time.Millisecond)) / float64(time.Second)
}

// cell renders a clause result for a table: its status with a short
// reason for n.a. and fail.
func (c ClauseResult) cell(width int) string {
	s := string(c.Status)
	if c.Detail != "" {
		s += " (" + c.Detail + ")"
	}
	if width > 0 && len(s) > width {
		s = s[:width-3] + "..."
	}
	return s
}

// WriteTable writes the report as a plain-text table, one row per clause.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "clause\ttitle\t%s\n", r.Column())
	for _, c := range r.Clauses {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Clause, c.Title, c.cell(110))
	}
	fmt.Fprintf(tw, "\t\tpass %d, fail %d, n.a. %d, not run %d (%.1f s)\n",
		r.Totals[Pass], r.Totals[Fail], r.Totals[NotApplicable], r.Totals[NotRun], r.Seconds)
	return tw.Flush()
}

// WriteMarkdown writes the report as Markdown: a clause table, then each
// failing or not applicable check with its detail.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Contract report: %s\n\n", r.Column())
	fmt.Fprintf(&b, "Backend kind: %s. Started %s, took %.1f s. Clauses: %d pass, %d fail, %d n.a., %d not run.\n\n",
		r.Kind, r.Started.Format(time.RFC3339), r.Seconds, r.Totals[Pass], r.Totals[Fail], r.Totals[NotApplicable], r.Totals[NotRun])
	fmt.Fprintf(&b, "| Clause | Title | %s |\n|---|---|---|\n", mdEscape(r.Column()))
	for _, c := range r.Clauses {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", c.Clause, mdEscape(c.Title), mdEscape(c.cell(0)))
	}
	var details strings.Builder
	for _, c := range r.Clauses {
		var lines []string
		count := map[string]int{}
		for _, ch := range c.Checks {
			if ch.Status == Pass {
				continue
			}
			line := fmt.Sprintf("- **%s** %s `%s` (%s): %s", c.Clause, ch.Status, mdEscape(ch.Name), ch.Source, mdEscape(firstLine(ch.Detail)))
			if count[line] == 0 {
				lines = append(lines, line)
			}
			count[line]++ // the rows of a scenario outline share a name
		}
		for _, l := range lines {
			if n := count[l]; n > 1 {
				l += fmt.Sprintf(" (%d examples)", n)
			}
			details.WriteString(l + "\n")
		}
	}
	if details.Len() > 0 {
		b.WriteString("\n## Checks that failed or did not apply\n\n")
		b.WriteString(details.String())
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// Write saves the report as <dir>/<harness>.json and <harness>.md and
// refreshes <dir>/summary.md, the clause × harness table of every report
// in dir. It returns the paths written.
func (r *Report) Write(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	jsonPath := filepath.Join(dir, r.Harness+".json")
	if err := os.WriteFile(jsonPath, append(js, '\n'), 0o644); err != nil {
		return nil, err
	}
	var md strings.Builder
	if err := r.WriteMarkdown(&md); err != nil {
		return nil, err
	}
	mdPath := filepath.Join(dir, r.Harness+".md")
	if err := os.WriteFile(mdPath, []byte(md.String()), 0o644); err != nil {
		return nil, err
	}
	paths := []string{jsonPath, mdPath}
	reports, err := ReadReports(dir)
	if err != nil {
		return paths, err
	}
	var sum strings.Builder
	if err := WriteSummary(&sum, reports); err != nil {
		return paths, err
	}
	sumPath := filepath.Join(dir, "summary.md")
	if err := os.WriteFile(sumPath, []byte(sum.String()), 0o644); err != nil {
		return paths, err
	}
	return append(paths, sumPath), nil
}

// ReadReports loads every report JSON file in dir, ordered by harness.
func ReadReports(dir string) ([]*Report, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []*Report
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, err
		}
		var r Report
		if err := json.Unmarshal(b, &r); err != nil || r.Harness == "" {
			continue // not a report
		}
		out = append(out, &r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Harness < out[j].Harness })
	return out, nil
}

// WriteSummary writes the clause × harness table of several reports as
// Markdown, one column per driver/backend.
func WriteSummary(w io.Writer, reports []*Report) error {
	var b strings.Builder
	b.WriteString("# Contract summary\n\n| Clause | Title |")
	for _, r := range reports {
		fmt.Fprintf(&b, " %s |", mdEscape(r.Column()))
	}
	b.WriteString("\n|---|---|")
	for range reports {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, ci := range Clauses {
		fmt.Fprintf(&b, "| %s | %s |", ci.Clause, mdEscape(ci.Title))
		for _, r := range reports {
			cell := ""
			if c := r.Clause(ci.Clause); c != nil {
				cell = c.cell(60)
			}
			fmt.Fprintf(&b, " %s |", mdEscape(cell))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	for _, r := range reports {
		fmt.Fprintf(&b, "- %s: %s, %.1f s, %d pass, %d fail, %d n.a., %d not run\n",
			mdEscape(r.Column()), r.Started.Format(time.RFC3339), r.Seconds, r.Totals[Pass], r.Totals[Fail], r.Totals[NotApplicable], r.Totals[NotRun])
	}
	_, err := io.WriteString(w, b.String())
	return err
}
