package amqp1_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchyard-dev/switchyard/internal/realbroker"
)

func TestMain(m *testing.M) {
	code := m.Run()
	realbroker.StopShared()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// broker is a proton example broker process.
type broker = realbroker.Proton

// launch starts the proton broker on port (a free one when 0) and waits
// until it accepts connections.
func launch(port int) (*broker, error) { return realbroker.StartProton(port) }

// startBroker starts a broker of the test's own, killed when it ends.
func startBroker(t testing.TB) *broker {
	t.Helper()
	b, err := launch(0)
	if err != nil {
		realbroker.Unavailable(t, "the proton example broker", err.Error())
	}
	t.Cleanup(b.Stop)
	return b
}

// brokerURL returns the URL of the AMQP 1.0 peer tests share:
// SWITCHYARD_AMQP1_URL when set (a broker: the tests rely on store and
// forward), otherwise a proton example broker started once for the test
// binary.
func brokerURL(t testing.TB) string {
	t.Helper()
	return realbroker.AMQP1Broker(t)
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
