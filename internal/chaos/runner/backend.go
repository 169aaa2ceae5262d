package runner

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/fake/broker"
	"github.com/switchyard-dev/switchyard/fake/router"
	"github.com/switchyard-dev/switchyard/internal/chaos/history"
	"github.com/switchyard-dev/switchyard/internal/chaos/inject"
	"github.com/switchyard-dev/switchyard/internal/chaos/mgmt"
	"github.com/switchyard-dev/switchyard/internal/chaos/proxy"
	"github.com/switchyard-dev/switchyard/internal/chaos/scenario"
)

// eventLogSize is the embedded broker's event log length: long enough
// that the runner's subscription keeps up at the rates it sustains.
const eventLogSize = 1 << 18

// backend is the broker (or routers) of a run and what sits in front of it.
type backend struct {
	url     string   // what the drivers open: through the proxy when there is one
	urls    []string // a mesh: each router's URL
	shown   string   // for reports: "embedded" or the URL without password
	targets inject.Targets
	b       *broker.Broker
	routers []*router.Router
	dir     string
	px      *proxy.Proxy
	stopSub context.CancelFunc
	subDone chan struct{}
}

// urlFor is the URL the run's i-th driver opens: in a mesh, the drivers
// take turns at the routers, each connecting to one only (given several
// hosts, the amqp1 driver would pick one at random, as oslo does).
func (be *backend) urlFor(i int) string {
	if len(be.urls) == 0 {
		return be.url
	}
	return be.urls[i%len(be.urls)]
}

// routerIdleTimeout is the idle time-out the embedded routers announce
// when the scenario sets no heartbeat.
const routerIdleTimeout = 4 * time.Second

// startRouters starts the scenario's embedded routers, meshed when there
// are several, and returns the first one's URL.
func (be *backend) startRouters(ctx context.Context, s *scenario.Scenario, seed uint64) (string, error) {
	n := s.Backend.RouterCount()
	idle := s.Backend.Heartbeat
	if idle == 0 {
		idle = routerIdleTimeout
	}
	for i := 0; i < n; i++ {
		rt, err := router.Start(ctx, router.Options{
			ContainerID:  fmt.Sprintf("switchyard-chaos-router%d", i),
			FaultSeed:    seed + uint64(i),
			EventLogSize: eventLogSize,
			IdleTimeout:  idle,
		})
		if err != nil {
			return "", fmt.Errorf("start embedded router %d: %w", i, err)
		}
		be.routers = append(be.routers, rt)
	}
	be.targets = inject.Targets{Routers: be.routers}
	be.shown = scenario.EmbeddedRouter
	if n > 1 {
		be.shown = fmt.Sprintf("%s×%d", scenario.EmbeddedRouter, n)
		if err := router.Mesh(ctx, be.routers...); err != nil {
			return "", fmt.Errorf("mesh the embedded routers: %w", err)
		}
		for _, rt := range be.routers {
			be.urls = append(be.urls, rt.URL())
		}
	}
	return be.routers[0].URL(), nil
}

// startBackend starts the embedded broker or connects to the staging one,
// and the proxy when a fault needs it.
func startBackend(ctx context.Context, s *scenario.Scenario, seed uint64) (*backend, error) {
	be := &backend{}
	ok := false
	defer func() {
		if !ok {
			be.close()
		}
	}()
	raw := s.Backend.URL
	if s.Backend.Router() {
		var err error
		if raw, err = be.startRouters(ctx, s, seed); err != nil {
			return nil, err
		}
	} else if s.Backend.Embedded() {
		opts := broker.Options{FaultSeed: seed, EventLogSize: eventLogSize, Heartbeat: s.Backend.Heartbeat, AMQP1Addr: "127.0.0.1:0"}
		if s.Backend.Durable {
			dir, err := os.MkdirTemp("", "chaos-broker-")
			if err != nil {
				return nil, err
			}
			be.dir, opts.Dir = dir, dir
		}
		b, err := broker.Start(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("start the embedded broker: %w", err)
		}
		be.b = b
		raw = b.URL()
		be.shown = "embedded"
		be.targets = inject.Targets{Broker: b, AMQPURL: b.AMQPURL(), VHost: "/"}
		if s.Driver == scenario.AMQP1 {
			raw = b.AMQP1URL()
		}
	} else {
		u, err := drivers.ParseURL(raw)
		if err != nil {
			return nil, err
		}
		be.shown = u.String()
		// Against an amqp:// URL only TCP faults apply: there is nothing
		// to manage through AMQP 0-9-1.
		if s.Driver != scenario.AMQP1 {
			amqpURL, vhost, err := plainAMQP(u)
			if err != nil {
				return nil, err
			}
			m, err := mgmt.ForURL(raw, s.Backend.Management)
			if err != nil {
				return nil, err
			}
			be.targets = inject.Targets{Mgmt: m, AMQPURL: amqpURL, VHost: vhost}
		}
	}
	u, err := drivers.ParseURL(raw)
	if err != nil {
		return nil, err
	}
	if s.Driver == scenario.AMQP1 {
		u.Scheme = "amqp"
	} else {
		u.Scheme = s.Driver
	}
	if needsProxy(s) {
		if len(u.Hosts) == 0 {
			u.Hosts = []drivers.TransportHost{{Hostname: "localhost"}}
		}
		px, err := proxy.Start(u.Hosts[0].Addr(drivers.DefaultPort))
		if err != nil {
			return nil, err
		}
		be.px = px
		be.targets.Proxy = px
		host, port, err := net.SplitHostPort(px.Addr())
		if err != nil {
			return nil, err
		}
		p, _ := strconv.Atoi(port)
		h := u.Hosts[0]
		h.Hostname, h.Port = host, p
		u.Hosts = []drivers.TransportHost{h}
	}
	be.url = u.Secret()
	ok = true
	return be, nil
}

