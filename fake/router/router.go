package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-dev/switchyard/fake/fault"
	"github.com/switchyard-dev/switchyard/fake/internal/amqp10"
	"github.com/switchyard-dev/switchyard/fake/internal/amqp10conn"
	"github.com/switchyard-dev/switchyard/fake/internal/eventlog"
)

// Distribution is how a router spreads an address's messages over its
// consumers, as qpid-dispatch names it.
type Distribution string

// Distributions.
const (
	// Closest sends each message to one consumer; with several (all are
	// equally close on one router) they take turns.
	Closest Distribution = "closest"
	// Balanced sends each message to the consumer with the fewest
	// unsettled deliveries.
	Balanced Distribution = "balanced"
	// Multicast sends a copy to every consumer with credit.
	Multicast Distribution = "multicast"
)

// Address maps an address prefix to a distribution.
type Address struct {
	Prefix       string       // matches the address itself or anything below it ("/" or "." follows)
	Distribution Distribution // how its messages are spread
}

// DefaultAddresses is the address configuration the oslo.messaging AMQP 1.0
// deployment guide gives qdrouterd, for legacy and routable addressing.
var DefaultAddresses = []Address{
	{"unicast", Closest},
	{"exclusive", Closest},
	{"broadcast", Multicast},
	{"openstack.org/om/rpc/multicast", Multicast},
	{"openstack.org/om/rpc/unicast", Closest},
	{"openstack.org/om/rpc/anycast", Balanced},
	{"openstack.org/om/notify/multicast", Multicast},
	{"openstack.org/om/notify/unicast", Closest},
	{"openstack.org/om/notify/anycast", Balanced},
}

// Defaults of Options.
const (
	DefaultProduct      = "qpid-dispatch-router"
	DefaultContainerID  = "switchyard-router"
	DefaultCredit       = 250
	DefaultIdleTimeout  = 16 * time.Second
	DefaultEventLogSize = 1 << 16
)

// User is an account that may log in with SASL PLAIN.
type User struct {
	Name     string // user name
	Password string // password, compared as is
}

