package runner

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/fake/broker"
	"github.com/switchyard-dev/switchyard/internal/chaos/history"
	"github.com/switchyard-dev/switchyard/internal/chaos/inject"
	"github.com/switchyard-dev/switchyard/internal/chaos/mgmt"
	"github.com/switchyard-dev/switchyard/internal/chaos/proxy"
	"github.com/switchyard-dev/switchyard/internal/chaos/scenario"
)

// eventLogSize is the embedded broker's event log length: long enough
// that the runner's subscription keeps up at the rates it sustains.
const eventLogSize = 1 << 18

// backend is the broker of a run and what sits in front of it.
type backend struct {
	url     string // what the drivers open: through the proxy when there is one
	shown   string // for reports: "embedded" or the URL without password
	targets inject.Targets
	b       *broker.Broker
	dir     string
	px      *proxy.Proxy
	stopSub context.CancelFunc
	subDone chan struct{}
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
	if s.Backend.Embedded() {
		opts := broker.Options{FaultSeed: seed, EventLogSize: eventLogSize, Heartbeat: s.Backend.Heartbeat}
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
	} else {
		u, err := drivers.ParseURL(raw)
		if err != nil {
			return nil, err
		}
		be.shown = u.String()
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
	u, err := drivers.ParseURL(raw)
	if err != nil {
		return nil, err
	}
	u.Scheme = s.Driver
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

// watch reads the embedded broker's event log into the record until stop.
func (be *backend) watch(rec *history.Recorder) {
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
