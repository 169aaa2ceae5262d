// Package cli is the chaos command: run scenarios against the embedded
// fake broker or a staging broker, validate scenario files, list the
// shipped scenarios. Run is the whole program but for process set-up, so
// tests drive it without starting a process.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/internal/chaos/report"
	"github.com/switchyard-dev/switchyard/internal/chaos/runner"
	"github.com/switchyard-dev/switchyard/internal/chaos/scenario"
	"github.com/switchyard-dev/switchyard/scenarios"
)

// Exit codes of the chaos command.
const (
	ExitHolds   = 0 // every invariant of every scenario holds
	ExitFails   = 1 // an invariant failed, or a run could not take place
	ExitInvalid = 2 // bad flags, arguments or scenario files
)

// DefaultReportDir is where reports go without --report-dir.
const DefaultReportDir = "chaos-reports"

// Run runs the chaos command line args (without the program name) and
// returns the exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr, code: ExitHolds}
	root := a.root()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "chaos: %v\n", err)
		var ue *usageError
		if errors.As(err, &ue) {
			return ExitInvalid
		}
		return max(a.code, ExitFails)
	}
	return a.code
}

type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }

type app struct {
	stdout, stderr io.Writer
	code           int

	url       string
	seed      uint64
	reportDir string
	quiet     bool
	verbose   bool
	duration  time.Duration
}

func (a *app) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "chaos",
		Short: "Run chaos scenarios against oslo.messaging-style drivers",
		Long: `chaos runs declarative scenarios: a workload of RPC calls, casts, fanouts and
notifications, a timeline of faults, and invariants checked by observation
(lost, duplicated, unexpected and recovered messages, reply correlation, call
success rate, latency in and out of fault windows).

Each scenario runs against its backend: by default the embedded fake broker,
or embedded AMQP 1.0 routers for driver amqp1. --url runs it against a
staging RabbitMQ (or an AMQP 1.0 router for amqp1), with network faults from
an in-process proxy and connection closes through the management API.

Exit codes: 0 every invariant holds, 1 an invariant fails (or a run could not
take place), 2 invalid flags, arguments or scenario files.`,
		Example: `  chaos list
  chaos validate scenarios/*.yaml
  chaos run connection-kill-during-calls
  chaos run --seed 3 --report-dir /tmp/chaos scenarios/heartbeat-loss.yaml`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.CompletionOptions.HiddenDefaultCmd = true
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	root.AddCommand(a.runCommand(), a.validateCommand(), a.listCommand())
	return root
}

func (a *app) runCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "run FILE...",
		Short: "Run scenarios and check their invariants",
		Long: `run runs each scenario in turn, shows progress while it runs (unless
--quiet or stdout is not a terminal), prints its verdict table and writes
report.json and report.html into --report-dir/<scenario name>/.

FILE is a scenario file, or the name of a shipped scenario (see chaos list).`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return &usageError{errors.New("run needs at least one scenario FILE")}
			}
			return nil
		},
		RunE: a.run,
	}
	f := c.Flags()
	f.StringVar(&a.url, "url", "", "run against this broker or router (rabbit://user:pass@host:5672/, amqp://host:5672/ for driver amqp1) instead of the scenario's backend")
	f.Uint64Var(&a.seed, "seed", 0, "seed of the schedule of operations and faults (default: the scenario's)")
	f.StringVar(&a.reportDir, "report-dir", DefaultReportDir, "directory for the reports; each scenario gets a subdirectory")
	f.BoolVar(&a.quiet, "quiet", false, "no progress bar")
	f.BoolVar(&a.verbose, "verbose", false, "show the drivers' log on stderr")
	f.DurationVar(&a.duration, "duration", 0, "run each workload this long instead, scaling the fault timeline to match")
	return c
}

func (a *app) validateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check scenario files without running them",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return &usageError{errors.New("validate needs at least one scenario FILE")}
			}
			return nil
		},
		RunE: func(_ *cobra.Command, args []string) error {
			bad := 0
			for _, arg := range args {
				s, err := load(arg)
				if err != nil {
					fmt.Fprintln(a.stderr, err)
					bad++
					continue
				}
				fmt.Fprintf(a.stdout, "%s: ok: %s, %d generators, %d faults, %s\n", s.File, s.Name, len(s.Workload), len(s.Faults), s.Duration)
			}
			if bad > 0 {
				a.code = ExitInvalid
				return &usageError{fmt.Errorf("%d of %d scenario files are invalid", bad, len(args))}
			}
			return nil
		},
	}
}

func (a *app) listCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the shipped scenarios",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return &usageError{errors.New("list takes no arguments")}
			}
			return nil
		},
		RunE: func(*cobra.Command, []string) error {
			for _, name := range scenarios.Names() {
				s, err := load(name)
				if err != nil {
					return err
				}
				desc := s.Description
				if s.ExpectFail {
					desc += " [expected to fail]"
				}
				fmt.Fprintf(a.stdout, "%-44s %s\n", s.Name, desc)
			}
			return nil
		},
	}
}

