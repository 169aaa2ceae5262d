package rabbit

import (
	"context"
	"errors"
	"testing"
)

// TestWaitReadyPrefersEndedContext: a consumer that became ready while the
// caller's context ended does not count as started: Listen fails with the
// context's error and the consumer is stopped (C34), every time, not as a
// select's coin falls.
func TestWaitReadyPrefersEndedContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 200 {
		c := &consumer{}
		c.init()
		close(c.done) // as a loop that has ended
		ready := make(chan error, 1)
		ready <- nil
		if err := waitReady(ctx, c, ready); !errors.Is(err, context.Canceled) {
			t.Fatalf("waitReady = %v, want context.Canceled", err)
		}
		select {
		case <-c.stop:
		default:
			t.Fatal("the consumer was not told to stop")
		}
	}
}
