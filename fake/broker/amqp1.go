package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"time"

	"github.com/switchyard-dev/switchyard/fake/fault"
	"github.com/switchyard-dev/switchyard/fake/internal/amqp091"
	"github.com/switchyard-dev/switchyard/fake/internal/amqp10"
	"github.com/switchyard-dev/switchyard/fake/internal/amqp10conn"
)

// Defaults of AMQP1Options.
const (
	DefaultAMQP1Product     = "qpid-cpp"
	DefaultAMQP1ContainerID = "switchyard-broker"
	DefaultAMQP1Credit      = 250
)

// AMQP1Options configure the broker's AMQP 1.0 listener (Options.AMQP1Addr).
// The zero value advertises qpidd's product name and uses the address
// patterns of the oslo.messaging AMQP 1.0 guide.
type AMQP1Options struct {
	// Product is the "product" connection property; default "qpid-cpp",
	// which makes oslo.messaging's AMQP 1.0 driver pick legacy addressing.
	Product string
	// ContainerID is the broker's container-id; default
	// "switchyard-broker".
	ContainerID string
	// QueuePatterns are the address prefixes of queues; nil means
	// DefaultAMQP1QueuePatterns. An address matching neither kind of
	// pattern is a queue too.
	QueuePatterns []string
	// TopicPatterns are the address prefixes of topics, where each
	// receiver gets a copy of every message; nil means
	// DefaultAMQP1TopicPatterns. A topic is a fanout exchange named after
	// the address.
	TopicPatterns []string
	// Credit is the link credit a sending client gets, topped up as
	// messages are stored; default 250.
	Credit uint32
	// MaxFrameSize is the largest frame accepted; default 65536.
	MaxFrameSize uint32
	// IdleTimeout is announced to clients, which then keep the connection
	// alive; a client silent for longer is disconnected. 0 announces none.
	IdleTimeout time.Duration
	// NoAnonymous refuses SASL ANONYMOUS, so that clients must log in as
	// one of Options.Users with SASL PLAIN. Anonymous clients use the
	// first virtual host, or the one their open's hostname names.
	NoAnonymous bool
}

func (o AMQP1Options) withDefaults() AMQP1Options {
	if o.Product == "" {
		o.Product = DefaultAMQP1Product
	}
	if o.ContainerID == "" {
		o.ContainerID = DefaultAMQP1ContainerID
	}
	if o.QueuePatterns == nil {
		o.QueuePatterns = DefaultAMQP1QueuePatterns
	}
	if o.TopicPatterns == nil {
		o.TopicPatterns = DefaultAMQP1TopicPatterns
	}
	if o.Credit == 0 {
		o.Credit = DefaultAMQP1Credit
	}
	return o
}

// amqp1Listener is the broker's AMQP 1.0 side. conns and stopped are
// guarded by b.mu; ln, acceptDone and unwatch belong to Start, Close and
// Restart; addr is set once.
type amqp1Listener struct {
	b          *Broker
	opts       AMQP1Options
	raw        rawMessages
	ln         net.Listener
	addr       string
	acceptDone chan struct{}
	conns      map[*a1conn]struct{}
	stopped    bool   // no new connections: Close or Restart in progress
	unwatch    func() // ends the watch for AMQP 1.0 faults
}

// listenAMQP1 opens the AMQP 1.0 listening socket.
func (b *Broker) listenAMQP1(ctx context.Context, addr string) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("broker: listen for AMQP 1.0: %w", err)
	}
	if b.a1 == nil {
		b.a1 = &amqp1Listener{b: b, opts: b.opts.AMQP1.withDefaults(), conns: map[*a1conn]struct{}{}}
	}
	b.a1.ln = ln
	if b.a1.addr == "" {
		b.a1.addr = ln.Addr().String() // kept across restarts, which reuse it
	}
	return nil
}

// startAMQP1 accepts AMQP 1.0 connections on the socket listenAMQP1
// opened.
func (b *Broker) startAMQP1() {
	l := b.a1
	b.mu.Lock()
	l.stopped = false
	b.mu.Unlock()
	l.unwatch = b.faults.Watch(l.onFault)
	done := make(chan struct{})
	l.acceptDone = done
	ln := l.ln
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer close(done)
		l.acceptLoop(ln)
	}()
	b.log.Info("broker listening for AMQP 1.0", "addr", l.addr)
}

// stopAMQP1 stops accepting and drops the connections that have not
// opened yet; open ones are among b.conns and close with them.
func (b *Broker) stopAMQP1() {
	l := b.a1
	if l == nil {
		return
	}
	b.mu.Lock()
	l.stopped = true
	var pending []*a1conn
	for ac := range l.conns {
		if ac.sc == nil {
			pending = append(pending, ac)
		}
	}
	b.mu.Unlock()
	if l.unwatch != nil {
		l.unwatch()
		l.unwatch = nil
	}
	l.ln.Close()
	<-l.acceptDone
	for _, ac := range pending {
		ac.ec.Close(&amqp10.Error{Condition: amqp10.CondConnectionForced, Description: shutdownText})
	}
}

