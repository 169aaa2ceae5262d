package broker_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/fake/internal/amqp091"
)

// rawConn is a hand-driven AMQP 0-9-1 client for tests that must send what
// no well-behaved client would.
type rawConn struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
	r  *amqp091.Reader
	bw *bufio.Writer
	w  *amqp091.Writer
}

// rawTimeout bounds every wait of a raw client.
const rawTimeout = 5 * time.Second

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, rawTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	br := bufio.NewReader(c)
	bw := bufio.NewWriter(c)
	return &rawConn{t: t, c: c, br: br, r: amqp091.NewReader(br, 0), bw: bw, w: amqp091.NewWriter(bw, 0)}
}

// sendBytes writes b as it is.
func (rc *rawConn) sendBytes(b []byte) {
	rc.t.Helper()
	rc.c.SetWriteDeadline(time.Now().Add(rawTimeout))
	if _, err := rc.bw.Write(b); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
	// A peer that has already closed is fine: the outcome is read next.
	_ = rc.bw.Flush()
}

// send writes a method frame.
func (rc *rawConn) send(ch uint16, m amqp091.Method) {
	rc.t.Helper()
	if err := rc.w.WriteMethod(ch, m); err != nil {
		rc.t.Fatalf("encode %s: %v", m.Name(), err)
	}
	_ = rc.w.Flush()
}

// frame builds a raw frame.
func frame(typ uint8, ch uint16, payload []byte) []byte {
	b := []byte{typ, byte(ch >> 8), byte(ch)}
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	b = append(b, payload...)
	return append(b, amqp091.FrameEnd)
}

// methodPayload encodes m's payload.
func methodPayload(m amqp091.Method) []byte {
	b, err := m.MarshalBinary()
	if err != nil {
		panic(err)
	}
	return b
}

// next reads the next frame, skipping heartbeats, within rawTimeout.
func (rc *rawConn) next() (amqp091.Frame, amqp091.Method, error) {
	rc.c.SetReadDeadline(time.Now().Add(rawTimeout))
	for {
		f, err := rc.r.ReadFrame()
		if err != nil {
			return f, nil, err
		}
		if f.Type == amqp091.FrameHeartbeat {
			continue
		}
		if f.Type != amqp091.FrameMethod {
			return f, nil, nil
		}
		m, err := amqp091.DecodeMethod(f.Payload)
		return f, m, err
	}
}

// expect reads the next method and fails unless it has m's type.
func expect[M amqp091.Method](rc *rawConn) M {
	rc.t.Helper()
	var zero M
	_, m, err := rc.next()
	if err != nil {
		rc.t.Fatalf("waiting for %T: %v", zero, err)
	}
	got, ok := m.(M)
	if !ok {
		rc.t.Fatalf("got %s (%+v), want %T", m.Name(), m, zero)
	}
	return got
}

// clientProps are the client properties the raw client announces.
func clientProps(name string) amqp091.Table {
	return amqp091.Table{
		"product": "rawclient",
		"capabilities": amqp091.Table{
			"authentication_failure_close": true,
			"consumer_cancel_notify":       true,
			"connection.blocked":           true,
			"publisher_confirms":           true,
			"basic.nack":                   true,
		},
		"connection_name": name,
	}
}

// plain is a SASL PLAIN response.
func plain(user, pass string) string { return "\x00" + user + "\x00" + pass }

// startOK sends the protocol header, reads connection.start and answers it.
func (rc *rawConn) startOK(user, pass string) *amqp091.ConnectionStart {
	rc.t.Helper()
	rc.sendBytes([]byte(amqp091.ProtocolHeader))
	s := expect[*amqp091.ConnectionStart](rc)
	rc.send(0, &amqp091.ConnectionStartOk{ClientProperties: clientProps("raw"), Mechanism: "PLAIN", Response: plain(user, pass), Locale: "en_US"})
	return s
}

// handshake opens the connection as guest on vhost "/" with the server's
// limits and no heartbeats, and opens channel 1.
func (rc *rawConn) handshake() *amqp091.ConnectionTune {
	rc.t.Helper()
	rc.startOK("guest", "guest")
	tune := expect[*amqp091.ConnectionTune](rc)
	rc.send(0, &amqp091.ConnectionTuneOk{ChannelMax: tune.ChannelMax, FrameMax: tune.FrameMax, Heartbeat: 0})
	rc.r.SetMaxFrame(tune.FrameMax)
	rc.w.SetMaxFrame(tune.FrameMax)
	rc.send(0, &amqp091.ConnectionOpen{VirtualHost: "/"})
	expect[*amqp091.ConnectionOpenOk](rc)
	rc.send(1, &amqp091.ChannelOpen{})
	expect[*amqp091.ChannelOpenOk](rc)
	return tune
}

// outcome is how the server reacted to something a test sent.
type outcome struct {
	Scope string // "connection", "channel", "eof" (closed without a close method), "header" (sent its protocol header), "none"
	Code  uint16
	Text  string
}

func (o outcome) String() string {
	if o.Code != 0 {
		return fmt.Sprintf("%s %d %s", o.Scope, o.Code, o.Text)
	}
	return o.Scope
}

// outcome reads until the server closes the connection or a channel, or
// rawTimeout passes with no close ("none"). Other frames are skipped. A
// connection.close is answered with close-ok and followed by a check that
// the socket then closes.
func (rc *rawConn) outcome() outcome {
	rc.t.Helper()
	deadline := time.Now().Add(rawTimeout)
	for i := 0; i < 10000 && time.Now().Before(deadline); i++ {
		rc.c.SetReadDeadline(deadline)
		if p, err := rc.br.Peek(8); err == nil && string(p[:4]) == "AMQP" {
			rc.br.Discard(8)
			return outcome{Scope: "header", Text: fmt.Sprintf("%q", p)}
		}
		f, err := rc.r.ReadFrame()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return outcome{Scope: "none"}
			}
			return outcome{Scope: "eof"}
		}
		if f.Type != amqp091.FrameMethod {
			continue
		}
		m, err := amqp091.DecodeMethod(f.Payload)
		if err != nil {
			rc.t.Fatalf("server sent an undecodable method: %v", err)
		}
		switch m := m.(type) {
		case *amqp091.ConnectionClose:
			rc.send(0, &amqp091.ConnectionCloseOk{})
			rc.c.SetReadDeadline(time.Now().Add(rawTimeout))
			if _, err := io.Copy(io.Discard, rc.br); err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					rc.t.Errorf("after connection.close-ok the server did not close the socket: %v", err)
				}
			}
			return outcome{Scope: "connection", Code: m.ReplyCode, Text: m.ReplyText}
		case *amqp091.ChannelClose:
			rc.send(f.Channel, &amqp091.ChannelCloseOk{})
			return outcome{Scope: "channel", Code: m.ReplyCode, Text: m.ReplyText}
		}
	}
	return outcome{Scope: "none"}
}
