package contract

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/cucumber/godog"
	"github.com/cucumber/godog/colors"

	"github.com/switchyard-dev/switchyard/features"
)

// Check runs the suite against h outside `go test`, as the switchyard
// contract command does against a deployment: every selected scenario and
// property, with godog's progress written to progress (nil discards it).
// It writes the JSON and Markdown report to h.ReportDir and returns the
// report; the caller decides what a failing clause means. Harness.ExpectFail
// is ignored.
func Check(h Harness, progress io.Writer) (*Report, error) {
	if h.Name == "" || h.URL == "" {
		return nil, errors.New("contract.Check: the harness needs a Name and a URL")
	}
	if h.Kind != Broker && h.Kind != Router {
		return nil, errors.New("contract.Check: the harness needs a Kind (contract.Broker or contract.Router)")
	}
	if progress == nil {
		progress = io.Discard
	}
	h.ExpectFail = nil
	h.detached = true
	r := &runner{h: h.withDefaults(), started: time.Now(), pending: map[string]*CheckResult{}}
	opts := &godog.Options{
		Format: "progress", Paths: []string{"."}, FS: features.FS, Tags: r.h.Tags,
		Strict: true, NoColors: true, Output: colors.Uncolored(progress),
	}
	if _, err := r.scenarios(opts); err != nil {
		return nil, err
	}
	fmt.Fprintln(progress)
	if !flag.Parsed() {
		// Outside go test: rapid asks testing.Short, which needs the
		// testing flags registered and parsed (to their defaults), and
		// failures must not leave rapid fail files behind.
		testing.Init()
		_ = flag.CommandLine.Parse(nil)
		if f := flag.Lookup("rapid.nofailfile"); f != nil {
			_ = f.Value.Set("true")
		}
	}
	r.properties(func(p property) (Status, string) { return r.checkProperty(nil, p) })
	strays := r.releaseWorlds()
	rep := buildReport(r.h, r.started, r.results(), r.h.Tags != "" || r.h.Properties != nil)
	if _, err := rep.Write(r.h.ReportDir); err != nil {
		return rep, errors.Join(fmt.Errorf("writing the clause report: %w", err), strays)
	}
	return rep, strays
}
