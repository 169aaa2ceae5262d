// Package pyoslo runs Python oslo.messaging 14, the reference peer, from
// tests: a script gets JSON on stdin and answers JSON on stdout. Where
// python3-oslo.messaging is missing the test skips (fails under
// SWITCHYARD_REQUIRE_REAL=1), saying how to install it.
package pyoslo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/switchyard-dev/switchyard/internal/realbroker"
)

// Python is the interpreter that has Debian's python3-oslo.messaging.
const Python = "/usr/bin/python3"

// TB is the part of testing.TB this package needs.
type TB interface {
	realbroker.TB
	Fatalf(format string, args ...any)
}

var probe struct {
	once    sync.Once
	version string
	err     error
}

// Version returns the installed oslo.messaging version, or an error saying
// why it cannot be used.
func Version() (string, error) {
	probe.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, Python, "-c",
			"import importlib.metadata as m, oslo_messaging; print(m.version('oslo.messaging'))").CombinedOutput()
		if err != nil {
			probe.err = fmt.Errorf("%s cannot import oslo_messaging: %v: %s", Python, err, bytes.TrimSpace(out))
			return
		}
		probe.version = string(bytes.TrimSpace(out))
	})
	return probe.version, probe.err
}

// Require ends the test through realbroker.Unavailable unless Python
// oslo.messaging can be imported; it returns its version.
func Require(t TB) string {
	t.Helper()
	v, err := Version()
	if err != nil {
		realbroker.Unavailable(t, "Python oslo.messaging", err.Error()+"; install it with apt-get install -y python3-oslo.messaging python3-pyngus python3-qpid-proton")
	}
	return v
}

// Run executes script with Python, feeding input as JSON on stdin and
// decoding its stdout as JSON into output (numbers in interface
// values as json.Number, so integers keep every digit). It fails the test if the script
// fails or outlives timeout.
func Run(t TB, timeout time.Duration, script string, input, output any) {
	t.Helper()
	Require(t)
	in, err := json.Marshal(input)
	if err != nil {
		t.Fatalf("pyoslo: input: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, Python, "-c", script)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "PYTHONIOENCODING=utf-8")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("pyoslo: script failed: %v\nstderr:\n%s", err, stderr.String())
	}
	dec := json.NewDecoder(bytes.NewReader(stdout.Bytes()))
	dec.UseNumber()
	if err := dec.Decode(output); err != nil {
		t.Fatalf("pyoslo: output is not JSON: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
}
