package history

import (
	"sync"
	"testing"
	"time"
)

func TestRecorder(t *testing.T) {
	r := New(time.Now())
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Attempt()
			r.Sent(Send{ID: "x", Outcome: Failed})
			r.Processed(Delivery{ID: "y"})
		}()
	}
	wg.Wait()
	if c := r.Counters(); c.Sent != 8 || c.Errors != 8 || c.Acked != 0 || c.Processed != 8 {
		t.Errorf("counters %+v", c)
	}
}

func TestPending(t *testing.T) {
	r := New(time.Now())
	r.Sent(Send{ID: "a", Outcome: OK, Expect: []string{"p", "q"}})
	r.Sent(Send{ID: "b", Outcome: Unknown, Expect: []string{"*"}})
	r.Sent(Send{ID: "c", Outcome: OK, Expect: []string{"*"}})
	if n := r.Pending(); n != 2 {
		t.Fatalf("pending %d, want 2 (a and c; b was not acknowledged)", n)
	}
	r.Processed(Delivery{ID: "a", Group: "p"})
	r.Processed(Delivery{ID: "c", Group: "*"})
	if n := r.Pending(); n != 1 {
		t.Fatalf("pending %d, want 1 (a still misses pool q)", n)
	}
	r.Processed(Delivery{ID: "a", Group: "q"})
	if n := r.Pending(); n != 0 {
		t.Fatalf("pending %d, want 0", n)
	}
	r.BrokerEvent("connection.closed", time.Second, true)
	r.BrokerEvent("publish", time.Second, false)
	r.BrokerEventsLost()
	rec := r.Record()
	if len(rec.Sends) != 3 || len(rec.Deliveries) != 3 || rec.BrokerEvents["publish"] != 1 || len(rec.ConnectionCloses) != 1 || rec.BrokerEventsLost != 1 {
		t.Errorf("record %+v", rec)
	}
	rec.BrokerEvents["publish"] = 99
	if r.Record().BrokerEvents["publish"] != 1 {
		t.Error("Record shares its map with the recorder")
	}
}
