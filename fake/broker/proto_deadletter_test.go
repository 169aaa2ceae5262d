package broker_test

import (
	"fmt"
	"slices"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

func TestProtocolExpiryAndDeadLetters(t *testing.T) { runSuite(t, deadLetterCases) }

// death returns the first x-death entry of d.
func death(t *testing.T, d amqp.Delivery) amqp.Table {
	t.Helper()
	ds, ok := d.Headers["x-death"].([]any)
	if !ok || len(ds) == 0 {
		t.Fatalf("no x-death header in %v", d.Headers)
	}
	return ds[0].(amqp.Table)
}

// checkDeath checks an x-death entry and the x-first-death headers.
func checkDeath(t *testing.T, d amqp.Delivery, queue, reason, exchange string, keys []any, count int64) {
	t.Helper()
	x := death(t, d)
	if x["queue"] != queue || x["reason"] != reason || x["exchange"] != exchange || x["count"] != count ||
		fmt.Sprint(x["routing-keys"]) != fmt.Sprint(keys) {
		t.Fatalf("x-death %v, want queue %s reason %s exchange %q keys %v count %d", x, queue, reason, exchange, keys, count)
	}
	if d.Headers["x-first-death-queue"] != queue || d.Headers["x-first-death-reason"] != reason || d.Headers["x-first-death-exchange"] != exchange {
		t.Fatalf("x-first-death headers %v", d.Headers)
	}
}

var deadLetterCases = []protocolCase{
	{"x-message-ttl expires messages", func(t *testing.T, e *env) {
		_, ch := e.open()
		q := e.queue(ch, "ttl", amqp.Table{"x-message-ttl": int32(100)})
		fill(t, e, q, 3)
		eventually(t, "the messages to expire", func() bool { return ready(t, ch, q) == 0 })
	}},
	{"x-message-ttl 0 delivers to a waiting consumer only", func(t *testing.T, e *env) {
		_, ch := e.open()
		q0 := e.queue(ch, "ttl0", amqp.Table{"x-message-ttl": int32(0)})
		fill(t, e, q0, 1)
		getEmpty(t, ch, q0)
		ds := consume(t, ch, q0, true)
		fill(t, e, q0, 1)
		if d := recv(t, ds); string(d.Body) != "0" {
			t.Fatal(string(d.Body))
		}
	}},
	{"per-message expiration", func(t *testing.T, e *env) {
		_, ch := e.open()
		q := e.queue(ch, "exp", nil)
		confirmChannel(t, ch)
		publishConfirmed(t, ch, "", q, false, amqp.Publishing{Expiration: "50", Body: []byte("short")})
		publishConfirmed(t, ch, "", q, false, amqp.Publishing{Expiration: "600000", Body: []byte("long")})
		eventually(t, "the short-lived message to expire", func() bool { return ready(t, ch, q) == 1 })
		d := get(t, ch, q, true)
		if string(d.Body) != "long" || d.Expiration != "600000" {
			t.Fatalf("got %q expiration %q", d.Body, d.Expiration)
		}
	}},
	{"invalid expiration closes the channel", func(t *testing.T, e *env) {
		_, ch := e.open()
		q := e.queue(ch, "badexp", nil)
		notify := ch.NotifyClose(make(chan *amqp.Error, 1))
		ch.Publish("", q, false, false, amqp.Publishing{Expiration: "soon"})
		err := closed(t, notify)
		wantError(t, err, amqp.PreconditionFailed, "")
	}},
	{"expired messages are dead-lettered", func(t *testing.T, e *env) {
		_, ch := e.open()
		dlq := e.queue(ch, "dlq", nil)
		src := e.queue(ch, "src", amqp.Table{"x-message-ttl": int32(50), "x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq})
		publish(t, ch, "", src, amqp.Publishing{Expiration: "100000", Headers: amqp.Table{"h": "v"}, Body: []byte("late")})
		d := get(t, ch, dlq, true)
		if string(d.Body) != "late" || d.Headers["h"] != "v" || d.Expiration != "" || d.RoutingKey != dlq || d.Exchange != "" {
			t.Fatalf("dead letter %q headers %v expiration %q key %q exchange %q", d.Body, d.Headers, d.Expiration, d.RoutingKey, d.Exchange)
		}
		checkDeath(t, d, src, "expired", "", []any{src}, 1)
		if death(t, d)["original-expiration"] != "100000" {
			t.Fatalf("x-death %v lacks original-expiration", death(t, d))
		}
	}},
	{"rejected messages are dead-lettered with their routing key", func(t *testing.T, e *env) {
		_, ch := e.open()
		dlx := e.exchange(ch, "dlx", "topic")
		dlq := e.queue(ch, "dlq", nil)
		ch.QueueBind(dlq, "orig.#", dlx, false, nil)
		ex := e.exchange(ch, "in", "direct")
		src := e.queue(ch, "src", amqp.Table{"x-dead-letter-exchange": dlx})
		ch.QueueBind(src, "orig.key", ex, false, nil)
		publish(t, ch, ex, "orig.key", text("bad"))
		m := get(t, ch, src, false)
		ch.Reject(m.DeliveryTag, false)
		d := get(t, ch, dlq, true)
		if d.Exchange != dlx || d.RoutingKey != "orig.key" {
			t.Fatalf("exchange %q key %q", d.Exchange, d.RoutingKey)
		}
		checkDeath(t, d, src, "rejected", ex, []any{"orig.key"}, 1)
		// Nacked without requeue: the same.
		publish(t, ch, ex, "orig.key", text("bad2"))
		m = get(t, ch, src, false)
		ch.Nack(m.DeliveryTag, false, false)
		d = get(t, ch, dlq, true)
		checkDeath(t, d, src, "rejected", ex, []any{"orig.key"}, 1)
	}},
	{"x-death counts repeated deaths", func(t *testing.T, e *env) {
		_, ch := e.open()
		// A queue that dead-letters rejected messages back to itself.
		q := e.name("loop")
		e.cleanupQueue(q)
		if _, err := ch.QueueDeclare(q, false, false, false, false, amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": q}); err != nil {
			t.Fatal(err)
		}
		publish(t, ch, "", q, text("again"))
		for i := int64(1); i <= 3; i++ {
			m := get(t, ch, q, false)
			ch.Reject(m.DeliveryTag, false)
			d := get(t, ch, q, false)
			if c := death(t, d)["count"]; c != i {
				t.Fatalf("death %d: count %v", i, c)
			}
			ch.Nack(d.DeliveryTag, false, true) // back, for the next round
		}
	}},
	{"expiry cycles are broken", func(t *testing.T, e *env) {
		_, ch := e.open()
		// Two queues that expire messages into each other.
		a, b := e.name("a"), e.name("b")
		e.cleanupQueue(a, b)
		for _, p := range [][2]string{{a, b}, {b, a}} {
			if _, err := ch.QueueDeclare(p[0], false, false, false, false, amqp.Table{"x-message-ttl": int32(20), "x-dead-letter-exchange": "", "x-dead-letter-routing-key": p[1]}); err != nil {
				t.Fatal(err)
			}
		}
		publish(t, ch, "", a, text("cycling"))
		eventually(t, "the cycling message to be dropped", func() bool { return ready(t, ch, a)+ready(t, ch, b) == 0 })
	}},
	{"x-max-length drops the head", func(t *testing.T, e *env) {
		_, ch := e.open()
		dlq := e.queue(ch, "dlq", nil)
		q := e.queue(ch, "max", amqp.Table{"x-max-length": int32(2), "x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq})
		fill(t, e, q, 5)
		var kept, dead []string
		for range 2 {
			kept = append(kept, string(get(t, ch, q, true).Body))
		}
		for range 3 {
			d := get(t, ch, dlq, true)
			dead = append(dead, string(d.Body))
			checkDeath(t, d, q, "maxlen", "", []any{q}, 1)
		}
		if !slices.Equal(kept, []string{"3", "4"}) || !slices.Equal(dead, []string{"0", "1", "2"}) {
			t.Fatalf("kept %v dead-lettered %v", kept, dead)
		}
	}},
	{"x-overflow reject-publish nacks", func(t *testing.T, e *env) {
		_, ch := e.open()
		q := e.queue(ch, "rej", amqp.Table{"x-max-length": int32(1), "x-overflow": "reject-publish"})
		confirmChannel(t, ch)
		if !publishConfirmed(t, ch, "", q, false, text("fits")) {
			t.Fatal("first publish nacked")
		}
		if publishConfirmed(t, ch, "", q, false, text("overflows")) {
			t.Fatal("overflowing publish acked")
		}
		if d := get(t, ch, q, true); string(d.Body) != "fits" {
			t.Fatal(string(d.Body))
		}
	}},
	{"requeued messages keep their expiry", func(t *testing.T, e *env) {
		_, ch := e.open()
		q := e.queue(ch, "reqexp", amqp.Table{"x-message-ttl": int32(200)})
		fill(t, e, q, 1)
		d := get(t, ch, q, false)
		ch.Nack(d.DeliveryTag, false, true)
		eventually(t, "the requeued message to expire", func() bool { return ready(t, ch, q) == 0 })
	}},
}
