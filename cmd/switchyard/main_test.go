package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchyard-dev/switchyard/cmd/switchyard/internal/cli"
	"github.com/switchyard-dev/switchyard/cmd/switchyard/internal/clitest"
	"github.com/switchyard-dev/switchyard/drivers"
)

// childEnv makes the test binary act as the switchyard command (see child).
const childEnv = "SWITCHYARD_CLI_TEST_CHILD"

// childURL in a child's arguments stands for the URL of its in-memory
// backend.
const childURL = "{CLITEST_URL}"

// statsPrefix starts the line a child writes on stderr after the command:
// what its in-memory backend saw.
const statsPrefix = "clitest-stats "

// testTimeout bounds every wait of a test.
const testTimeout = 60 * time.Second

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(child())
	}
	goleak.VerifyTestMain(m)
}

// child runs the command line through main's run, with the drivers of this
// binary and a clitest backend, then reports the backend's stats.
func child() int {
	drivers.Register(drivers.Registration{Scheme: clitest.Scheme, Open: clitest.Open})
	b := clitest.NewBackend()
	args := make([]string, 0, len(os.Args)-1)
	for _, a := range os.Args[1:] {
		args = append(args, strings.ReplaceAll(a, childURL, b.URL("u", "p")))
	}
	code := run(context.Background(), args)
	s := b.Stats()
	fmt.Fprintf(os.Stderr, "%sopens=%d closes=%d stops=%d cleanups=%d\n", statsPrefix, s.Opens, s.Closes, s.Stops, s.Cleanups)
	return code
}

// process is the test binary running as the switchyard command.
type process struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	lines  chan string // stderr, line by line; closed at EOF
	exited chan struct{}
	err    error // cmd.Wait's, once exited is closed
	stderr []string
}

func startProcess(t *testing.T, args ...string) *process {
	t.Helper()
	p := &process{lines: make(chan string, 100), exited: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], args...)
	p.cmd.Env = append(os.Environ(), childEnv+"=1")
	p.cmd.Stdout = &p.stdout
	pipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// waitLine returns the first stderr line with the prefix, collecting the
// lines before it.
func (p *process) waitLine(t *testing.T, prefix string) string {
	t.Helper()
	timer := time.NewTimer(testTimeout)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("no stderr line starting %q; stderr: %q", prefix, p.stderr)
			}
			p.stderr = append(p.stderr, l)
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-timer.C:
			t.Fatalf("no stderr line starting %q within %s; stderr: %q", prefix, testTimeout, p.stderr)
		}
	}
}

// wait waits for the exit and returns the exit code and all of stderr.
func (p *process) wait(t *testing.T) (int, []string) {
	t.Helper()
	timer := time.NewTimer(testTimeout)
	defer timer.Stop()
	for open := true; open; {
		select {
		case l, ok := <-p.lines:
			if ok {
				p.stderr = append(p.stderr, l)
			}
			open = ok
		case <-timer.C:
			t.Fatalf("the command did not exit within %s; stderr %q", testTimeout, p.stderr)
		}
	}
	select {
	case <-p.exited:
	case <-timer.C:
		t.Fatalf("the command did not exit within %s", testTimeout)
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0, p.stderr
	case errors.As(p.err, &ee):
		return ee.ExitCode(), p.stderr
	}
	t.Fatal(p.err)
	return -1, nil
}

func TestServeStopsCleanlyOnSignal(t *testing.T) {
	for _, sig := range []os.Signal{syscall.SIGTERM, os.Interrupt} {
		t.Run(sig.String(), func(t *testing.T) {
			p := startProcess(t, "serve", "--url", childURL, "--topic", "t")
			p.waitLine(t, "switchyard: serving ")
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			stats := p.waitLine(t, statsPrefix)
			code, stderr := p.wait(t)
			if code != cli.ExitOK {
				t.Errorf("exit code %d after %s, want 0; stderr %q", code, sig, stderr)
			}
			if want := statsPrefix + "opens=1 closes=1 stops=1 cleanups=1"; stats != want {
				t.Errorf("backend saw %q, want %q", stats, want)
			}
			if len(stderr) != 2 {
				t.Errorf("stderr %q, want the start-up notice and the stats only", stderr)
			}
		})
	}
}

func TestListenStopsCleanlyOnSignal(t *testing.T) {
	p := startProcess(t, "listen", "--url", childURL, "--topic", "n")
	p.waitLine(t, "switchyard: listening for notifications on n.info")
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, stderr := p.wait(t); code != cli.ExitOK || !strings.HasSuffix(stderr[len(stderr)-1], "opens=1 closes=1 stops=1 cleanups=1") {
		t.Errorf("exit code %d, stderr %q", code, stderr)
	}
}

func TestExitCodesThroughMain(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"--help"}, cli.ExitOK},
		{[]string{"call", "--url", childURL, "--topic", "t", "echo", "[1]"}, cli.ExitUsage},
		{[]string{"call", "--url", childURL, "--topic", "nobody", "--timeout", "50ms", "echo"}, cli.ExitTimeout},
	} {
		p := startProcess(t, tc.args...)
		code, stderr := p.wait(t)
		if code != tc.code {
			t.Errorf("%q: exit code %d, want %d; stderr %q", tc.args, code, tc.code, stderr)
		}
		if tc.code == cli.ExitOK && !strings.Contains(p.stdout.String(), "Available Commands:") {
			t.Errorf("--help printed %q", p.stdout.String())
		}
	}
}

// syncBuffer is an io.Writer that tests can read, and wait on, while a
// command writes to it.
type syncBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{changed: make(chan struct{})} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.changed)
	s.changed = make(chan struct{})
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// waitFor waits until the buffer contains text, stop is closed or ctx
// ends.
func (s *syncBuffer) waitFor(ctx context.Context, text string, stop <-chan struct{}) error {
	for {
		s.mu.Lock()
		found := strings.Contains(s.buf.String(), text)
		changed := s.changed
		s.mu.Unlock()
		if found {
			return nil
		}
		select {
		case <-changed:
		case <-stop:
			return fmt.Errorf("the command ended before printing %q", text)
		case <-ctx.Done():
			return fmt.Errorf("%q not printed: %w", text, ctx.Err())
		}
	}
}
