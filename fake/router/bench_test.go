package router_test

import (
	"context"
	"testing"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/switchyard-dev/switchyard/fake/router"
	"github.com/switchyard-dev/switchyard/fake/routertest"
)

// benchRoute measures messages per second from a pipelined go-amqp sender
// through the router to a go-amqp consumer that accepts each message.
func benchRoute(b *testing.B, presettled bool, size int) {
	r := routertest.New(b, func(o *router.Options) { o.EventLogSize = -1 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cons := dial(b, r, nil)
	rcv := cons.receiver(b, "bench", &amqp.ReceiverOptions{Credit: 500})
	var sopts *amqp.SenderOptions
	if presettled {
		mode := amqp.SenderSettleModeSettled
		sopts = &amqp.SenderOptions{SettlementMode: &mode}
	}
	snd := dial(b, r, nil).sender(b, "bench", sopts)
	done := make(chan error, 1)
	stop := make(chan struct{})
	go func() {
		for {
			m, err := rcv.Receive(ctx, nil)
			if err != nil {
				select {
				case <-stop:
					done <- nil
				default:
					done <- err
				}
				return
			}
			if err := rcv.AcceptMessage(ctx, m); err != nil {
				done <- err
				return
			}
		}
	}()
	body := make([]byte, size)
	const window = 200
	var receipts []amqp.SendReceipt
	b.SetBytes(int64(size))
	b.ResetTimer()
	for b.Loop() {
		if presettled {
			if err := snd.Send(ctx, amqp.NewMessage(body), nil); err != nil {
				b.Fatal(err)
			}
			continue
		}
		rc, err := snd.SendWithReceipt(ctx, amqp.NewMessage(body), nil)
		if err != nil {
			b.Fatal(err)
		}
		receipts = append(receipts, rc)
		if len(receipts) >= window {
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
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
	close(stop)
	cons.conn.Close()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

func BenchmarkRouteUnsettled(b *testing.B)      { benchRoute(b, false, 100) }
func BenchmarkRoutePresettled(b *testing.B)     { benchRoute(b, true, 100) }
func BenchmarkRouteUnsettled64KiB(b *testing.B) { benchRoute(b, false, 64<<10) }
