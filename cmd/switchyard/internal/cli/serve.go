package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchyard-dev/switchyard/drivers"
)

// minHeartbeatInterval is the shortest interval between heartbeats: oslo's
// dispatcher ignores call-monitor timeouts whose half is below a second.
const minHeartbeatInterval = time.Second

type serveFlags struct {
	topic, server, exchange string
}

func (a *app) serveCommand() *cobra.Command {
	var o serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a test RPC server (echo, fail, sleep) until interrupted",
		Long: `serve subscribes to --topic (and to --server of it, when given) as an
oslo.messaging RPC server does and answers three methods:

  echo   replies with its arguments
  fail   raises builtins.ValueError with args["message"]
  sleep  sleeps args["seconds"], sending heartbeats every half of the
         caller's call-monitor timeout (at most one a second)

Any other method raises oslo_messaging.rpc.dispatcher.NoSuchMethod. Casts
are processed without a reply. Each request is printed on stdout as one
JSON line {"time", "method", "args", "context", "reply_to_call"} and
acknowledged. serve stops cleanly on SIGINT or SIGTERM.`,
		Example: `  switchyard serve --topic demo
  switchyard serve --url rabbit://guest:guest@127.0.0.1:5672/ --topic demo --server host1 --exchange nova`,
		Args: argsRange(0, 0),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error { return a.runServe(cmd, &o) }),
	}
	fs := cmd.Flags()
	fs.StringVar(&o.topic, "topic", "", "topic to serve (required)")
	fs.StringVar(&o.server, "server", "", "server name; requests addressed to it are received too")
	fs.StringVar(&o.exchange, "exchange", "", "exchange (default: [DEFAULT] control_exchange, openstack)")
	_ = cmd.MarkFlagRequired("topic")
	return cmd
}

func (a *app) runServe(cmd *cobra.Command, o *serveFlags) error {
	target := drivers.Target{Exchange: o.exchange, Topic: o.topic, Server: o.server}
	if err := target.ValidateListen(); err != nil {
		return err
	}
	s, err := a.setup(cmd, false)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	startCtx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	d, err := s.open(startCtx)
	if err != nil {
		return a.deadlineError(startCtx, err, "", startupTimeout.String())
	}
	defer a.closeDriver(d)
	l, err := d.Listen(startCtx, target, drivers.Batch{Size: 1})
	cancel()
	if err != nil {
		return a.deadlineError(startCtx, &opError{what: "listen on " + target.String(), err: err}, "", startupTimeout.String())
	}
	defer a.stopListener(l)
	a.linef("serving %s on %s (methods: echo, fail, sleep)", target, s.url)
	workers := s.cfg.Default.ExecutorThreadPoolSize
	return a.serveLoop(ctx, l, max(workers, 1))
}

// serveLoop receives requests until ctx ends or the listener fails, and
// handles each in its own goroutine, at most workers at a time. It returns
// once every handler has finished (or shutdownTimeout has passed).
func (a *app) serveLoop(ctx context.Context, l drivers.Listener, workers int) error {
	// Handlers outlive ctx: on shutdown they are cancelled, so that
	// sleeps end early, and still reply.
	hctx, hcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer hcancel()
	var wg sync.WaitGroup
	slots := make(chan struct{}, workers)
	var failure error
	for failure == nil && ctx.Err() == nil {
		msgs, err := l.Poll(ctx)
		if err != nil {
			if ctx.Err() == nil {
				failure = &opError{what: "receive requests", err: err}
			}
			break
		}
		for _, m := range msgs {
			a.printRequest(m)
			m.Acknowledge()
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				hcancel()
				a.handle(hctx, m)
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				a.handle(hctx, m)
			}()
		}
	}
	hcancel()
	finished, _ := bounded(shutdownTimeout, func() error { wg.Wait(); return nil })
	if !finished {
		a.warnf("request handlers did not finish within %s", shutdownTimeout)
	}
	return failure
}

// requestLine is what serve prints for each request.
type requestLine struct {
	Time        string          `json:"time"`
	Method      any             `json:"method"`
	Args        any             `json:"args"`
	Context     drivers.Context `json:"context"`
	ReplyToCall bool            `json:"reply_to_call"`
}

// replyExpected reports whether the caller of m waits for a reply: m is an
// RPCIncomingMessage, and, when the driver says so through an optional
// ReplyExpected method, a call rather than a cast.
func replyExpected(m drivers.IncomingMessage) bool {
	if _, ok := m.(drivers.RPCIncomingMessage); !ok {
		return false
	}
	if re, ok := m.(interface{ ReplyExpected() bool }); ok {
		return re.ReplyExpected()
	}
	return true
}

