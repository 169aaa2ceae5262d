package broker

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/switchyard-dev/switchyard/fake/fault"
	"github.com/switchyard-dev/switchyard/fake/internal/amqp091"
)

// confirmLinger is how long confirms may wait for more publishes to
// share their basic.ack when several are outstanding on a connection
// that has gone quiet; a lone confirm (a publisher waiting for it) goes at
// once.
const confirmLinger = time.Millisecond

// maxConfirmBatch bounds how many frames the reader handles before it
// sends the confirms they produced, when input never pauses.
const maxConfirmBatch = 512

// Output flow control: a connection whose writer has more than highWater
// bytes of deliveries waiting gets no more until it is below lowWater.
const (
	highWater = 1 << 20
	lowWater  = 256 << 10
)

// outKind says how the writer encodes an outFrame.
type outKind uint8

const (
	outMethod    outKind = iota // m
	outContent                  // m, then msg's header and body
	outDeliver                  // deliver, then msg's header and body
	outAck                      // ack
	outHeartbeat                // a heartbeat frame
)

// outFrame is one unit of output waiting for the writer.
type outFrame struct {
	kind    outKind
	ch      uint16
	m       amqp091.Method
	msg     *message
	deliver amqp091.BasicDeliver
	ack     amqp091.BasicAck
}

// conn is one client connection. Its reader goroutine (serve) reads and
// handles frames; its writer goroutine (writeLoop) encodes and sends what
// anyone queues with the send methods, flushing whenever it runs out of
// work.
type conn struct {
	b  *Broker
	nc net.Conn
	br *bufio.Reader
	rd *amqp091.Reader
	bw *bufio.Writer
	wr *amqp091.Writer

	// Set during the handshake, read-only afterwards.
	name          string  // RabbitMQ-style "client -> server"
	clientName    string  // the client's connection_name property
	publisherName *string // clientName, shared by the messages it publishes
	user          string
	vh            *vhost
	clientProps   amqp091.Table
	capBlocked    bool // client understands connection.blocked
	capCancel     bool // client understands server-sent basic.cancel
	heartbeat     time.Duration
	frameMax      uint32
	channelMax    uint16
	openedAt      time.Time
	open          bool // handshake completed; guarded by b.mu

	// Guarded by b.mu.
	channels    map[uint16]*channel
	exclusiveQs []*queue
	closing     bool
	closingCh   chan struct{}
	blockedCh   chan struct{} // non-nil while blocked by a fault
	dirty       []*channel    // channels with confirms to send
	reason      string
	cleaned     bool
	stats       ConnectionStats

	// Output.
	outMu         sync.Mutex
	out, spare    []outFrame
	outBytes      atomic.Int64
	wasCongested  atomic.Bool
	wake          chan struct{}
	quit          chan struct{}
	writerDone    chan struct{}
	writerStarted bool
	writeFailed   bool // writer only
	confirmAt     atomic.Int64
	hasDirty      atomic.Bool
	lastRecv      atomic.Int64
	lastSend      atomic.Int64
	readBlocked   atomic.Bool

	done chan struct{} // closed when the connection is gone
}

// connBufferSize is the size of each connection's read and write buffers:
// enough for a burst of small frames, small enough that thousands of idle
// connections stay cheap. Larger frames pass through in several reads or
// writes.
const connBufferSize = 16 << 10

