// Package cli implements the switchyard operator commands: call, cast,
// serve, notify and listen. Run is the whole program but for process
// set-up, so tests drive it without starting a process.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/osloconfig"
)

// Exit codes of the switchyard command.
const (
	ExitOK       = 0 // success
	ExitFailure  = 1 // any failure without a code of its own
	ExitUsage    = 2 // bad flags or arguments, bad JSON, bad URL or configuration file
	ExitTimeout  = 3 // drivers.ErrTimeout, or the command's own deadline passed
	ExitRemote   = 4 // the RPC server raised an error (*drivers.RemoteError)
	ExitDelivery = 5 // drivers.ErrDeliveryFailure or drivers.ErrUndeliverable
	ExitAuth     = 6 // the backend refused the credentials (*drivers.AuthError)
)

// DefaultURL is the transport URL used when neither --url nor a
// configuration file names one.
const DefaultURL = "rabbit://guest:guest@localhost:5672/"

// Bounds of the waits that have no flag of their own.
const (
	// startupTimeout bounds opening the driver and subscribing, for the
	// commands that then run until stopped (serve, listen).
	startupTimeout = 30 * time.Second
	// deadlineGrace is how long past --timeout a call's context lives, so
	// the driver reports its own timeout before the context ends.
	deadlineGrace = 2 * time.Second
	// shutdownTimeout bounds each step of shutting down: draining request
	// handlers, stopping and cleaning up a listener, closing the driver.
	shutdownTimeout = 15 * time.Second
	// replyTimeout bounds sending one reply or heartbeat.
	replyTimeout = 10 * time.Second
	// maxInput bounds what is read from stdin for a "-" argument.
	maxInput = 64 << 20
)

// Run runs the switchyard command line args (without the program name) and
// returns the process exit code. Output goes to stdout, errors and warnings
// to stderr, each error as one line "switchyard: <what failed>: <error>".
// Long-running commands (serve, listen) stop cleanly when ctx ends.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	code := a.exitCode(err)
	a.printError(cmd, err, code)
	return code
}

// app holds one invocation's streams and global flags.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	stderrMu       sync.Mutex // linef is called from request handlers too

	url         string
	notifyURL   string
	configFiles []string
	exmods      []string

	// started is set when a command's RunE begins; every error before that
	// is cobra's, about flags or arguments.
	started bool
	// secrets are the passwords of the URLs in play, scrubbed from every
	// line written to stderr.
	secrets []string
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "switchyard",
		Short: "Operate oslo.messaging-style messaging from the command line",
		Long: `switchyard talks to OpenStack messaging backends the way oslo.messaging does:
it calls and casts RPC methods, runs a test RPC server, sends notifications
and listens for them, wire-compatible with Python oslo.messaging services.

The transport URL comes from --url, else from [DEFAULT] transport_url of the
--config-file files (nova.conf style), else ` + DefaultURL + `.
Passwords are never printed.

Exit codes: 0 success, 1 other failure, 2 usage (flags, arguments, JSON, URL,
configuration file), 3 timeout, 4 remote error raised by the RPC server,
5 delivery failure or undeliverable message, 6 authentication refused.`,
		Example: `  switchyard serve --topic demo &
  switchyard call --topic demo echo '{"hello": "world"}'
  switchyard --config-file /etc/nova/nova.conf listen --topic notifications --priority info --priority error`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			msg := fmt.Sprintf("unknown command %q", args[0])
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += fmt.Sprintf(" (did you mean %q?)", s[0])
			}
			return usageErrorf("%s", msg)
		},
		RunE: func(*cobra.Command, []string) error {
			return usageErrorf("a command is required")
		},
	}
	root.CompletionOptions.HiddenDefaultCmd = true
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err: err} })
	pf := root.PersistentFlags()
	pf.StringVar(&a.url, "url", "", "transport URL, such as rabbit://user:pass@host:5672/vhost (default: [DEFAULT] transport_url of the config files, else "+DefaultURL+")")
	pf.StringVar(&a.notifyURL, "notify-url", "", "transport URL for notifications (notify, listen) when they travel on another backend than RPC, such as RPC over an AMQP 1.0 router and notifications over RabbitMQ (default: [oslo_messaging_notifications] transport_url, else the RPC URL)")
	pf.StringArrayVar(&a.configFiles, "config-file", nil, "oslo.config INI file to read, such as /etc/nova/nova.conf (repeatable; later files override earlier ones)")
	pf.StringSliceVar(&a.exmods, "allowed-remote-exmods", nil, "Python modules whose exceptions are rebuilt as themselves rather than as a generic RemoteError (comma-separated or repeated)")
	root.AddCommand(a.callCommand(), a.castCommand(), a.serveCommand(), a.notifyCommand(), a.listenCommand(), a.brokerCommand(), a.routerCommand(), a.contractCommand())
	return root
}