// Options configure a Router. The zero value is a router on 127.0.0.1 with
// a free port, SASL ANONYMOUS, the default address configuration and
// qpid-dispatch's product name.
type Options struct {
	// Addr is the TCP address to listen on; default "127.0.0.1:0".
	Addr string
	// ContainerID is the router's container-id; default
	// "switchyard-router".
	ContainerID string
	// Product is the "product" connection property; default
	// "qpid-dispatch-router", which makes oslo.messaging pick routable
	// addressing. "qpid-cpp" makes it pick legacy addressing.
	Product string
	// Addresses configure distributions by prefix, longest prefix first;
	// nil means DefaultAddresses.
	Addresses []Address
	// DefaultDistribution applies to addresses no prefix matches; default
	// Balanced, as in qpid-dispatch.
	DefaultDistribution Distribution
	// NoDynamic refuses links asking for a dynamic source or target (with
	// amqp:not-implemented), as intermediaries without them do, such as
	// RabbitMQ 3.10's AMQP 1.0 plugin.
	NoDynamic bool
	// RefuseAddresses are address prefixes the router refuses links to
	// (with amqp:unauthorized-access), as a qpid-dispatch policy would.
	RefuseAddresses []string
	// Users may log in with SASL PLAIN; none means PLAIN is not offered.
	Users []User
	// NoAnonymous refuses SASL ANONYMOUS.
	NoAnonymous bool
	// RequireSASL refuses clients that skip SASL.
	RequireSASL bool
	// MaxFrameSize is the largest frame accepted; default 65536.
	MaxFrameSize uint32
	// MaxMessageSize is the largest message accepted; default 64 MiB.
	MaxMessageSize uint64
	// IdleTimeout is announced to clients; default 16 s, negative for none.
	IdleTimeout time.Duration
	// Credit is the most credit a sender's link gets; default 250.
	Credit uint32
	// HandshakeTimeout bounds the time from accept to open; default 10 s.
	HandshakeTimeout time.Duration
	// CloseTimeout bounds the wait for a client's close; default 2 s.
	CloseTimeout time.Duration
	// Faults is consulted for injected faults; nil gives the router its own
	// fault.Injector seeded with FaultSeed, available from Faults.
	Faults fault.Consulter
	// FaultSeed seeds the injector created when Faults is nil.
	FaultSeed uint64
	// EventLogSize is how many events the log keeps; default 65536,
	// negative keeps none.
	EventLogSize int
	// Logger receives the router's log; default discards it.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.ContainerID == "" {
		o.ContainerID = DefaultContainerID
	}
	if o.Product == "" {
		o.Product = DefaultProduct
	}
	if o.Addresses == nil {
		o.Addresses = DefaultAddresses
	}
	if o.DefaultDistribution == "" {
		o.DefaultDistribution = Balanced
	}
	switch {
	case o.IdleTimeout == 0:
		o.IdleTimeout = DefaultIdleTimeout
	case o.IdleTimeout < 0:
		o.IdleTimeout = 0
	}
	if o.Credit == 0 {
		o.Credit = DefaultCredit
	}
	if o.EventLogSize == 0 {
		o.EventLogSize = DefaultEventLogSize
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

func validDistribution(d Distribution) bool {
	return d == Closest || d == Balanced || d == Multicast
}

// ErrClosed is returned by operations on a closed Router.
var ErrClosed = errors.New("router: closed")

// Router is a running AMQP 1.0 router. Its methods are safe for concurrent
// use.
type Router struct {
	opts    Options
	log     *slog.Logger
	faults  fault.Consulter
	inj     *fault.Injector
	events  *eventlog.Log[Event]
	ln      net.Listener
	addr    string
	prefixs []Address // longest prefix first
	unwatch func()

	// mu guards the routing state: connections, nodes, links, deliveries in
	// transit, withheld outcomes and counters.
	mu       sync.Mutex
	closed   bool
	conns    map[*rconn]struct{}
	nodes    map[string]*node
	dynamic  uint64
	withheld []*transit
	totals   Totals
	peers    []*peer

	meshCtx    context.Context // ends subscriptions at peer routers
	meshCancel context.CancelFunc

	wg sync.WaitGroup
}

// Start starts a router and returns once it accepts connections. ctx
// bounds only the start itself.
func Start(ctx context.Context, opts Options) (*Router, error) {
	opts = opts.withDefaults()
	if !validDistribution(opts.DefaultDistribution) {
		return nil, fmt.Errorf("router: unknown distribution %q", opts.DefaultDistribution)
	}
	prefixes := slices.Clone(opts.Addresses)
	for _, a := range prefixes {
		if !validDistribution(a.Distribution) {
			return nil, fmt.Errorf("router: address prefix %q: unknown distribution %q", a.Prefix, a.Distribution)
		}
	}
	slices.SortStableFunc(prefixes, func(a, b Address) int { return len(b.Prefix) - len(a.Prefix) })
	r := &Router{
		opts:    opts,
		log:     opts.Logger,
		events:  eventlog.New(opts.EventLogSize, stampEvent),
		prefixs: prefixes,
		conns:   map[*rconn]struct{}{},
		nodes:   map[string]*node{},
	}
	r.faults = opts.Faults
	if r.faults == nil {
		r.faults = fault.New(opts.FaultSeed)
	}
	r.inj, _ = r.faults.(*fault.Injector)
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("router: listen: %w", err)
	}
	r.meshCtx, r.meshCancel = context.WithCancel(context.Background())
	r.ln = ln
	r.addr = ln.Addr().String()
	r.unwatch = r.faults.Watch(r.onFault)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.acceptLoop()
	}()
	r.log.Info("router listening", "addr", r.addr)
	return r, nil
}