func (a *app) printRequest(m drivers.IncomingMessage) {
	msg := m.Message()
	mctx := m.Context()
	if mctx == nil {
		mctx = drivers.Context{}
	}
	line := requestLine{
		Time:        time.Now().UTC().Format(time.RFC3339Nano),
		Method:      msg["method"],
		Args:        requestArgs(msg),
		Context:     mctx,
		ReplyToCall: replyExpected(m),
	}
	if err := writeJSONLine(a.stdout, line); err != nil {
		a.warnf("print a request: %v", err)
	}
}

// requestArgs is the request's "args", {} when absent.
func requestArgs(msg drivers.Message) any {
	if args, ok := msg["args"]; ok && args != nil {
		return args
	}
	return map[string]any{}
}

// handle runs one request and replies when m is an RPC request; the
// driver skips the reply of a cast.
func (a *app) handle(ctx context.Context, m drivers.IncomingMessage) {
	msg := m.Message()
	method, _ := msg["method"].(string)
	args := requestArgs(msg)
	rpc, _ := m.(drivers.RPCIncomingMessage)
	var result any
	var failure error
	switch method {
	case "echo":
		result = args
	case "fail":
		failure = failError(args)
	case "sleep":
		failure = sleep(ctx, rpc, args)
	default:
		failure = &drivers.RemoteError{
			Class: "NoSuchMethod", Module: "oslo_messaging.rpc.dispatcher",
			Message: "Endpoint does not support RPC method " + method,
			Args:    []any{method}, Kwargs: map[string]any{},
		}
	}
	if rpc == nil {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), replyTimeout)
	defer cancel()
	rpc.Reply(rctx, result, failure)
}

// argument returns args[key] when args is an object.
func argument(args any, key string) (any, bool) {
	m, ok := args.(map[string]any)
	if !ok {
		return nil, false
	}
	v, ok := m[key]
	return v, ok
}

func valueError(msg string) *drivers.RemoteError {
	return &drivers.RemoteError{Class: "ValueError", Module: "builtins", Message: msg, Args: []any{msg}, Kwargs: map[string]any{}}
}

// failError is the failure the fail method raises.
func failError(args any) *drivers.RemoteError {
	msg := "fail was called"
	if v, ok := argument(args, "message"); ok {
		if s, isString := v.(string); isString {
			msg = s
		} else if b, err := json.Marshal(v); err == nil {
			msg = string(b)
		}
	}
	return valueError(msg)
}

// heartbeatInterval is how often a server heartbeats for a caller with
// the given call-monitor timeout: every half of it, at most once a second.
func heartbeatInterval(callMonitorTimeout time.Duration) time.Duration {
	return max(callMonitorTimeout/2, minHeartbeatInterval)
}

// seconds reads args["seconds"] as a duration.
func seconds(args any) (time.Duration, error) {
	v, ok := argument(args, "seconds")
	if !ok {
		return 0, errors.New(`sleep needs a "seconds" argument`)
	}
	var f float64
	switch x := v.(type) {
	case json.Number:
		var err error
		if f, err = strconv.ParseFloat(string(x), 64); err != nil {
			return 0, fmt.Errorf("seconds %s is not a number", x)
		}
	case float64:
		f = x
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	default:
		return 0, fmt.Errorf("seconds must be a number, not %s", jsonKind(v))
	}
	if f < 0 || math.IsNaN(f) || f > float64(math.MaxInt64)/float64(time.Second) {
		return 0, fmt.Errorf("seconds %v is out of range", f)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// sleep is the sleep method: it waits args["seconds"], heartbeating when
// the caller set a call-monitor timeout, and ends early with a failure when
// ctx ends (serve is shutting down).
func sleep(ctx context.Context, rpc drivers.RPCIncomingMessage, args any) error {
	d, err := seconds(args)
	if err != nil {
		return valueError(err.Error())
	}
	done := time.NewTimer(d)
	defer done.Stop()
	var beats <-chan time.Time
	if rpc != nil {
		if cmt := rpc.CallMonitorTimeout(); cmt > 0 {
			t := time.NewTicker(heartbeatInterval(cmt))
			defer t.Stop()
			beats = t.C
		}
	}
	for {
		select {
		case <-done.C:
			return nil
		case <-beats:
			hctx, cancel := context.WithTimeout(ctx, replyTimeout)
			rpc.Heartbeat(hctx)
			cancel()
		case <-ctx.Done():
			msg := "switchyard serve is shutting down"
			return &drivers.RemoteError{Class: "RuntimeError", Module: "builtins", Message: msg, Args: []any{msg}, Kwargs: map[string]any{}}
		}
	}
}
