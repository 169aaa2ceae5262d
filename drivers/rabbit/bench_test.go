package rabbit_test

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/fake/brokertest"
	"github.com/switchyard-dev/switchyard/internal/pyoslo"
	"github.com/switchyard-dev/switchyard/internal/realbroker"
)

// The benchmarks measure the driver against plain amqp091-go doing the same
// work on the same RabbitMQ in the same run; BENCHMARKS.md reports ratios.

var benchBody = []byte(`{"oslo.version": "2.0", "oslo.message": "{\"method\": \"ping\", \"args\": {\"n\": 1}, \"_unique_id\": \"0123456789abcdef0123456789abcdef\"}"}`)

// BenchmarkRawPublishConfirm: amqp091-go publish with confirm, one at a time.
func BenchmarkRawPublishConfirm(b *testing.B) {
	ch := raw(b, realbroker.RabbitURL(b))
	q := unique("sy_bench_raw")
	if _, err := ch.QueueDeclare(q, false, true, false, false, nil); err != nil {
		b.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", q, false, false, amqp.Publishing{ContentType: "application/json", Body: benchBody})
		if err != nil || !dc.Wait() {
			b.Fatal("publish not confirmed", err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}

// BenchmarkDriverCast: a cast through the driver (envelope, confirm).
func BenchmarkDriverCast(b *testing.B) {
	d := open(b, realbroker.RabbitURL(b), nil)
	ctx := context.Background()
	target := drivers.Target{Topic: unique("sy_bench_cast")}
	ch := raw(b, realbroker.RabbitURL(b))
	if _, err := ch.QueueDeclare(target.Topic, false, true, false, false, nil); err != nil {
		b.Fatal(err)
	}
	msg := drivers.Message{"method": "ping", "args": map[string]any{"n": 1}}
	for b.Loop() {
		if _, err := d.Send(ctx, target, nil, msg, drivers.SendOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}

func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	if len(lat) == 0 {
		return
	}
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkRawRequestReply: amqp091-go request/reply doing the work the
// contract asks of any driver: the server acknowledges each request before
// answering (C29), both publishes wait for their confirms, replies are
// matched by correlation id.
func BenchmarkRawRequestReply(b *testing.B) {
	url := realbroker.RabbitURL(b)
	srv := raw(b, url)
	reqQ := unique("sy_bench_req")
	if _, err := srv.QueueDeclare(reqQ, false, true, false, false, nil); err != nil {
		b.Fatal(err)
	}
	if err := srv.Confirm(false); err != nil {
		b.Fatal(err)
	}
	dels, err := srv.Consume(reqQ, "", false, false, false, false, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	go func() {
		for del := range dels {
			_ = del.Ack(false)
			dc, err := srv.PublishWithDeferredConfirmWithContext(ctx, "", del.ReplyTo, false, false,
				amqp.Publishing{ContentType: "application/json", CorrelationId: del.CorrelationId, Body: del.Body})
			if err == nil {
				dc.Wait()
			}
		}
	}()
	cli := raw(b, url)
	rq, err := cli.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		b.Fatal(err)
	}
	replies, err := cli.Consume(rq.Name, "", true, false, false, false, nil)
	if err != nil {
		b.Fatal(err)
	}
	pub := raw(b, url)
	if err := pub.Confirm(false); err != nil {
		b.Fatal(err)
	}
	var lat []time.Duration
	i := 0
	for b.Loop() {
		i++
		id := strconv.Itoa(i)
		start := time.Now()
		dc, err := pub.PublishWithDeferredConfirmWithContext(ctx, "", reqQ, false, false,
			amqp.Publishing{ContentType: "application/json", CorrelationId: id, ReplyTo: rq.Name, Body: benchBody})
		if err != nil || !dc.Wait() {
			b.Fatal("request not confirmed", err)
		}
		for r := range replies {
			if r.CorrelationId == id {
				break
			}
		}
		lat = append(lat, time.Since(start))
	}
	reportLatency(b, lat)
}

// BenchmarkDriverCall: a call through the driver to a Go server.
func BenchmarkDriverCall(b *testing.B) {
	b.Run("rabbitmq", func(b *testing.B) { benchCall(b, realbroker.RabbitURL(b)) })
	b.Run("fake-broker", func(b *testing.B) { benchCall(b, brokertest.New(b).URL()) })
}

// benchCall measures calls through the driver to a Go server on the same
// driver, on the backend at url.
func benchCall(b *testing.B, url string) {
	d := open(b, url, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	topic := unique("sy_bench_call")
	l, err := d.Listen(ctx, drivers.Target{Topic: topic, Server: "s"}, drivers.Batch{Size: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Cleanup()
	wg := serve(ctx, nil, l, nil)
	defer func() { cancel(); l.Stop(); wg.Wait() }()
	msg := drivers.Message{"method": "echo", "args": map[string]any{"n": 1}}
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := d.Send(ctx, drivers.Target{Topic: topic}, nil, msg, drivers.SendOptions{WaitForReply: true, Timeout: 10 * time.Second}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	reportLatency(b, lat)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

const pyCallRate = `
import json, sys, time
from oslo_config import cfg
import oslo_messaging as om
args = json.load(sys.stdin)
url, topic, n = args["url"], args["topic"], int(args["n"])
cfg.CONF([], project="switchyard-bench")
class E(object):
    def echo(self, ctxt, **kw):
        return kw
t = om.get_rpc_transport(cfg.CONF, url=url)
srv = om.get_rpc_server(t, om.Target(topic=topic, server="s"), [E()], executor="threading")
srv.start()
c = om.get_rpc_client(t, om.Target(topic=topic), timeout=10)
c.call({}, "echo", n=0)  # warm up: reply queue and connections
workers = int(args.get("workers", 1))
start = time.monotonic()
if workers == 1:
    for i in range(n):
        c.call({}, "echo", n=i)
else:
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(workers) as ex:
        list(ex.map(lambda i: c.call({}, "echo", n=i), range(n)))
el = time.monotonic() - start
print(json.dumps({"calls_per_s": n / el}), flush=True)
import os
os._exit(0)  # oslo's cleanup only waits for its threads
`

// BenchmarkPythonCall: Python oslo.messaging 14 calling a Python server on
// the same broker, the reference for the Go call rate: one caller, then 16
// concurrent callers (threads). Each iteration is one Python run timed by
// Python itself.
func BenchmarkPythonCall(b *testing.B) {
	pyoslo.Require(b)
	url := realbroker.RabbitURL(b)
	for _, workers := range []int{1, 16} {
		b.Run("callers="+strconv.Itoa(workers), func(b *testing.B) {
			var rates []float64
			for b.Loop() {
				var out struct {
					CallsPerS float64 `json:"calls_per_s"`
				}
				pyoslo.Run(b, 2*time.Minute, pyCallRate, map[string]any{"url": url, "topic": unique("sy_bench_py"), "n": 400, "workers": workers}, &out)
				rates = append(rates, out.CallsPerS)
			}
			slices.Sort(rates)
			b.ReportMetric(rates[len(rates)/2], "py-calls/s")
		})
	}
}

// BenchmarkDriverCallConcurrent: 16 concurrent callers on one driver, to a
// Go server, as BenchmarkPythonCall's threads do in Python.
func BenchmarkDriverCallConcurrent(b *testing.B) {
	url := realbroker.RabbitURL(b)
	d := open(b, url, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	topic := unique("sy_bench_par")
	l, err := d.Listen(ctx, drivers.Target{Topic: topic, Server: "s"}, drivers.Batch{Size: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Cleanup()
	// The server answers each request on its own goroutine, as oslo's
	// threading executor does.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			msgs, err := l.Poll(ctx)
			if err != nil {
				return
			}
			for _, m := range msgs {
				rm := m.(drivers.RPCIncomingMessage)
				wg.Add(1)
				go func() {
					defer wg.Done()
					rm.Reply(ctx, m.Message()["args"], nil)
				}()
			}
		}
	}()
	defer func() { cancel(); l.Stop(); wg.Wait() }()
	msg := drivers.Message{"method": "echo", "args": map[string]any{"n": 1}}
	b.SetParallelism(8) // 8 × GOMAXPROCS(2) = 16 callers
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := d.Send(ctx, drivers.Target{Topic: topic}, nil, msg, drivers.SendOptions{WaitForReply: true, Timeout: 10 * time.Second}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}