// runE marks the command as started, so errors it returns are classified
// by their type rather than as usage errors.
func (a *app) runE(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		a.started = true
		return f(cmd, args)
	}
}

// argsRange accepts between lo and hi positional arguments.
func argsRange(lo, hi int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < lo || len(args) > hi {
			want := fmt.Sprintf("%d", lo)
			if hi > lo {
				want = fmt.Sprintf("%d to %d", lo, hi)
			}
			return usageErrorf("expected %s argument(s) (%s), got %d", want, cmd.Use, len(args))
		}
		return nil
	}
}

// session is what a command needs to reach the backend.
type session struct {
	cfg *drivers.Config
	raw string                // the URL to open, with its password
	url *drivers.TransportURL // parsed; String() is safe to print
}

// setup loads the configuration files, applies the global flags and picks
// the transport URL. For notification commands (notifications true), a
// configured [oslo_messaging_notifications] transport_url wins over
// [DEFAULT] transport_url, as in oslo's notifier.
func (a *app) setup(cmd *cobra.Command, notifications bool) (*session, error) {
	cfg := drivers.DefaultConfig()
	if len(a.configFiles) > 0 {
		loaded, warnings, err := osloconfig.LoadFiles(a.configFiles...)
		for _, w := range warnings {
			a.warnf("%s", w)
		}
		if err != nil {
			return nil, &opError{what: "read configuration", err: &usageError{err: err}}
		}
		cfg = loaded
	}
	if cmd.Flags().Changed("allowed-remote-exmods") {
		cfg.AllowedRemoteExmods = a.exmods
	}
	raw, source := a.url, "--url"
	if notifications && cmd.Flags().Changed("notify-url") {
		raw, source = a.notifyURL, "--notify-url"
		if strings.TrimSpace(raw) == "" {
			return nil, usageErrorf("--notify-url is empty")
		}
	} else if !cmd.Flags().Changed("url") {
		raw, source = DefaultURL, "the default URL"
		switch {
		case notifications && cfg.Notifications.TransportURL != "":
			raw, source = cfg.Notifications.TransportURL, "[oslo_messaging_notifications] transport_url"
		case len(a.configFiles) > 0 && cfg.Default.TransportURL != drivers.DefaultConfig().Default.TransportURL:
			raw, source = cfg.Default.TransportURL, "[DEFAULT] transport_url"
		}
	} else if strings.TrimSpace(raw) == "" {
		return nil, usageErrorf("--url is empty")
	}
	u, err := drivers.ParseURL(raw)
	if err != nil {
		return nil, &opError{what: "parse " + source, err: err}
	}
	a.secrets = append(a.secrets, passwords(u)...)
	return &session{cfg: cfg, raw: raw, url: u}, nil
}

// open opens the driver for the session.
func (s *session) open(ctx context.Context) (drivers.Driver, error) {
	d, err := drivers.Open(ctx, s.raw, s.cfg)
	if err != nil {
		return nil, &opError{what: "connect to " + s.url.String(), err: err}
	}
	return d, nil
}

// bounded runs f and waits at most d for it; it reports whether f
// finished, and f's error.
func bounded(d time.Duration, f func() error) (bool, error) {
	done := make(chan error, 1)
	go func() { done <- f() }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case err := <-done:
		return true, err
	case <-t.C:
		return false, nil
	}
}

// closeDriver closes d, waiting at most shutdownTimeout.
func (a *app) closeDriver(d drivers.Driver) {
	finished, err := bounded(shutdownTimeout, d.Close)
	switch {
	case !finished:
		a.warnf("the driver did not close within %s", shutdownTimeout)
	case err != nil && !errors.Is(err, drivers.ErrClosed):
		a.warnf("close the driver: %s", a.scrub(err.Error()))
	}
}

