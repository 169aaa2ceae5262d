package contract_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/switchyard-dev/switchyard/internal/realbroker"
)

// TestMain checks that no scenario leaves a goroutine behind: every
// driver, listener and server a scenario starts must be gone at the end
// (C28, C33). It stops the shared proton broker first.
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
