package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/switchyard-dev/switchyard/internal/chaos/history"
	"github.com/switchyard-dev/switchyard/internal/chaos/runner"
	"github.com/switchyard-dev/switchyard/internal/chaos/scenario"
)

func TestProgressLine(t *testing.T) {
	var buf bytes.Buffer
	b := &bar{pb: progressbar.NewOptions64(100, progressbar.OptionSetWriter(&buf), progressbar.OptionSetElapsedTime(true))}
	b.update(runner.Progress{Phase: "workload", Elapsed: 3 * time.Second, Duration: 10 * time.Second,
		Counters: history.Counters{Sent: 120, Processed: 117, Errors: 2}, Active: []string{"restart", "latency"}})
	b.finish()
	out := buf.String()
	for _, want := range []string{"sent 120", "processed 117", "errors 2", "fault: restart, latency", "30%"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress line lacks %q: %q", want, out)
		}
	}
}

// TestNoBarWithoutTerminal: output that is not a terminal, or --quiet,
// gets no progress bar.
func TestNoBarWithoutTerminal(t *testing.T) {
	s := &scenario.Scenario{Duration: time.Second}
	a := &app{stdout: &bytes.Buffer{}}
	if a.progressBar(s) != nil {
		t.Error("a progress bar on a buffer")
	}
	a = &app{stdout: nil, quiet: true}
	if a.progressBar(s) != nil {
		t.Error("a progress bar despite --quiet")
	}
}
