package rabbit_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
	"github.com/switchyard-dev/switchyard/drivers/rabbit"
	"github.com/switchyard-dev/switchyard/internal/realbroker"
)

// raw opens a plain amqp091-go channel on the broker behind url, for
// observing and for injecting what a driver would never send.
func raw(t testing.TB, url string) *amqp.Channel {
	t.Helper()
	u, err := drivers.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	amqpURL := "amqp" + strings.TrimPrefix(u.Secret(), u.Scheme)
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func withPassword(t *testing.T, url, pass string) string {
	t.Helper()
	u, err := drivers.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	for i := range u.Hosts {
		u.Hosts[i].Password, u.Hosts[i].HasCredentials = pass, true
		if u.Hosts[i].Username == "" {
			u.Hosts[i].Username = "guest"
		}
	}
	return u.Secret()
}

func TestBadInput(t *testing.T) {
	url := realbroker.RabbitURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	t.Run("malformed URL", func(t *testing.T) {
		_, err := drivers.Open(ctx, "rabbit://guest:secret@host:port/", nil)
		var ue *drivers.URLError
		if !errors.As(err, &ue) || strings.Contains(err.Error(), "secret") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("unknown query option", func(t *testing.T) {
		if _, err := drivers.Open(ctx, url+"?rabbit_qos_prefetch=1", nil); !errors.Is(err, drivers.ErrUnknownOption) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("wrong credentials", func(t *testing.T) {
		d := open(t, withPassword(t, url, "definitely-wrong"), nil)
		for _, send := range []func() error{
			func() error {
				_, err := d.Send(ctx, drivers.Target{Topic: "x"}, nil, drivers.Message{"method": "m"}, drivers.SendOptions{Retry: -1})
				return err
			},
			func() error {
				_, err := d.Send(ctx, drivers.Target{Topic: "x"}, nil, drivers.Message{"method": "m"}, drivers.SendOptions{WaitForReply: true, Timeout: 10 * time.Second})
				return err
			},
			func() error {
				_, err := d.Listen(ctx, drivers.Target{Topic: "x"}, drivers.Batch{})
				return err
			},
		} {
			start := time.Now()
			err := send()
			var ae *drivers.AuthError
			// RabbitMQ itself answers a bad password after about 3 s; the
			// driver adds nothing and never retries.
			if !errors.As(err, &ae) || time.Since(start) > 4500*time.Millisecond || strings.Contains(err.Error(), "definitely-wrong") {
				t.Fatalf("err = %v after %v", err, time.Since(start))
			}
		}
	})
	t.Run("unreachable host, retry 0", func(t *testing.T) {
		d := open(t, "rabbit://guest:guest@127.0.0.1:1/", nil)
		start := time.Now()
		_, err := d.Send(ctx, drivers.Target{Topic: "x"}, nil, drivers.Message{"method": "m"}, drivers.SendOptions{Retry: 0})
		var de *drivers.DeliveryError
		if !errors.As(err, &de) || !errors.Is(err, drivers.ErrDeliveryFailure) || de.Attempts != 1 || time.Since(start) > time.Second {
			t.Fatalf("err = %v after %v", err, time.Since(start))
		}
		start = time.Now()
		_, err = d.Send(ctx, drivers.Target{Topic: "x"}, nil, drivers.Message{"method": "m"}, drivers.SendOptions{Retry: 3})
		if !errors.As(err, &de) || de.Attempts != 4 {
			t.Fatalf("retry 3: err = %v after %v", err, time.Since(start))
		}
		// retry -1 is bounded by the context.
		short, c := context.WithTimeout(ctx, 500*time.Millisecond)
		defer c()
		_, err = d.Send(short, drivers.Target{Topic: "x"}, nil, drivers.Message{"method": "m"}, drivers.SendOptions{Retry: -1})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("retry -1: err = %v", err)
		}
	})
	d := open(t, url, nil)
	t.Run("failover to a live host", func(t *testing.T) {
		u, _ := drivers.ParseURL(url)
		live := u.Hosts[0].Addr(drivers.DefaultPort)
		fd := open(t, "rabbit://guest:guest@127.0.0.1:1,guest:guest@"+live+"/", nil)
		if _, err := fd.Send(ctx, drivers.Target{Topic: unique("sy_failover")}, nil, drivers.Message{"method": "m"}, drivers.SendOptions{Retry: 0}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("invalid targets", func(t *testing.T) {
		for _, c := range []struct {
			target drivers.Target
			call   bool
		}{{drivers.Target{}, false}, {drivers.Target{Topic: "t", Fanout: true}, true}, {drivers.Target{Topic: "a\nb"}, false}} {
			_, err := d.Send(ctx, c.target, nil, drivers.Message{"method": "m"}, drivers.SendOptions{WaitForReply: c.call, Timeout: time.Second})
			if !errors.Is(err, drivers.ErrInvalidTarget) {
				t.Errorf("%s: %v", c.target, err)
			}
		}
		if _, err := d.Listen(ctx, drivers.Target{}, drivers.Batch{}); !errors.Is(err, drivers.ErrInvalidTarget) {
			t.Error(err)
		}
		if _, err := d.ListenForNotifications(ctx, nil, "", drivers.Batch{}); !errors.Is(err, drivers.ErrInvalidTarget) {
			t.Error(err)
		}
		if err := d.SendNotification(ctx, drivers.Target{}, nil, drivers.Message{}, "2.0", 0); !errors.Is(err, drivers.ErrInvalidTarget) {
			t.Error(err)
		}
		if err := d.SendNotification(ctx, drivers.Target{Topic: "t.info"}, nil, drivers.Message{}, "3.0", 0); !errors.Is(err, drivers.ErrUnsupportedVersion) {
			t.Error(err)
		}
	})
	t.Run("oversized message", func(t *testing.T) {
		rabbit.SetMaxMessageSize(d, 1024)
		defer rabbit.SetMaxMessageSize(d, rabbit.MaxMessageSize)
		_, err := d.Send(ctx, drivers.Target{Topic: "t"}, nil, drivers.Message{"method": "m", "args": map[string]any{"x": strings.Repeat("x", 2048)}}, drivers.SendOptions{})
		if !errors.Is(err, drivers.ErrMessageTooLarge) {
			t.Fatalf("err = %v", err)
		}
		// Still usable.
		if _, err := d.Send(ctx, drivers.Target{Topic: unique("sy_after")}, nil, drivers.Message{"method": "m"}, drivers.SendOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("not JSON-representable", func(t *testing.T) {
		_, err := d.Send(ctx, drivers.Target{Topic: "t"}, nil, drivers.Message{"method": "m", "args": map[string]any{"f": func() {}}}, drivers.SendOptions{})
		if err == nil {
			t.Fatal("a func was sent")
		}
	})
	t.Run("foreign messages on a queue", func(t *testing.T) {
		topic := unique("sy_foreign")
		l, err := d.Listen(ctx, drivers.Target{Topic: topic}, drivers.Batch{Size: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Cleanup()
		ch := raw(t, url)
		for _, body := range []string{"not json at all", `[1, 2]`, `{"oslo.version": "3.0", "oslo.message": "{}"}`, `{"oslo.version": "2.0", "oslo.message": 5}`} {
			if err := ch.PublishWithContext(ctx, "", topic, false, false, amqp.Publishing{Body: []byte(body)}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := d.Send(ctx, drivers.Target{Topic: topic}, nil, drivers.Message{"method": "good"}, drivers.SendOptions{}); err != nil {
			t.Fatal(err)
		}
		msgs, err := l.Poll(ctx)
		if err != nil || len(msgs) != 1 || msgs[0].Message()["method"] != "good" {
			t.Fatalf("poll: %v %v", msgs, err)
		}
		q, err := ch.QueueDeclarePassive(topic, false, false, false, false, nil)
		if err != nil || q.Messages != 0 {
			t.Fatalf("foreign messages left on the queue: %+v %v", q, err)
		}
	})
	t.Run("stray, repeated and late replies", func(t *testing.T) {
		topic := unique("sy_replies")
		ch := raw(t, url)
		if _, err := ch.QueueDeclare(topic, false, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
		if err := ch.QueueBind(topic, topic, "openstack", false, nil); err != nil {
			// The exchange exists once any driver sent; declare it as oslo does.
			ch = raw(t, url)
			if err := ch.ExchangeDeclare("openstack", "topic", false, false, false, false, nil); err != nil {
				t.Fatal(err)
			}
			if err := ch.QueueBind(topic, topic, "openstack", false, nil); err != nil {
				t.Fatal(err)
			}
		}
		dels, err := ch.Consume(topic, "", true, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		// A fake server: answers with a stray reply, then the real reply
		// twice with one _unique_id.
		go func() {
			for del := range dels {
				in, err := envelope.Decode(del.Body)
				if err != nil {
					continue
				}
				send := func(r envelope.Reply) {
					b, _ := r.Encode()
					_ = ch.PublishWithContext(ctx, "", in.ReplyQueue, false, false, amqp.Publishing{ContentType: "application/json", Body: b})
				}
				send(envelope.Reply{Result: "stray", Ending: true, EndingPresent: true, MsgID: "0000"})
				r := envelope.Reply{Result: in.Message["args"], Ending: true, EndingPresent: true, MsgID: in.MsgID, UniqueID: envelope.NewID()}
				send(r)
				send(r)
			}
		}()
		for i := range 3 {
			got, err := d.Send(ctx, drivers.Target{Topic: topic}, nil, drivers.Message{"method": "m", "args": map[string]any{"i": i}},
				drivers.SendOptions{WaitForReply: true, Timeout: 5 * time.Second})
			if err != nil || envelope.MustNormalize(got).(map[string]any)["i"] != envelope.MustNormalize(i) {
				t.Fatalf("call %d: %v %v", i, got, err)
			}
		}
	})
}
