package broker_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/switchyard-dev/switchyard/fake/internal/amqp091"
	"github.com/switchyard-dev/switchyard/internal/realbroker"
)

// hostileCase is raw input a client should never send, and how the broker
// must react.
type hostileCase struct {
	name string
	open bool // run after a full handshake (channel 1 open)
	send func(rc *rawConn)
	want outcome
	// rabbit is RabbitMQ 3.10's outcome where it differs from want; the
	// case is then checked against RabbitMQ for that outcome. "skip" means
	// RabbitMQ's reaction is not worth pinning (it ignores the input).
	rabbit string
}

// contentHeader builds a content header payload.
func contentHeader(class uint16, size uint64) []byte {
	b := binary.BigEndian.AppendUint16(nil, class)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint64(b, size)
	return binary.BigEndian.AppendUint16(b, 0)
}

func closeWrite(rc *rawConn) {
	if cw, ok := rc.c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

func conn(code uint16) outcome { return outcome{Scope: "connection", Code: code} }

var (
	publishPayload = methodPayload(&amqp091.BasicPublish{RoutingKey: "nowhere"})
	eof            = outcome{Scope: "eof"}
	header         = outcome{Scope: "header"}
)

var hostileCases = []hostileCase{
	{name: "garbage instead of a protocol header", send: func(rc *rawConn) { rc.sendBytes([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")) }, want: header},
	{name: "AMQP 0-8 protocol header", send: func(rc *rawConn) { rc.sendBytes([]byte("AMQP\x01\x01\x08\x00")) }, want: header, rabbit: "skip"},
	{name: "AMQP 1.0 protocol header", send: func(rc *rawConn) { rc.sendBytes([]byte("AMQP\x03\x01\x00\x00")) }, want: header},
	{name: "short protocol header then end of input", send: func(rc *rawConn) { rc.sendBytes([]byte("AMQ")); closeWrite(rc) }, want: eof},
	{name: "wrong credentials", send: func(rc *rawConn) { rc.startOK("guest", "not-the-password") }, want: conn(403)},
	{name: "unknown SASL mechanism", send: func(rc *rawConn) {
		rc.sendBytes([]byte(amqp091.ProtocolHeader))
		expect[*amqp091.ConnectionStart](rc)
		rc.send(0, &amqp091.ConnectionStartOk{ClientProperties: clientProps("raw"), Mechanism: "CRAM-MD5", Response: "x", Locale: "en_US"})
	}, want: eof},
	{name: "oversized start-ok before tuning", send: func(rc *rawConn) {
		rc.sendBytes([]byte(amqp091.ProtocolHeader))
		expect[*amqp091.ConnectionStart](rc)
		props := clientProps("raw")
		props["padding"] = strings.Repeat("x", 300000)
		rc.send(0, &amqp091.ConnectionStartOk{ClientProperties: props, Mechanism: "PLAIN", Response: plain("guest", "guest"), Locale: "en_US"})
	}, want: eof},
	{name: "connection.open before tune-ok", send: func(rc *rawConn) {
		rc.startOK("guest", "guest")
		expect[*amqp091.ConnectionTune](rc)
		rc.send(0, &amqp091.ConnectionOpen{VirtualHost: "/"})
	}, want: eof},
	{name: "tune-ok frame_max below the minimum", send: func(rc *rawConn) { tuneOK(rc, 10, 100) }, want: eof},
	{name: "tune-ok frame_max above the server's", send: func(rc *rawConn) { tuneOK(rc, 10, 1<<30) }, want: eof},
	{name: "tune-ok channel_max above the server's", send: func(rc *rawConn) { tuneOK(rc, 60000, 4096) }, want: eof},
	{name: "unknown vhost", send: func(rc *rawConn) {
		rc.startOK("guest", "guest")
		tune := expect[*amqp091.ConnectionTune](rc)
		rc.send(0, &amqp091.ConnectionTuneOk{ChannelMax: tune.ChannelMax, FrameMax: tune.FrameMax})
		rc.send(0, &amqp091.ConnectionOpen{VirtualHost: "nope"})
	}, want: conn(530)},
	{name: "truncated frame then end of input", open: true, send: func(rc *rawConn) { rc.sendBytes(frame(1, 1, publishPayload)[:6]); closeWrite(rc) }, want: eof},
	{name: "frame larger than frame_max", open: true, send: func(rc *rawConn) { rc.sendBytes(frame(3, 1, make([]byte, 200000))) }, want: conn(501)},
	{name: "frame claiming 4 GiB", open: true, send: func(rc *rawConn) { rc.sendBytes([]byte{3, 0, 1, 0xff, 0xff, 0xff, 0xf0, 1, 2, 3}) }, want: conn(501)},
	{name: "bad frame-end octet", open: true, send: func(rc *rawConn) {
		b := frame(1, 1, methodPayload(&amqp091.BasicQos{PrefetchCount: 1}))
		b[len(b)-1] = 0
		rc.sendBytes(b)
	}, want: conn(501)},
	{name: "unknown frame type", open: true, send: func(rc *rawConn) { rc.sendBytes(frame(9, 1, []byte{1, 2})) }, want: conn(501)},
	{name: "method on an unopened channel", open: true, send: func(rc *rawConn) { rc.send(5, &amqp091.QueueDeclare{Queue: "x", AutoDelete: true}) }, want: conn(504)},
	{name: "second channel.open", open: true, send: func(rc *rawConn) { rc.send(1, &amqp091.ChannelOpen{}) }, want: conn(504)},
	{name: "channel.open on channel 0", open: true, send: func(rc *rawConn) { rc.send(0, &amqp091.ChannelOpen{}) }, want: conn(504)},
	{name: "queue.declare on channel 0", open: true, send: func(rc *rawConn) { rc.send(0, &amqp091.QueueDeclare{Queue: "x"}) }, want: conn(504)},
	{name: "connection method on channel 1", open: true, send: func(rc *rawConn) { rc.send(1, &amqp091.ConnectionOpen{VirtualHost: "/"}) }, want: conn(503)},
	{name: "second connection.open", open: true, send: func(rc *rawConn) { rc.send(0, &amqp091.ConnectionOpen{VirtualHost: "/"}) }, want: conn(504)},
	{name: "content header without a method", open: true, send: func(rc *rawConn) { rc.sendBytes(frame(2, 1, contentHeader(60, 3))) }, want: conn(505)},
	{name: "body frame without a method", open: true, send: func(rc *rawConn) { rc.sendBytes(frame(3, 1, []byte("abc"))) }, want: conn(505)},
	{name: "method where a content header is due", open: true, send: func(rc *rawConn) {
		rc.sendBytes(frame(1, 1, publishPayload))
		rc.sendBytes(frame(1, 1, publishPayload))
	}, want: conn(505)},
	{name: "body longer than declared", open: true, send: func(rc *rawConn) {
		rc.sendBytes(frame(1, 1, publishPayload))
		rc.sendBytes(frame(2, 1, contentHeader(60, 3)))
		rc.sendBytes(frame(3, 1, []byte("abcdef")))
	}, want: conn(505), rabbit: "skip"},
	{name: "content header of another class", open: true, send: func(rc *rawConn) {
		rc.sendBytes(frame(1, 1, publishPayload))
		rc.sendBytes(frame(2, 1, contentHeader(50, 3)))
	}, want: conn(505)},
	{name: "content header with non-zero weight", open: true, send: func(rc *rawConn) {
		h := contentHeader(60, 0)
		h[3] = 1
		rc.sendBytes(frame(1, 1, publishPayload))
		rc.sendBytes(frame(2, 1, h))
	}, want: conn(505)},
	{name: "content header claiming 1 TiB", open: true, send: func(rc *rawConn) {
		rc.sendBytes(frame(1, 1, publishPayload))
		rc.sendBytes(frame(2, 1, contentHeader(60, 1<<40)))
	}, want: outcome{Scope: "channel", Code: 406}, rabbit: "skip"},
	{name: "truncated content header", open: true, send: func(rc *rawConn) {
		rc.sendBytes(frame(1, 1, publishPayload))
		rc.sendBytes(frame(2, 1, contentHeader(60, 3)[:7]))
	}, want: conn(501)},
	{name: "content header with a continuation flag", open: true, send: func(rc *rawConn) {
		h := contentHeader(60, 0)
		h[len(h)-1] = 1
		rc.sendBytes(frame(1, 1, publishPayload))
		rc.sendBytes(frame(2, 1, h))
	}, want: conn(502), rabbit: "skip"},
	{name: "unknown class", open: true, send: func(rc *rawConn) { rc.sendBytes(frame(1, 1, []byte{0, 99, 0, 10})) }, want: conn(540), rabbit: "eof"},
	{name: "unknown method", open: true, send: func(rc *rawConn) { rc.sendBytes(frame(1, 1, []byte{0, 60, 0, 99})) }, want: conn(503), rabbit: "eof"},
	{name: "method payload too short for its ids", open: true, send: func(rc *rawConn) { rc.sendBytes(frame(1, 1, []byte{0, 60})) }, want: conn(501)},
	{name: "short-string length beyond the payload", open: true, send: func(rc *rawConn) {
		rc.sendBytes(frame(1, 1, []byte{0, 50, 0, 10, 0, 0, 200, 'a', 'b'}))
	}, want: conn(501)},
	{name: "trailing bytes after the arguments", open: true, send: func(rc *rawConn) {
		rc.sendBytes(frame(1, 1, append(methodPayload(&amqp091.BasicQos{PrefetchCount: 1}), 1, 2, 3)))
	}, want: conn(501)},
	{name: "unknown field-table value type", open: true, send: func(rc *rawConn) {
		p := methodPayload(&amqp091.QueueDeclare{Queue: "zz", AutoDelete: true, Arguments: amqp091.Table{"a": "b"}})
		i := bytes.LastIndexByte(p, 'S')
		p[i] = 'Z'
		rc.sendBytes(frame(1, 1, p))
	}, want: conn(502), rabbit: "eof"},
	{name: "invalid UTF-8 in a short string", open: true, send: func(rc *rawConn) { rc.send(1, &amqp091.QueueDeclare{Queue: "a\xff\xfe", AutoDelete: true}) }, want: conn(501)},
	{name: "heartbeat on a non-zero channel", open: true, send: func(rc *rawConn) { rc.sendBytes(frame(8, 1, nil)) }, want: conn(505)},
	{name: "heartbeat with a payload", open: true, send: func(rc *rawConn) { rc.sendBytes(frame(8, 0, []byte{1})) }, want: conn(501)},
	{name: "unsolicited channel.close-ok", open: true, send: func(rc *rawConn) { rc.send(1, &amqp091.ChannelCloseOk{}) }, want: conn(503)},
	{name: "server-only method from the client", open: true, send: func(rc *rawConn) { rc.send(1, &amqp091.BasicDeliver{ConsumerTag: "x"}) }, want: conn(503), rabbit: "skip"},
	{name: "method on a channel the client closed", open: true, send: func(rc *rawConn) {
		rc.send(1, &amqp091.ChannelClose{ReplyCode: 200})
		expect[*amqp091.ChannelCloseOk](rc)
		rc.send(1, &amqp091.BasicQos{})
	}, want: conn(504)},
	{name: "publish on a channel the server is closing", open: true, send: func(rc *rawConn) {
		rc.send(1, &amqp091.QueueDeclare{Queue: "amq.reserved"})
		rc.sendBytes(frame(1, 1, publishPayload))
		rc.sendBytes(frame(2, 1, contentHeader(60, 3)))
		rc.sendBytes(frame(3, 1, []byte("abc")))
		rc.send(1, &amqp091.QueueDeclare{Queue: "amq.reserved-too"})
	}, want: outcome{Scope: "channel", Code: 403}},
	{name: "too many channels", send: func(rc *rawConn) {
		rc.startOK("guest", "guest")
		tune := expect[*amqp091.ConnectionTune](rc)
		rc.send(0, &amqp091.ConnectionTuneOk{ChannelMax: 1, FrameMax: tune.FrameMax})
		rc.send(0, &amqp091.ConnectionOpen{VirtualHost: "/"})
		expect[*amqp091.ConnectionOpenOk](rc)
		rc.send(1, &amqp091.ChannelOpen{})
		expect[*amqp091.ChannelOpenOk](rc)
		rc.send(2, &amqp091.ChannelOpen{})
	}, want: conn(530)},
}

// tuneOK answers connection.tune with the given limits and opens "/".
func tuneOK(rc *rawConn, channelMax uint16, frameMax uint32) {
	rc.startOK("guest", "guest")
	expect[*amqp091.ConnectionTune](rc)
	rc.send(0, &amqp091.ConnectionTuneOk{ChannelMax: channelMax, FrameMax: frameMax})
	rc.send(0, &amqp091.ConnectionOpen{VirtualHost: "/"})
}

func (o outcome) matches(want outcome) bool { return o.Scope == want.Scope && o.Code == want.Code }

// TestHostileInput sends each hostile case to the fake broker while another
// client keeps working, and checks the reaction. The same table runs
// against RabbitMQ, where its reaction is pinned.
func TestHostileInput(t *testing.T) {
	if n := len(hostileCases); n < 20 {
		t.Fatalf("only %d hostile cases", n)
	}
	t.Run("fake", func(t *testing.T) {
		e := newEnv(t, "fake", "")
		// A well-behaved client that must keep working throughout.
		_, ch := e.open()
		q := e.queue(ch, "bystander", nil)
		confirmChannel(t, ch)
		for i, tc := range hostileCases {
			t.Run(tc.name, func(t *testing.T) {
				rc := dialRaw(t, e.addr)
				if tc.open {
					rc.handshake()
				}
				tc.send(rc)
				got := rc.outcome()
				if !got.matches(tc.want) {
					t.Errorf("got %v, want %v", got, tc.want)
				}
				if got.Scope == "connection" && !strings.HasPrefix(got.Text, amqp091.ReplyCodeName(got.Code)+" - ") {
					t.Errorf("reply text %q does not start with the code's name", got.Text)
				}
				rc.c.Close()
				body := fmt.Sprint("still serving ", i)
				if !publishConfirmed(t, ch, "", q, false, text(body)) {
					t.Fatal("bystander publish nacked")
				}
				if d := get(t, ch, q, true); string(d.Body) != body {
					t.Fatalf("bystander got %q", d.Body)
				}
			})
		}
		eventually(t, "the hostile connections to be gone", func() bool { return len(e.fake.Connections()) == 1 })
		st, _ := e.fake.Queue("/", q)
		if st.Consumers != 0 || st.Ready != 0 {
			t.Errorf("bystander queue %+v", st)
		}
	})
	t.Run("rabbitmq", func(t *testing.T) {
		url := amqpURL(realbroker.RabbitURL(t))
		u, err := amqp.ParseURI(url)
		if err != nil {
			t.Fatal(err)
		}
		addr := fmt.Sprintf("%s:%d", u.Host, u.Port)
		for _, tc := range hostileCases {
			t.Run(tc.name, func(t *testing.T) {
				want := tc.want
				switch tc.rabbit {
				case "skip":
					t.Skip("RabbitMQ ignores this input; the fake rejects it")
				case "eof":
					want = eof
				}
				rc := dialRaw(t, addr)
				if tc.open {
					rc.handshake()
				}
				tc.send(rc)
				if got := rc.outcome(); !got.matches(want) {
					t.Errorf("RabbitMQ: got %v, want %v", got, want)
				}
			})
		}
	})
}
