package broker

import (
	"testing"
	"unsafe"
)

// TestEventLogGrowsThenWraps checks the event ring across its growth (from
// its initial size by doubling to the limit) and its wrapping: the newest
// events are kept in order, and a reader from the start learns it lost
// some.
func TestEventLogGrowsThenWraps(t *testing.T) {
	for _, size := range []int{0, 10, initialEventRing, 2500} {
		l := newEventLog(size)
		const total = 6000
		for i := range total {
			l.add(Event{Count: i})
		}
		evs, lost := l.since(1)
		want := min(size, total)
		if len(evs) != want {
			t.Fatalf("size %d: %d events kept, want %d", size, len(evs), want)
		}
		if lost != (want < total) {
			t.Errorf("size %d: lost = %v", size, lost)
		}
		for i, e := range evs {
			if wantCount := total - want + i; e.Count != wantCount || e.Seq != uint64(wantCount+1) {
				t.Fatalf("size %d: event %d is %d (seq %d), want %d", size, i, e.Count, e.Seq, wantCount)
			}
		}
		if len(l.ring) > max(size, 0) {
			t.Errorf("size %d: ring of %d", size, len(l.ring))
		}
	}
}

// TestMessageSize keeps a stored message within the 96-byte size class:
// the memory of a million queued messages depends on it.
func TestMessageSize(t *testing.T) {
	if n := unsafe.Sizeof(message{}); n > 96 {
		t.Fatalf("a message takes %d bytes, more than 96", n)
	}
}
