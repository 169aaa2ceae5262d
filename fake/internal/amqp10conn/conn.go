package amqp10conn

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/switchyard-dev/switchyard/fake/internal/amqp10"
)

// Defaults of Config.
const (
	DefaultMaxFrameSize     = 65536
	DefaultChannelMax       = 255
	DefaultHandleMax        = 255
	DefaultIncomingWindow   = 2048
	DefaultMaxMessageSize   = 64 << 20
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultCloseTimeout     = 2 * time.Second
)

// maxOutFrame caps the frames the engine writes when the peer announces no
// (or a huge) max-frame-size.
const maxOutFrame = 1 << 20

// User is an account for SASL PLAIN.
type User struct {
	Name     string // authentication identity
	Password string // compared as is
}

// Config configures one connection.
type Config struct {
	// ContainerID is the container-id sent in open; default "switchyard".
	ContainerID string
	// Properties are the connection properties sent in open, such as
	// "product".
	Properties amqp10.Map
	// MaxFrameSize is the largest frame accepted; default 65536, at least
	// 512.
	MaxFrameSize uint32
	// ChannelMax is the highest channel number accepted; default 255.
	ChannelMax uint16
	// HandleMax is the highest link handle accepted per session; default
	// 255.
	HandleMax uint32
	// IncomingWindow is the session incoming window, in transfer frames;
	// default 2048.
	IncomingWindow uint32
	// MaxMessageSize is the largest message accepted on a link; default
	// 64 MiB.
	MaxMessageSize uint64
	// IdleTimeout is announced in open; a peer silent for longer is closed
	// with amqp:resource-limit-exceeded. 0 announces none.
	IdleTimeout time.Duration
	// HandshakeTimeout bounds the time from accept to the peer's open;
	// default 10 s.
	HandshakeTimeout time.Duration
	// CloseTimeout bounds the wait for the peer's close after the engine
	// sent one; default 2 s.
	CloseTimeout time.Duration
	// Users may log in with SASL PLAIN; none means PLAIN is not offered.
	Users []User
	// NoAnonymous withholds SASL ANONYMOUS.
	NoAnonymous bool
	// RequireSASL refuses connections that skip the SASL layer.
	RequireSASL bool
	// SkipKeepalive, when set, is asked before each keepalive frame; true
	// suppresses it (used to simulate a dead peer).
	SkipKeepalive func() bool
	// Handler receives the connection's events; required.
	Handler Handler
	// Logger receives the engine's log; default discards it.
	Logger *slog.Logger
}

