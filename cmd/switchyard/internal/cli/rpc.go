package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/switchyard-dev/switchyard/drivers"
)

// rpcFlags are the flags of call and cast.
type rpcFlags struct {
	topic, server, exchange string
	version, namespace      string
	context                 string
	timeout                 time.Duration
	callMonitorTimeout      time.Duration
	retry                   int
	mandatory               bool
	fanout                  bool
}

func (o *rpcFlags) register(fs *pflag.FlagSet, call bool) {
	fs.StringVar(&o.topic, "topic", "", "topic of the RPC server (required)")
	fs.StringVar(&o.server, "server", "", "send to this server of the topic only")
	fs.StringVar(&o.exchange, "exchange", "", "exchange (default: [DEFAULT] control_exchange, openstack)")
	fs.StringVar(&o.version, "version", "", `API version to request, such as "1.3"; sent as the message's "version"`)
	fs.StringVar(&o.namespace, "namespace", "", `endpoint namespace; sent as the message's "namespace"`)
	fs.StringVar(&o.context, "context", "", `request context as a JSON object (default {}); a "request_id" is added when absent`)
	fs.IntVar(&o.retry, "retry", -1, "re-send attempts after a connection failure: 0 none, N at most N, -1 unlimited")
	fs.BoolVar(&o.mandatory, "mandatory", false, "fail with exit code 5 when no queue can take the message (oslo's at_least_once)")
	if call {
		fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "how long to wait for the reply; 0 means [DEFAULT] rpc_response_timeout")
		fs.DurationVar(&o.callMonitorTimeout, "call-monitor-timeout", 0, "fail when the server sends no heartbeat or reply for this long (oslo servers need 2s or more); 0 disables")
	} else {
		fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "how long to wait for the backend to take the message")
		fs.BoolVar(&o.fanout, "fanout", false, "deliver a copy to every server of the topic")
	}
}

func (a *app) callCommand() *cobra.Command {
	var o rpcFlags
	cmd := &cobra.Command{
		Use:   "call METHOD [JSON-ARGS]",
		Short: "Call an RPC method and print its reply as JSON",
		Long: `call sends an RPC request {"method": METHOD, "args": JSON-ARGS} to the
servers of --topic, as oslo.messaging's RPCClient.call does, waits for the
reply and prints it as one line of JSON on stdout.

JSON-ARGS is a JSON object of keyword arguments (default {}); "-" reads it
from stdin. A failure raised by the server exits with code 4 and prints
its class, module and message; no reply within --timeout exits with 3.`,
		Example: `  switchyard call --topic demo echo '{"text": "hi"}'
  switchyard call --url rabbit://nova:secret@ctl1:5672/ --topic compute --server host1 --version 6.0 get_info '{"id": "abc"}'
  echo '{"seconds": 30}' | switchyard call --topic demo --timeout 60s --call-monitor-timeout 10s sleep -`,
		Args: argsRange(1, 2),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error { return a.runSend(cmd, &o, args, true) }),
	}
	o.register(cmd.Flags(), true)
	_ = cmd.MarkFlagRequired("topic")
	return cmd
}

func (a *app) castCommand() *cobra.Command {
	var o rpcFlags
	cmd := &cobra.Command{
		Use:   "cast METHOD [JSON-ARGS]",
		Short: "Send an RPC request without waiting for a reply",
		Long: `cast sends an RPC request {"method": METHOD, "args": JSON-ARGS} to one
server of --topic, or with --fanout to every server, as oslo.messaging's
RPCClient.cast does. It returns once the backend has taken the message;
nothing is printed.

JSON-ARGS is a JSON object of keyword arguments (default {}); "-" reads it
from stdin.`,
		Example: `  switchyard cast --topic demo sleep '{"seconds": 1}'
  switchyard cast --topic demo --fanout echo '{"to": "everyone"}'`,
		Args: argsRange(1, 2),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error { return a.runSend(cmd, &o, args, false) }),
	}
	o.register(cmd.Flags(), false)
	_ = cmd.MarkFlagRequired("topic")
	return cmd
}

