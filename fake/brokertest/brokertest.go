// Package brokertest starts Switchyard's fake AMQP 0-9-1 broker for a
// test, in the style of net/http/httptest: the broker listens on a free
// loopback port and is closed by the test's cleanup.
//
//	b := brokertest.New(t)
//	d, err := drivers.Open(ctx, b.URL(), cfg)
package brokertest

import (
	"context"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/fake/broker"
	"github.com/switchyard-dev/switchyard/fake/fault"
)

// Option changes the broker's options before it starts.
type Option func(*broker.Options)

// WithOptions replaces all options; later options still apply on top.
func WithOptions(o broker.Options) Option {
	return func(opts *broker.Options) { *opts = o }
}

// WithUser adds an account; the first account added replaces the default
// guest account. vhosts limits the account to those virtual hosts.
func WithUser(name, password string, vhosts ...string) Option {
	return func(o *broker.Options) {
		o.Users = append(o.Users, broker.User{Name: name, Password: password, VHosts: vhosts})
	}
}

// WithVHosts sets the virtual hosts.
func WithVHosts(names ...string) Option {
	return func(o *broker.Options) { o.VHosts = names }
}

// WithDir keeps durable state in dir, so it survives Restart.
func WithDir(dir string) Option {
	return func(o *broker.Options) { o.Dir = dir }
}

// WithFaults makes the broker consult inj.
func WithFaults(inj fault.Consulter) Option {
	return func(o *broker.Options) { o.Faults = inj }
}

// WithHeartbeat sets the heartbeat interval the broker proposes.
func WithHeartbeat(d time.Duration) Option {
	return func(o *broker.Options) { o.Heartbeat = d }
}

// WithAMQP1 also starts the broker's AMQP 1.0 listener on a free loopback
// port; Broker.AMQP1URL gives its URL.
func WithAMQP1() Option {
	return func(o *broker.Options) { o.AMQP1Addr = "127.0.0.1:0" }
}

// New starts a broker on 127.0.0.1 with a free port and registers its
// Close with t.Cleanup. It fails the test if the broker cannot start.
func New(t testing.TB, opts ...Option) *broker.Broker {
	t.Helper()
	var o broker.Options
	for _, opt := range opts {
		opt(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, o)
	if err != nil {
		t.Fatalf("brokertest: start: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("brokertest: close: %v", err)
		}
	})
	return b
}
