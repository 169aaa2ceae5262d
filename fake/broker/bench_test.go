package broker_test

import (
	"context"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/switchyard-dev/switchyard/fake/broker"
	"github.com/switchyard-dev/switchyard/fake/brokertest"
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
			ch, _ := c.Channel()
			q, _ := ch.QueueDeclare("", false, true, true, false, nil)
			ch.Confirm(false)
			confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 2000))
			body := make([]byte, 100)
			const window = 1000
			b.SetBytes(100)
			b.ResetTimer()
			outstanding := 0
			for i := 0; i < b.N; i++ {
				if err := ch.PublishWithContext(context.Background(), "", q.Name, false, false, amqp.Publishing{Body: body}); err != nil {
					b.Fatal(err)
				}
				outstanding++
				for outstanding >= window {
					<-confirms
					outstanding--
				}
			}
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
			for i := 0; i < b.N; i++ {
				ch.PublishWithContext(context.Background(), "", q.Name, false, false, amqp.Publishing{Body: body})
			}
			for i := 0; i < b.N; i++ {
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