func (r *Router) acceptLoop() {
	delay := 5 * time.Millisecond
	for {
		nc, err := r.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			r.log.Warn("accept failed", "err", err)
			t := time.NewTimer(delay)
			<-t.C
			delay = min(2*delay, time.Second)
			continue
		}
		delay = 5 * time.Millisecond
		r.serve(nc)
	}
}

func (r *Router) serve(nc net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		nc.Close()
		return
	}
	rc := &rconn{r: r, name: nc.RemoteAddr().String()}
	props := amqp10.Map{}
	props.Set(amqp10.Symbol("product"), r.opts.Product)
	props.Set(amqp10.Symbol("version"), "1.19.0")
	var users []amqp10conn.User
	for _, u := range r.opts.Users {
		users = append(users, amqp10conn.User{Name: u.Name, Password: u.Password})
	}
	rc.c = amqp10conn.New(nc, amqp10conn.Config{
		ContainerID:      r.opts.ContainerID,
		Properties:       props,
		MaxFrameSize:     r.opts.MaxFrameSize,
		MaxMessageSize:   r.opts.MaxMessageSize,
		IdleTimeout:      r.opts.IdleTimeout,
		HandshakeTimeout: r.opts.HandshakeTimeout,
		CloseTimeout:     r.opts.CloseTimeout,
		Users:            users,
		NoAnonymous:      r.opts.NoAnonymous,
		RequireSASL:      r.opts.RequireSASL,
		SkipKeepalive:    rc.skipKeepalive,
		Handler:          rc,
		Logger:           r.log,
	})
	r.conns[rc] = struct{}{}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		rc.c.Run()
	}()
}

// Addr returns the address the router listens on, host:port.
func (r *Router) Addr() string { return r.addr }

// URL returns an amqp:// transport URL for Switchyard's amqp1 driver and
// other AMQP 1.0 clients, with the first user's credentials if there are
// users.
func (r *Router) URL() string {
	if len(r.opts.Users) > 0 {
		u := r.opts.Users[0]
		return "amqp://" + url.UserPassword(u.Name, u.Password).String() + "@" + r.addr + "/"
	}
	return "amqp://" + r.addr + "/"
}

// Faults returns the router's fault injector: the one in Options.Faults if
// that is a *fault.Injector, or the one the router made. It is nil when
// Options.Faults is some other Consulter.
func (r *Router) Faults() *fault.Injector { return r.inj }

// Distribution returns the distribution that applies to address.
func (r *Router) Distribution(address string) Distribution {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := r.nodes[address]; n != nil {
		return n.dist
	}
	return r.distribution(address)
}

func (r *Router) distribution(address string) Distribution {
	for _, a := range r.prefixs {
		if matchPrefix(a.Prefix, address) {
			return a.Distribution
		}
	}
	return r.opts.DefaultDistribution
}

// matchPrefix reports whether address is prefix or lies below it: the
// character after the prefix is a separator ("/" or ".").
func matchPrefix(prefix, address string) bool {
	if !strings.HasPrefix(address, prefix) {
		return false
	}
	if len(address) == len(prefix) || prefix == "" {
		return true
	}
	last := prefix[len(prefix)-1]
	if last == '/' || last == '.' {
		return true
	}
	c := address[len(prefix)]
	return c == '/' || c == '.'
}

// Close closes every connection with amqp:connection:forced, stops
// listening and waits for all of the router's goroutines to end. Calling it
// again does nothing.
func (r *Router) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	conns := make([]*rconn, 0, len(r.conns))
	for c := range r.conns {
		conns = append(conns, c)
	}
	peers := r.peers
	r.peers = nil
	r.mu.Unlock()
	err := r.ln.Close()
	if r.unwatch != nil {
		r.unwatch()
	}
	r.closePeers(peers)
	for _, c := range conns {
		c.c.Close(&amqp10.Error{Condition: amqp10.CondConnectionForced, Description: "router shutdown"})
	}
	r.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
