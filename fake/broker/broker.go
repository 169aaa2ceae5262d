package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/switchyard-dev/switchyard/fake/fault"
	"github.com/switchyard-dev/switchyard/fake/internal/amqp091"
	"github.com/switchyard-dev/switchyard/fake/internal/eventlog"
)

// Defaults of Options, RabbitMQ's where RabbitMQ has one.
const (
	DefaultHeartbeat        = 60 * time.Second
	DefaultFrameMax         = 131072
	DefaultChannelMax       = 2047
	DefaultMaxMessageSize   = 128 << 20
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultEventLogSize     = 1 << 16
)

// closeTimeout bounds how long the broker waits for connection.close-ok
// after closing a connection.
const closeTimeout = 2 * time.Second

// User is an account that may connect.
type User struct {
	Name     string // user name for PLAIN and AMQPLAIN logins
	Password string // password, compared as is
	// VHosts lists the virtual hosts the user may open; nil means all.
	VHosts []string
}

// Options configure a Broker. The zero value is a broker on 127.0.0.1 with
// a free port, user guest/guest and virtual host "/".
type Options struct {
	// Addr is the TCP address to listen on; default "127.0.0.1:0".
	Addr string
	// Users who may connect; default guest with password guest.
	Users []User
	// VHosts are the virtual hosts; default "/".
	VHosts []string
	// Heartbeat is the heartbeat interval the broker proposes; the client's
	// answer decides. Default 60 s; negative proposes none.
	Heartbeat time.Duration
	// FrameMax is the largest frame the broker accepts; default 131072.
	FrameMax uint32
	// ChannelMax is the most channels a connection may have open; default
	// 2047.
	ChannelMax uint16
	// MaxMessageSize is the largest message body accepted; default 128 MiB.
	MaxMessageSize int
	// HandshakeTimeout bounds the time from TCP accept to connection.open;
	// default 10 s.
	HandshakeTimeout time.Duration
	// Dir, when set, is a directory where durable exchanges, queues and
	// bindings and persistent messages on durable queues are kept, so they
	// survive Restart and a new Start on the same directory. Without it all
	// state is in memory and Restart loses it.
	Dir string
	// Faults is consulted for injected faults; nil gives the broker its own
	// fault.Injector seeded with FaultSeed, available from Faults.
	Faults fault.Consulter
	// FaultSeed seeds the injector created when Faults is nil.
	FaultSeed uint64
	// EventLogSize is how many events the log keeps; default 65536, negative
	// keeps none.
	EventLogSize int
	// Logger receives the broker's log; default discards it.
	Logger *slog.Logger
	// AMQP1Addr, when set, is the TCP address of an AMQP 1.0 listener
	// serving the same virtual hosts, queues, exchanges, events, counters
	// and faults ("127.0.0.1:0" for a free port); "" means none.
	AMQP1Addr string
	// AMQP1 configures the AMQP 1.0 listener.
	AMQP1 AMQP1Options
}

