// Command switchyard is the operator CLI of Switchyard: it calls and casts
// oslo.messaging RPC methods, runs a test RPC server, sends notifications
// and listens for them, over any registered driver (see drivers.go).
//
// Usage:
//
//	switchyard [--url URL] [--config-file PATH]... [--allowed-remote-exmods MOD,...] COMMAND [flags] [args]
//
// Commands: call, cast, serve, notify, listen; "switchyard --help" and
// "switchyard COMMAND --help" describe them. Exit codes: 0 success,
// 1 failure, 2 usage, 3 timeout, 4 remote error, 5 delivery failure,
// 6 authentication refused.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/switchyard-dev/switchyard/cmd/switchyard/internal/cli"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:]))
}

// run runs the command line with the process's standard streams until it
// finishes or SIGINT/SIGTERM arrives, which stops serve and listen cleanly.
// A second signal during that shutdown ends the process at once.
func run(ctx context.Context, args []string) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	return cli.Run(ctx, args, os.Stdin, os.Stdout, os.Stderr)
}
