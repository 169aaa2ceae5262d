package router_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/switchyard-dev/switchyard/fake/router"
	"github.com/switchyard-dev/switchyard/fake/routertest"
	"github.com/switchyard-dev/switchyard/internal/realbroker"
)

// benchRoute measures messages per second from a pipelined go-amqp sender
// through the intermediary at url to a go-amqp consumer that accepts each
// message.
func benchRoute(b *testing.B, url string, presettled bool, size int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cons := dialURL(b, url)
	rcv := cons.receiver(b, "bench", &amqp.ReceiverOptions{Credit: 500})
	var sopts *amqp.SenderOptions
	if presettled {
		mode := amqp.SenderSettleModeSettled
		sopts = &amqp.SenderOptions{SettlementMode: &mode}
	}
	snd := dialURL(b, url).sender(b, "bench", sopts)
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

// intermediaries runs f against the fake router and, as the reference,
// the proton example broker (skipped when it cannot be started).
func intermediaries(b *testing.B, f func(b *testing.B, url string)) {
	b.Run("router", func(b *testing.B) {
		f(b, routertest.New(b, func(o *router.Options) { o.EventLogSize = -1 }).URL())
	})
	b.Run("proton-broker", func(b *testing.B) { f(b, realbroker.AMQP1Broker(b)) })
}

func BenchmarkRouteUnsettled(b *testing.B) {
	intermediaries(b, func(b *testing.B, url string) { benchRoute(b, url, false, 100) })
}

func BenchmarkRoutePresettled(b *testing.B) {
	intermediaries(b, func(b *testing.B, url string) { benchRoute(b, url, true, 100) })
}

func BenchmarkRouteUnsettled64KiB(b *testing.B) {
	intermediaries(b, func(b *testing.B, url string) { benchRoute(b, url, false, 64<<10) })
}

// BenchmarkRouteLatency measures one message at a time, unsettled: from
// the send until the sender has the consumer's outcome, reported as p50
// and p99.
func BenchmarkRouteLatency(b *testing.B) {
	intermediaries(b, func(b *testing.B, url string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		rcv := dialURL(b, url).receiver(b, "latency", &amqp.ReceiverOptions{Credit: 10})
		snd := dialURL(b, url).sender(b, "latency", nil)
		accepted := make(chan error, 1)
		go func() {
			for {
				m, err := rcv.Receive(ctx, nil)
				if err != nil {
					return
				}
				accepted <- rcv.AcceptMessage(ctx, m)
			}
		}()
		body := make([]byte, 100)
		lat := make([]time.Duration, 0, 1024)
		for b.Loop() {
			start := time.Now()
			if err := snd.Send(ctx, amqp.NewMessage(body), nil); err != nil {
				b.Fatal(err)
			}
			if err := <-accepted; err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	})
}

// dialURL connects a go-amqp client to url with one session.
func dialURL(t testing.TB, url string) *client {
	t.Helper()
	ctx := ctxT(t)
	conn, err := amqp.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close() })
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	return &client{conn: conn, sess: sess}
}
