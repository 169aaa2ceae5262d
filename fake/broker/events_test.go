package broker_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/switchyard-dev/switchyard/fake/broker"
	"github.com/switchyard-dev/switchyard/fake/brokertest"
)

func TestEventLogRecordsAMessagesLife(t *testing.T) {
	b := brokertest.New(t)
	sub := b.Subscribe()
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName("life")
	c, err := amqp.DialConfig(b.AMQPURL(), amqp.Config{Properties: props})
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := c.Channel()
	q, _ := ch.QueueDeclare("life", false, false, false, false, nil)
	confirmChannel(t, ch)
	publishConfirmed(t, ch, "", q.Name, false, amqp.Publishing{MessageId: "m-1", Body: []byte("hello")})
	publishConfirmed(t, ch, "", "nowhere", true, amqp.Publishing{MessageId: "m-2", Body: []byte("lost")})
	d := get(t, ch, q.Name, false)
	d.Nack(false, true)
	d = get(t, ch, q.Name, false)
	d.Ack(false)
	c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var got []string
	for {
		e, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		if e.Time.IsZero() || e.Seq == 0 {
			t.Fatalf("event without time or sequence: %v", e)
		}
		if e.Connection != "" && e.Connection != "life" {
			t.Fatalf("connection name %q", e.Connection)
		}
		s := string(e.Type)
		switch e.Type {
		case broker.EventPublished, broker.EventConfirmed, broker.EventReturned, broker.EventDelivered, broker.EventAcked, broker.EventNacked, broker.EventRequeued, broker.EventRouted:
			if e.MessageID == "" || e.BodyHash == 0 {
				t.Fatalf("message event without id or hash: %v", e)
			}
			s += ":" + e.MessageID
		case broker.EventConnectionClosed:
			if !strings.Contains(e.Reason, "client closed the connection") {
				t.Fatalf("close reason %q", e.Reason)
			}
		}
		got = append(got, s)
		if e.Type == broker.EventConnectionClosed {
			break
		}
	}
	want := "connection.opened queue.declared publish:m-1 routed:m-1 confirmed:m-1 publish:m-2 returned:m-2 confirmed:m-2 " +
		"delivered:m-1 nacked:m-1 requeued:m-1 delivered:m-1 acked:m-1 connection.closed"
	if strings.Join(got, " ") != want {
		t.Fatalf("events:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	s, ok := b.Queue("/", "life")
	if !ok || s.Enqueued != 1 || s.Delivered != 2 || s.Redelivered != 1 || s.Acked != 1 || s.Nacked != 1 || s.Requeued != 1 || s.Ready != 0 || s.Unacked != 0 {
		t.Fatalf("queue stats %+v", s)
	}
	st := b.Stats()
	if st.Totals.Published != 2 || st.Totals.Confirmed != 2 || st.Totals.Returned != 1 || st.Totals.Acked != 1 || st.Totals.ConnectionsOpened != 1 {
		t.Fatalf("totals %+v", st.Totals)
	}
	for _, ex := range st.Exchanges {
		if ex.Name == "" && (ex.PublishedIn != 2 || ex.Routed != 1 || ex.Unroutable != 1) {
			t.Fatalf("default exchange stats %+v", ex)
		}
	}
}

func TestEventLogIsBounded(t *testing.T) {
	b := brokertest.New(t, func(o *broker.Options) { o.EventLogSize = 4 })
	sub := b.SubscribeAll()
	_, ch := dialChannel(t, b)
	for range 5 {
		ch.QueueDeclare("", false, true, true, false, nil)
	}
	if n := len(b.Events()); n != 4 {
		t.Fatalf("%d events kept", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := sub.Next(ctx); !errors.Is(err, broker.ErrEventsLost) {
		t.Fatalf("got %v, want ErrEventsLost", err)
	}
	if _, err := sub.Next(ctx); err != nil {
		t.Fatal(err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	for {
		if _, err := sub.Next(short); err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatal(err)
			}
			break
		}
	}
}

func TestConnectionStatsAndClose(t *testing.T) {
	b := brokertest.New(t)
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName("watched")
	c, err := amqp.DialConfig(b.AMQPURL(), amqp.Config{Properties: props})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ch, _ := c.Channel()
	confirmChannel(t, ch)
	publishConfirmed(t, ch, "", "x", false, text("x"))
	cs := b.Connections()
	if len(cs) != 1 || cs[0].Name != "watched" || cs[0].User != "guest" || cs[0].VHost != "/" || cs[0].Published != 1 || cs[0].Confirmed != 1 || cs[0].Channels != 1 {
		t.Fatalf("connection stats %+v", cs)
	}
	closes := c.NotifyClose(make(chan *amqp.Error, 1))
	if n := b.CloseConnections("watch", "test over"); n != 1 {
		t.Fatalf("closed %d", n)
	}
	wantError(t, closed(t, closes), amqp.ConnectionForced, "CONNECTION_FORCED - test over")
}

func TestOptions(t *testing.T) {
	b := brokertest.New(t, brokertest.WithUser("alice", "secret", "prod"), brokertest.WithUser("bob", "pw"), brokertest.WithVHosts("prod", "dev"))
	if got, want := b.URL(), "rabbit://alice:secret@"+b.Addr()+"/prod"; got != want {
		t.Fatalf("URL %q, want %q", got, want)
	}
	if !strings.HasPrefix(b.AMQPURL(), "amqp://alice:secret@127.0.0.1:") {
		t.Fatalf("AMQPURL %q", b.AMQPURL())
	}
	c, err := amqp.Dial(b.AMQPURL())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	_, err = amqp.Dial("amqp://alice:secret@" + b.Addr() + "/dev")
	wantError(t, err, amqp.NotAllowed, "NOT_ALLOWED - access to vhost 'dev' refused for user 'alice'")
	c, err = amqp.Dial("amqp://bob:pw@" + b.Addr() + "/dev")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	_, err = amqp.Dial("amqp://bob:pw@" + b.Addr() + "/")
	wantError(t, err, amqp.NotAllowed, "NOT_ALLOWED - vhost / not found")

	if _, err := broker.Start(context.Background(), broker.Options{Users: []broker.User{{Name: "x", VHosts: []string{"nope"}}}}); err == nil {
		t.Fatal("a user with an unknown vhost was accepted")
	}
	if _, err := broker.Start(context.Background(), broker.Options{Addr: "256.0.0.1:1"}); err == nil {
		t.Fatal("a bad address was accepted")
	}
}

func TestStartIsFastAndReady(t *testing.T) {
	start := time.Now()
	b, err := broker.Start(context.Background(), broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c, err := amqp.Dial(b.AMQPURL())
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	c.Close()
	t.Logf("Start to first open connection: %v", el)
	if el > time.Second {
		t.Fatalf("took %v", el)
	}
}
