package broker

import (
	"slices"
	"strings"
	"time"

	"github.com/switchyard-dev/switchyard/fake/fault"
)

// QueueStats are a queue's counters.
type QueueStats struct {
	VHost        string // virtual host
	Name         string // queue name
	Durable      bool   // declared durable
	Ready        int    // messages waiting
	Unacked      int    // delivered and not yet settled
	Consumers    int    // current consumers
	Enqueued     uint64 // messages put in the queue
	Delivered    uint64 // deliveries, including basic.get and redeliveries
	Redelivered  uint64 // deliveries with the redelivered flag
	Acked        uint64 // deliveries acknowledged
	Nacked       uint64 // nacks and rejects
	Requeued     uint64 // messages put back after a nack, reject, recover or close
	Expired      uint64 // messages whose TTL ran out
	DeadLettered uint64 // messages sent on to the dead-letter exchange
	Dropped      uint64 // max-length and overflow drops
	Purged       uint64 // messages removed by queue.purge
}

// ExchangeStats are an exchange's counters.
type ExchangeStats struct {
	VHost       string // virtual host
	Name        string // exchange name; "" for the default exchange
	Type        string // direct, fanout, topic or headers
	PublishedIn uint64 // publishes to this exchange
	Routed      uint64 // of those, reaching at least one queue
	Unroutable  uint64 // of those, reaching no queue
}

// ConnectionStats are a connection's counters.
type ConnectionStats struct {
	Name          string    // connection_name, or the address pair
	User          string    // the user who logged in
	VHost         string    // the virtual host opened
	OpenedAt      time.Time // when connection.open succeeded
	Channels      int       // channels open now
	Published     uint64    // publishes received
	Confirmed     uint64    // publisher confirms (acks) sent
	PublishNacked uint64    // publisher nacks sent
	Returned      uint64    // basic.return sent
	Delivered     uint64    // deliveries sent, including basic.get-ok
	Acked         uint64    // deliveries the client acknowledged
	Blocked       bool      // publishers blocked by a fault
}

// Totals are broker-wide counters since Start.
type Totals struct {
	ConnectionsOpened uint64 // connections that completed the handshake
	Published         uint64 // publishes received
	Confirmed         uint64 // publisher confirms (acks) sent
	PublishNacked     uint64 // publisher nacks sent
	Returned          uint64 // basic.return sent
	Delivered         uint64 // deliveries sent
	Acked             uint64 // deliveries acknowledged
	Nacked            uint64 // deliveries nacked or rejected
	Expired           uint64 // messages whose TTL ran out
	DeadLettered      uint64 // messages dead-lettered
}

// Stats is a snapshot of the broker's counters.
type Stats struct {
	Totals      Totals            // broker-wide counters
	Queues      []QueueStats      // by vhost, then name
	Exchanges   []ExchangeStats   // by vhost, then name; the default exchange is ""
	Connections []ConnectionStats // by opening time
}

// Stats returns a snapshot of every counter.
func (b *Broker) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := Stats{Totals: b.totals}
	for _, vn := range slices.Sorted(mapsKeys(b.vhosts)) {
		vh := b.vhosts[vn]
		for _, qn := range slices.Sorted(mapsKeys(vh.queues)) {
			s.Queues = append(s.Queues, vh.queues[qn].snapshot())
		}
		for _, en := range slices.Sorted(mapsKeys(vh.exchanges)) {
			e := vh.exchanges[en]
			es := e.stats
			es.VHost, es.Name, es.Type = vn, e.name, e.kind
			s.Exchanges = append(s.Exchanges, es)
		}
	}
	for _, c := range b.openConns() {
		cs := c.stats
		cs.Channels = len(c.channels)
		cs.Blocked = c.blockedCh != nil
		s.Connections = append(s.Connections, cs)
	}
	return s
}

func (q *queue) snapshot() QueueStats {
	s := q.stats
	s.VHost, s.Name, s.Durable = q.vh.name, q.name, q.durable
	s.Ready = q.msgs.Len()
	s.Unacked = q.unacked
	s.Consumers = len(q.consumers)
	return s
}

// Queue returns the counters of a queue and whether it exists.
func (b *Broker) Queue(vhost, name string) (QueueStats, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	vh := b.vhosts[vhost]
	if vh == nil || vh.queues[name] == nil {
		return QueueStats{}, false
	}
	return vh.queues[name].snapshot(), true
}

// QueueDepth returns the number of ready messages in a queue, 0 if there
// is no such queue.
func (b *Broker) QueueDepth(vhost, name string) int {
	s, _ := b.Queue(vhost, name)
	return s.Ready
}

// QueueNames lists the queues of a virtual host, sorted.
func (b *Broker) QueueNames(vhost string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	vh := b.vhosts[vhost]
	if vh == nil {
		return nil
	}
	return slices.Sorted(mapsKeys(vh.queues))
}

// ExchangeNames lists the exchanges of a virtual host, sorted, the default
// exchange first as "".
func (b *Broker) ExchangeNames(vhost string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	vh := b.vhosts[vhost]
	if vh == nil {
		return nil
	}
	return slices.Sorted(mapsKeys(vh.exchanges))
}

// Connections returns the counters of the open connections, by opening
// time.
func (b *Broker) Connections() []ConnectionStats { return b.Stats().Connections }

// CloseConnections force-closes the open connections whose name
// (connection_name or address) contains substr ("" for all) with 320
// CONNECTION_FORCED and the given reason, and returns how many it closed.
func (b *Broker) CloseConnections(substr, reason string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, c := range b.openConns() {
		if strings.Contains(c.displayName(), substr) {
			c.forceClose(320, "CONNECTION_FORCED - "+reason)
			n++
		}
	}
	return n
}

// ConnectionsServing counts the connections whose name (connection_name or
// address) matches pattern ('*' matches any run of characters), opened at
// or before t, that the broker still serves: open ones and those in their
// closing handshake. After a fault closes connections it reaches 0 once the
// clients have answered the close.
func (b *Broker) ConnectionsServing(pattern string, t time.Time) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for c := range b.conns {
		if c.open && !c.openedAt.After(t) && fault.Glob(pattern, c.displayName()) {
			n++
		}
	}
	return n
}
