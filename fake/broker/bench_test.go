package broker_test

import (
	"context"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/switchyard-dev/switchyard/fake/broker"
	"github.com/switchyard-dev/switchyard/fake/brokertest"
	"github.com/switchyard-dev/switchyard/fake/internal/amqp091"
	"github.com/switchyard-dev/switchyard/internal/realbroker"
)

// benchURL returns the URL of the backend a benchmark runs against.
func benchURL(b *testing.B, kind string) string {
	if kind == "rabbitmq" {
		return amqpURL(realbroker.RabbitURL(b))
	}
	return brokertest.New(b, func(o *broker.Options) { o.EventLogSize = -1 }).AMQPURL()
}

// BenchmarkPublishConfirm publishes 100-byte messages with up to 1000
// unconfirmed at a time, on one connection.
func BenchmarkPublishConfirm(b *testing.B) {
	for _, kind := range []string{"fake", "rabbitmq"} {
		b.Run(kind, func(b *testing.B) {
			c, err := amqp.Dial(benchURL(b, kind))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			ch, err := c.Channel()
			if err != nil {
				b.Fatal(err)
			}
			q, err := ch.QueueDeclare("", false, true, true, false, nil)
			if err != nil {
				b.Fatal(err)
			}
			if err := ch.Confirm(false); err != nil {
				b.Fatal(err)
			}
			confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 2000))
			body := make([]byte, 100)
			const window = 1000
			b.SetBytes(100)
			outstanding := 0
			for b.Loop() {
				if err := ch.PublishWithContext(context.Background(), "", q.Name, false, false, amqp.Publishing{Body: body}); err != nil {
					b.Fatal(err)
				}
				outstanding++
				for outstanding >= window {
					if !(<-confirms).Ack {
						b.Fatal("a publish was nacked")
					}
					outstanding--
				}
			}
			// The last window's confirms are waited for outside the timer;
			// at 1000 of b.N publishes that changes the rate by little.
			for ; outstanding > 0; outstanding-- {
				select {
				case <-confirms:
				case <-time.After(30 * time.Second):
					b.Fatal("confirms stopped")
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
		})
	}
}

// BenchmarkConsume consumes pre-published 100-byte messages with manual
// acks and prefetch 1000.
func BenchmarkConsume(b *testing.B) {
	for _, kind := range []string{"fake", "rabbitmq"} {
		b.Run(kind, func(b *testing.B) {
			c, err := amqp.Dial(benchURL(b, kind))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			ch, _ := c.Channel()
			q, _ := ch.QueueDeclare("", false, true, true, false, nil)
			ch.Confirm(false)
			confirms := ch.NotifyPublish(make(chan amqp.Confirmation, b.N+1))
			body := make([]byte, 100)
			// At most 1000 unconfirmed: amqp091-go walks every outstanding
			// confirmation on each multiple ack, so an unbounded backlog
			// makes the setup quadratic.
			pending := 0
			for i := 0; i < b.N; i++ {
				ch.PublishWithContext(context.Background(), "", q.Name, false, false, amqp.Publishing{Body: body})
				if pending++; pending == 1000 {
					for ; pending > 0; pending-- {
						<-confirms
					}
				}
			}
			for ; pending > 0; pending-- {
				<-confirms
			}
			cch, _ := c.Channel()
			cch.Qos(1000, 0, false)
			b.ResetTimer()
			ds, _ := cch.Consume(q.Name, "", false, false, false, false, nil)
			for i := 0; i < b.N; i++ {
				d := <-ds
				if i%100 == 99 || i == b.N-1 {
					d.Ack(true)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
		})
	}
}

// BenchmarkRoundTrip measures a request/reply round trip between two
// connections, as an RPC does.
func BenchmarkRoundTrip(b *testing.B) {
	for _, kind := range []string{"fake", "rabbitmq"} {
		b.Run(kind, func(b *testing.B) {
			url := benchURL(b, kind)
			server, _ := amqp.Dial(url)
			defer server.Close()
			client, _ := amqp.Dial(url)
			defer client.Close()
			sch, _ := server.Channel()
			req, _ := sch.QueueDeclare("", false, true, true, false, nil)
			cch, _ := client.Channel()
			rep, _ := cch.QueueDeclare("", false, true, true, false, nil)
			reqs, _ := sch.Consume(req.Name, "", true, false, false, false, nil)
			done := make(chan struct{})
			go func() {
				defer close(done)
				for d := range reqs {
					sch.PublishWithContext(context.Background(), "", d.ReplyTo, false, false, amqp.Publishing{Body: d.Body})
				}
			}()
			replies, _ := cch.Consume(rep.Name, "", true, false, false, false, nil)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				cch.PublishWithContext(context.Background(), "", req.Name, false, false, amqp.Publishing{ReplyTo: rep.Name, Body: []byte("ping")})
				<-replies
			}
			b.StopTimer()
			server.Close()
			<-done
		})
	}
}

// BenchmarkStartToFirstConnection measures the time from calling Start to
// the broker serving its first connection: "header" until it answers a
// client's protocol header with connection.start, "amqp091-go" until
// amqp091-go's Dial has completed the whole handshake (start, tune, open),
// both with default Options; "header-events-off" is "header" with the
// event log off (EventLogSize -1). It reports the mean as ms/start; ns/op
// includes closing the broker.
func BenchmarkStartToFirstConnection(b *testing.B) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		amqp     bool
		eventLog int
	}{{"header", false, 0}, {"amqp091-go", true, 0}, {"header-events-off", false, -1}} {
		b.Run(tc.name, func(b *testing.B) {
			var total time.Duration
			for b.Loop() {
				t0 := time.Now()
				br, err := broker.Start(ctx, broker.Options{EventLogSize: tc.eventLog})
				if err != nil {
					b.Fatal(err)
				}
				var conn io.Closer
				if tc.amqp {
					c, err := amqp.Dial(br.AMQPURL())
					if err != nil {
						b.Fatal(err)
					}
					conn = c
				} else {
					c, err := net.Dial("tcp", br.Addr())
					if err != nil {
						b.Fatal(err)
					}
					if _, err := c.Write([]byte(amqp091.ProtocolHeader)); err != nil {
						b.Fatal(err)
					}
					var first [1]byte
					if _, err := io.ReadFull(c, first[:]); err != nil || first[0] != amqp091.FrameMethod {
						b.Fatalf("no connection.start: %v %v", first, err)
					}
					conn = c
				}
				total += time.Since(t0)
				conn.Close()
				if err := br.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(total.Seconds()*1000/float64(b.N), "ms/start")
		})
	}
}