// request builds the target, context and message of a call or cast.
func (a *app) request(o *rpcFlags, args []string, call bool) (drivers.Target, drivers.Context, drivers.Message, error) {
	t := drivers.Target{
		Exchange: o.exchange, Topic: o.topic, Server: o.server, Fanout: o.fanout,
		Namespace: o.namespace, Version: o.version,
	}
	if err := t.ValidateSend(call); err != nil {
		return t, nil, nil, err
	}
	method := args[0]
	if method == "" {
		return t, nil, nil, usageErrorf("METHOD is empty")
	}
	kwargs := map[string]any{}
	if len(args) > 1 {
		var err error
		if kwargs, err = a.readObject("JSON-ARGS", args[1]); err != nil {
			return t, nil, nil, err
		}
	}
	msg := drivers.Message{"method": method, "args": kwargs}
	if o.version != "" {
		msg["version"] = o.version
	}
	if o.namespace != "" {
		msg["namespace"] = o.namespace
	}
	mctx, err := a.requestContext(o.context)
	if err != nil {
		return t, nil, nil, err
	}
	return t, mctx, msg, nil
}

// runSend is call (call true) and cast.
func (a *app) runSend(cmd *cobra.Command, o *rpcFlags, args []string, call bool) error {
	switch {
	case o.timeout < 0:
		return usageErrorf("--timeout must not be negative")
	case o.callMonitorTimeout < 0:
		return usageErrorf("--call-monitor-timeout must not be negative")
	case o.retry < -1:
		return usageErrorf("--retry must be -1 (unlimited) or more")
	}
	target, mctx, msg, err := a.request(o, args, call)
	if err != nil {
		return err
	}
	s, err := a.setup(cmd, false)
	if err != nil {
		return err
	}
	timeout := o.timeout
	if timeout == 0 && call {
		timeout = s.cfg.Default.RPCResponseTimeout
	}
	if timeout == 0 {
		return usageErrorf("--timeout must be positive")
	}
	if call && o.callMonitorTimeout > 0 && o.callMonitorTimeout < 2*time.Second {
		a.warnf("--call-monitor-timeout %s is below 2s, which oslo servers ignore (they send no heartbeats)", o.callMonitorTimeout)
	}

	start := time.Now()
	deadline := start.Add(timeout)
	ctxDeadline := deadline
	if call {
		// Let the driver report its own timeout first.
		ctxDeadline = deadline.Add(deadlineGrace)
	}
	ctx, cancel := context.WithDeadline(cmd.Context(), ctxDeadline)
	defer cancel()

	kind := "cast"
	if call {
		kind = "call"
	}
	what := fmt.Sprintf("%s %s to %s", kind, args[0], target)
	d, err := s.open(ctx)
	if err != nil {
		return a.deadlineError(ctx, err, what, "--timeout "+timeout.String())
	}
	defer a.closeDriver(d)

	opts := drivers.SendOptions{WaitForReply: call, Retry: o.retry, Mandatory: o.mandatory}
	if call {
		opts.Timeout = time.Until(deadline)
		opts.CallMonitorTimeout = o.callMonitorTimeout
		if opts.Timeout <= 0 {
			return &opError{what: what, err: &drivers.TimeoutError{Op: "connecting took the whole --timeout " + timeout.String()}}
		}
	}
	reply, err := d.Send(ctx, target, mctx, msg, opts)
	if err != nil {
		return a.deadlineError(ctx, &opError{what: what, err: err}, what, "--timeout "+timeout.String())
	}
	if call {
		if err := writeJSONLine(a.stdout, reply); err != nil {
			return &opError{what: "print the reply", err: err}
		}
	}
	return nil
}

// deadlineError replaces a bare context deadline error, which a driver
// returns when the command's own deadline passed first, by a timeout that
// says what did not finish in time.
func (a *app) deadlineError(ctx context.Context, err error, what, limit string) error {
	if errors.Is(err, drivers.ErrTimeout) || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return err
	}
	var oe *opError
	if !errors.As(err, &oe) {
		oe = &opError{what: what, err: err}
	}
	return &opError{what: oe.what, err: &drivers.TimeoutError{Op: "not done within " + limit, Reason: oe.err.Error()}}
}
