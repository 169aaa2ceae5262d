package amqp1_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	amqp "github.com/Azure/go-amqp"

	"github.com/switchyard-dev/switchyard/drivers"
)

// The benchmarks measure the driver against plain go-amqp doing the same
// work on the same proton broker in the same run.

const benchBody = `{"request": {"method": "ping", "args": {"n": 1}}, "context": {}}`

// drain consumes address on its own driver until the benchmark ends, so
// the broker does not pile messages up.
func drain(b *testing.B, url string, target drivers.Target) {
	b.Helper()
	d := open(b, url, nil)
	ctx, cancel := context.WithCancel(context.Background())
	l, err := d.Listen(ctx, target, drivers.Batch{Size: 100})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := l.Poll(ctx); err != nil {
				return
			}
		}
	}()
	b.Cleanup(func() { cancel(); l.Cleanup(); <-done })
}

// BenchmarkRawSend: go-amqp sends one message at a time and waits for the
// broker's accepted outcome.
func BenchmarkRawSend(b *testing.B) {
	url := brokerURL(b)
	target := drivers.Target{Topic: unique("sy_bench_raw")}
	drain(b, url, target)
	ctx := context.Background()
	conn, err := amqp.Dial(ctx, strings.TrimSuffix(url, "/"), &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous()})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	addr := "unicast.openstack." + target.Topic
	s, err := sess.NewSender(ctx, addr, nil)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := s.Send(ctx, &amqp.Message{Value: benchBody}, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}

func benchCast(b *testing.B, preSettled []string) {
	url := brokerURL(b)
	cfg := fastConfig()
	cfg.AMQP.PreSettled = preSettled
	d := open(b, url, cfg)
	target := drivers.Target{Topic: unique("sy_bench_cast")}
	drain(b, url, target)
	ctx := context.Background()
	msg := drivers.Message{"method": "ping", "args": map[string]any{"n": 1}}
	for b.Loop() {
		if _, err := d.Send(ctx, target, nil, msg, drivers.SendOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}

// BenchmarkDriverCast: casts as oslo sends them by default, pre-settled.
func BenchmarkDriverCast(b *testing.B) { benchCast(b, []string{"rpc-cast", "rpc-reply"}) }

// BenchmarkDriverCastAcked: casts that wait for the accepted outcome, the
// work BenchmarkRawSend does.
func BenchmarkDriverCastAcked(b *testing.B) { benchCast(b, nil) }

// BenchmarkDriverCall: call round trips to a server on the same driver.
func BenchmarkDriverCall(b *testing.B) {
	d := open(b, brokerURL(b), nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	target := drivers.Target{Topic: unique("sy_bench_call"), Server: "s"}
	l, err := d.Listen(ctx, target, drivers.Batch{Size: 1})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			msgs, err := l.Poll(ctx)
			if err != nil {
				return
			}
			for _, m := range msgs {
				m.(drivers.RPCIncomingMessage).Reply(ctx, 1, nil)
			}
		}
	}()
	defer func() { cancel(); l.Cleanup(); <-done }()
	msg := drivers.Message{"method": "ping", "args": map[string]any{"n": 1}}
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := d.Send(ctx, target, nil, msg, drivers.SendOptions{WaitForReply: true, Timeout: 10 * time.Second}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