func needsProxy(s *scenario.Scenario) bool {
	for _, f := range s.Faults {
		if f.Toxic() {
			return true
		}
	}
	return false
}

// plainAMQP turns a transport URL's first host into an amqp:// URL for an
// ordinary AMQP client, and returns the virtual host.
func plainAMQP(u *drivers.TransportURL) (string, string, error) {
	h := drivers.TransportHost{Hostname: "localhost"}
	if len(u.Hosts) > 0 {
		h = u.Hosts[0]
	}
	user, pass := h.Username, h.Password
	if user == "" && !h.HasCredentials {
		user, pass = "guest", "guest"
	}
	vhost := u.VirtualHost
	if vhost == "" {
		vhost = "/"
	}
	au := url.URL{Scheme: "amqp", User: url.UserPassword(user, pass), Host: h.Addr(drivers.DefaultPort), Path: "/" + vhost, RawPath: "/" + url.PathEscape(vhost)}
	return au.String(), vhost, nil
}

// watch reads the embedded broker's (or routers') event log into the
// record until stop.
func (be *backend) watch(rec *history.Recorder) {
	if len(be.routers) > 0 {
		be.watchRouters(rec)
		return
	}
	if be.b == nil {
		return
	}
	sub := be.b.Subscribe()
	ctx, cancel := context.WithCancel(context.Background())
	be.stopSub = cancel
	be.subDone = make(chan struct{})
	go func() {
		defer close(be.subDone)
		for {
			ev, err := sub.Next(ctx)
			if err == broker.ErrEventsLost {
				rec.BrokerEventsLost()
				continue
			}
			if err != nil {
				return
			}
			rec.BrokerEvent(string(ev.Type), rec.Since(ev.Time), ev.Type == broker.EventConnectionClosed)
		}
	}()
}

// watchRouters reads every router's event log into the record.
func (be *backend) watchRouters(rec *history.Recorder) {
	ctx, cancel := context.WithCancel(context.Background())
	be.stopSub = cancel
	be.subDone = make(chan struct{})
	var wg sync.WaitGroup
	for _, rt := range be.routers {
		sub := rt.Subscribe()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ev, err := sub.Next(ctx)
				if err == router.ErrEventsLost {
					rec.BrokerEventsLost()
					continue
				}
				if err != nil {
					return
				}
				rec.BrokerEvent(string(ev.Type), rec.Since(ev.Time), ev.Type == router.EventConnectionClosed)
			}
		}()
	}
	go func() { wg.Wait(); close(be.subDone) }()
}

// routerStats returns the embedded routers' counters.
func (be *backend) routerStats() []router.Totals {
	var out []router.Totals
	for _, rt := range be.routers {
		out = append(out, rt.Totals())
	}
	return out
}

// brokerStats returns the embedded broker's counters, nil against staging.
func (be *backend) brokerStats() *broker.Totals {
	if be.b == nil {
		return nil
	}
	t := be.b.Stats().Totals
	return &t
}

func (be *backend) close() {
	if be.stopSub != nil {
		be.stopSub()
		<-be.subDone
		be.stopSub = nil
	}
	if be.px != nil {
		be.px.Close()
		be.px = nil
	}
	if be.b != nil {
		be.b.Close()
		be.b = nil
	}
	for _, rt := range be.routers {
		rt.Close()
	}
	be.routers = nil
	if be.dir != "" {
		os.RemoveAll(be.dir)
		be.dir = ""
	}
}

// deleteQueues removes the named queues from a staging broker after a run,
// so repeated runs leave nothing behind but queues that expire by
// themselves. Failures are ignored: the queues may not exist.
func deleteQueues(amqpURL string, names []string) {
	if len(names) == 0 {
		return
	}
	conn, err := dialPlain(amqpURL)
	if err != nil {
		return
	}
	defer conn.Close()
	for _, n := range names {
		ch, err := conn.Channel()
		if err != nil {
			return
		}
		_, _ = ch.QueueDelete(n, false, false, false)
		ch.Close()
	}
}

func dialPlain(amqpURL string) (*amqp.Connection, error) {
	return amqp.DialConfig(amqpURL, amqp.Config{Dial: amqp.DefaultDial(5 * time.Second), Properties: amqp.Table{"connection_name": "switchyard-chaos:cleanup"}})
}
