package rabbit_test

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
	"github.com/switchyard-dev/switchyard/drivers/rabbit"
	"github.com/switchyard-dev/switchyard/fake/brokertest"
	"github.com/switchyard-dev/switchyard/internal/pyoslo"
	"github.com/switchyard-dev/switchyard/internal/realbroker"
)

// The benchmarks measure the driver against plain amqp091-go doing the same
// work on the same RabbitMQ in the same run; BENCHMARKS.md reports ratios.

// The raw references put on the wire what the driver puts there for the
// same work: the same bodies (oslo 2.0 envelopes as the driver encodes
// them), the same properties (content type and encoding, persistent, a
// call's expiration, mandatory replies) and the same topic exchange, so
// that a ratio is the driver's own cost and not the broker's handling of
// oslo's message format.

// benchExchange is the driver's default control_exchange, declared by the
// raw references with the driver's arguments.
const benchExchange = "openstack"

var (
	benchMsg    = drivers.Message{"method": "echo", "args": map[string]any{"n": 1}}
	wireRequest = mustEncode(envelope.Outgoing{Message: benchMsg, MsgID: envelope.NewID(), ReplyQueue: "reply_" + envelope.NewID()}.Encode(envelope.Version))
	wireCast    = mustEncode(envelope.Outgoing{Message: benchMsg}.Encode(envelope.Version))
	wireReply   = mustEncode(envelope.Reply{Result: benchMsg["args"], Ending: true, EndingPresent: true, MsgID: envelope.NewID()}.Encode())
)