func newConn(b *Broker, nc net.Conn) *conn {
	c := &conn{
		b:         b,
		nc:        nc,
		br:        bufio.NewReaderSize(nc, connBufferSize),
		bw:        bufio.NewWriterSize(nc, connBufferSize),
		name:      nc.RemoteAddr().String() + " -> " + nc.LocalAddr().String(),
		channels:  map[uint16]*channel{},
		closingCh: make(chan struct{}),
		wake:      make(chan struct{}, 1),
		quit:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	c.rd = amqp091.NewReader(c.br, b.opts.FrameMax)
	c.wr = amqp091.NewWriter(c.bw, amqp091.FrameMinSize)
	return c
}

// displayName is the client's connection_name, or the address pair.
func (c *conn) displayName() string {
	if c.clientName != "" {
		return c.clientName
	}
	return c.name
}

// point is where a fault check for this connection applies.
func (c *conn) point(queue string) fault.Point {
	p := fault.Point{Queue: queue, Connection: c.clientName}
	if c.vh != nil {
		p.VHost = c.vh.name
	}
	return p
}

// serve runs the connection from handshake to close.
func (c *conn) serve() {
	defer c.finish()
	c.nc.SetDeadline(time.Now().Add(c.b.opts.HandshakeTimeout))
	if !c.handshake() {
		return
	}
	c.nc.SetDeadline(time.Time{})
	now := time.Now()
	c.lastRecv.Store(now.UnixNano())
	c.lastSend.Store(now.UnixNano())
	c.rd.SetMaxFrame(c.frameMax)
	c.wr.SetMaxFrame(c.frameMax)
	c.b.mu.Lock()
	if c.closing {
		c.b.mu.Unlock()
		return
	}
	c.open = true
	c.openedAt = now
	c.writerStarted = true
	c.writerDone = make(chan struct{})
	c.b.wg.Add(1)
	go func() {
		defer c.b.wg.Done()
		c.writeLoop()
	}()
	c.b.connOpened(c)
	c.sendMethod(0, &amqp091.ConnectionOpenOk{})
	c.b.mu.Unlock()
	c.readLoop()
}

// finish releases everything the connection holds. It runs on the reader
// goroutine when serve ends.
func (c *conn) finish() {
	b := c.b
	b.mu.Lock()
	c.cleanup()
	delete(b.conns, c)
	started := c.writerStarted
	b.mu.Unlock()
	if started {
		// Let the writer send what is queued (such as a close), but not
		// wait forever on a client that does not read.
		c.nc.SetWriteDeadline(time.Now().Add(closeTimeout))
		close(c.quit)
		<-c.writerDone
	}
	c.nc.Close()
	close(c.done)
	b.wg.Done()
}

// setReason records why the connection ends, keeping the first reason.
// Callers hold b.mu.
func (c *conn) setReason(r string) {
	if c.reason == "" {
		c.reason = r
	}
}

// handshakeFailed records why the handshake failed. Other goroutines may
// set a reason at the same time, so it takes the lock.
func (c *conn) handshakeFailed(r string) {
	c.b.mu.Lock()
	c.setReason(r)
	c.b.mu.Unlock()
}

// cleanup releases the connection's channels and exclusive queues. Callers
// hold b.mu.
func (c *conn) cleanup() {
	if c.cleaned {
		return
	}
	c.cleaned = true
	b := c.b
	now := time.Now()
	for _, ch := range c.channels {
		b.releaseChannel(ch, now)
	}
	clear(c.channels)
	for _, q := range c.exclusiveQs {
		b.deleteQueue(q, "exclusive owner connection closed")
	}
	c.exclusiveQs = nil
	if c.open {
		reason := c.reason
		if reason == "" {
			reason = "connection closed"
		}
		b.emit(Event{Type: EventConnectionClosed, VHost: c.vh.name, Connection: c.displayName(), Reason: reason})
	}
}

// handshake runs the protocol header, start, tune and open exchange,
// writing directly since the writer goroutine is not running yet. It
// reports whether the connection is open.
func (c *conn) handshake() bool {
	b := c.b
	var hdr [8]byte
	if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
		c.handshakeFailed("no protocol header: " + err.Error())
		return false
	}
	if err := amqp091.CheckProtocolHeader(hdr[:]); err != nil {
		c.handshakeFailed(fmt.Sprintf("bad protocol header %q", hdr[:]))
		c.bw.WriteString(amqp091.ProtocolHeader)
		c.bw.Flush()
		return false
	}
	start := &amqp091.ConnectionStart{
		VersionMajor:     amqp091.VersionMajor,
		VersionMinor:     amqp091.VersionMinor,
		ServerProperties: serverProperties(),
		Mechanisms:       "PLAIN AMQPLAIN",
		Locales:          "en_US",
	}
	if !c.writeNow(0, start) {
		return false
	}
	m, ok := c.readHandshakeMethod()
	if !ok {
		return false
	}
	so, ok := m.(*amqp091.ConnectionStartOk)
	if !ok {
		c.handshakeFailed("expected connection.start-ok, got " + m.Name())
		return false
	}
	c.clientProps = so.ClientProperties
	c.clientName, _ = so.ClientProperties["connection_name"].(string)
	c.publisherName = new(c.clientName)
	b.mu.Lock()
	b.attempts[c.clientName]++
	b.mu.Unlock()
	caps, _ := so.ClientProperties["capabilities"].(amqp091.Table)
	c.capBlocked, _ = caps["connection.blocked"].(bool)
	c.capCancel, _ = caps["consumer_cancel_notify"].(bool)
	authClose, _ := caps["authentication_failure_close"].(bool)
	user, pass, ok := parseSASL(so.Mechanism, so.Response)
	if !ok {
		c.handshakeFailed("unsupported or malformed authentication mechanism " + so.Mechanism)
		return false
	}
	if u := b.user(user); u == nil || u.Password != pass {
		reason := fmt.Sprintf("authentication failed for user '%s'", user)
		c.handshakeFailed(reason)
		b.mu.Lock()
		b.emit(Event{Type: EventConnectionRefused, Connection: c.displayName(), Reason: reason})
		b.mu.Unlock()
		if authClose {
			c.closeInHandshake(amqp091.AccessRefused, "ACCESS_REFUSED - Login was refused using authentication mechanism "+so.Mechanism+". For details see the broker logfile.")
		}
		return false
	}
	c.user = user
	hb := uint16(min(b.opts.Heartbeat/time.Second, 65535))
	if !c.writeNow(0, &amqp091.ConnectionTune{ChannelMax: b.opts.ChannelMax, FrameMax: b.opts.FrameMax, Heartbeat: hb}) {
		return false
	}
	m, ok = c.readHandshakeMethod()
	if !ok {
		return false
	}
	to, ok := m.(*amqp091.ConnectionTuneOk)
	if !ok {
		c.handshakeFailed("expected connection.tune-ok, got " + m.Name())
		return false
	}
	if r := negotiationProblem(to, b.opts); r != "" {
		c.handshakeFailed(r)
		return false
	}
	c.frameMax = to.FrameMax
	c.channelMax = to.ChannelMax
	c.heartbeat = time.Duration(to.Heartbeat) * time.Second
	c.rd.SetMaxFrame(c.frameMax)
	c.wr.SetMaxFrame(c.frameMax)
	m, ok = c.readHandshakeMethod()
	if !ok {
		return false
	}
	op, ok := m.(*amqp091.ConnectionOpen)
	if !ok {
		c.handshakeFailed("expected connection.open, got " + m.Name())
		return false
	}
	b.mu.Lock()
	vh := b.vhosts[op.VirtualHost]
	b.mu.Unlock()
	if vh == nil {
		c.handshakeFailed("vhost " + op.VirtualHost + " not found")
		c.closeInHandshake(amqp091.NotAllowed, "NOT_ALLOWED - vhost "+op.VirtualHost+" not found")
		return false
	}
	if !b.user(user).mayOpen(op.VirtualHost) {
		reason := fmt.Sprintf("access to vhost '%s' refused for user '%s'", op.VirtualHost, user)
		c.handshakeFailed(reason)
		c.closeInHandshake(amqp091.NotAllowed, "NOT_ALLOWED - "+reason)
		return false
	}
	c.vh = vh
	if _, ok := b.faults.Check(fault.RefuseConnections, c.point("")); ok {
		c.handshakeFailed("refused by fault injection")
		b.mu.Lock()
		b.emit(Event{Type: EventConnectionRefused, VHost: vh.name, Connection: c.displayName(), Reason: "refused by fault injection"})
		b.mu.Unlock()
		c.closeInHandshake(amqp091.ConnectionForced, "CONNECTION_FORCED - connection refused by fault injection")
		return false
	}
	// serve answers connection.open-ok once the connection is registered
	// as open, so that anything that acts on open connections (a fault,
	// ConnectionsServing) sees it by the time the client's open returns.
	return true
}