func (cfg Config) withDefaults() Config {
	if cfg.ContainerID == "" {
		cfg.ContainerID = "switchyard"
	}
	if cfg.MaxFrameSize == 0 {
		cfg.MaxFrameSize = DefaultMaxFrameSize
	}
	cfg.MaxFrameSize = max(cfg.MaxFrameSize, amqp10.MinMaxFrameSize)
	if cfg.ChannelMax == 0 {
		cfg.ChannelMax = DefaultChannelMax
	}
	if cfg.HandleMax == 0 {
		cfg.HandleMax = DefaultHandleMax
	}
	if cfg.IncomingWindow == 0 {
		cfg.IncomingWindow = DefaultIncomingWindow
	}
	if cfg.MaxMessageSize == 0 {
		cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.CloseTimeout <= 0 {
		cfg.CloseTimeout = DefaultCloseTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg
}

// Handler receives what the peer does. Every method is called on the
// connection's reading goroutine with no engine lock held.
type Handler interface {
	// Open is called when the peer's open arrives. A non-nil error refuses
	// the connection: the engine answers open and closes with it.
	Open(c *Conn) *amqp10.Error
	// Attach is called when the peer attaches a link. The handler may set
	// l.LocalSource or l.LocalTarget (for a dynamic node) and may Grant
	// credit. A non-nil error refuses the link: the engine answers with a
	// null terminus and detaches it with the error.
	Attach(l *Link) *amqp10.Error
	// Flow is called when the peer updates a link's flow state: new credit
	// or drain for a link the engine sends on, delivery-count or available
	// for one it receives on.
	Flow(l *Link)
	// Delivery is called when a complete message arrives. Unless
	// d.Settled, the handler must settle it later with Dispose.
	Delivery(d *Incoming)
	// Outcome is called when the peer sends a disposition for a delivery
	// sent to it. state may be nil (settlement only).
	Outcome(d *Outgoing, state amqp10.DeliveryState, settled bool)
	// Settled is called when the peer settles a delivery it sent before
	// the handler settled it.
	Settled(d *Incoming)
	// Detached is called once for each link that ends, whoever ended it and
	// however (detach, end, close, a broken connection). err is the
	// peer's detach error, or the engine's when it detached the link.
	Detached(l *Link, err *amqp10.Error)
	// Closed is called last, once, when the connection has ended; err says
	// why (nil for a clean close by the peer).
	Closed(c *Conn, err error)
}

// ErrClosed is returned by operations on a connection that is closing or
// closed.
var ErrClosed = errors.New("amqp10conn: connection closed")

// ErrDetached is returned by operations on a link that is detached.
var ErrDetached = errors.New("amqp10conn: link detached")

// ErrNoCredit is returned by Send on a link without credit.
var ErrNoCredit = errors.New("amqp10conn: no link credit")

// ErrTooLarge is returned by Send when the message exceeds the peer's
// max-message-size.
var ErrTooLarge = errors.New("amqp10conn: message exceeds the peer's max-message-size")

// Conn is one server-side AMQP 1.0 connection.
type Conn struct {
	cfg Config
	h   Handler
	nc  net.Conn
	br  *bufio.Reader
	log *slog.Logger

	// Value is free for the handler's use.
	Value any

	mu           sync.Mutex
	out          []byte        // frames waiting for the writer
	wake         chan struct{} // signals the writer; capacity 1
	openSent     bool
	closing      bool // the engine sent close
	closeBy      time.Time
	finished     bool // Run is tearing down
	err          error
	sessions     map[uint16]*session
	peerOpen     *amqp10.Open
	peerMaxFrame uint32
	user         string
	post         []func() // handler calls gathered while mu is held

	writerStop chan struct{}
	writerDone chan struct{}
	done       chan struct{}
}

// New prepares to serve nc; Run serves it.
func New(nc net.Conn, cfg Config) *Conn {
	cfg = cfg.withDefaults()
	return &Conn{
		cfg:        cfg,
		h:          cfg.Handler,
		nc:         nc,
		br:         bufio.NewReaderSize(nc, 32<<10),
		log:        cfg.Logger.With("remote", nc.RemoteAddr().String()),
		wake:       make(chan struct{}, 1),
		sessions:   map[uint16]*session{},
		writerStop: make(chan struct{}),
		writerDone: make(chan struct{}),
		done:       make(chan struct{}),
	}
}

// Done is closed when Run has returned.
func (c *Conn) Done() <-chan struct{} { return c.done }

// RemoteAddr returns the peer's network address.
func (c *Conn) RemoteAddr() string { return c.nc.RemoteAddr().String() }

// ContainerID returns the peer's container-id, "" before its open.
func (c *Conn) ContainerID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.peerOpen == nil {
		return ""
	}
	return c.peerOpen.ContainerID
}

// PeerOpen returns the peer's open performative, nil before it arrived.
func (c *Conn) PeerOpen() *amqp10.Open {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peerOpen
}

// User returns the SASL PLAIN identity, "" for ANONYMOUS or no SASL.
func (c *Conn) User() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.user
}

// Err returns why the connection ended, once Done is closed.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the connection with err (nil for a clean close). The
// connection ends when the peer answers or CloseTimeout passes.
func (c *Conn) Close(err *amqp10.Error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.peerOpen == nil {
		// Still in the handshake: there is no one to say goodbye to.
		c.closing = true
		c.nc.Close()
		return
	}
	c.closeLocked(err)
}

// Abort drops the connection without a close frame.
func (c *Conn) Abort() { c.nc.Close() }

// closeLocked sends close once and arms the close timeout.
func (c *Conn) closeLocked(err *amqp10.Error) {
	if c.closing || c.finished {
		return
	}
	if !c.openSent {
		c.sendOpenLocked()
	}
	c.closing = true
	if err != nil && c.err == nil {
		c.err = err
	}
	c.frameLocked(0, &amqp10.Close{Error: err})
	c.closeBy = time.Now().Add(c.cfg.CloseTimeout)
	c.nc.SetReadDeadline(c.closeBy)
}