// stopListener stops l and waits, at most shutdownTimeout, for its
// cleanup.
func (a *app) stopListener(l drivers.Listener) {
	finished, _ := bounded(shutdownTimeout, func() error {
		l.Stop()
		l.Cleanup()
		return nil
	})
	if !finished {
		a.warnf("the listener did not stop within %s", shutdownTimeout)
	}
}

// warnf writes one "switchyard: warning: ..." line to stderr.
func (a *app) warnf(format string, args ...any) {
	a.linef("warning: "+format, args...)
}

// linef writes one "switchyard: ..." line to stderr. Text that did not come
// from this package must pass through scrub first.
func (a *app) linef(format string, args ...any) {
	line := "switchyard: " + oneLine(fmt.Sprintf(format, args...)) + "\n"
	a.stderrMu.Lock()
	defer a.stderrMu.Unlock()
	_, _ = io.WriteString(a.stderr, line)
}

// minBarePassword is the shortest password scrubbed wherever it appears;
// shorter ones are scrubbed only where a URL would show them, as
// ":password@", since replacing every "p" or "abc" would garble the text
// without hiding anything.
const minBarePassword = 6

// scrub hides the passwords of the URLs in play in s, a text from a driver
// or library, in case it quotes one.
func (a *app) scrub(s string) string {
	secrets := a.secrets
	// Passwords of a --url that failed before setup parsed it.
	if u, err := drivers.ParseURL(a.url); err == nil {
		secrets = append(secrets, passwords(u)...)
	}
	for _, p := range secrets {
		for _, form := range []string{p, url.PathEscape(p), url.QueryEscape(p)} {
			s = strings.ReplaceAll(s, ":"+form+"@", ":****@")
		}
		if len(p) >= minBarePassword {
			s = strings.ReplaceAll(s, p, "****")
		}
	}
	return s
}

// passwords lists the passwords of u worth scrubbing: a password equal to
// its user name is shown as the user name anyway.
func passwords(u *drivers.TransportURL) []string {
	var out []string
	for _, h := range u.Hosts {
		if h.Password != "" && h.Password != h.Username {
			out = append(out, h.Password)
		}
	}
	return out
}

// oneLine joins the lines of s with spaces and replaces other control
// characters with spaces.
func oneLine(s string) string {
	var parts []string
	for _, l := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	s = strings.Join(parts, " ")
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// usageError is a mistake in how the command was invoked (exit 2).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// opError names the operation that failed.
type opError struct {
	what string
	err  error
}

func (e *opError) Error() string { return e.what + ": " + e.err.Error() }
func (e *opError) Unwrap() error { return e.err }

// exitCode maps an error to the process exit code.
func (a *app) exitCode(err error) int {
	var (
		ue *usageError
		ur *drivers.URLError
		oe *drivers.OptionError
		ae *drivers.AuthError
		re *drivers.RemoteError
	)
	switch {
	case !a.started, errors.As(err, &ue), errors.As(err, &ur), errors.As(err, &oe), errors.Is(err, drivers.ErrInvalidTarget):
		return ExitUsage
	case errors.As(err, &ae):
		return ExitAuth
	case errors.As(err, &re):
		return ExitRemote
	case errors.Is(err, drivers.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return ExitTimeout
	case errors.Is(err, drivers.ErrDeliveryFailure), errors.Is(err, drivers.ErrUndeliverable):
		return ExitDelivery
	}
	return ExitFailure
}

// printError writes err as one line on stderr.
func (a *app) printError(cmd *cobra.Command, err error, code int) {
	what, cause := "", err
	var oe *opError
	if errors.As(err, &oe) {
		what, cause = oe.what, oe.err
	} else if cmd != nil && cmd.HasParent() {
		what = cmd.Name()
	}
	var text string
	var re *drivers.RemoteError
	switch {
	case errors.As(cause, &re) && cause == error(re):
		text = fmt.Sprintf("remote error: %s (module %s): %s", re.Class, re.Module, re.Message)
	case errors.Is(cause, context.Canceled):
		text = "interrupted: " + cause.Error()
	default:
		text = cause.Error()
	}
	text = a.scrub(text)
	if code == ExitUsage && oe == nil {
		path := "switchyard"
		if cmd != nil {
			path = cmd.CommandPath()
		}
		text += fmt.Sprintf(" (see %q)", path+" --help")
	}
	if what != "" {
		text = what + ": " + text
	}
	a.linef("%s", text)
}

// hostname is the default publisher id's host part.
func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}
