package broker

import (
	"testing"
	"unsafe"
)

// TestMessageSize keeps a stored message within the 96-byte size class:
// the memory of a million queued messages depends on it.
func TestMessageSize(t *testing.T) {
	if n := unsafe.Sizeof(message{}); n > 96 {
		t.Fatalf("a message takes %d bytes, more than 96", n)
	}
}
