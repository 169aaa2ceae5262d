package amqp1_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchyard-dev/switchyard/internal/realbroker"
)

// brokerScript is the proton example broker from Debian's
// libqpid-proton11-dev-examples; it needs python3-qpid-proton.
const brokerScript = "/usr/share/proton/examples/python/broker.py"

func TestMain(m *testing.M) {
	code := m.Run()
	shared.b.stop()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// broker is a proton example broker process.
type broker struct {
	port   int
	cmd    *exec.Cmd
	stderr bytes.Buffer
	done   chan struct{}
}

// URL is the broker's transport URL.
func (b *broker) URL() string { return fmt.Sprintf("amqp://127.0.0.1:%d/", b.port) }

func (b *broker) stop() {
	if b == nil || b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Kill()
	<-b.done
}

// freePort returns a loopback TCP port nobody listens on right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// launch starts the proton broker on port (a free one when 0) and waits
// until it accepts connections.
func launch(port int) (*broker, error) {
	if _, err := os.Stat(brokerScript); err != nil {
		return nil, fmt.Errorf("%s is missing (apt-get install libqpid-proton11-dev-examples python3-qpid-proton)", brokerScript)
	}
	if port == 0 {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		port = p
	}
	b := &broker{port: port, done: make(chan struct{})}
	b.cmd = exec.Command("/usr/bin/python3", brokerScript, "-a", "127.0.0.1:"+strconv.Itoa(port))
	b.cmd.Stderr = &b.stderr
	if err := b.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = b.cmd.Wait(); close(b.done) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			c.Close()
			return b, nil
		}
		select {
		case <-b.done:
			return nil, fmt.Errorf("the proton broker exited: %s", b.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.stop()
			return nil, fmt.Errorf("the proton broker did not listen on port %d within 15 s", port)
		}
	}
}

// startBroker starts a broker of the test's own, killed when it ends.
func startBroker(t testing.TB) *broker {
	t.Helper()
	b, err := launch(0)
	if err != nil {
		realbroker.Unavailable(t, "the proton example broker", err.Error())
	}
	t.Cleanup(b.stop)
	return b
}

var shared struct {
	once sync.Once
	b    *broker
	err  error
}

// brokerURL returns the URL of the AMQP 1.0 peer tests share:
// SWITCHYARD_AMQP1_URL when set (a broker: the tests rely on store and
// forward), otherwise a proton example broker started once for the test
// binary.
func brokerURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(realbroker.EnvAMQP1URL); u != "" {
		return u
	}
	shared.once.Do(func() { shared.b, shared.err = launch(0) })
	if shared.err != nil {
		realbroker.Unavailable(t, "the proton example broker", shared.err.Error())
	}
	return shared.b.URL()
}

// waitUntil polls cond every 20 ms until it holds or timeout passes.
func waitUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tk := time.NewTicker(20 * time.Millisecond)
	defer tk.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %v", what, timeout)
		case <-tk.C:
		}
	}
}

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
