package broker_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/switchyard-dev/switchyard/fake/broker"
	"github.com/switchyard-dev/switchyard/fake/brokertest"
)

func restart(t *testing.T, b *broker.Broker) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Restart(ctx); err != nil {
		t.Fatal(err)
	}
}

// topology declares durable and transient entities and messages.
func topology(t *testing.T, url string) {
	t.Helper()
	c, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ch, _ := c.Channel()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(ch.ExchangeDeclare("dx", "topic", true, false, false, false, nil))
	must(ch.ExchangeDeclare("dx2", "fanout", true, false, false, false, nil))
	must(ch.ExchangeDeclare("tx", "topic", false, false, false, false, nil))
	_, err = ch.QueueDeclare("dq", true, false, false, false, amqp.Table{"x-max-length": int32(100)})
	must(err)
	_, err = ch.QueueDeclare("tq", false, false, false, false, nil)
	must(err)
	_, err = ch.QueueDeclare("gone", true, false, false, false, nil)
	must(err)
	must(ch.QueueBind("dq", "k.#", "dx", false, nil))
	must(ch.ExchangeBind("dx2", "", "dx", false, nil))
	must(ch.QueueBind("dq", "", "dx2", false, nil))
	must(ch.QueueBind("tq", "k.#", "tx", false, nil))
	confirmChannel(t, ch)
	for _, p := range []struct {
		ex, key, body string
		mode          uint8
	}{
		{"", "dq", "persistent-1", 2},
		{"", "dq", "transient", 1},
		{"", "dq", "persistent-2", 2},
		{"", "dq", "acked", 2},
		{"", "tq", "in-transient-queue", 2},
	} {
		if !publishConfirmed(t, ch, p.ex, p.key, false, amqp.Publishing{DeliveryMode: p.mode, Body: []byte(p.body)}) {
			t.Fatal("nack")
		}
	}
	_, err = ch.QueueDelete("gone", false, false, false)
	must(err)
}

func TestDurableStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	b := brokertest.New(t, brokertest.WithDir(dir))
	topology(t, b.AMQPURL())
	// Take one message and hold it unacknowledged across the restart, and
	// acknowledge another.
	c, ch := dialChannel(t, b)
	closes := c.NotifyClose(make(chan *amqp.Error, 1))
	held := get(t, ch, "dq", false)
	if string(held.Body) != "persistent-1" {
		t.Fatalf("got %q", held.Body)
	}
	restart(t, b)
	wantError(t, closed(t, closes), amqp.ConnectionForced, "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'")

	_, ch = dialChannel(t, b)
	var got []string
	for i := 0; i < 10; i++ {
		d, ok, err := ch.Get("dq", false)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		got = append(got, string(d.Body))
		if string(d.Body) == "acked" {
			d.Ack(false)
		} else if string(d.Body) == "persistent-1" && !d.Redelivered {
			t.Error("a message delivered before the restart is not marked redelivered")
		}
	}
	if !slices.Equal(got, []string{"persistent-1", "persistent-2", "acked"}) {
		t.Fatalf("after restart dq holds %v", got)
	}
	if names := b.QueueNames("/"); !slices.Equal(names, []string{"dq"}) {
		t.Fatalf("queues %v", names)
	}
	ex := b.ExchangeNames("/")
	if !slices.Contains(ex, "dx") || !slices.Contains(ex, "dx2") || slices.Contains(ex, "tx") {
		t.Fatalf("exchanges %v", ex)
	}
	// Bindings, direct and through dx2, survived: one message reaches dq
	// once, whichever way.
	ch.Close()
	_, ch = dialChannel(t, b)
	confirmChannel(t, ch)
	publishConfirmed(t, ch, "dx", "k.1", false, amqp.Publishing{DeliveryMode: 2, Body: []byte("routed")})
	eventually(t, "the routed message", func() bool { return b.QueueDepth("/", "dq") == 3 })
	// Equivalence still holds for recovered entities.
	err := ch.ExchangeDeclare("dx", "topic", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ch.QueueDeclare("dq", true, false, false, false, amqp.Table{"x-max-length": int32(100)})
	if err != nil {
		t.Fatal(err)
	}

	// Close and start a new broker on the same directory: the acked
	// message stays gone.
	b.Close()
	b2 := brokertest.New(t, brokertest.WithDir(dir))
	_, ch = dialChannel(t, b2)
	got = nil
	for i := 0; i < 10; i++ {
		d, ok, err := ch.Get("dq", true)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		got = append(got, string(d.Body))
	}
	if !slices.Equal(got, []string{"persistent-1", "persistent-2", "routed"}) {
		t.Fatalf("after a new start dq holds %v", got)
	}
}

func TestRestartWithoutDirForgetsEverything(t *testing.T) {
	b := brokertest.New(t)
	topology(t, b.AMQPURL())
	restart(t, b)
	if names := b.QueueNames("/"); len(names) != 0 {
		t.Fatalf("queues %v", names)
	}
	if ex := b.ExchangeNames("/"); slices.Contains(ex, "dx") {
		t.Fatalf("exchanges %v", ex)
	}
	// And it serves on the same address.
	_, ch := dialChannel(t, b)
	if _, err := ch.QueueDeclare("again", false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
}

func TestTornLogTailIsIgnored(t *testing.T) {
	dir := t.TempDir()
	b := brokertest.New(t, brokertest.WithDir(dir))
	topology(t, b.AMQPURL())
	b.Close()
	f, err := os.OpenFile(filepath.Join(dir, "broker.log"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0, 0, 1, 0, 'M', 1, 2}) // a record cut short
	f.Close()
	b2 := brokertest.New(t, brokertest.WithDir(dir))
	if n := b2.QueueDepth("/", "dq"); n != 3 {
		t.Fatalf("depth %d after recovery", n)
	}
}

func dialChannel(t *testing.T, b *broker.Broker) (*amqp.Connection, *amqp.Channel) {
	t.Helper()
	c, err := amqp.Dial(b.AMQPURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ch, err := c.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return c, ch
}
