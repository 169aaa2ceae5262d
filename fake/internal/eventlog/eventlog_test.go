package eventlog

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type event struct {
	seq uint64
	n   int
}

func stamp(e event, seq uint64) event {
	e.seq = seq
	return e
}

// TestLogGrowsThenWraps checks the ring across its growth (from its
// initial size by doubling to the limit) and its wrapping: the newest
// events are kept in order, and a reader from the start learns it lost
// some.
func TestLogGrowsThenWraps(t *testing.T) {
	for _, size := range []int{0, 10, initialRing, 2500} {
		l := New(size, stamp)
		const total = 6000
		for i := range total {
			l.Add(event{n: i})
		}
		evs, lost := l.Since(1)
		want := min(size, total)
		if len(evs) != want {
			t.Fatalf("size %d: %d events kept, want %d", size, len(evs), want)
		}
		if lost != (want < total) {
			t.Errorf("size %d: lost = %v", size, lost)
		}
		for i, e := range evs {
			if wantN := total - want + i; e.n != wantN || e.seq != uint64(wantN+1) {
				t.Fatalf("size %d: event %d is %d (seq %d), want %d", size, i, e.n, e.seq, wantN)
			}
		}
		if len(l.ring) > max(size, 0) {
			t.Errorf("size %d: ring of %d", size, len(l.ring))
		}
	}
}

// TestSubscriptionReadsInOrderAndWaits: a subscriber gets what was added
// after it subscribed, in order, waits for the next event, learns when it
// fell behind a full log, and stops waiting when its context ends.
func TestSubscriptionReadsInOrderAndWaits(t *testing.T) {
	l := New(4, stamp)
	l.Add(event{n: -1})
	s := l.Subscribe()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got := make(chan event)
	go func() {
		for range 2 {
			e, err := s.Next(ctx)
			if err != nil {
				t.Error(err)
				close(got)
				return
			}
			got <- e
		}
	}()
	l.Add(event{n: 0})
	l.Add(event{n: 1})
	for i := range 2 {
		if e := <-got; e.n != i {
			t.Fatalf("read %d, want %d", e.n, i)
		}
	}
	for i := range 10 {
		l.Add(event{n: 2 + i})
	}
	if _, err := s.Next(ctx); !errors.Is(err, ErrLost) {
		t.Fatalf("behind a full log: %v, want ErrLost", err)
	}
	if e, err := s.WaitFor(ctx, func(e event) bool { return e.n == 11 }); err != nil || e.seq != 13 {
		t.Fatalf("WaitFor = %+v, %v", e, err)
	}
	short, stop := context.WithTimeout(ctx, 20*time.Millisecond)
	defer stop()
	if _, err := s.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("nothing to read: %v, want the context's error", err)
	}
	all := l.SubscribeAll()
	if _, err := all.Next(ctx); !errors.Is(err, ErrLost) {
		t.Fatalf("SubscribeAll's first read: %v, want ErrLost (the log wrapped)", err)
	}
	if e, err := all.Next(ctx); err != nil || e.n != 8 {
		t.Fatalf("SubscribeAll's second read: %+v, %v, want the oldest retained (8)", e, err)
	}
}

// TestDisabledLog keeps nothing and says so to subscribers.
func TestDisabledLog(t *testing.T) {
	l := New(-1, stamp)
	l.Add(event{n: 1})
	if evs, _ := l.Since(1); len(evs) != 0 || !l.Off() {
		t.Fatalf("a disabled log kept %v", evs)
	}
	if _, err := l.Subscribe().Next(context.Background()); !errors.Is(err, ErrDisabled) {
		t.Fatalf("Next on a disabled log: %v", err)
	}
}