// onFault applies the faults that concern AMQP 1.0 links alone: it
// detaches links (detach-links) and withdraws or restores senders' credit
// (withhold-credit).
func (l *amqp1Listener) onFault(ch fault.Change) {
	b := l.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || l.stopped {
		return
	}
	switch ch.Fault.Kind {
	case fault.DetachLinks:
		if !ch.On {
			return
		}
		for ac := range l.conns {
			if ac.sc == nil || ac.sc.closing {
				continue
			}
			for _, lk := range ac.linksInOrder() {
				if _, on := b.faults.Check(fault.DetachLinks, ac.sc.point(lk.address)); on {
					err := forced(amqp10.CondDetachForced, "detached via fault injection")
					lk.l.Detach(err)
					ac.detachedLocked(lk, err)
				}
			}
		}
	case fault.WithholdCredit:
		for ac := range l.conns {
			if ac.sc == nil || ac.sc.closing {
				continue
			}
			for _, lk := range ac.linksInOrder() {
				if lk.cons == nil {
					ac.creditLocked(lk)
				}
			}
		}
	}
}

// linksInOrder returns the connection's links by channel. Callers hold
// b.mu.
func (ac *a1conn) linksInOrder() []*a1link {
	out := make([]*a1link, 0, len(ac.links))
	for _, lk := range ac.links {
		out = append(out, lk)
	}
	slices.SortFunc(out, func(x, y *a1link) int { return int(x.ch.id) - int(y.ch.id) })
	return out
}

// relistenAMQP1 listens again on the AMQP 1.0 address after a restart.
func (b *Broker) relistenAMQP1(ctx context.Context) error {
	if b.a1 == nil {
		return nil
	}
	var err error
	for attempt := 0; ; attempt++ {
		err = b.listenAMQP1(ctx, b.a1.addr)
		if err == nil || attempt >= 50 || ctx.Err() != nil {
			break
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	if err != nil {
		return err
	}
	b.startAMQP1()
	return nil
}

// AMQP1Addr returns the address of the AMQP 1.0 listener, host:port, or
// "" when the broker has none.
func (b *Broker) AMQP1Addr() string {
	if b.a1 == nil {
		return ""
	}
	return b.a1.addr
}

// AMQP1URL returns an amqp:// transport URL for Switchyard's amqp1 driver
// and other AMQP 1.0 clients, with the first user's credentials, or ""
// when the broker has no AMQP 1.0 listener.
func (b *Broker) AMQP1URL() string {
	if b.a1 == nil {
		return ""
	}
	u := b.opts.Users[0]
	return "amqp://" + url.UserPassword(u.Name, u.Password).String() + "@" + b.a1.addr + "/"
}

func (l *amqp1Listener) acceptLoop(ln net.Listener) {
	b := l.b
	delay := 5 * time.Millisecond
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			b.log.Warn("AMQP 1.0 accept failed", "err", err)
			t := time.NewTimer(delay)
			<-t.C
			delay = min(2*delay, time.Second)
			continue
		}
		delay = 5 * time.Millisecond
		l.serve(nc)
	}
}

// serve runs one accepted connection through the engine.
func (l *amqp1Listener) serve(nc net.Conn) {
	b := l.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || l.stopped {
		nc.Close()
		return
	}
	ac := &a1conn{b: b, l: l, name: nc.RemoteAddr().String() + " -> " + nc.LocalAddr().String(),
		links: map[*amqp10conn.Link]*a1link{}, byCh: map[uint16]*a1link{}}
	props := amqp10.Map{}
	props.Set(amqp10.Symbol("product"), l.opts.Product)
	props.Set(amqp10.Symbol("version"), "1.39.0")
	props.Set(amqp10.Symbol("platform"), "Switchyard fake broker (Go)")
	var users []amqp10conn.User
	for _, u := range b.opts.Users {
		users = append(users, amqp10conn.User{Name: u.Name, Password: u.Password})
	}
	ac.ec = amqp10conn.New(nc, amqp10conn.Config{
		ContainerID:      l.opts.ContainerID,
		Properties:       props,
		MaxFrameSize:     l.opts.MaxFrameSize,
		MaxMessageSize:   uint64(b.opts.MaxMessageSize),
		IdleTimeout:      l.opts.IdleTimeout,
		HandshakeTimeout: b.opts.HandshakeTimeout,
		Users:            users,
		NoAnonymous:      l.opts.NoAnonymous,
		SkipKeepalive:    ac.skipKeepalive,
		Handler:          ac,
		Logger:           b.log,
	})
	l.conns[ac] = struct{}{}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		ac.ec.Run()
	}()
}