func (o Options) withDefaults() Options {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if len(o.Users) == 0 {
		o.Users = []User{{Name: "guest", Password: "guest"}}
	}
	if len(o.VHosts) == 0 {
		o.VHosts = []string{"/"}
	}
	switch {
	case o.Heartbeat == 0:
		o.Heartbeat = DefaultHeartbeat
	case o.Heartbeat < 0:
		o.Heartbeat = 0
	}
	if o.FrameMax == 0 {
		o.FrameMax = DefaultFrameMax
	}
	if o.FrameMax < amqp091.FrameMinSize {
		o.FrameMax = amqp091.FrameMinSize
	}
	if o.ChannelMax == 0 {
		o.ChannelMax = DefaultChannelMax
	}
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.EventLogSize == 0 {
		o.EventLogSize = DefaultEventLogSize
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}

// ErrClosed is returned by operations on a closed Broker.
var ErrClosed = errors.New("broker: closed")

// Broker is a running AMQP 0-9-1 broker, also serving AMQP 1.0 when
// Options.AMQP1Addr is set. Its methods are safe for concurrent use.
type Broker struct {
	opts   Options
	log    *slog.Logger
	faults fault.Consulter
	inj    *fault.Injector // the injector, when Faults is one
	events *eventlog.Log[Event]
	sched  *scheduler
	store  *store // nil without Options.Dir

	// mu guards all broker state: virtual hosts, exchanges, queues,
	// bindings, consumers, channels' delivery state and counters.
	mu         sync.Mutex
	vhosts     map[string]*vhost
	conns      map[*conn]struct{}
	attempts   map[string]int // logins tried, by connection_name
	ln         net.Listener
	addr       string
	closed     bool
	restarting bool
	nextMsgID  uint64
	totals     Totals
	acceptDone chan struct{}

	lifecycle sync.Mutex // serialises Close and Restart
	wg        sync.WaitGroup
	unwatch   func()

	a1 *amqp1Listener // nil without Options.AMQP1Addr
}

// Start starts a broker and returns once it accepts connections. ctx bounds
// only the start itself.
func Start(ctx context.Context, opts Options) (*Broker, error) {
	opts = opts.withDefaults()
	for _, u := range opts.Users {
		for _, v := range u.VHosts {
			if !slices.Contains(opts.VHosts, v) {
				return nil, fmt.Errorf("broker: user %q is given unknown vhost %q", u.Name, v)
			}
		}
	}
	b := &Broker{
		opts:  opts,
		log:   opts.Logger,
		conns: map[*conn]struct{}{}, attempts: map[string]int{},
	}
	b.events = eventlog.New(opts.EventLogSize, stampEvent)
	b.faults = opts.Faults
	if b.faults == nil {
		b.faults = fault.New(opts.FaultSeed)
	}
	b.inj, _ = b.faults.(*fault.Injector)
	b.sched = newScheduler()
	b.resetState()
	if opts.Dir != "" {
		s, err := openStore(opts.Dir)
		if err != nil {
			return nil, err
		}
		b.store = s
		if err := b.recover(); err != nil {
			s.close()
			return nil, err
		}
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", opts.Addr)
	if err != nil {
		if b.store != nil {
			b.store.close()
		}
		return nil, fmt.Errorf("broker: listen: %w", err)
	}
	if opts.AMQP1Addr != "" {
		if err := b.listenAMQP1(ctx, opts.AMQP1Addr); err != nil {
			ln.Close()
			if b.store != nil {
				b.store.close()
			}
			return nil, err
		}
	}
	b.ln = ln
	b.addr = ln.Addr().String()
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.sched.run(b)
	}()
	b.unwatch = b.faults.Watch(b.onFault)
	b.startAccepting(ln)
	if b.a1 != nil {
		b.startAMQP1()
	}
	b.log.Info("broker listening", "addr", b.addr)
	return b, nil
}

// resetState replaces every virtual host with an empty one holding only
// the predeclared exchanges. Callers hold mu or own b exclusively.
func (b *Broker) resetState() {
	for _, vh := range b.vhosts {
		for _, q := range vh.queues {
			q.deleted = true
		}
	}
	b.vhosts = map[string]*vhost{}
	for _, name := range b.opts.VHosts {
		b.vhosts[name] = newVHost(name)
	}
}

func (b *Broker) startAccepting(ln net.Listener) {
	done := make(chan struct{})
	b.acceptDone = done
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer close(done)
		b.acceptLoop(ln)
	}()
}

func (b *Broker) acceptLoop(ln net.Listener) {
	delay := 5 * time.Millisecond
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient failure such as running out of descriptors: back
			// off briefly and try again.
			b.log.Warn("accept failed", "err", err)
			time.Sleep(delay)
			delay = min(2*delay, time.Second)
			continue
		}
		delay = 5 * time.Millisecond
		b.serveConn(nc)
	}
}

// serveConn serves nc as a new client connection on its own goroutine and
// returns a channel closed when the connection is gone, or nil when the
// broker is closed or restarting (nc is then closed).
func (b *Broker) serveConn(nc net.Conn) <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.restarting {
		nc.Close()
		return nil
	}
	c := newConn(b, nc)
	b.conns[c] = struct{}{}
	b.wg.Add(1)
	go c.serve()
	return c.done
}

// Addr returns the address the broker listens on, host:port.
func (b *Broker) Addr() string { return b.addr }

