package router

import (
	"slices"
	"strings"
)

// Totals are router-wide counters since Start.
type Totals struct {
	ConnectionsOpened  uint64 // connections that completed open
	LinksAttached      uint64 // links attached by clients
	Received           uint64 // complete deliveries from senders
	Forwarded          uint64 // copies sent to consumers
	Accepted           uint64 // senders' deliveries settled accepted
	Rejected           uint64 // ... rejected
	Released           uint64 // ... released (with or without a consumer)
	Modified           uint64 // ... modified
	ReleasedNoConsumer uint64 // released because no consumer had credit
	Dropped            uint64 // presettled deliveries no consumer took, and mutant drops
}

// AddressStats are the counters of an address with attached links.
type AddressStats struct {
	Address      string       // the address
	Distribution Distribution // how it distributes
	Consumers    int          // receiving links attached now
	Producers    int          // sending links attached now (anonymous ones excluded)
	Credit       uint64       // credit the consumers have given the router now
	Received     uint64       // deliveries from senders
	Forwarded    uint64       // copies sent to consumers
	Settled      uint64       // senders' deliveries given an outcome
	Released     uint64       // released for want of a consumer
}

// ConnectionStats describe a client connection.
type ConnectionStats struct {
	Name  string // container-id
	Links int    // links attached now
}

// Stats is a snapshot of the router's counters.
type Stats struct {
	Totals      Totals            // router-wide counters
	Addresses   []AddressStats    // addresses with links, by name
	Connections []ConnectionStats // open connections, by name
}

// Stats returns a snapshot of every counter.
func (r *Router) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Stats{Totals: r.totals}
	for _, n := range r.nodes {
		as := n.stats
		as.Consumers, as.Producers = len(n.consumers), len(n.producers)
		for _, c := range n.consumers {
			as.Credit += uint64(c.l.Credit())
		}
		s.Addresses = append(s.Addresses, as)
	}
	slices.SortFunc(s.Addresses, func(a, b AddressStats) int { return strings.Compare(a.Address, b.Address) })
	for rc := range r.conns {
		if rc.opened {
			s.Connections = append(s.Connections, ConnectionStats{Name: rc.name, Links: len(rc.links)})
		}
	}
	slices.SortFunc(s.Connections, func(a, b ConnectionStats) int { return strings.Compare(a.Name, b.Name) })
	return s
}

// Totals returns the router-wide counters.
func (r *Router) Totals() Totals {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.totals
}
