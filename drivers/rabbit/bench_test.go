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

// rawRPC is amqp091-go request/reply doing the work the contract asks of
// any driver: the server acknowledges each request before answering (C29),
// both publishes wait for their confirms, replies are matched by
// correlation id.
type rawRPC struct {
	pub     *amqp.Channel
	reqQ    string
	replyQ  string
	replies <-chan amqp.Delivery
	n       int
}

func newRawRPC(b *testing.B, url string) *rawRPC {
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
	go func() { // ends when raw's cleanup closes the connection
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
	return &rawRPC{pub: pub, reqQ: reqQ, replyQ: rq.Name, replies: replies}
}

// call sends one request and waits for its reply.
func (r *rawRPC) call(b *testing.B) {
	r.n++
	id := strconv.Itoa(r.n)
	dc, err := r.pub.PublishWithDeferredConfirmWithContext(context.Background(), "", r.reqQ, false, false,
		amqp.Publishing{ContentType: "application/json", CorrelationId: id, ReplyTo: r.replyQ, Body: benchBody})
	if err != nil || !dc.Wait() {
		b.Fatal("request not confirmed", err)
	}
	for del := range r.replies {
		if del.CorrelationId == id {
			return
		}
	}
	b.Fatal("reply consumer ended")
}

// BenchmarkRawRequestReply: rawRPC, one call at a time.
func BenchmarkRawRequestReply(b *testing.B) {
	r := newRawRPC(b, realbroker.RabbitURL(b))
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		r.call(b)
		lat = append(lat, time.Since(start))
	}
	reportLatency(b, lat)
}

// BenchmarkCallPaired alternates one rawRPC call and one driver call on the
// same RabbitMQ, so that both see the same machine at the same moment; it
// reports each p50 and the driver's p50 as a multiple of raw's.
func BenchmarkCallPaired(b *testing.B) {
	url := realbroker.RabbitURL(b)
	r := newRawRPC(b, url)
	call := driverCaller(b, url)
	var rawLat, drvLat []time.Duration
	for b.Loop() {
		start := time.Now()
		r.call(b)
		mid := time.Now()
		call()
		rawLat = append(rawLat, mid.Sub(start))
		drvLat = append(drvLat, time.Since(mid))
	}
	slices.Sort(rawLat)
	slices.Sort(drvLat)
	rp50, dp50 := rawLat[len(rawLat)/2], drvLat[len(drvLat)/2]
	b.ReportMetric(float64(rp50.Microseconds()), "raw-p50-µs")
	b.ReportMetric(float64(dp50.Microseconds()), "driver-p50-µs")
	b.ReportMetric(float64(dp50)/float64(rp50), "p50-ratio")
	rp99, dp99 := rawLat[len(rawLat)*99/100], drvLat[len(drvLat)*99/100]
	b.ReportMetric(float64(dp99)/float64(rp99), "p99-ratio")
}

// BenchmarkDriverCall: a call through the driver to a Go server.
func BenchmarkDriverCall(b *testing.B) {
	b.Run("rabbitmq", func(b *testing.B) { benchCall(b, realbroker.RabbitURL(b)) })
	b.Run("fake-broker", func(b *testing.B) { benchCall(b, brokertest.New(b).URL()) })
}

// driverCaller starts a Go RPC server on a driver for url and returns a
// function that makes one call to it through the same driver.
func driverCaller(b *testing.B, url string) func() {
	d := open(b, url, nil)
	ctx, cancel := context.WithCancel(context.Background())
	topic := unique("sy_bench_call")
	l, err := d.Listen(ctx, drivers.Target{Topic: topic, Server: "s"}, drivers.Batch{Size: 1})
	if err != nil {
		cancel()
		b.Fatal(err)
	}
	wg := serve(ctx, nil, l, nil)
	b.Cleanup(func() { cancel(); l.Cleanup(); wg.Wait() })
	msg := drivers.Message{"method": "echo", "args": map[string]any{"n": 1}}
	return func() {
		if _, err := d.Send(ctx, drivers.Target{Topic: topic}, nil, msg, drivers.SendOptions{WaitForReply: true, Timeout: 10 * time.Second}); err != nil {
			b.Fatal(err)
		}
	}
}

// benchCall measures calls through the driver to a Go server on the same
// driver, on the backend at url.
func benchCall(b *testing.B, url string) {
	call := driverCaller(b, url)
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		call()
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
