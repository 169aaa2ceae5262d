package drivers

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Factory opens a driver for a parsed URL. cfg is the caller's Config with
// the URL's query options already applied to the driver's group and
// substitutions expanded; the factory may keep it.
type Factory func(ctx context.Context, u *TransportURL, cfg *Config) (Driver, error)

// Registration describes a driver to the registry.
type Registration struct {
	// Scheme is the URL scheme, such as "rabbit"; "rabbit+x://" URLs open
	// it too.
	Scheme string
	// Group is the option group the URL's query overrides, such as
	// "oslo_messaging_rabbit"; empty when the driver takes no query
	// options.
	Group string
	// Open opens the driver.
	Open Factory
}

var (
	registryMu sync.RWMutex
	registry   = map[string]Registration{}
)

// Register makes a driver available to Open. Drivers register from their
// package's init; registering a scheme twice panics, as a programming error.
func Register(r Registration) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if r.Scheme == "" || r.Open == nil {
		panic("drivers: Register needs a scheme and an Open function")
	}
	if _, dup := registry[r.Scheme]; dup {
		panic("drivers: scheme registered twice: " + r.Scheme)
	}
	if r.Group != "" && !IsKnownGroup(r.Group) {
		panic("drivers: unknown option group " + r.Group)
	}
	registry[r.Scheme] = r
}

// Schemes lists the registered schemes, sorted.
func Schemes() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]string, 0, len(registry))
	for s := range registry {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Open parses rawURL, picks the driver registered for its scheme (the part
// before any "+"), applies the URL's query options over cfg's group for that
// driver, and opens it. An empty rawURL means cfg's [DEFAULT] transport_url;
// a nil cfg means DefaultConfig(). Errors: *URLError for an unparsable URL
// or an unknown scheme (naming the known ones), *OptionError for a bad
// query option, or whatever the driver returns (C19).
func Open(ctx context.Context, rawURL string, cfg *Config) (Driver, error) {
	if cfg == nil {
		cfg = DefaultConfig()
	}
	if rawURL == "" {
		rawURL = cfg.Default.TransportURL
	}
	u, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	registryMu.RLock()
	reg, ok := registry[u.Driver()]
	registryMu.RUnlock()
	if !ok {
		known := Schemes()
		reason := fmt.Sprintf("no driver for scheme %q", u.Driver())
		if len(known) == 0 {
			reason += "; no drivers are registered (import a driver package, such as drivers/rabbit)"
		} else {
			reason += "; known schemes: " + strings.Join(known, ", ")
		}
		return nil, &URLError{URL: u.String(), Reason: reason}
	}
	c, err := cfg.ApplyQuery(reg.Group, u.Query)
	if err != nil {
		return nil, err
	}
	if c, err = c.Expand(); err != nil {
		return nil, err
	}
	return reg.Open(ctx, u, c)
}