// URL returns a rabbit:// transport URL for Switchyard drivers, with the
// first user's credentials and the first virtual host.
func (b *Broker) URL() string { return b.url("rabbit") }

// AMQPURL returns an amqp:// URL for plain AMQP 0-9-1 clients, with the
// first user's credentials and the first virtual host.
func (b *Broker) AMQPURL() string { return b.url("amqp") }

func (b *Broker) url(scheme string) string {
	u := b.opts.Users[0]
	path := "/"
	if vh := b.opts.VHosts[0]; vh != "/" {
		path += url.PathEscape(vh)
	}
	return scheme + "://" + url.UserPassword(u.Name, u.Password).String() + "@" + b.addr + path
}

// Faults returns the broker's fault injector: the one in Options.Faults
// if that is a *fault.Injector, or the one the broker made. It is nil when
// Options.Faults is some other Consulter.
func (b *Broker) Faults() *fault.Injector { return b.inj }

// shutdownText is RabbitMQ's reply text when it closes connections to stop.
const shutdownText = "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'"

// Close closes every connection with 320 CONNECTION_FORCED, stops
// listening and waits for all of the broker's goroutines to end. Calling
// it again does nothing.
func (b *Broker) Close() error {
	b.lifecycle.Lock()
	defer b.lifecycle.Unlock()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	ln := b.ln
	b.mu.Unlock()
	err := ln.Close()
	b.stopAMQP1()
	b.dropConnections(shutdownText)
	if b.unwatch != nil {
		b.unwatch()
	}
	b.sched.close()
	b.wg.Wait()
	b.mu.Lock()
	if b.store != nil {
		if serr := b.store.close(); serr != nil && err == nil {
			err = serr
		}
	}
	b.mu.Unlock()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// dropConnections force-closes every connection and waits until each has
// finished.
func (b *Broker) dropConnections(text string) {
	b.mu.Lock()
	var waits []chan struct{}
	for c := range b.conns {
		c.forceClose(amqp091.ConnectionForced, text)
		waits = append(waits, c.done)
	}
	b.mu.Unlock()
	for _, w := range waits {
		<-w
	}
}

// Restart simulates a broker restart: it closes every connection with 320
// CONNECTION_FORCED, stops listening, drops all state except what
// Options.Dir preserves, and listens again on the same address. New
// connections are refused until it returns.
func (b *Broker) Restart(ctx context.Context) error {
	b.lifecycle.Lock()
	defer b.lifecycle.Unlock()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	b.restarting = true
	ln := b.ln
	b.mu.Unlock()
	ln.Close()
	<-b.acceptDone
	b.stopAMQP1()
	b.dropConnections(shutdownText)

	b.mu.Lock()
	b.resetState()
	var err error
	if b.store != nil {
		err = b.recover()
	}
	b.restarting = false
	b.emit(Event{Type: EventBrokerRestarted})
	b.mu.Unlock()
	if err != nil {
		return err
	}
	// The old socket is closed; take the same port again. Another process
	// could grab it in between, so retry briefly.
	var nl net.Listener
	for attempt := 0; ; attempt++ {
		nl, err = (&net.ListenConfig{}).Listen(ctx, "tcp", b.addr)
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
		return fmt.Errorf("broker: listen again on %s: %w", b.addr, err)
	}
	b.mu.Lock()
	b.ln = nl
	b.mu.Unlock()
	b.startAccepting(nl)
	return b.relistenAMQP1(ctx)
}

// user returns the account named name, or nil.
func (b *Broker) user(name string) *User {
	for i := range b.opts.Users {
		if b.opts.Users[i].Name == name {
			return &b.opts.Users[i]
		}
	}
	return nil
}

// mayOpen reports whether u may open virtual host vh.
func (u *User) mayOpen(vh string) bool {
	return u.VHosts == nil || slices.Contains(u.VHosts, vh)
}

// ConnectionAttempts counts the connections whose client-provided
// connection_name matches pattern ('*' matches any run of characters) that
// got as far as logging in since the broker started: those refused (wrong
// credentials, a fault) as well as those opened.
func (b *Broker) ConnectionAttempts(pattern string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for name, k := range b.attempts {
		if fault.Glob(pattern, name) {
			n += k
		}
	}
	return n
}
