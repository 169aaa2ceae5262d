package cli

import (
	"errors"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/fake/broker"
	"github.com/switchyard-dev/switchyard/fake/brokermetrics"
)

// brokerFlags are the broker command's flags.
type brokerFlags struct {
	listen        string
	users         []string
	vhosts        []string
	dataDir       string
	metricsListen string
	amqp1Listen   string
}

func (a *app) brokerCommand() *cobra.Command {
	var o brokerFlags
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run Switchyard's fake AMQP 0-9-1 broker as a standalone server",
		Long: `broker runs the embeddable fake broker (fake/broker) as a server, so Python
services and any AMQP 0-9-1 client can test against it: a store-and-forward
broker that behaves like RabbitMQ for what oslo-style drivers use.

It listens on --listen (loopback unless told otherwise), prints its
rabbit:// URL on stderr once it accepts connections, and serves until
SIGINT or SIGTERM. Users are --user name:password (repeatable; default
guest:guest), virtual hosts --vhost (repeatable; default "/"). With
--data-dir durable exchanges, queues, bindings and persistent messages
survive a restart.

With --metrics-listen it also serves Prometheus metrics at /metrics on
that address: queue depths, message counters (published, confirmed,
returned, delivered, acknowledged, per queue and in total), connections,
channels and consumers, read from the broker at each scrape, plus the
process's Go runtime and process metrics. Like --listen, the address is
used as given: 127.0.0.1:PORT stays on loopback, :PORT listens on every
interface.

With --amqp1-listen it also serves AMQP 1.0 on that address, on the same
queues: Switchyard's amqp1 driver and oslo.messaging's AMQP 1.0 driver
connect to the amqp:// URL it prints and, as with qpidd, use legacy
addressing.`,
		Example: `  switchyard broker
  switchyard broker --listen 127.0.0.1:5673 --user nova:secret --vhost nova --data-dir /tmp/sy-broker
  switchyard broker --metrics-listen 127.0.0.1:9419
  switchyard broker --amqp1-listen 127.0.0.1:5673`,
		Args: argsRange(0, 0),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error { return a.runBroker(cmd, &o) }),
	}
	fs := cmd.Flags()
	fs.StringVar(&o.listen, "listen", "127.0.0.1:5672", "address to listen on")
	fs.StringArrayVar(&o.users, "user", nil, "user as name:password (repeatable; default guest:guest)")
	fs.StringArrayVar(&o.vhosts, "vhost", nil, `virtual host (repeatable; default "/")`)
	fs.StringVar(&o.dataDir, "data-dir", "", "directory for durable state (default: memory only)")
	fs.StringVar(&o.metricsListen, "metrics-listen", "", "address to serve Prometheus metrics on at /metrics, e.g. 127.0.0.1:9419 (default: none)")
	fs.StringVar(&o.amqp1Listen, "amqp1-listen", "", "address to serve AMQP 1.0 on, e.g. 127.0.0.1:5673 (default: none)")
	return cmd
}

func (a *app) runBroker(cmd *cobra.Command, o *brokerFlags) error {
	opts := broker.Options{Addr: o.listen, VHosts: o.vhosts, Dir: o.dataDir, AMQP1Addr: o.amqp1Listen,
		Logger: slog.New(slog.NewTextHandler(stderrWriter{a}, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	for _, u := range o.users {
		name, pass, ok := strings.Cut(u, ":")
		if !ok || name == "" {
			return usageErrorf("--user %q is not name:password", u)
		}
		opts.Users = append(opts.Users, broker.User{Name: name, Password: pass})
	}
	ctx := cmd.Context()
	b, err := broker.Start(ctx, opts)
	if err != nil {
		return &opError{what: "start the broker on " + o.listen, err: err}
	}
	var metrics *brokermetrics.Server
	if o.metricsListen != "" {
		h := brokermetrics.Handler(b, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		metrics, err = brokermetrics.Listen(o.metricsListen, h)
		if err != nil {
			_ = b.Close()
			return &opError{what: "serve metrics on " + o.metricsListen, err: err}
		}
	}
	shown := b.URL()
	if u, err := drivers.ParseURL(shown); err == nil {
		shown = u.String() // never print a password
	}
	a.linef("broker listening on %s (%s)", b.Addr(), shown)
	if b.AMQP1Addr() != "" {
		shown := b.AMQP1URL()
		if u, err := drivers.ParseURL(shown); err == nil {
			shown = u.String()
		}
		a.linef("broker listening for AMQP 1.0 on %s (%s)", b.AMQP1Addr(), shown)
	}
	if metrics != nil {
		a.linef("broker metrics on %s", metrics.URL())
	}
	<-ctx.Done()
	var stopErr error
	if metrics != nil {
		stopErr = metrics.Close()
	}
	if err := errors.Join(b.Close(), stopErr); err != nil {
		return &opError{what: "stop the broker", err: err}
	}
	a.linef("broker stopped")
	return nil
}

// stderrWriter writes to the command's stderr one write at a time, shared
// safely with linef.
type stderrWriter struct{ a *app }

func (w stderrWriter) Write(b []byte) (int, error) {
	w.a.stderrMu.Lock()
	defer w.a.stderrMu.Unlock()
	return w.a.stderr.Write(b)
}
