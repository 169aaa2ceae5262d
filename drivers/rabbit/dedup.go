package rabbit

import "sync"

// idWindow remembers the last n _unique_id values seen, to drop messages
// that arrive again: a broker redelivery after a lost acknowledgement, or a
// reply sent twice.
type idWindow struct {
	mu   sync.Mutex
	seen map[string]struct{}
	ring []string
	next int
}

func newIDWindow(n int) *idWindow {
	return &idWindow{seen: make(map[string]struct{}, n), ring: make([]string, n)}
}

// add records id and reports whether it was new. The empty id is always new.
func (w *idWindow) add(id string) bool {
	if id == "" {
		return true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, dup := w.seen[id]; dup {
		return false
	}
	if old := w.ring[w.next]; old != "" {
		delete(w.seen, old)
	}
	w.ring[w.next] = id
	w.next = (w.next + 1) % len(w.ring)
	w.seen[id] = struct{}{}
	return true
}

// has reports whether id is in the window.
func (w *idWindow) has(id string) bool {
	if id == "" {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.seen[id]
	return ok
}