// a1conn is one AMQP 1.0 client connection, the engine's Handler. Once the
// client's open arrives it gets a shadow AMQP 0-9-1 connection (sc) among
// the broker's connections: each of its links has a channel there, a
// client's receiving link a consumer on that channel, so queues, faults,
// counters and events treat both protocols alike. What the broker queues
// for the shadow connection to send (deliveries, confirms, cancels,
// closes) is turned into AMQP 1.0 by flushLocked.
type a1conn struct {
	b    *Broker
	l    *amqp1Listener
	ec   *amqp10conn.Conn
	name string // address pair

	// Guarded by b.mu.
	sc     *conn // nil before open
	links  map[*amqp10conn.Link]*a1link
	byCh   map[uint16]*a1link
	nextCh uint16
}

// a1link is one link of a client: a sender (the broker receives) or a
// receiver (the broker delivers from q).
type a1link struct {
	l       *amqp10conn.Link
	ch      *channel
	address string

	// A client's sending link: where messages go. node is empty for an
	// anonymous link, which routes by each message's "to".
	node      a1Node
	anonymous bool
	pending   []a1pending // deliveries waiting for their confirm, in publish order

	// A client's receiving link.
	q       *queue
	cons    *consumer
	temp    bool        // q was made for this link and goes with it
	backlog []*delivery // assigned to the link, waiting for credit
}

// a1pending is a received delivery waiting for the broker's confirm.
type a1pending struct {
	tag uint64
	in  *amqp10conn.Incoming
}

func (ac *a1conn) point(queue string) fault.Point {
	ac.b.mu.Lock()
	defer ac.b.mu.Unlock()
	if ac.sc == nil {
		return fault.Point{Queue: queue, Connection: ac.ec.ContainerID()}
	}
	return ac.sc.point(queue)
}

func (ac *a1conn) skipKeepalive() bool {
	if !ac.b.faults.Any(fault.StopHeartbeats) {
		return false
	}
	_, on := ac.b.faults.Check(fault.StopHeartbeats, ac.point(""))
	return on
}

// stubNetConn stands in for the network connection of a shadow conn:
// the engine owns the real one.
type stubNetConn struct{ local, remote net.Addr }

func (stubNetConn) Read([]byte) (int, error)         { return 0, net.ErrClosed }
func (stubNetConn) Write(p []byte) (int, error)      { return len(p), nil }
func (stubNetConn) Close() error                     { return nil }
func (s stubNetConn) LocalAddr() net.Addr            { return s.local }
func (s stubNetConn) RemoteAddr() net.Addr           { return s.remote }
func (stubNetConn) SetDeadline(time.Time) error      { return nil }
func (stubNetConn) SetReadDeadline(time.Time) error  { return nil }
func (stubNetConn) SetWriteDeadline(time.Time) error { return nil }

// stubAddr is a network address given as text.
type stubAddr string

func (stubAddr) Network() string  { return "tcp" }
func (a stubAddr) String() string { return string(a) }

// forced is the error of a connection or link the broker ends.
func forced(cond amqp10.Symbol, text string) *amqp10.Error {
	return &amqp10.Error{Condition: cond, Description: text}
}

// Open implements amqp10conn.Handler.
func (ac *a1conn) Open(ec *amqp10conn.Conn) *amqp10.Error {
	b := ac.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.restarting || ac.l.stopped {
		return forced(amqp10.CondConnectionForced, shutdownText)
	}
	name := ec.ContainerID()
	b.attempts[name]++
	vh := b.vhosts[b.opts.VHosts[0]]
	if po := ec.PeerOpen(); po != nil && po.Hostname != "" {
		if v := b.vhosts[po.Hostname]; v != nil {
			vh = v
		}
	}
	user := ec.User()
	if user != "" {
		if u := b.user(user); u == nil || !u.mayOpen(vh.name) {
			reason := fmt.Sprintf("access to vhost '%s' refused for user '%s'", vh.name, user)
			b.emit(Event{Type: EventConnectionRefused, VHost: vh.name, Connection: name, Reason: reason})
			return forced(amqp10.CondUnauthorizedAccess, reason)
		}
	}
	if _, ok := b.faults.Check(fault.RefuseConnections, fault.Point{VHost: vh.name, Connection: name}); ok {
		b.emit(Event{Type: EventConnectionRefused, VHost: vh.name, Connection: name, Reason: "refused by fault injection"})
		return forced(amqp10.CondConnectionForced, "connection refused by fault injection")
	}
	sc := &conn{
		b:          b,
		nc:         stubNetConn{local: stubAddr(ac.name), remote: stubAddr(ec.RemoteAddr())},
		name:       ac.name,
		clientName: name,
		user:       user,
		vh:         vh,
		capBlocked: true,
		capCancel:  true,
		frameMax:   b.opts.FrameMax,
		channelMax: 65535,
		openedAt:   time.Now(),
		open:       true,
		channels:   map[uint16]*channel{},
		closingCh:  make(chan struct{}),
		wake:       make(chan struct{}, 1),
		quit:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	sc.publisherName = new(name)
	ac.sc = sc
	b.conns[sc] = struct{}{}
	b.connOpened(sc)
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		ac.pump()
	}()
	return nil
}

