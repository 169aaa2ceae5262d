package cli

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchyard-dev/switchyard/contract"
	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/internal/pyoslo"
)

// contractCommand checks a deployment against the driver contract.
func (a *app) contractCommand() *cobra.Command {
	var (
		driver, clauses, reportDir, kind string
		quiet, python                    bool
		authDelay                        time.Duration
	)
	cmd := &cobra.Command{
		Use:   "contract",
		Short: "Check a deployment against the driver contract (CONTRACT.md)",
		Long: `contract runs Switchyard's contract suite (the clauses of CONTRACT.md, as
scenarios and properties) with the given driver against the backend of the
transport URL, such as a staging RabbitMQ, and prints the table of clauses:
pass, fail (with the first failure) or n.a. (with why). Clauses that need fault
injection, which only Switchyard's fake broker and router offer, are n.a.
here; --python adds Python oslo.messaging 14 as the peer of the wire
compatibility clause (C35). The suite declares its own uniquely named queues and
exchanges and removes what it can when done.

The report is also written as JSON and Markdown to --report (default
$SWITCHYARD_CONTRACT_REPORT_DIR, else a directory under the system's temporary
directory). The exit code is 0 when no clause failed, 1 when one did.`,
		Example: `  switchyard contract --url rabbit://guest:guest@staging:5672/
  switchyard contract --url rabbit://staging/ --clauses C01,C07 --report ./contract-report`,
		Args: argsRange(0, 0),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			s, err := a.setup(cmd, false)
			if err != nil {
				return err
			}
			u := *s.url
			raw := s.raw
			if driver != "" {
				u.Scheme = driver
				raw = u.Secret()
			}
			if !slices.Contains(drivers.Schemes(), u.Driver()) {
				return usageErrorf("no driver for scheme %q (known: %s)", u.Driver(), strings.Join(drivers.Schemes(), ", "))
			}
			h := contract.Harness{
				Name:      u.Driver(),
				Backend:   hostsOf(&u),
				URL:       raw,
				Config:    func() *drivers.Config { c := *s.cfg; return &c },
				Prefetch:  prefetchSetter(u.Driver()),
				ReportDir: reportDir,
				AuthDelay: authDelay,
			}
			if !cmd.Flags().Changed("auth-delay") && u.Driver() != "rabbit" && u.Driver() != "pika" {
				h.AuthDelay = 0
			}
			if python {
				if _, err := pyoslo.Version(); err != nil {
					return &opError{what: "find Python oslo.messaging for --python", err: err}
				}
				h.Python = pyoslo.Peer{URL: raw}
			}
			switch kind {
			case "broker":
				h.Kind = contract.Broker
			case "router":
				h.Kind = contract.Router
			default:
				return usageErrorf("--kind %q: want broker or router", kind)
			}
			if clauses != "" {
				tags, err := clauseTags(clauses)
				if err != nil {
					return err
				}
				h.Tags = tags
			}
			progress := a.stderr
			if quiet {
				progress = nil
			}
			rep, err := contract.Check(h, progress)
			if rep != nil {
				if werr := rep.WriteTable(a.stdout); werr != nil {
					return werr
				}
			}
			if err != nil {
				return &opError{what: "run the contract suite", err: err}
			}
			if n := rep.Totals[contract.Fail]; n > 0 {
				return fmt.Errorf("%d of %d clauses failed against %s", n, len(rep.Clauses), u.String())
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&driver, "driver", "", "driver to check (rabbit, pika, amqp); default: the URL's scheme")
	f.StringVar(&clauses, "clauses", "", "comma-separated clauses to check, such as C01,C07 (default: all)")
	f.StringVar(&reportDir, "report", "", "directory for the JSON and Markdown clause report")
	f.StringVar(&kind, "kind", "broker", "what the backend is: broker (stores and forwards, as RabbitMQ) or router (direct, as qpid-dispatch)")
	f.BoolVar(&quiet, "quiet", false, "do not print the scenarios' progress to stderr")
	f.DurationVar(&authDelay, "auth-delay", 3*time.Second, "how long the backend waits before refusing bad credentials, allowed on top of \"promptly\" (C19); RabbitMQ's default is 3s (default 3s for rabbit and pika, 0 otherwise)")
	f.BoolVar(&python, "python", false, "check wire compatibility (C35) with Python oslo.messaging 14 on the same backend, run with /usr/bin/python3")
	return cmd
}

// clauseTags turns "C01,C7" into the godog tag filter "@C01,@C07".
func clauseTags(list string) (string, error) {
	var tags []string
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		c, ok := contract.ParseClauseTag("@" + strings.ToUpper(s))
		if !ok {
			return "", usageErrorf("--clauses: %q is not a clause (C01 to C35)", s)
		}
		tags = append(tags, "@"+string(c))
	}
	if len(tags) == 0 {
		return "", usageErrorf("--clauses is empty")
	}
	return strings.Join(tags, ","), nil
}

// prefetchSetter sets a driver's listener prefetch count, for the
// prefetch clause (C31); nil for drivers without one.
func prefetchSetter(driver string) func(*drivers.Config, int) {
	switch driver {
	case "rabbit":
		return func(cfg *drivers.Config, n int) { cfg.Rabbit.RabbitQoSPrefetchCount = n }
	case "pika":
		return func(cfg *drivers.Config, n int) {
			cfg.Pika.RPCListenerPrefetchCount, cfg.Pika.NotificationListenerPrefetch = n, n
		}
	}
	return nil
}

// hostsOf names the URL's hosts, for the report.
func hostsOf(u *drivers.TransportURL) string {
	var hs []string
	for _, h := range u.Hosts {
		hs = append(hs, h.Addr(drivers.DefaultPort))
	}
	if len(hs) == 0 {
		return "localhost"
	}
	return strings.Join(hs, ",")
}
