package cli

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/switchyard-dev/switchyard/fake/router"
	"github.com/switchyard-dev/switchyard/fake/routermetrics"
)

// routerFlags are the router command's flags.
type routerFlags struct {
	listen        string
	users         []string
	peers         []string
	product       string
	containerID   string
	metricsListen string
}

// peerRetry is how often the router tries again to link to a peer that is
// not up yet.
const peerRetry = time.Second

func (a *app) routerCommand() *cobra.Command {
	var o routerFlags
	cmd := &cobra.Command{
		Use:   "router",
		Short: "Run Switchyard's fake AMQP 1.0 router as a standalone server",
		Long: `router runs the embeddable fake AMQP 1.0 router (fake/router) as a server, so
Python oslo.messaging's amqp driver and any AMQP 1.0 client can test against a
direct-messaging intermediary like qpid-dispatch-router: it holds no messages,
a sender's delivery is settled with its consumer's outcome, and addresses are
distributed closest, balanced or multicast by prefix as the AMQP 1.0 guide
configures them.

It listens on --listen (loopback unless told otherwise), prints its amqp://
URL on stderr once it accepts connections, and serves until SIGINT or
SIGTERM. Users are --user name:password (repeatable; SASL PLAIN; without any,
only ANONYMOUS). --peer host:port links it to another router, started with
--peer pointing back, to form a mesh; a peer not up yet is tried again every
second. --product qpid-cpp makes oslo pick legacy addressing; the default,
qpid-dispatch-router, makes it pick routable addressing.

With --metrics-listen it also serves Prometheus metrics at /metrics on that
address: per address its consumers, producers, credit and message counters
(received, forwarded, settled, released), the router's totals (outcomes
senders got, messages dropped), open connections and links, read from the
router at each scrape, plus the process's Go runtime and process metrics.
Like --listen, the address is used as given.`,
		Example: `  switchyard router
  switchyard router --listen 127.0.0.1:5672 --container-id r1 --peer 127.0.0.1:5673 &
  switchyard router --listen 127.0.0.1:5673 --container-id r2 --peer 127.0.0.1:5672
  switchyard router --metrics-listen 127.0.0.1:9420`,
		Args: argsRange(0, 0),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error { return a.runRouter(cmd, &o) }),
	}
	fs := cmd.Flags()
	fs.StringVar(&o.listen, "listen", "127.0.0.1:5672", "address to listen on")
	fs.StringArrayVar(&o.users, "user", nil, "user as name:password for SASL PLAIN (repeatable; default: ANONYMOUS only)")
	fs.StringArrayVar(&o.peers, "peer", nil, "host:port of another router to link to (repeatable)")
	fs.StringVar(&o.product, "product", "", `"product" the router announces (default qpid-dispatch-router)`)
	fs.StringVar(&o.containerID, "container-id", "", "the router's container-id; routers of a mesh need distinct ones (default switchyard-router)")
	fs.StringVar(&o.metricsListen, "metrics-listen", "", "address to serve Prometheus metrics on at /metrics, e.g. 127.0.0.1:9420 (default: none)")
	return cmd
}

func (a *app) runRouter(cmd *cobra.Command, o *routerFlags) error {
	opts := router.Options{Addr: o.listen, Product: o.product, ContainerID: o.containerID,
		Logger: slog.New(slog.NewTextHandler(stderrWriter{a}, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	for _, u := range o.users {
		name, pass, ok := strings.Cut(u, ":")
		if !ok || name == "" {
			return usageErrorf("--user %q is not name:password", u)
		}
		opts.Users = append(opts.Users, router.User{Name: name, Password: pass})
	}
	for _, p := range o.peers {
		if _, _, ok := strings.Cut(p, ":"); !ok {
			return usageErrorf("--peer %q is not host:port", p)
		}
	}
	ctx := cmd.Context()
	r, err := router.Start(ctx, opts)
	if err != nil {
		return &opError{what: "start the router on " + o.listen, err: err}
	}
	var metrics *routermetrics.Server
	if o.metricsListen != "" {
		h := routermetrics.Handler(r, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		metrics, err = routermetrics.Listen(o.metricsListen, h)
		if err != nil {
			_ = r.Close()
			return &opError{what: "serve metrics on " + o.metricsListen, err: err}
		}
	}
	a.linef("router listening on %s (%s)", r.Addr(), r.URL())
	if metrics != nil {
		a.linef("router metrics on %s", metrics.URL())
	}
	done := make(chan struct{})
	for _, p := range o.peers {
		go func() {
			defer func() { done <- struct{}{} }()
			a.linkPeer(ctx, r, p)
		}()
	}
	<-ctx.Done()
	for range o.peers {
		<-done
	}
	var stopErr error
	if metrics != nil {
		stopErr = metrics.Close()
	}
	if err := errors.Join(r.Close(), stopErr); err != nil {
		return &opError{what: "stop the router", err: err}
	}
	a.linef("router stopped")
	return nil
}

// linkPeer links r to the router at addr, trying again until it answers or
// ctx ends.
func (a *app) linkPeer(ctx context.Context, r *router.Router, addr string) {
	t := time.NewTicker(peerRetry)
	defer t.Stop()
	for {
		if err := r.Connect(ctx, addr); err == nil {
			a.linef("router linked to peer %s", addr)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
