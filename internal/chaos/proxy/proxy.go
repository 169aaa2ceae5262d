// Package proxy is the in-process TCP proxy a chaos run puts between the
// drivers and the broker to inject network faults: toxiproxy's proxy and
// toxics used as a library, with no API server.
package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

var quietOnce sync.Once

// Proxy forwards a loopback port to an upstream address.
type Proxy struct {
	mu   sync.Mutex
	p    *toxiproxy.Proxy
	down bool
}

// Start starts a proxy on a free loopback port forwarding to upstream
// (host:port). toxiproxy logs through zerolog's global logger; Start
// silences zerolog for the whole process.
func Start(upstream string) (*Proxy, error) {
	quietOnce.Do(func() { zerolog.SetGlobalLevel(zerolog.Disabled) })
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "chaos", "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("proxy to %s: %w", upstream, err)
	}
	return &Proxy{p: p}, nil
}

// Addr is the address clients connect to, host:port.
func (p *Proxy) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.p.Listen
}

// AddToxic adds a toxic: kind is a toxiproxy toxic type (latency,
// bandwidth, reset_peer, timeout, slicer), stream downstream (broker to
// client) or upstream, toxicity the fraction of connections affected (0
// means all), attrs its attributes.
func (p *Proxy) AddToxic(name, kind, stream string, toxicity float64, attrs map[string]int64) error {
	if toxicity == 0 {
		toxicity = 1
	}
	if attrs == nil {
		attrs = map[string]int64{}
	}
	body, err := json.Marshal(map[string]any{"name": name, "type": kind, "stream": stream, "toxicity": toxicity, "attributes": attrs})
	if err != nil {
		return err
	}
	if _, err := p.p.Toxics.AddToxicJson(bytes.NewReader(body)); err != nil {
		return fmt.Errorf("add %s toxic: %w", kind, err)
	}
	return nil
}

// RemoveToxic removes the toxic called name.
func (p *Proxy) RemoveToxic(ctx context.Context, name string) error {
	return p.p.Toxics.RemoveToxic(ctx, name)
}

// Down closes every proxied connection and stops accepting new ones.
func (p *Proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.down {
		p.p.Stop()
		p.down = true
	}
}

// Up accepts connections again on the same port.
func (p *Proxy) Up() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.down {
		return nil
	}
	if err := p.p.Start(); err != nil {
		return fmt.Errorf("restart proxy on %s: %w", p.p.Listen, err)
	}
	p.down = false
	return nil
}

// Close stops the proxy and closes its connections.
func (p *Proxy) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.p.Toxics.ResetToxics(context.Background())
	p.p.Stop()
	p.down = true
}