func (c *Conn) sendOpenLocked() {
	c.openSent = true
	cm := c.cfg.ChannelMax
	o := &amqp10.Open{
		ContainerID:  c.cfg.ContainerID,
		MaxFrameSize: c.cfg.MaxFrameSize,
		ChannelMax:   &cm,
		IdleTimeout:  uint32(c.cfg.IdleTimeout / time.Millisecond),
		Properties:   c.cfg.Properties,
	}
	c.frameLocked(0, o)
}

// frameLocked queues one frame for the writer.
func (c *Conn) frameLocked(ch uint16, body amqp10.FrameBody) {
	if c.finished {
		return
	}
	out, err := amqp10.AppendFrame(c.out, amqp10.FrameTypeAMQP, ch, body)
	if err != nil {
		// Only values the engine builds are encoded here; failing to encode
		// one is a bug, reported rather than sent half-written.
		c.log.Error("encode frame", "err", err)
		return
	}
	c.out = out
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Run serves the connection until it ends and returns why (nil for a clean
// close by the peer). It closes the network connection before returning.
func (c *Conn) Run() error {
	defer close(c.done)
	err := c.handshake()
	if err == nil {
		go c.writer()
		err = c.loop()
	} else {
		close(c.writerDone)
	}
	c.teardown(err)
	return c.Err()
}

// teardown stops the writer after it flushed what is queued, closes the
// socket and reports every remaining link and the connection as gone.
func (c *Conn) teardown(err error) {
	c.mu.Lock()
	if c.err == nil && err != nil {
		c.err = err
	}
	var links []*Link
	for _, s := range c.sessions {
		for _, l := range s.links {
			if !l.gone {
				links = append(links, l)
				l.gone = true
			}
		}
	}
	c.mu.Unlock()
	// Give the writer a bounded chance to flush (a close frame, say).
	c.nc.SetWriteDeadline(time.Now().Add(c.cfg.CloseTimeout))
	select {
	case <-c.writerDone:
	default:
		close(c.writerStop)
		<-c.writerDone
	}
	c.mu.Lock()
	c.finished = true
	c.out = nil
	final := c.err
	c.mu.Unlock()
	c.nc.Close()
	for _, l := range links {
		c.h.Detached(l, nil)
	}
	c.h.Closed(c, final)
}

// writer writes queued frames and keepalives until told to stop, then
// flushes what remains.
func (c *Conn) writer() {
	defer close(c.writerDone)
	var tick <-chan time.Time
	c.mu.Lock()
	if c.peerOpen != nil && c.peerOpen.IdleTimeout > 0 {
		iv := max(time.Duration(c.peerOpen.IdleTimeout)*time.Millisecond/2, 10*time.Millisecond)
		t := time.NewTicker(iv)
		defer t.Stop()
		tick = t.C
	}
	c.mu.Unlock()
	var buf []byte
	wrote := false
	flush := func() bool {
		c.mu.Lock()
		buf, c.out = c.out, buf[:0]
		c.mu.Unlock()
		if len(buf) == 0 {
			return true
		}
		wrote = true
		if _, err := c.nc.Write(buf); err != nil {
			c.mu.Lock()
			if c.err == nil && !c.closing {
				c.err = fmt.Errorf("write: %w", err)
			}
			c.mu.Unlock()
			c.nc.Close() // wakes the reader
			return false
		}
		if cap(buf) > 1<<20 {
			buf = nil
		}
		return true
	}
	for {
		select {
		case <-c.wake:
			if !flush() {
				return
			}
		case <-tick:
			if !wrote && (c.cfg.SkipKeepalive == nil || !c.cfg.SkipKeepalive()) {
				if _, err := c.nc.Write(amqp10.AppendEmptyFrame(nil)); err != nil {
					c.nc.Close()
					return
				}
			}
			wrote = false
		case <-c.writerStop:
			flush()
			return
		}
	}
}

// handshake runs the protocol headers, SASL and the open exchange.
func (c *Conn) handshake() error {
	deadline := time.Now().Add(c.cfg.HandshakeTimeout)
	c.nc.SetDeadline(deadline)
	ours := amqp10.HeaderAMQP
	if c.cfg.RequireSASL {
		ours = amqp10.HeaderSASL
	}
	hdr, err := c.readHeader()
	if err != nil {
		writeHeader(c, ours)
		return err
	}
	if hdr == amqp10.HeaderSASL {
		if err := c.sasl(); err != nil {
			return err
		}
		if hdr, err = c.readHeader(); err != nil || hdr != amqp10.HeaderAMQP {
			writeHeader(c, amqp10.HeaderAMQP)
			if err == nil {
				err = fmt.Errorf("protocol header %v after SASL", hdr)
			}
			return err
		}
	} else if hdr != amqp10.HeaderAMQP || c.cfg.RequireSASL {
		writeHeader(c, ours)
		return fmt.Errorf("unsupported protocol header %v", hdr)
	}
	if err := writeHeader(c, amqp10.HeaderAMQP); err != nil {
		return err
	}
	c.nc.SetWriteDeadline(time.Time{})

	// The first frame must be open.
	f, err := amqp10.ReadFrame(c.br, c.cfg.MaxFrameSize)
	if err != nil {
		return c.failHandshake(err)
	}
	if f.Type != amqp10.FrameTypeAMQP || f.IsEmpty() {
		return c.failHandshake(&amqp10.Error{Condition: amqp10.CondIllegalState, Description: "expected open"})
	}
	body, err := amqp10.ParseAMQPBody(f.Body)
	if err != nil {
		return c.failHandshake(err)
	}
	open, ok := body.(*amqp10.Open)
	if !ok {
		return c.failHandshake(&amqp10.Error{Condition: amqp10.CondIllegalState, Description: fmt.Sprintf("expected open, got %s", amqp10.DescriptorName(body.Descriptor()))})
	}
	if !utf8.ValidString(open.ContainerID) || !utf8.ValidString(open.Hostname) {
		return c.failHandshake(&amqp10.Error{Condition: amqp10.CondDecodeError, Description: "open: invalid UTF-8"})
	}
	if open.MaxFrameSize != 0 && open.MaxFrameSize < amqp10.MinMaxFrameSize {
		return c.failHandshake(&amqp10.Error{Condition: amqp10.CondInvalidField, Description: fmt.Sprintf("open: max-frame-size %d is below 512", open.MaxFrameSize)})
	}
	c.mu.Lock()
	c.peerOpen = open
	c.peerMaxFrame = maxOutFrame
	if open.MaxFrameSize != 0 && open.MaxFrameSize < maxOutFrame {
		c.peerMaxFrame = open.MaxFrameSize
	}
	c.mu.Unlock()
	c.nc.SetDeadline(time.Time{})
	if aerr := c.h.Open(c); aerr != nil {
		c.mu.Lock()
		c.closeLocked(aerr)
		c.mu.Unlock()
		return nil // the loop waits for the peer's close
	}
	c.mu.Lock()
	if !c.openSent { // Close may have come first and sent it
		c.sendOpenLocked()
	}
	c.mu.Unlock()
	return nil
}

// failHandshake answers a broken open exchange with open and close, written
// directly since the writer is not running yet.
func (c *Conn) failHandshake(err error) error {
	aerr := asAMQPError(err)
	c.mu.Lock()
	c.sendOpenLocked()
	c.frameLocked(0, &amqp10.Close{Error: aerr})
	buf := c.out
	c.out = nil
	c.mu.Unlock()
	c.writeRaw(buf)
	return aerr
}

func writeHeader(c *Conn, h amqp10.ProtocolHeader) error {
	b := h.Bytes()
	return c.writeRaw(b[:])
}

func (c *Conn) writeRaw(b []byte) error {
	_, err := c.nc.Write(b)
	return err
}

func (c *Conn) readHeader() (amqp10.ProtocolHeader, error) {
	var b [8]byte
	if _, err := io.ReadFull(c.br, b[:]); err != nil {
		return amqp10.ProtocolHeader{}, err
	}
	return amqp10.ParseProtocolHeader(b)
}

// sasl runs the SASL layer after the peer's SASL header.
func (c *Conn) sasl() error {
	var mechs []amqp10.Symbol
	if !c.cfg.NoAnonymous {
		mechs = append(mechs, amqp10.SASLMechanismAnonymous)
	}
	if len(c.cfg.Users) > 0 {
		mechs = append(mechs, amqp10.SASLMechanismPlain)
	}
	h := amqp10.HeaderSASL.Bytes()
	out := append([]byte(nil), h[:]...)
	out, err := amqp10.AppendFrame(out, amqp10.FrameTypeSASL, 0, &amqp10.SASLMechanisms{Mechanisms: mechs})
	if err != nil {
		return err
	}
	if err := c.writeRaw(out); err != nil {
		return err
	}
	f, err := amqp10.ReadFrame(c.br, amqp10.MinMaxFrameSize)
	if err != nil {
		return err
	}
	if f.Type != amqp10.FrameTypeSASL {
		return errors.New("sasl: expected a SASL frame")
	}
	body, err := amqp10.ParseSASLBody(f.Body)
	if err != nil {
		return err
	}
	init, ok := body.(*amqp10.SASLInit)
	if !ok {
		return errors.New("sasl: expected sasl-init")
	}
	code := amqp10.SASLCodeAuth
	user := ""
	switch init.Mechanism {
	case amqp10.SASLMechanismAnonymous:
		if !c.cfg.NoAnonymous {
			code = amqp10.SASLCodeOK
		}
	case amqp10.SASLMechanismPlain:
		parts := bytes.Split(init.InitialResponse, []byte{0})
		if len(parts) == 3 {
			for _, u := range c.cfg.Users {
				if u.Name == string(parts[1]) && u.Password == string(parts[2]) {
					code = amqp10.SASLCodeOK
					user = u.Name
				}
			}
		}
	}
	out, err = amqp10.AppendFrame(nil, amqp10.FrameTypeSASL, 0, &amqp10.SASLOutcome{Code: code})
	if err != nil {
		return err
	}
	if err := c.writeRaw(out); err != nil {
		return err
	}
	if code != amqp10.SASLCodeOK {
		return &AuthError{Mechanism: string(init.Mechanism)}
	}
	c.mu.Lock()
	c.user = user
	c.mu.Unlock()
	return nil
}

// AuthError is the error of a connection whose SASL authentication failed.
type AuthError struct {
	Mechanism string // the mechanism the peer chose
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("amqp10conn: SASL %s authentication failed", e.Mechanism)
}

// asAMQPError turns err into the error to close a connection with.
func asAMQPError(err error) *amqp10.Error {
	var aerr *amqp10.Error
	if errors.As(err, &aerr) {
		return aerr
	}
	var derr *amqp10.DecodeError
	if errors.As(err, &derr) {
		return derr.AMQPError()
	}
	return &amqp10.Error{Condition: amqp10.CondInternalError, Description: err.Error()}
}

// loop reads and processes frames until the connection ends.
func (c *Conn) loop() error {
	for {
		c.mu.Lock()
		if c.closing {
			c.nc.SetReadDeadline(c.closeBy)
		} else if c.cfg.IdleTimeout > 0 {
			c.nc.SetReadDeadline(time.Now().Add(c.cfg.IdleTimeout))
		}
		c.mu.Unlock()
		f, err := amqp10.ReadFrame(c.br, c.cfg.MaxFrameSize)
		if err != nil {
			c.mu.Lock()
			closing := c.closing
			c.mu.Unlock()
			if closing {
				return nil // the peer did not answer our close in time, or hung up
			}
			var derr *amqp10.DecodeError
			if errors.As(err, &derr) {
				c.Close(derr.AMQPError())
				c.drainUntilClosed()
				return derr
			}
			if errors.Is(err, os.ErrDeadlineExceeded) && c.cfg.IdleTimeout > 0 {
				c.Close(&amqp10.Error{Condition: amqp10.CondResourceLimitExceeded, Description: "idle timeout: no frame from the peer"})
				c.drainUntilClosed()
				return errors.New("peer idle timeout")
			}
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF // the peer hung up without close
			}
			return err
		}
		if done := c.process(f); done {
			return nil
		}
	}
}

// drainUntilClosed discards input until the peer closes or the close
// timeout passes, after the engine closed because of unreadable input.
func (c *Conn) drainUntilClosed() {
	c.nc.SetReadDeadline(time.Now().Add(c.cfg.CloseTimeout))
	var buf [4096]byte
	for range 1 << 16 {
		if _, err := c.br.Read(buf[:]); err != nil {
			return
		}
	}
}

// process handles one frame and reports whether the connection is over.
func (c *Conn) process(f amqp10.Frame) (done bool) {
	if f.IsEmpty() {
		return false
	}
	c.mu.Lock()
	done = c.processLocked(f)
	c.mu.Unlock()
	c.runPost()
	return done
}

// runPost runs the handler calls queued while mu was held, including those
// the calls themselves queue.
func (c *Conn) runPost() {
	for range 1 << 20 {
		c.mu.Lock()
		post := c.post
		c.post = nil
		c.mu.Unlock()
		if len(post) == 0 {
			return
		}
		for _, fn := range post {
			fn()
		}
	}
}

func (c *Conn) connErrorLocked(cond amqp10.Symbol, format string, args ...any) {
	c.closeLocked(&amqp10.Error{Condition: cond, Description: fmt.Sprintf(format, args...)})
}

func (c *Conn) processLocked(f amqp10.Frame) bool {
	if f.Type != amqp10.FrameTypeAMQP {
		c.connErrorLocked(amqp10.CondFramingError, "frame type %d after open", f.Type)
		return false
	}
	body, err := amqp10.ParseAMQPBody(f.Body)
	if err != nil {
		if !c.closing {
			c.closeLocked(asAMQPError(err))
		}
		return false
	}
	if cl, ok := body.(*amqp10.Close); ok {
		if !c.closing {
			// Answer the peer's close.
			c.closing = true
			c.frameLocked(0, &amqp10.Close{})
			if cl.Error != nil {
				c.err = cl.Error
			}
		}
		return true
	}
	if c.closing {
		return false // discard everything but close once we sent ours
	}
	switch p := body.(type) {
	case *amqp10.Open:
		c.connErrorLocked(amqp10.CondNotAllowed, "open received twice")
	case *amqp10.Begin:
		c.beginLocked(f.Channel, p)
	default:
		s := c.sessions[f.Channel]
		if s == nil {
			c.connErrorLocked(amqp10.CondNotAllowed, "%s on channel %d, which has no session", amqp10.DescriptorName(body.Descriptor()), f.Channel)
			return false
		}
		s.process(body)
	}
	return false
}

func (c *Conn) beginLocked(ch uint16, b *amqp10.Begin) {
	switch {
	case ch > c.cfg.ChannelMax:
		c.connErrorLocked(amqp10.CondNotAllowed, "begin on channel %d beyond channel-max %d", ch, c.cfg.ChannelMax)
		return
	case c.sessions[ch] != nil:
		c.connErrorLocked(amqp10.CondNotAllowed, "begin on channel %d, which has a session", ch)
		return
	case b.RemoteChannel != nil:
		c.connErrorLocked(amqp10.CondNotAllowed, "begin answers a begin that was never sent (remote-channel %d)", *b.RemoteChannel)
		return
	}
	s := &session{
		c:              c,
		ch:             ch,
		nextIncomingID: b.NextOutgoingID,
		incomingWindow: c.cfg.IncomingWindow,
		remoteIncoming: b.IncomingWindow,
		peerHandleMax:  ^uint32(0),
		links:          map[uint32]*Link{},
		unsettledOut:   map[uint32]*Outgoing{},
		unsettledIn:    map[uint32]*Incoming{},
	}
	if b.HandleMax != nil {
		s.peerHandleMax = *b.HandleMax
	}
	c.sessions[ch] = s
	rc := ch
	hm := c.cfg.HandleMax
	c.frameLocked(ch, &amqp10.Begin{
		RemoteChannel:  &rc,
		NextOutgoingID: 0,
		IncomingWindow: s.incomingWindow,
		OutgoingWindow: outgoingWindow,
		HandleMax:      &hm,
	})
}

// outgoingWindow is the outgoing window the engine announces: it never
// limits itself.
const outgoingWindow = 1<<31 - 1
