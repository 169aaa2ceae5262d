package broker_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/switchyard-dev/switchyard/fake/internal/amqp091"
)

func TestProtocolConnection(t *testing.T) { runSuite(t, connectionCases) }

var connectionCases = []protocolCase{
	{"server properties", func(t *testing.T, e *env) {
		c := e.dial()
		if c.Properties["product"] != "RabbitMQ" {
			t.Errorf("product = %v", c.Properties["product"])
		}
		caps, _ := c.Properties["capabilities"].(amqp.Table)
		for _, k := range []string{"publisher_confirms", "exchange_exchange_bindings", "basic.nack", "consumer_cancel_notify", "connection.blocked", "authentication_failure_close", "per_consumer_qos"} {
			if caps[k] != true {
				t.Errorf("capability %s = %v", k, caps[k])
			}
		}
	}},
	{"wrong password is 403 ACCESS_REFUSED", func(t *testing.T, e *env) {
		u, _ := amqp.ParseURI(e.url)
		u.Password = "wrong"
		_, err := amqp.Dial(u.String())
		// amqp091-go does not announce authentication_failure_close, so the
		// broker drops the socket and the client reports its own 403.
		wantError(t, err, amqp.AccessRefused, "")
	}},
	{"wrong password with AMQPLAIN", func(t *testing.T, e *env) {
		_, err := amqp.DialConfig(e.url, amqp.Config{SASL: []amqp.Authentication{&amqp.AMQPlainAuth{Username: "guest", Password: "nope"}}})
		wantError(t, err, amqp.AccessRefused, "")
	}},
	{"AMQPLAIN login", func(t *testing.T, e *env) {
		c, err := amqp.DialConfig(e.url, amqp.Config{SASL: []amqp.Authentication{&amqp.AMQPlainAuth{Username: "guest", Password: "guest"}}})
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}},
	{"wrong password with authentication_failure_close", func(t *testing.T, e *env) {
		rc := dialRaw(t, e.addr)
		rc.startOK("guest", "wrong")
		got := rc.outcome()
		if got.Scope != "connection" || got.Code != 403 || got.Text != "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile." {
			t.Fatalf("got %v", got)
		}
	}},
	{"unknown vhost is 530 NOT_ALLOWED", func(t *testing.T, e *env) {
		_, err := amqp.DialConfig(e.url, amqp.Config{Vhost: "no-such-vhost"})
		wantError(t, err, amqp.NotAllowed, "NOT_ALLOWED - vhost no-such-vhost not found")
	}},
	{"heartbeats keep an idle connection open", func(t *testing.T, e *env) {
		c := e.dialConfig(amqp.Config{Heartbeat: time.Second})
		closes := c.NotifyClose(make(chan *amqp.Error, 1))
		// Idle for three heartbeat intervals: both sides must heartbeat.
		select {
		case err := <-closes:
			t.Fatalf("connection closed while idle: %v", err)
		case <-time.After(3 * time.Second):
		}
		ch := e.channel(c)
		if _, err := ch.QueueDeclare("", false, true, true, false, nil); err != nil {
			t.Fatal(err)
		}
	}},
	{"missed client heartbeats close the connection", func(t *testing.T, e *env) {
		rc := dialRaw(t, e.addr)
		rc.startOK("guest", "guest")
		tune := expect[*amqp091.ConnectionTune](rc)
		rc.send(0, &amqp091.ConnectionTuneOk{ChannelMax: tune.ChannelMax, FrameMax: tune.FrameMax, Heartbeat: 1})
		rc.send(0, &amqp091.ConnectionOpen{VirtualHost: "/"})
		expect[*amqp091.ConnectionOpenOk](rc)
		start := time.Now()
		heartbeats := 0
		rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		for i := 0; i < 100; i++ {
			f, err := rc.r.ReadFrame()
			if err != nil {
				break
			}
			if f.Type == amqp091.FrameHeartbeat {
				heartbeats++
			}
		}
		el := time.Since(start)
		if el < 1500*time.Millisecond || el > 6*time.Second {
			t.Errorf("closed after %v, want about two heartbeat intervals (2 s)", el)
		}
		if heartbeats == 0 {
			t.Error("the server sent no heartbeat")
		}
	}},
	{"frame_max splits large bodies", func(t *testing.T, e *env) {
		c := e.dialConfig(amqp.Config{FrameSize: 4096})
		ch := e.channel(c)
		q := e.queue(ch, "big", nil)
		body := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
		publish(t, ch, "", q, amqp.Publishing{Body: body})
		d := get(t, ch, q, true)
		if !bytes.Equal(d.Body, body) {
			t.Fatalf("got %d bytes back, want %d", len(d.Body), len(body))
		}
	}},
	{"channel_max counts open channels", func(t *testing.T, e *env) {
		rc := dialRaw(t, e.addr)
		rc.startOK("guest", "guest")
		tune := expect[*amqp091.ConnectionTune](rc)
		rc.send(0, &amqp091.ConnectionTuneOk{ChannelMax: 2, FrameMax: tune.FrameMax})
		rc.send(0, &amqp091.ConnectionOpen{VirtualHost: "/"})
		expect[*amqp091.ConnectionOpenOk](rc)
		rc.send(10, &amqp091.ChannelOpen{})
		expect[*amqp091.ChannelOpenOk](rc)
		rc.send(20, &amqp091.ChannelOpen{})
		expect[*amqp091.ChannelOpenOk](rc)
		rc.send(30, &amqp091.ChannelOpen{})
		got := rc.outcome()
		if got.Scope != "connection" || got.Code != 530 || got.Text != "NOT_ALLOWED - number of channels opened (2) has reached the negotiated channel_max (2)" {
			t.Fatalf("got %v", got)
		}
	}},
	{"wrong protocol header gets the server's header", func(t *testing.T, e *env) {
		c, err := net.DialTimeout("tcp", e.addr, waitTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(waitTimeout))
		c.Write([]byte("AMQP\x00\x00\x08\x00"))
		got, err := io.ReadAll(c)
		if err != nil && !isReset(err) {
			t.Fatal(err)
		}
		if string(got) != amqp091.ProtocolHeader {
			t.Fatalf("got %q, want %q then close", got, amqp091.ProtocolHeader)
		}
	}},
	{"client close returns close-ok", func(t *testing.T, e *env) {
		c := e.dial()
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}},
	{"update-secret", func(t *testing.T, e *env) {
		c := e.dial()
		if err := c.UpdateSecret("guest", "rotation"); err != nil {
			t.Fatal(err)
		}
	}},
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && strings.Contains(err.Error(), "reset")
}
