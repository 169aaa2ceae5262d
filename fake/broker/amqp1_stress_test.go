package broker_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/switchyard-dev/switchyard/fake/broker"
)

// TestAMQP1Stress sends from AMQP 1.0 and AMQP 0-9-1 publishers at once to
// one queue that AMQP 1.0 and AMQP 0-9-1 consumers share, some AMQP 1.0
// consumers releasing part of what they get: every message is acked
// exactly once and nothing is left behind.
func TestAMQP1Stress(t *testing.T) {
	b := newA1Broker(t)
	const q = "stress"
	const perPublisher = 300
	_, ch := dialChannel(t, b)
	if _, err := ch.QueueDeclare(q, false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var mu sync.Mutex
	acked := map[string]int{}
	record := func(body string) {
		mu.Lock()
		acked[body]++
		mu.Unlock()
	}
	var consumers sync.WaitGroup
	// Two AMQP 1.0 consumers; the first releases every third message.
	for i := range 2 {
		_, s := a1Dial(t, b, nil)
		r := a1Receiver(t, s, q, &amqp.ReceiverOptions{Credit: int32(5 + 20*i)})
		consumers.Add(1)
		go func() {
			defer consumers.Done()
			for n := 0; ; n++ {
				m, err := r.Receive(ctx, nil)
				if err != nil {
					return
				}
				if i == 0 && n%3 == 0 {
					r.ReleaseMessage(ctx, m)
					continue
				}
				if r.AcceptMessage(ctx, m) == nil {
					record(string(m.GetData()))
				}
			}
		}()
	}
	// One AMQP 0-9-1 consumer with a prefetch of 10.
	_, cch := dialChannel(t, b)
	if err := cch.Qos(10, 0, false); err != nil {
		t.Fatal(err)
	}
	ds, err := cch.Consume(q, "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	consumers.Add(1)
	go func() {
		defer consumers.Done()
		for {
			select {
			case d, ok := <-ds:
				if !ok {
					return
				}
				if d.Ack(false) == nil {
					record(string(d.Body))
				}
			case <-ctx.Done():
				return
			}
		}
	}()

	var pubs sync.WaitGroup
	errs := make(chan error, 4)
	for p := range 2 {
		_, s := a1Dial(t, b, nil)
		snd := a1Sender(t, s, q, nil)
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			for i := range perPublisher {
				if err := snd.Send(ctx, amqp.NewMessage(fmt.Appendf(nil, "a%d-%d", p, i)), nil); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	_, pch := dialChannel(t, b)
	if err := pch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	pubs.Add(1)
	go func() {
		defer pubs.Done()
		for i := range perPublisher {
			dc, err := pch.PublishWithDeferredConfirmWithContext(ctx, "", q, false, false, amqp091.Publishing{Body: fmt.Appendf(nil, "o-%d", i)})
			if err == nil {
				_, err = dc.WaitContext(ctx)
			}
			if err != nil {
				errs <- err
				return
			}
		}
	}()
	pubs.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	const total = 3 * perPublisher
	qs := waitQueue(t, b, q, "all acked", func(s broker.QueueStats) bool { return s.Acked == total })
	cancel()
	consumers.Wait()
	if qs.Ready != 0 || qs.Unacked != 0 || qs.Enqueued != total {
		t.Fatalf("queue %+v", qs)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(acked) != total {
		t.Fatalf("%d distinct messages acked, want %d", len(acked), total)
	}
	for body, n := range acked {
		if n != 1 {
			t.Fatalf("%s acked %d times", body, n)
		}
	}
}
