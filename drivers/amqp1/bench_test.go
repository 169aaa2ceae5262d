package amqp1_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	amqp "github.com/Azure/go-amqp"

	"github.com/switchyard-dev/switchyard/drivers"
	fakebroker "github.com/switchyard-dev/switchyard/fake/broker"
	"github.com/switchyard-dev/switchyard/fake/brokertest"
	"github.com/switchyard-dev/switchyard/fake/router"
	"github.com/switchyard-dev/switchyard/fake/routertest"
)

// The benchmarks measure the driver against plain go-amqp doing the same
// work on the same backend in the same run, on three backends: the proton
// example broker, Switchyard's fake broker (its AMQP 1.0 listener) and its
// fake router.

// benchBackend is a backend of the benchmarks.
type benchBackend struct {
	url      string
	routable bool // the driver picks routable addressing there
}

// rawAddress is where the driver sends an anycast RPC message for topic.
func (be benchBackend) rawAddress(topic string) string {
	if be.routable {
		return "openstack.org/om/rpc/anycast/openstack/" + topic
	}
	return "unicast.openstack." + topic
}

// onBackends runs f as a sub-benchmark on each backend.
func onBackends(b *testing.B, f func(b *testing.B, be benchBackend)) {
	b.Run("proton-broker", func(b *testing.B) { f(b, benchBackend{url: brokerURL(b)}) })
	b.Run("fake-broker", func(b *testing.B) {
		br := brokertest.New(b, brokertest.WithOptions(fakebroker.Options{EventLogSize: -1}), brokertest.WithAMQP1())
		f(b, benchBackend{url: br.AMQP1URL()})
	})
	b.Run("fake-router", func(b *testing.B) {
		r := routertest.New(b, func(o *router.Options) { o.EventLogSize = -1 })
		f(b, benchBackend{url: r.URL(), routable: true})
	})
}

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
// backend's accepted outcome.
func BenchmarkRawSend(b *testing.B) { onBackends(b, benchRawSend) }

func benchRawSend(b *testing.B, be benchBackend) {
	target := drivers.Target{Topic: unique("sy_bench_raw")}
	drain(b, be.url, target)
	ctx := context.Background()
	conn, err := amqp.Dial(ctx, strings.TrimSuffix(be.url, "/"), &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous()})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	s, err := sess.NewSender(ctx, be.rawAddress(target.Topic), nil)
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

func benchCast(b *testing.B, be benchBackend, preSettled []string) {
	url := be.url
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
func BenchmarkDriverCast(b *testing.B) {
	onBackends(b, func(b *testing.B, be benchBackend) { benchCast(b, be, []string{"rpc-cast", "rpc-reply"}) })
}

// BenchmarkDriverCastAcked: casts that wait for the accepted outcome, the
// work BenchmarkRawSend does.
func BenchmarkDriverCastAcked(b *testing.B) {
	onBackends(b, func(b *testing.B, be benchBackend) { benchCast(b, be, nil) })
}

// BenchmarkDriverCall: call round trips to a server on the same driver.
func BenchmarkDriverCall(b *testing.B) { onBackends(b, benchCall) }

func benchCall(b *testing.B, be benchBackend) {
	d := open(b, be.url, nil)
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
