package contract_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no scenario leaves a goroutine behind: every
// driver, listener and server a scenario starts must be gone at the end
// (C28, C33).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