// negotiationProblem checks connection.tune-ok as RabbitMQ does, returning
// what is wrong or "".
func negotiationProblem(to *amqp091.ConnectionTuneOk, o Options) string {
	if to.FrameMax != 0 && to.FrameMax < amqp091.FrameMinSize {
		return fmt.Sprintf("negotiated frame_max = %d is lower than the minimum allowed value (%d)", to.FrameMax, amqp091.FrameMinSize)
	}
	if to.FrameMax == 0 || to.FrameMax > o.FrameMax {
		return fmt.Sprintf("negotiated frame_max = %d is higher than the maximum allowed value (%d)", to.FrameMax, o.FrameMax)
	}
	if to.ChannelMax == 0 || to.ChannelMax > o.ChannelMax {
		return fmt.Sprintf("negotiated channel_max = %d is higher than the maximum allowed value (%d)", to.ChannelMax, o.ChannelMax)
	}
	return ""
}

// serverProperties are what the broker announces in connection.start:
// RabbitMQ's product and capabilities, so clients treat it as RabbitMQ.
func serverProperties() amqp091.Table {
	return amqp091.Table{
		"product":      "RabbitMQ",
		"version":      "3.10.8",
		"platform":     "Switchyard fake broker (Go)",
		"cluster_name": "switchyard@localhost",
		"copyright":    "Switchyard authors",
		"information":  "Switchyard fake broker: an in-process AMQP 0-9-1 server for tests",
		"capabilities": amqp091.Table{
			"publisher_confirms":           true,
			"exchange_exchange_bindings":   true,
			"basic.nack":                   true,
			"consumer_cancel_notify":       true,
			"connection.blocked":           true,
			"authentication_failure_close": true,
			"per_consumer_qos":             true,
			"consumer_priorities":          false,
			"direct_reply_to":              false,
		},
	}
}