// memInUse returns the bytes of heap and of goroutine stacks in use after
// a full collection.
func memInUse() (heap, stack int64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse), int64(ms.StackInuse)
}

// BenchmarkQueuedMemory measures the heap a broker holds for 1M queued
// 100-byte messages: one amqp091-go connection publishes them with
// confirms (window 1000) to a classic queue and closes, then the heap in
// use after a collection is compared with that before Start. The event
// log is off in "events-off" and at its default size (65536 events) in
// "events-default". It reports heap-MiB and heap-B/msg, the mean over
// iterations; run it with -benchtime=1x.
func BenchmarkQueuedMemory(b *testing.B) {
	const n = 1_000_000
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		eventLog int
	}{{"events-off", -1}, {"events-default", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			var total int64
			for b.Loop() {
				before, _ := memInUse()
				br, err := broker.Start(ctx, broker.Options{EventLogSize: tc.eventLog})
				if err != nil {
					b.Fatal(err)
				}
				c, err := amqp.Dial(br.AMQPURL())
				if err != nil {
					b.Fatal(err)
				}
				ch, err := c.Channel()
				if err != nil {
					b.Fatal(err)
				}
				if _, err := ch.QueueDeclare("mem", false, false, false, false, nil); err != nil {
					b.Fatal(err)
				}
				if err := ch.Confirm(false); err != nil {
					b.Fatal(err)
				}
				confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 2000))
				body := make([]byte, 100)
				outstanding := 0
				for i := range n {
					if err := ch.PublishWithContext(ctx, "", "mem", false, false, amqp.Publishing{Body: body}); err != nil {
						b.Fatal(err)
					}
					outstanding++
					for outstanding >= 1000 || (i == n-1 && outstanding > 0) {
						if !(<-confirms).Ack {
							b.Fatal("a publish was nacked")
						}
						outstanding--
					}
				}
				if err := c.Close(); err != nil {
					b.Fatal(err)
				}
				if got := br.QueueDepth("/", "mem"); got != n {
					b.Fatalf("queue depth %d, want %d", got, n)
				}
				after, _ := memInUse()
				total += after - before
				if err := br.Close(); err != nil {
					b.Fatal(err)
				}
			}
			per := float64(total) / float64(b.N)
			b.ReportMetric(per/(1<<20), "heap-MiB")
			b.ReportMetric(per/n, "heap-B/msg")
		})
	}
}

// idleOpen opens a raw connection the way an ordinary client does
// (PLAIN login, the broker's heartbeat and limits) and one channel, and
// returns its socket.
func idleOpen(b *testing.B, addr string) net.Conn {
	rc := dialRaw(b, addr)
	rc.startOK("guest", "guest")
	tune := expect[*amqp091.ConnectionTune](rc)
	rc.send(0, &amqp091.ConnectionTuneOk{ChannelMax: tune.ChannelMax, FrameMax: tune.FrameMax, Heartbeat: tune.Heartbeat})
	rc.send(0, &amqp091.ConnectionOpen{VirtualHost: "/"})
	expect[*amqp091.ConnectionOpenOk](rc)
	rc.send(1, &amqp091.ChannelOpen{})
	expect[*amqp091.ChannelOpenOk](rc)
	return rc.c
}

// BenchmarkIdleConnectionsMemory measures the memory a broker holds for
// 1000 idle connections, each logged in with heartbeats on and one channel
// open: heap and goroutine stacks in use after a collection, compared with
// those after Start. The clients are raw sockets whose buffers are dropped
// once open, so what they keep (a socket each) is small against the
// broker's share. It reports heap-MiB, stack-MiB and KiB/conn (heap and
// stack), the mean over iterations.
func BenchmarkIdleConnectionsMemory(b *testing.B) {
	const n = 1000
	ctx := context.Background()
	var heap, stack int64
	for b.Loop() {
		br, err := broker.Start(ctx, broker.Options{})
		if err != nil {
			b.Fatal(err)
		}
		heap0, stack0 := memInUse()
		conns := make([]net.Conn, 0, n)
		for range n {
			conns = append(conns, idleOpen(b, br.Addr()))
		}
		if got := len(br.Connections()); got != n {
			b.Fatalf("%d connections open, want %d", got, n)
		}
		heap1, stack1 := memInUse()
		heap += heap1 - heap0
		stack += stack1 - stack0
		for _, c := range conns {
			c.Close()
		}
		if err := br.Close(); err != nil {
			b.Fatal(err)
		}
	}
	h, s := float64(heap)/float64(b.N), float64(stack)/float64(b.N)
	b.ReportMetric(h/(1<<20), "heap-MiB")
	b.ReportMetric(s/(1<<20), "stack-MiB")
	b.ReportMetric((h+s)/n/1024, "KiB/conn")
}
