// Package routertest starts Switchyard's fake AMQP 1.0 router for a test,
// in the style of net/http/httptest: the router listens on a free loopback
// port and is closed by the test's cleanup.
//
//	r := routertest.New(t)
//	d, err := drivers.Open(ctx, r.URL(), cfg)
package routertest

import (
	"context"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/fake/fault"
	"github.com/switchyard-dev/switchyard/fake/router"
)

// Option changes the router's options before it starts.
type Option func(*router.Options)

// WithOptions replaces all options; later options still apply on top.
func WithOptions(o router.Options) Option {
	return func(opts *router.Options) { *opts = o }
}

// WithUser adds an account for SASL PLAIN; URL then carries the first
// account's credentials.
func WithUser(name, password string) Option {
	return func(o *router.Options) { o.Users = append(o.Users, router.User{Name: name, Password: password}) }
}

// WithProduct sets the product connection property ("qpid-cpp" makes
// oslo.messaging use legacy addressing).
func WithProduct(product string) Option {
	return func(o *router.Options) { o.Product = product }
}

// WithAddresses sets the address prefixes and their distributions.
func WithAddresses(addrs ...router.Address) Option {
	return func(o *router.Options) { o.Addresses = addrs }
}

// WithFaults makes the router consult inj.
func WithFaults(inj fault.Consulter) Option {
	return func(o *router.Options) { o.Faults = inj }
}

// New starts a router on 127.0.0.1 with a free port and registers its
// Close with t.Cleanup. It fails the test if the router cannot start.
func New(t testing.TB, opts ...Option) *router.Router {
	t.Helper()
	var o router.Options
	for _, opt := range opts {
		opt(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := router.Start(ctx, o)
	if err != nil {
		t.Fatalf("routertest: start: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("routertest: close: %v", err)
		}
	})
	return r
}