// parseSASL extracts the user name and password from a PLAIN or AMQPLAIN
// response.
func parseSASL(mech, resp string) (user, pass string, ok bool) {
	switch mech {
	case "PLAIN":
		// [authzid] NUL authcid NUL password
		parts := strings.Split(resp, "\x00")
		if len(parts) != 3 {
			return "", "", false
		}
		return parts[1], parts[2], true
	case "AMQPLAIN":
		// A field table without its length prefix.
		b := make([]byte, 4, 4+len(resp))
		b[0], b[1], b[2], b[3] = byte(len(resp)>>24), byte(len(resp)>>16), byte(len(resp)>>8), byte(len(resp))
		t, err := amqp091.DecodeTable(append(b, resp...))
		if err != nil {
			return "", "", false
		}
		user, ok1 := t["LOGIN"].(string)
		pass, ok2 := t["PASSWORD"].(string)
		return user, pass, ok1 && ok2
	}
	return "", "", false
}

// writeNow writes and flushes a method during the handshake.
func (c *conn) writeNow(ch uint16, m amqp091.Method) bool {
	if err := c.wr.WriteMethod(ch, m); err != nil {
		c.handshakeFailed("write: " + err.Error())
		return false
	}
	if err := c.bw.Flush(); err != nil {
		c.handshakeFailed("write: " + err.Error())
		return false
	}
	return true
}

// readHandshakeMethod reads the next method on channel 0 during the
// handshake, skipping heartbeats. Anything else ends the connection
// without a close method, as RabbitMQ does before a connection is open.
func (c *conn) readHandshakeMethod() (amqp091.Method, bool) {
	for range 16 {
		f, err := c.rd.ReadFrame()
		if err != nil {
			c.handshakeFailed("handshake: " + err.Error())
			return nil, false
		}
		if f.Type == amqp091.FrameHeartbeat {
			continue
		}
		if f.Type != amqp091.FrameMethod || f.Channel != 0 {
			c.handshakeFailed("handshake: unexpected frame")
			return nil, false
		}
		m, err := amqp091.DecodeMethod(f.Payload)
		if err != nil {
			c.handshakeFailed("handshake: " + err.Error())
			return nil, false
		}
		return m, true
	}
	c.handshakeFailed("handshake: too many heartbeats")
	return nil, false
}

// closeInHandshake sends connection.close and waits briefly for the reply.
func (c *conn) closeInHandshake(code uint16, text string) {
	if !c.writeNow(0, &amqp091.ConnectionClose{ReplyCode: code, ReplyText: amqp091.TruncateShortstr(text)}) {
		return
	}
	c.nc.SetReadDeadline(time.Now().Add(closeTimeout))
	for range 64 {
		f, err := c.rd.ReadFrame()
		if err != nil {
			return
		}
		if f.Type == amqp091.FrameMethod && f.Channel == 0 {
			if m, err := amqp091.DecodeMethod(f.Payload); err == nil {
				switch m.(type) {
				case *amqp091.ConnectionCloseOk:
					return
				case *amqp091.ConnectionClose:
					c.writeNow(0, &amqp091.ConnectionCloseOk{})
					return
				}
			}
		}
	}
}

