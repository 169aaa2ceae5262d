package broker_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/switchyard-dev/switchyard/fake/broker"
	"github.com/switchyard-dev/switchyard/fake/brokertest"
	"github.com/switchyard-dev/switchyard/internal/realbroker"
)

// BenchmarkAMQP1StoreAndForward measures messages per second through a
// queue over AMQP 1.0: a pipelined go-amqp sender (unsettled, at most 200
// outcomes outstanding) and a consumer accepting each message, on the fake
// broker's AMQP 1.0 listener and, as the reference, on the proton example
// broker.
func BenchmarkAMQP1StoreAndForward(b *testing.B) {
	b.Run("fake-broker", func(b *testing.B) {
		br := brokertest.New(b, brokertest.WithOptions(broker.Options{EventLogSize: -1}), brokertest.WithAMQP1())
		benchA1Queue(b, br.AMQP1URL())
	})
	b.Run("proton-broker", func(b *testing.B) {
		p, err := realbroker.StartProton(0)
		if err != nil {
			b.Skipf("the proton example broker cannot start: %v", err)
		}
		b.Cleanup(p.Stop)
		benchA1Queue(b, p.URL())
	})
}

func benchA1Queue(b *testing.B, url string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	session := func() *amqp.Session {
		conn, err := amqp.Dial(ctx, url, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { conn.Close() })
		s, err := conn.NewSession(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	addr := "unicast.bench.a1"
	rcv, err := session().NewReceiver(ctx, addr, &amqp.ReceiverOptions{Credit: 500})
	if err != nil {
		b.Fatal(err)
	}
	snd, err := session().NewSender(ctx, addr, nil)
	if err != nil {
		b.Fatal(err)
	}
	var received atomic.Int64
	recvErr := make(chan error, 1)
	go func() {
		for {
			m, err := rcv.Receive(ctx, nil)
			if err == nil {
				err = rcv.AcceptMessage(ctx, m)
			}
			if err != nil {
				recvErr <- err
				return
			}
			received.Add(1)
		}
	}()
	body := make([]byte, 100)
	var receipts []amqp.SendReceipt
	n := 0
	start := time.Now()
	for b.Loop() {
		rc, err := snd.SendWithReceipt(ctx, amqp.NewMessage(body), nil)
		if err != nil {
			b.Fatal(err)
		}
		n++
		if receipts = append(receipts, rc); len(receipts) == 200 {
			for i := range receipts {
				if _, err := receipts[i].Wait(ctx); err != nil {
					b.Fatal(err)
				}
			}
			receipts = receipts[:0]
		}
	}
	for i := range receipts {
		if _, err := receipts[i].Wait(ctx); err != nil {
			b.Fatal(err)
		}
	}
	// The rate counts until the consumer has accepted every message.
	for received.Load() < int64(n) {
		select {
		case err := <-recvErr:
			b.Fatalf("after %d of %d messages: %v", received.Load(), n, err)
		case <-ctx.Done():
			b.Fatalf("received %d of %d messages", received.Load(), n)
		case <-time.After(time.Millisecond): // polling the counter with the context's deadline
		}
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "msg/s")
}