// load reads a scenario file, or a shipped scenario by name.
func load(arg string) (*scenario.Scenario, error) {
	if _, err := os.Stat(arg); err == nil {
		return scenario.ReadFile(arg)
	}
	name := strings.TrimSuffix(filepath.Base(arg), ".yaml")
	if filepath.Base(arg) == arg || filepath.Dir(arg) == "scenarios" {
		if data, err := scenarios.Read(name); err == nil {
			return scenario.Parse("scenarios/"+name+".yaml", data)
		}
	}
	return nil, fmt.Errorf("%s: no such file, and no shipped scenario of that name (see chaos list)", arg)
}

func (a *app) run(cmd *cobra.Command, args []string) error {
	var list []*scenario.Scenario
	bad := 0
	for _, arg := range args {
		s, err := load(arg)
		if err != nil {
			fmt.Fprintln(a.stderr, err)
			bad++
			continue
		}
		list = append(list, s)
	}
	if bad > 0 {
		return &usageError{fmt.Errorf("%d scenario files are invalid; nothing was run", bad)}
	}
	if a.duration < 0 {
		return &usageError{errors.New("--duration must be positive")}
	}
	var logger *slog.Logger
	if a.verbose {
		logger = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	} else {
		logger = slog.New(slog.DiscardHandler)
	}
	// The drivers log through the default logger.
	prev := slog.Default()
	slog.SetDefault(logger)
	defer slog.SetDefault(prev)

	cfg := runner.Config{URL: a.url, Duration: a.duration, Seed: a.seed, SeedSet: cmd.Flags().Changed("seed"), Logger: logger}
	failed := 0
	for _, s := range list {
		ok, err := a.runOne(cmd.Context(), s, cfg)
		var ie *runner.InputError
		if errors.As(err, &ie) {
			return &usageError{err}
		}
		if err != nil {
			fmt.Fprintf(a.stderr, "chaos: %s: %v\n", s.Name, err)
		}
		if err != nil || !ok {
			failed++
		}
		if cmd.Context().Err() != nil {
			break
		}
	}
	if failed > 0 {
		a.code = ExitFails
	}
	return nil
}

// runOne runs one scenario, prints its verdict and writes its reports; it
// reports whether every invariant held.
func (a *app) runOne(ctx context.Context, s *scenario.Scenario, cfg runner.Config) (bool, error) {
	eff, seed, err := runner.Effective(s, cfg)
	if err != nil {
		return false, err
	}
	backend := "embedded broker"
	switch n := eff.Backend.RouterCount(); {
	case n == 1:
		backend = "embedded router"
	case n > 1:
		backend = fmt.Sprintf("mesh of %d embedded routers", n)
	}
	if !eff.Backend.Embedded() {
		backend = "broker " + eff.Backend.URL
		if u, err := maskURL(eff.Backend.URL); err == nil {
			backend = "broker " + u
		}
	}
	fmt.Fprintf(a.stdout, "== %s (%s, seed %d, %s, %s driver)\n", eff.Name, eff.Duration, seed, backend, eff.Driver)
	bar := a.progressBar(eff)
	if bar != nil {
		cfg.Progress = bar.update
	}
	res, err := runner.Run(ctx, s, cfg)
	if bar != nil {
		bar.finish()
	}
	if res == nil {
		return false, err
	}
	rep := report.Build(res)
	if werr := rep.WriteTable(a.stdout); werr != nil {
		return false, werr
	}
	dir := filepath.Join(a.reportDir, eff.Name)
	if werr := rep.WriteFiles(dir); werr != nil {
		return false, fmt.Errorf("write reports: %w", werr)
	}
	verdict := "every invariant holds"
	if !rep.Holds {
		verdict = "FAILED: " + strings.Join(res.Verdict.Failed(), ", ")
		if eff.ExpectFail {
			verdict += " (as this scenario expects)"
		}
	} else if eff.ExpectFail {
		verdict += " (this scenario was expected to fail)"
	}
	if err != nil {
		verdict = "INTERRUPTED, partial results: " + verdict
	}
	fmt.Fprintf(a.stdout, "%s; reports in %s\n", verdict, dir)
	for _, n := range res.Notes {
		fmt.Fprintf(a.stderr, "chaos: %s: note: %s\n", eff.Name, n)
	}
	return rep.Holds, err
}

// bar is the progress display of one run.
type bar struct {
	mu sync.Mutex
	pb *progressbar.ProgressBar
}

func (a *app) progressBar(s *scenario.Scenario) *bar {
	if a.quiet {
		return nil
	}
	f, ok := a.stdout.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	steps := int64(s.Duration / (100 * time.Millisecond))
	pb := progressbar.NewOptions64(steps,
		progressbar.OptionSetWriter(f),
		progressbar.OptionSetWidth(30),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetDescription("starting"),
	)
	return &bar{pb: pb}
}

func (b *bar) update(p runner.Progress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fault := "none"
	if len(p.Active) > 0 {
		fault = strings.Join(p.Active, ", ")
	}
	b.pb.Describe(fmt.Sprintf("%-8s sent %d processed %d errors %d | fault: %s", p.Phase, p.Sent, p.Processed, p.Errors, fault))
	_ = b.pb.Set64(min(int64(p.Elapsed/(100*time.Millisecond)), b.pb.GetMax64()))
}

func (b *bar) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	_ = b.pb.Finish()
	_ = b.pb.Clear()
}

// maskURL renders a transport URL without its passwords.
func maskURL(raw string) (string, error) {
	u, err := drivers.ParseURL(raw)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}
