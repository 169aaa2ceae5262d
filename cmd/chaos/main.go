// Command chaos runs Switchyard's chaos scenarios: a workload of RPC calls,
// casts, fanouts and notifications against the embedded fake broker (or a
// staging RabbitMQ), a timeline of faults, and invariants checked by
// observation. See "chaos --help".
//
// Usage:
//
//	chaos run FILE... [--url URL] [--seed N] [--report-dir DIR] [--quiet] [--duration D]
//	chaos validate FILE...
//	chaos list
//
// Exit codes: 0 every invariant holds, 1 an invariant fails, 2 invalid
// input.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/switchyard-dev/switchyard/internal/chaos/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
