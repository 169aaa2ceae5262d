package realbroker

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"
)

// ProtonBrokerScript is the AMQP 1.0 broker shipped with Debian's
// libqpid-proton11-dev-examples (it needs python3-qpid-proton): a real
// store-and-forward broker with dynamic sources, written by the Qpid
// project, that advertises no product (so oslo picks legacy addressing).
const ProtonBrokerScript = "/usr/share/proton/examples/python/broker.py"

// Proton is a running proton example broker process.
type Proton struct {
	Port   int
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan struct{}
}

// URL is the broker's amqp:// transport URL.
func (p *Proton) URL() string { return fmt.Sprintf("amqp://127.0.0.1:%d/", p.Port) }

// Stop kills the broker and waits for it to exit.
func (p *Proton) Stop() {
	if p == nil || p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Stderr is what the broker wrote to stderr so far.
func (p *Proton) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

type lockedBuffer struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (l lockedBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(b)
}

// FreePort returns a loopback TCP port nobody listens on right now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StartProton starts the proton example broker on 127.0.0.1:port (a free
// port when 0) and returns once it accepts connections (within 15 s).
func StartProton(port int) (*Proton, error) {
	if _, err := os.Stat(ProtonBrokerScript); err != nil {
		return nil, fmt.Errorf("%s is missing (apt-get install libqpid-proton11-dev-examples python3-qpid-proton)", ProtonBrokerScript)
	}
	if port == 0 {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		port = p
	}
	b := &Proton{Port: port, done: make(chan struct{})}
	b.cmd = exec.Command("/usr/bin/python3", ProtonBrokerScript, "-a", "127.0.0.1:"+strconv.Itoa(port))
	b.cmd.Stderr = lockedBuffer{mu: &b.mu, b: &b.stderr}
	if err := b.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = b.cmd.Wait(); close(b.done) }()
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			c.Close()
			return b, nil
		}
		select {
		case <-b.done:
			return nil, fmt.Errorf("the proton broker exited: %s", b.Stderr())
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			b.Stop()
			return nil, fmt.Errorf("the proton broker did not listen on port %d within 15 s", port)
		}
	}
}

var sharedProton struct {
	once sync.Once
	p    *Proton
	err  error
}

// AMQP1Broker returns the URL of a real AMQP 1.0 broker: SWITCHYARD_AMQP1_URL
// when set, otherwise a proton example broker started once for the test
// process (StopShared ends it); without either it ends the test through
// Unavailable.
func AMQP1Broker(t TB) string {
	t.Helper()
	if u := os.Getenv(EnvAMQP1URL); u != "" {
		return u
	}
	sharedProton.once.Do(func() { sharedProton.p, sharedProton.err = StartProton(0) })
	if sharedProton.err != nil {
		Unavailable(t, "the proton example broker", sharedProton.err.Error()+"; or set "+EnvAMQP1URL)
		return ""
	}
	return sharedProton.p.URL()
}

// StopShared stops the broker AMQP1Broker started, if any; call it from
// TestMain after the tests.
func StopShared() { sharedProton.p.Stop() }

// Signal sends sig to the broker process (SIGSTOP freezes it, for tests of
// a peer that stops answering).
func (p *Proton) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }
