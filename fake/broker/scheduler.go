package broker

import (
	"container/heap"
	"sync"
	"time"
)

// scheduler runs timed work (message TTL, x-expires) on one goroutine, so
// timers cost no goroutine each. Work runs with the broker's lock held.
type scheduler struct {
	mu   sync.Mutex
	h    timerHeap
	seq  uint64
	wake chan struct{}
	stop chan struct{}
}

type timerEntry struct {
	at  int64 // UnixNano
	seq uint64
	fn  func(now time.Time)
}

type timerHeap []timerEntry

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)   { *h = append(*h, x.(timerEntry)) }
func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = timerEntry{}
	*h = old[:len(old)-1]
	return e
}

func newScheduler() *scheduler {
	return &scheduler{wake: make(chan struct{}, 1), stop: make(chan struct{})}
}

// at schedules fn to run at time at (UnixNano).
func (s *scheduler) at(at int64, fn func(now time.Time)) {
	s.mu.Lock()
	s.seq++
	heap.Push(&s.h, timerEntry{at: at, seq: s.seq, fn: fn})
	first := s.h[0].seq == s.seq
	s.mu.Unlock()
	if first {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

func (s *scheduler) close() { close(s.stop) }

// run executes due work until close.
func (s *scheduler) run(b *Broker) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		now := time.Now()
		var due []timerEntry
		s.mu.Lock()
		for len(s.h) > 0 && s.h[0].at <= now.UnixNano() {
			due = append(due, heap.Pop(&s.h).(timerEntry))
		}
		wait := time.Hour
		if len(s.h) > 0 {
			wait = time.Duration(s.h[0].at - now.UnixNano())
		}
		s.mu.Unlock()
		if len(due) > 0 {
			b.mu.Lock()
			if !b.closed {
				for _, e := range due {
					e.fn(now)
				}
			}
			b.mu.Unlock()
			continue
		}
		t.Reset(wait)
		select {
		case <-t.C:
		case <-s.wake:
			if !t.Stop() {
				select {
				case <-t.C:
				default:
				}
			}
		case <-s.stop:
			return
		}
	}
}
