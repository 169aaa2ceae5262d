package tally

import (
	"context"
	"testing"
	"time"
)

func TestWaitUntilWakesOnAdd(t *testing.T) {
	l := New()
	done := make(chan bool)
	go func() {
		done <- l.WaitUntil(context.Background(), time.Now().Add(5*time.Second), func(rs []Receipt) bool { return len(rs) == 2 })
	}()
	l.Add(Receipt{Listener: "a", ID: "1", Seq: 1, At: time.Now()})
	l.Add(Receipt{Listener: "b", ID: "2", Seq: 2, At: time.Now()})
	select {
	case ok := <-done:
		if !ok {
			t.Fatal("WaitUntil reported false after the condition became true")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitUntil did not wake")
	}
}

func TestWaitUntilDeadline(t *testing.T) {
	l := New()
	start := time.Now()
	if l.WaitUntil(context.Background(), start.Add(50*time.Millisecond), func(rs []Receipt) bool { return len(rs) > 0 }) {
		t.Fatal("condition cannot hold on an empty log")
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > 2*time.Second {
		t.Fatalf("WaitUntil returned after %v, want about 50ms", d)
	}
}

func TestWaitUntilContext(t *testing.T) {
	l := New()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if l.WaitUntil(ctx, time.Now().Add(time.Hour), func(rs []Receipt) bool { return false }) {
		t.Fatal("cancelled wait reported true")
	}
}

func TestQueries(t *testing.T) {
	l := New()
	for i, id := range []string{"x", "y", "x", "z"} {
		l.Add(Receipt{Listener: []string{"a", "b"}[i%2], ID: id, Seq: []int{1, 2, 2, 4}[i], At: time.Now()})
	}
	if got := len(l.Of("a")); got != 2 {
		t.Errorf("Of(a) = %d receipts, want 2", got)
	}
	if c := Counts(l.All()); c["x"] != 2 || c["y"] != 1 || c["z"] != 1 {
		t.Errorf("Counts = %v", c)
	}
	if d := Duplicates(l.All()); len(d) != 1 || d[0] != "x" {
		t.Errorf("Duplicates = %v, want [x]", d)
	}
	prev, next, found := OutOfOrder(l.All())
	if !found || prev.Seq != 2 || next.Seq != 2 {
		t.Errorf("OutOfOrder = %v %v %v, want the repeated 2", prev, next, found)
	}
	if _, _, found := OutOfOrder(l.Of("b")); found {
		t.Error("b's receipts (2, 4) are in order")
	}
	if l.Last().IsZero() {
		t.Error("Last is zero after receipts")
	}
}
