package pyoslo

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

// Process is a long-running Python peer whose stdout is read line by line.
type Process struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser // open until Stop: peers may serve until it closes
	lines  chan string
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan struct{}
	err    error
}

// CleanupTB is the part of testing.TB a Process needs.
type CleanupTB interface {
	TB
	Cleanup(func())
}

// Start runs script with args under Python and reads its output lines. The
// process is killed, and its stderr logged on failure, when the test ends.
func Start(t CleanupTB, script string, args ...string) *Process {
	t.Helper()
	Require(t)
	p := &Process{lines: make(chan string, 1024), done: make(chan struct{})}
	p.cmd = exec.Command(Python, append([]string{"-u", "-c", script}, args...)...)
	p.cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "PYTHONIOENCODING=utf-8")
	p.cmd.Stderr = &lockedWriter{mu: &p.mu, w: &p.stderr}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("pyoslo: %v", err)
	}
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatalf("pyoslo: %v", err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("pyoslo: start: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64*1024), 8*1024*1024)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		p.err = p.cmd.Wait()
		close(p.lines)
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if ft, ok := t.(interface{ Failed() bool }); ok && ft.Failed() {
			t.Logf("python peer stderr:\n%s", p.Stderr())
		}
	})
	return p
}

// Line returns the next output line, or an error when the process ended
// or timeout passed.
func (p *Process) Line(timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	select {
	case l, ok := <-p.lines:
		if !ok {
			<-p.done
			return "", fmt.Errorf("python peer exited (%v); stderr:\n%s", p.err, p.Stderr())
		}
		return l, nil
	case <-ctx.Done():
		return "", fmt.Errorf("no output from the python peer within %v; stderr:\n%s", timeout, p.Stderr())
	}
}

// WaitFor reads lines until one equals want.
func (p *Process) WaitFor(want string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		l, err := p.Line(time.Until(deadline))
		if err != nil {
			return err
		}
		if l == want {
			return nil
		}
	}
}

// Stop kills the process and waits for it.
func (p *Process) Stop() {
	_ = p.stdin.Close()
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
	}
	for range p.lines {
	}
	<-p.done
}

// Wait waits for the process to exit by itself, up to timeout.
func (p *Process) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("python peer still running after %v", timeout)
	}
}

// Stderr returns what the process wrote to stderr so far.
func (p *Process) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