// readLoop reads and handles frames until the connection ends.
func (c *conn) readLoop() {
	b := c.b
	frames := 0
	for {
		if frames++; c.br.Buffered() == 0 || frames >= maxConfirmBatch {
			// About to wait for the network (or after a long burst): send
			// the confirms the frames read so far produced, batched.
			c.flushConfirms(frames < maxConfirmBatch)
			frames = 0
		}
		f, err := c.rd.ReadFrame()
		if err != nil {
			b.mu.Lock()
			closing := c.closing
			var ae *amqp091.Error
			if errors.As(err, &ae) && !closing {
				c.startClosing(fromCodec(ae))
				b.mu.Unlock()
				c.discardUntilClosed()
				return
			}
			switch {
			case closing:
				c.setReason("closed by broker")
			case errors.Is(err, io.EOF):
				c.setReason("client closed the socket")
			default:
				c.setReason("connection lost: " + err.Error())
			}
			b.mu.Unlock()
			return
		}
		c.lastRecv.Store(time.Now().UnixNano())
		if done := c.handleFrame(f); done {
			return
		}
	}
}

// discardUntilClosed waits, after a framing error, for the client's
// close-ok. The stream can no longer be parsed, so it scans the raw bytes
// for a connection.close-ok frame, or stops at end of input or timeout.
func (c *conn) discardUntilClosed() {
	closeOK := []byte{amqp091.FrameMethod, 0, 0, 0, 0, 0, 4, 0, 10, 0, 51, amqp091.FrameEnd}
	c.nc.SetReadDeadline(time.Now().Add(closeTimeout))
	buf := make([]byte, 4096)
	var tail []byte
	for range 4096 {
		n, err := c.br.Read(buf)
		window := append(tail, buf[:n]...)
		if bytes.Contains(window, closeOK) {
			return
		}
		tail = append(tail[:0], window[max(0, len(window)-len(closeOK)):]...)
		if err != nil {
			return
		}
	}
}

