package cli

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchyard-dev/switchyard/cmd/switchyard/internal/clitest"
	"github.com/switchyard-dev/switchyard/drivers"
)

func TestMain(m *testing.M) {
	drivers.Register(drivers.Registration{Scheme: clitest.Scheme, Open: clitest.Open})
	goleak.VerifyTestMain(m)
}

// testTimeout bounds every wait of a test.
const testTimeout = 20 * time.Second

// result is one Run's outcome.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs the command line with stdin and a bounded context.
func runCLI(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	return runCtx(ctx, stdin, args...)
}

func runCtx(ctx context.Context, stdin string, args ...string) result {
	var out, errs bytes.Buffer
	code := Run(ctx, args, strings.NewReader(stdin), &out, &errs)
	return result{code: code, stdout: out.String(), stderr: errs.String()}
}

// wantCode fails the test unless r exited with code and, for a failure,
// wrote exactly one "switchyard: " line on stderr.
func wantCode(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\nstdout: %q\nstderr: %q", r.code, code, r.stdout, r.stderr)
	}
	if code != ExitOK {
		wantOneErrorLine(t, r.stderr)
	}
}

// wantOneErrorLine checks that every stderr line has the switchyard:
// prefix and that exactly one, the last, is an error rather than a warning
// or serve's and listen's start-up notice.
func wantOneErrorLine(t *testing.T, stderr string) {
	t.Helper()
	var errorLines []string
	for _, l := range lines(stderr) {
		if !strings.HasPrefix(l, "switchyard: ") {
			t.Fatalf("stderr line without the switchyard: prefix: %q (stderr %q)", l, stderr)
		}
		if !notice.MatchString(l) {
			errorLines = append(errorLines, l)
		}
	}
	if len(errorLines) != 1 || !strings.HasSuffix(stderr, errorLines[0]+"\n") {
		t.Fatalf("want exactly one error line, last, on stderr; got %q", stderr)
	}
}

var notice = regexp.MustCompile(`^switchyard: (warning: |serving <Target |listening for notifications on )`)

// waitFor waits, bounded, until cond holds for b's stats.
func waitFor(t *testing.T, b *clitest.Backend, what string, cond func(clitest.Stats) bool) clitest.Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	s, err := b.WaitUntil(ctx, cond)
	if err != nil {
		t.Fatalf("waiting for %s: %v (stats %+v)", what, err, s)
	}
	return s
}

// background is a Run in a goroutine, stopped by cancelling its context.
type background struct {
	cancel context.CancelFunc
	done   chan result
}

// start runs the command line in the background.
func start(t *testing.T, args ...string) *background {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	bg := &background{cancel: cancel, done: make(chan result, 1)}
	go func() { bg.done <- runCtx(ctx, "", args...) }()
	t.Cleanup(func() { bg.stop(t) })
	return bg
}

// stop cancels the run and returns its result; it is idempotent.
func (bg *background) stop(t *testing.T) result {
	t.Helper()
	bg.cancel()
	return bg.wait(t)
}

// wait returns the run's result without cancelling it.
func (bg *background) wait(t *testing.T) result {
	t.Helper()
	timer := time.NewTimer(testTimeout)
	defer timer.Stop()
	select {
	case r := <-bg.done:
		bg.done <- r // keep it for a later stop or wait
		return r
	case <-timer.C:
		t.Fatalf("command did not finish within %s", testTimeout)
		return result{}
	}
}

// startServe starts serve on b and waits until its listener is in place.
func startServe(t *testing.T, b *clitest.Backend, args ...string) *background {
	t.Helper()
	before := b.Stats().ActiveRPCListeners
	bg := start(t, append([]string{"serve", "--url", b.URL("u", "p")}, args...)...)
	waitFor(t, b, "serve to listen", func(s clitest.Stats) bool { return s.ActiveRPCListeners > before })
	return bg
}

// lines splits output into its lines.
func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
