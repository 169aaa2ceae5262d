// Package rpctest is the RPC server the driver tests share: it polls a
// listener and answers the methods the tests call, so each driver's tests
// exercise the same server behaviour.
package rpctest

import (
	"context"
	"sync"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
)

// Reporter receives the server's complaints; *testing.T is one. Nil
// discards them (benchmarks).
type Reporter interface {
	Errorf(format string, args ...any)
}

// Unique returns prefix with a random suffix, so queues and addresses of
// one run never meet those of another.
func Unique(prefix string) string { return prefix + "_" + envelope.NewID()[:12] }

// Serve answers RPC requests on l until ctx ends or l stops:
//   - "echo" returns args.value when present, else its args;
//   - "fail" raises builtins.ValueError("bad value");
//   - "fail_custom" raises nova.exception.NovaError("custom");
//   - "sleep" replies {"slept": args.seconds} after that many seconds,
//     heartbeating every half call-monitor timeout when the caller set one;
//   - any other method ("silent") is never answered.
//
// Each request's message goes to seen first, when seen is not nil. The
// returned group is done once every goroutine of the server has ended.
func Serve(ctx context.Context, r Reporter, l drivers.Listener, seen chan<- drivers.Message) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			msgs, err := l.Poll(ctx)
			if err != nil {
				return
			}
			for _, m := range msgs {
				if seen != nil {
					select {
					case seen <- m.Message():
					case <-ctx.Done():
						return
					}
				}
				rm, ok := m.(drivers.RPCIncomingMessage)
				if !ok {
					if r != nil {
						r.Errorf("RPC listener returned %T", m)
					}
					continue
				}
				args, _ := m.Message()["args"].(map[string]any)
				switch m.Message()["method"] {
				case "echo":
					if v, ok := args["value"]; ok {
						rm.Reply(ctx, v, nil)
					} else {
						rm.Reply(ctx, args, nil)
					}
				case "fail":
					rm.Reply(ctx, nil, &drivers.RemoteError{Class: "ValueError", Module: "builtins", Message: "bad value", Args: []any{"bad value"}})
				case "fail_custom":
					rm.Reply(ctx, nil, &drivers.RemoteError{Class: "NovaError", Module: "nova.exception", Message: "custom", Args: []any{"custom"}})
				case "sleep":
					wg.Add(1)
					go func() {
						defer wg.Done()
						sleep(ctx, rm, args)
					}()
				}
			}
		}
	}()
	return &wg
}

// sleep answers a "sleep" request after args.seconds (1 s by default),
// heartbeating meanwhile when the caller asked for a call monitor.
func sleep(ctx context.Context, rm drivers.RPCIncomingMessage, args map[string]any) {
	secs := 1.0
	if n, ok := args["seconds"].(interface{ Float64() (float64, error) }); ok {
		secs, _ = n.Float64()
	}
	end := time.NewTimer(time.Duration(secs * float64(time.Second)))
	defer end.Stop()
	var tick <-chan time.Time
	if cmt := rm.CallMonitorTimeout(); cmt > 0 {
		tk := time.NewTicker(cmt / 2)
		defer tk.Stop()
		tick = tk.C
	}
	for {
		select {
		case <-tick:
			rm.Heartbeat(ctx)
		case <-end.C:
			rm.Reply(ctx, map[string]any{"slept": args["seconds"]}, nil)
			return
		case <-ctx.Done():
			return
		}
	}
}