// handleFrame handles one frame and reports whether the connection is done.
func (c *conn) handleFrame(f amqp091.Frame) bool {
	b := c.b
	var m amqp091.Method
	var aerr *amqpError
	if f.Type == amqp091.FrameMethod {
		var err error
		m, err = amqp091.DecodeMethod(f.Payload)
		var ce *amqp091.Error
		if errors.As(err, &ce) {
			aerr = fromCodec(ce)
		} else if err != nil {
			aerr = errorf(amqp091.FrameError, "%v", err)
		} else if !validUTF8(m) {
			aerr = errorf(amqp091.FrameError, "Malformed UTF-8 in shortstr").withMethod(m)
		}
		if pub, ok := m.(*amqp091.BasicPublish); ok && aerr == nil && pub != nil {
			c.waitUnblocked()
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if c.closing {
		return c.handleWhileClosing(f, m)
	}
	if aerr == nil {
		var ch uint16
		ch, aerr = c.dispatch(f, m)
		if aerr != nil && !aerr.hard() && ch != 0 {
			if chn := c.channels[ch]; chn != nil {
				b.closeChannelWith(chn, aerr.code, aerr.text, aerr.classID, aerr.methodID)
				return false
			}
		}
	}
	if aerr != nil {
		if aerr.code == amqp091.ReplySuccess {
			// The client closed the connection and has its close-ok.
			return true
		}
		c.startClosing(aerr)
	}
	return false
}

// handleWhileClosing handles a frame that arrives after the broker sent
// connection.close: only the close handshake matters.
func (c *conn) handleWhileClosing(f amqp091.Frame, m amqp091.Method) bool {
	if f.Channel != 0 || m == nil {
		return false
	}
	switch m.(type) {
	case *amqp091.ConnectionCloseOk:
		return true
	case *amqp091.ConnectionClose:
		c.sendMethodAlways(0, &amqp091.ConnectionCloseOk{})
		return true
	}
	return false
}

// startClosing sends connection.close for err, releases the connection's
// resources and gives the client closeTimeout to answer. Callers hold b.mu.
func (c *conn) startClosing(err *amqpError) {
	if c.closing {
		return
	}
	c.b.log.Debug("closing connection", "conn", c.displayName(), "code", err.code, "text", err.text)
	c.setReason(err.text)
	c.closing = true
	close(c.closingCh)
	c.sendMethodAlways(0, &amqp091.ConnectionClose{ReplyCode: err.code, ReplyText: err.text, FailedClassID: err.classID, FailedMethodID: err.methodID})
	c.cleanup()
	c.nc.SetReadDeadline(time.Now().Add(closeTimeout))
}

// forceClose closes the connection from outside its reader: with
// connection.close once open, by dropping the socket before. Callers hold
// b.mu.
func (c *conn) forceClose(code uint16, text string) {
	if !c.open {
		c.setReason(text)
		c.closing = true
		c.nc.Close()
		return
	}
	c.startClosing(&amqpError{code: code, text: text})
}

// waitUnblocked waits while a fault blocks the connection's publishers, as
// RabbitMQ stops reading from a blocked connection that publishes.
func (c *conn) waitUnblocked() {
	c.b.mu.Lock()
	ch := c.blockedCh
	c.b.mu.Unlock()
	if ch == nil {
		return
	}
	c.readBlocked.Store(true)
	select {
	case <-ch:
	case <-c.closingCh:
	}
	c.lastRecv.Store(time.Now().UnixNano())
	c.readBlocked.Store(false)
}

// dispatch routes a frame to the connection or one of its channels. It
// returns the channel and the exception, if any. A reply code of 200 means
// the client closed the connection. Callers hold b.mu.
func (c *conn) dispatch(f amqp091.Frame, m amqp091.Method) (uint16, *amqpError) {
	switch f.Type {
	case amqp091.FrameHeartbeat:
		if f.Channel != 0 {
			return 0, errorf(amqp091.UnexpectedFrame, "type 8, all octets = <<>>: heartbeat on channel %d", f.Channel)
		}
		if len(f.Payload) != 0 {
			return 0, errorf(amqp091.FrameError, "type 8, all octets = <<...>>: heartbeat with a %d-byte payload", len(f.Payload))
		}
		return 0, nil
	case amqp091.FrameMethod:
		if f.Channel == 0 {
			return 0, c.connectionMethod(m)
		}
		if m.ClassID() == amqp091.ClassConnection {
			return 0, errUnimplemented().withMethod(m)
		}
		ch := c.channels[f.Channel]
		if ch == nil {
			if _, ok := m.(*amqp091.ChannelOpen); ok {
				return 0, c.openChannel(f.Channel)
			}
			return 0, errorf(amqp091.ChannelError, "expected 'channel.open'").withMethod(m)
		}
		if ch.closing {
			return 0, ch.methodWhileClosing(m)
		}
		if ch.expect != expectMethod {
			return 0, ch.unexpectedFrame(f.Type)
		}
		return f.Channel, ch.method(m).withMethod(m)
	default: // header or body
		if f.Channel == 0 {
			return 0, errorf(amqp091.UnexpectedFrame, "expected method frame, got non method frame instead")
		}
		ch := c.channels[f.Channel]
		if ch == nil {
			return 0, errorf(amqp091.ChannelError, "expected 'channel.open'")
		}
		if ch.closing {
			return 0, nil
		}
		if f.Type == amqp091.FrameHeader {
			return f.Channel, ch.header(f.Payload)
		}
		return f.Channel, ch.body(f.Payload)
	}
}

// connectionMethod handles a method on channel 0 of an open connection.
func (c *conn) connectionMethod(m amqp091.Method) *amqpError {
	switch m := m.(type) {
	case *amqp091.ConnectionClose:
		c.setReason(fmt.Sprintf("client closed the connection: %d %s", m.ReplyCode, m.ReplyText))
		c.closing = true
		close(c.closingCh)
		c.cleanup()
		c.sendMethodAlways(0, &amqp091.ConnectionCloseOk{})
		return &amqpError{code: amqp091.ReplySuccess}
	case *amqp091.ConnectionUpdateSecret:
		c.sendMethod(0, &amqp091.ConnectionUpdateSecretOk{})
		return nil
	}
	return errorf(amqp091.ChannelError, "unexpected method in connection state running").withMethod(m)
}

// openChannel opens channel id.
func (c *conn) openChannel(id uint16) *amqpError {
	if len(c.channels) >= int(c.channelMax) {
		return errorf(amqp091.NotAllowed, "number of channels opened (%d) has reached the negotiated channel_max (%d)", len(c.channels), c.channelMax)
	}
	ch := newChannel(c, id)
	c.channels[id] = ch
	c.stats.Channels = len(c.channels)
	c.sendMethod(id, &amqp091.ChannelOpenOk{})
	return nil
}

// validUTF8 reports whether every short string a client can send in m is
// valid UTF-8, which RabbitMQ requires.
func validUTF8(m amqp091.Method) bool {
	var ss []string
	switch m := m.(type) {
	case *amqp091.ConnectionOpen:
		ss = []string{m.VirtualHost}
	case *amqp091.ConnectionClose:
		ss = []string{m.ReplyText}
	case *amqp091.ChannelClose:
		ss = []string{m.ReplyText}
	case *amqp091.ExchangeDeclare:
		ss = []string{m.Exchange, m.Type}
	case *amqp091.ExchangeDelete:
		ss = []string{m.Exchange}
	case *amqp091.ExchangeBind:
		ss = []string{m.Destination, m.Source, m.RoutingKey}
	case *amqp091.ExchangeUnbind:
		ss = []string{m.Destination, m.Source, m.RoutingKey}
	case *amqp091.QueueDeclare:
		ss = []string{m.Queue}
	case *amqp091.QueueBind:
		ss = []string{m.Queue, m.Exchange, m.RoutingKey}
	case *amqp091.QueueUnbind:
		ss = []string{m.Queue, m.Exchange, m.RoutingKey}
	case *amqp091.QueuePurge:
		ss = []string{m.Queue}
	case *amqp091.QueueDelete:
		ss = []string{m.Queue}
	case *amqp091.BasicConsume:
		ss = []string{m.Queue, m.ConsumerTag}
	case *amqp091.BasicCancel:
		ss = []string{m.ConsumerTag}
	case *amqp091.BasicPublish:
		ss = []string{m.Exchange, m.RoutingKey}
	case *amqp091.BasicGet:
		ss = []string{m.Queue}
	}
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}

// Sending. These may be called from any goroutine; most callers hold b.mu.

func (c *conn) enqueue(f outFrame, bytes int) {
	c.outMu.Lock()
	c.out = append(c.out, f)
	c.outMu.Unlock()
	if bytes > 0 {
		c.outBytes.Add(int64(bytes))
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// sendMethod queues a method unless the connection is closing.
func (c *conn) sendMethod(ch uint16, m amqp091.Method) {
	if c.closing {
		return
	}
	c.enqueue(outFrame{kind: outMethod, ch: ch, m: m}, 0)
}

// sendMethodAlways queues a method even while closing (for the close
// handshake itself).
func (c *conn) sendMethodAlways(ch uint16, m amqp091.Method) {
	if !c.writerStarted {
		return
	}
	c.enqueue(outFrame{kind: outMethod, ch: ch, m: m}, 0)
}

// sendContent queues a content-carrying method (basic.get-ok, basic.return).
func (c *conn) sendContent(ch uint16, m amqp091.Method, msg *message) {
	if c.closing {
		return
	}
	c.enqueue(outFrame{kind: outContent, ch: ch, m: m, msg: msg}, len(msg.body)+64)
}

// sendDeliver queues a basic.deliver with its message.
func (c *conn) sendDeliver(ch uint16, ctag string, tag uint64, redelivered bool, msg *message) {
	if c.closing {
		return
	}
	c.enqueue(outFrame{kind: outDeliver, ch: ch, msg: msg, deliver: amqp091.BasicDeliver{
		ConsumerTag: ctag, DeliveryTag: tag, Redelivered: redelivered, Exchange: msg.exchange, RoutingKey: msg.routingKey,
	}}, len(msg.body)+64)
}

// sendAck queues a publisher confirm.
func (c *conn) sendAck(ch uint16, tag uint64, multiple bool) {
	if c.closing {
		return
	}
	c.enqueue(outFrame{kind: outAck, ch: ch, ack: amqp091.BasicAck{DeliveryTag: tag, Multiple: multiple}}, 0)
}

// sendCancel tells a consumer that its queue went away, if the client
// understands it.
func (c *conn) sendCancel(ch uint16, ctag string) {
	if c.capCancel {
		c.sendMethod(ch, &amqp091.BasicCancel{ConsumerTag: ctag, NoWait: true})
	}
}

// congested reports whether the writer is too far behind to take more
// deliveries.
func (c *conn) congested() bool {
	if c.outBytes.Load() <= highWater {
		return false
	}
	// Ask the writer to kick the consumers once it catches up. The writer
	// subtracts what it sent before it looks at the flag, so if the
	// backlog is still high after the flag is set, the writer will see it.
	c.wasCongested.Store(true)
	return c.outBytes.Load() > highWater
}

// writeLoop encodes and sends queued frames, flushing when there is
// nothing more to send, and looks after heartbeats and delayed confirms.
func (c *conn) writeLoop() {
	defer close(c.writerDone)
	var hbTick <-chan time.Time
	if c.heartbeat > 0 {
		t := time.NewTicker(c.heartbeat / 2)
		defer t.Stop()
		hbTick = t.C
	}
	ct := time.NewTimer(time.Hour)
	ct.Stop()
	defer ct.Stop()
	var armed int64
	for {
		select {
		case <-c.wake:
		case now := <-hbTick:
			c.heartbeatTick(now)
		case <-ct.C:
			armed = 0
			c.b.mu.Lock()
			c.releaseConfirms(time.Now())
			c.b.mu.Unlock()
		case <-c.quit:
			c.drain()
			return
		}
		if at := c.confirmAt.Load(); at != 0 && at != armed {
			armed = at
			ct.Reset(time.Until(time.Unix(0, at)))
		}
		c.drain()
	}
}

// drain writes everything queued and flushes.
func (c *conn) drain() {
	wrote := false
	for range 1 << 20 {
		c.outMu.Lock()
		batch := c.out
		c.out = c.spare[:0]
		c.spare = nil
		c.outMu.Unlock()
		if len(batch) == 0 {
			c.spare = batch
			break
		}
		var sent int64
		for i := range batch {
			f := &batch[i]
			if !c.writeFailed {
				if err := c.writeFrame(f); err != nil {
					c.writeFailed = true
					c.nc.Close() // the reader sees it and cleans up
				}
			}
			switch f.kind {
			case outDeliver, outContent:
				sent += int64(len(f.msg.body) + 64)
			}
			*f = outFrame{}
		}
		c.spare = batch[:0]
		if sent > 0 {
			c.outBytes.Add(-sent)
		}
		wrote = true
	}
	if wrote && !c.writeFailed {
		if err := c.bw.Flush(); err != nil {
			c.writeFailed = true
			c.nc.Close()
		}
		c.lastSend.Store(time.Now().UnixNano())
	}
	if c.wasCongested.Load() && c.outBytes.Load() < lowWater {
		c.wasCongested.Store(false)
		c.b.kickConsumers(c)
	}
}

func (c *conn) writeFrame(f *outFrame) error {
	switch f.kind {
	case outMethod:
		return c.wr.WriteMethod(f.ch, f.m)
	case outContent:
		return c.wr.WriteContent(f.ch, f.m, f.msg.props, f.msg.body)
	case outDeliver:
		return c.wr.WriteContent(f.ch, &f.deliver, f.msg.props, f.msg.body)
	case outAck:
		return c.wr.WriteMethod(f.ch, &f.ack)
	case outHeartbeat:
		return c.wr.WriteHeartbeat()
	}
	return nil
}

// heartbeatTick sends a heartbeat if the connection has been quiet and
// closes it when the client has missed two.
func (c *conn) heartbeatTick(now time.Time) {
	if !c.readBlocked.Load() && now.UnixNano()-c.lastRecv.Load() > 2*int64(c.heartbeat) {
		c.b.mu.Lock()
		c.setReason(fmt.Sprintf("missed heartbeats from client, timeout: %ds", c.heartbeat/time.Second))
		c.b.mu.Unlock()
		c.nc.Close()
		return
	}
	if now.UnixNano()-c.lastSend.Load() < int64(c.heartbeat)/2-int64(10*time.Millisecond) {
		return
	}
	if _, ok := c.b.faults.Check(fault.StopHeartbeats, c.point("")); ok {
		return
	}
	c.enqueue(outFrame{kind: outHeartbeat}, 0)
}