func mustEncode(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// wirePublishing has the properties the driver gives every message.
func wirePublishing(body []byte) amqp.Publishing {
	return amqp.Publishing{ContentType: "application/json", ContentEncoding: "utf-8", DeliveryMode: amqp.Persistent, Body: body}
}

// benchQueue declares an exclusive queue bound to benchExchange by its own
// name, as the driver's topic queues are.
func benchQueue(b *testing.B, ch *amqp.Channel, prefix string) string {
	q := unique(prefix)
	if err := ch.ExchangeDeclare(benchExchange, "topic", false, false, false, false, nil); err != nil {
		b.Fatal(err)
	}
	if _, err := ch.QueueDeclare(q, false, false, true, false, nil); err != nil {
		b.Fatal(err)
	}
	if err := ch.QueueBind(q, q, benchExchange, false, nil); err != nil {
		b.Fatal(err)
	}
	return q
}

// BenchmarkRawPublishConfirm: amqp091-go publish with confirm, one at a
// time, of the cast the driver sends.
func BenchmarkRawPublishConfirm(b *testing.B) {
	ch := raw(b, realbroker.RabbitURL(b))
	q := benchQueue(b, ch, "sy_bench_raw")
	if err := ch.Confirm(false); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, benchExchange, q, false, false, wirePublishing(wireCast))
		if err != nil || !dc.Wait() {
			b.Fatal("publish not confirmed", err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}

// BenchmarkDriverCast: a cast through the driver (envelope, confirm), to a
// queue that keeps it as the raw reference's does.
func BenchmarkDriverCast(b *testing.B) {
	d := open(b, realbroker.RabbitURL(b), nil)
	ctx := context.Background()
	ch := raw(b, realbroker.RabbitURL(b))
	target := drivers.Target{Topic: benchQueue(b, ch, "sy_bench_cast")}
	for b.Loop() {
		if _, err := d.Send(ctx, target, nil, benchMsg, drivers.SendOptions{}); err != nil {
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
// any driver, with the driver's messages: the server acknowledges each
// request before answering (C29), both publishes wait for their confirms,
// replies are mandatory, requests carry the call's expiration; replies are
// matched by correlation id (raw does no JSON).
type rawRPC struct {
	// minimal sends a short body with a content type only, straight to
	// the queue, and echoes it back without mandatory: less broker work
	// than the driver's messages ask for, kept as a second reference.
	minimal bool
	pub     *amqp.Channel
	reqQ    string
	replyQ  string
	replies <-chan amqp.Delivery
	n       int
}

// minimalBody is the minimal reference's request and reply.
var minimalBody = []byte(`{"oslo.version": "2.0", "oslo.message": "{\"method\": \"ping\", \"args\": {\"n\": 1}, \"_unique_id\": \"0123456789abcdef0123456789abcdef\"}"}`)

func newRawRPC(b *testing.B, url string, minimal bool) *rawRPC {
	srv := raw(b, url)
	reqQ := benchQueue(b, srv, "sy_bench_req")
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
			reply := wirePublishing(wireReply)
			if minimal {
				reply = amqp.Publishing{ContentType: "application/json", Body: del.Body}
			}
			reply.CorrelationId = del.CorrelationId
			dc, err := srv.PublishWithDeferredConfirmWithContext(ctx, "", del.ReplyTo, !minimal, false, reply)
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
	return &rawRPC{minimal: minimal, pub: pub, reqQ: reqQ, replyQ: rq.Name, replies: replies}
}

// call sends one request and waits for its reply.
func (r *rawRPC) call(b *testing.B) {
	r.n++
	id := strconv.Itoa(r.n)
	req := wirePublishing(wireRequest)
	req.Expiration = strconv.FormatInt(benchCallTimeout.Milliseconds(), 10)
	exchange := benchExchange
	if r.minimal {
		req, exchange = amqp.Publishing{ContentType: "application/json", Body: minimalBody}, ""
	}
	req.CorrelationId, req.ReplyTo = id, r.replyQ
	dc, err := r.pub.PublishWithDeferredConfirmWithContext(context.Background(), exchange, r.reqQ, false, false, req)
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
	r := newRawRPC(b, realbroker.RabbitURL(b), false)
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
// reports each p50 and the driver's p50 and p99 as multiples of raw's.
// same-messages: raw sends what the driver sends; minimal-messages: raw
// sends less (see rawRPC.minimal).
func BenchmarkCallPaired(b *testing.B) {
	for _, minimal := range []bool{false, true} {
		name := "same-messages"
		if minimal {
			name = "minimal-messages"
		}
		b.Run(name, func(b *testing.B) {
			url := realbroker.RabbitURL(b)
			r := newRawRPC(b, url, minimal)
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
		})
	}
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
	return func() {
		if _, err := d.Send(ctx, drivers.Target{Topic: topic}, nil, benchMsg, drivers.SendOptions{WaitForReply: true, Timeout: benchCallTimeout}); err != nil {
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

// benchCallTimeout is every benchmark call's timeout; the raw reference
// sets the expiration the driver derives from it.
const benchCallTimeout = 10 * time.Second

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
// the same broker, the reference for the Go call rate: one caller, then 4 and 16
// concurrent callers (threads). Each iteration is one Python run timed by
// Python itself.
func BenchmarkPythonCall(b *testing.B) {
	pyoslo.Require(b)
	url := realbroker.RabbitURL(b)
	for _, workers := range []int{1, 4, 16} {
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

// BenchmarkDriverCallConcurrent: 4 and then 16 concurrent callers on one
// driver, to a Go server, as BenchmarkPythonCall's threads do in Python.
func BenchmarkDriverCallConcurrent(b *testing.B) {
	for _, callers := range []int{4, 16} {
		b.Run("callers="+strconv.Itoa(callers), func(b *testing.B) { benchCallConcurrent(b, callers) })
	}
}

func benchCallConcurrent(b *testing.B, callers int) {
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
					// Not ctx: a reply still waiting for its confirm when
					// the benchmark ends finishes instead of being cut off.
					rm.Reply(context.Background(), m.Message()["args"], nil)
				}()
			}
		}
	}()
	defer func() { cancel(); l.Stop(); wg.Wait() }()
	var next atomic.Int64
	b.ResetTimer()
	var callersWG sync.WaitGroup
	for range callers {
		callersWG.Add(1)
		go func() {
			defer callersWG.Done()
			for next.Add(1) <= int64(b.N) {
				if _, err := d.Send(ctx, drivers.Target{Topic: topic}, nil, benchMsg, drivers.SendOptions{WaitForReply: true, Timeout: benchCallTimeout}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	callersWG.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
	dialed, _, _, _, _, _, _ := rabbit.PoolStats(d)
	b.ReportMetric(float64(dialed), "send-conns")
}