// pump sends what the broker queues for the shadow connection from other
// goroutines (deliveries after a 0-9-1 publish, a timer, a fault), sends
// delayed confirms when due, and closes the AMQP 1.0 connection when the
// broker closes the shadow one.
func (ac *a1conn) pump() {
	b := ac.b
	sc := ac.sc
	closing := sc.closingCh
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var armed int64
	for {
		select {
		case <-ac.ec.Done():
			return
		case <-closing:
			closing = nil
			b.mu.Lock()
			reason := sc.reason
			b.mu.Unlock()
			ac.ec.Close(forced(amqp10.CondConnectionForced, reason))
			continue
		case <-sc.wake:
		case <-timer.C:
			armed = 0
			b.mu.Lock()
			sc.releaseConfirms(time.Now())
			b.mu.Unlock()
		}
		b.mu.Lock()
		ac.flushLocked()
		b.mu.Unlock()
		if at := sc.confirmAt.Load(); at != 0 && at != armed {
			armed = at
			timer.Reset(time.Until(time.Unix(0, at)))
		}
	}
}

// flushLocked turns what the broker queued for the shadow connection into
// AMQP 1.0. Callers hold b.mu.
func (ac *a1conn) flushLocked() {
	sc := ac.sc
	if sc == nil {
		return
	}
	for range 1 << 12 {
		sc.outMu.Lock()
		batch := sc.out
		sc.out = nil
		sc.outMu.Unlock()
		if len(batch) == 0 {
			break
		}
		var sent int64
		for i := range batch {
			f := &batch[i]
			switch f.kind {
			case outDeliver:
				sent += int64(len(f.msg.body) + 64)
				if lk := ac.byCh[f.ch]; lk != nil && lk.cons != nil {
					if d := lk.ch.unackedMap[f.deliver.DeliveryTag]; d != nil {
						lk.backlog = append(lk.backlog, d)
						ac.sendBacklogLocked(lk)
					}
				}
			case outContent:
				sent += int64(len(f.msg.body) + 64)
			case outAck:
				ac.confirmedLocked(f.ch, f.ack.DeliveryTag, f.ack.Multiple, false)
			case outMethod:
				ac.methodLocked(f.ch, f)
			}
			*f = outFrame{}
		}
		if sent > 0 {
			sc.outBytes.Add(-sent)
		}
	}
	sc.outMu.Lock()
	more := len(sc.out) > 0
	sc.outMu.Unlock()
	if more {
		// Bounded above: the pump takes the rest.
		select {
		case sc.wake <- struct{}{}:
		default:
		}
	}
	if sc.wasCongested.Load() && sc.outBytes.Load() < lowWater {
		sc.wasCongested.Store(false)
		now := time.Now()
		for _, ch := range sc.channels {
			for _, cons := range ch.consumers {
				ac.b.dispatch(cons.q, now)
			}
		}
	}
}

// methodLocked handles a method the broker sent the shadow connection:
// a publisher nack, a channel closed by a fault, a consumer cancelled
// because its queue went, publishers blocked or unblocked.
func (ac *a1conn) methodLocked(ch uint16, f *outFrame) {
	switch m := f.m.(type) {
	case *amqp091.BasicNack:
		ac.confirmedLocked(ch, m.DeliveryTag, m.Multiple, true)
	case *amqp091.ChannelClose:
		if lk := ac.byCh[ch]; lk != nil {
			err := forced(amqp10.CondDetachForced, m.ReplyText)
			lk.l.Detach(err)
			ac.detachedLocked(lk, err)
		}
	case *amqp091.BasicCancel:
		if lk := ac.byCh[ch]; lk != nil {
			err := forced(amqp10.CondResourceDeleted, "queue '"+lk.address+"' was deleted")
			lk.l.Detach(err)
			ac.detachedLocked(lk, err)
		}
	case *amqp091.ConnectionBlocked, *amqp091.ConnectionUnblocked:
		for _, lk := range ac.links {
			if lk.cons == nil {
				ac.creditLocked(lk)
			}
		}
	}
}
