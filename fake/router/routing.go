package router

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/switchyard-dev/switchyard/fake/fault"
	"github.com/switchyard-dev/switchyard/fake/internal/amqp10"
	"github.com/switchyard-dev/switchyard/fake/internal/amqp10conn"
)

// node is an address with its attached links.
type node struct {
	address   string
	dist      Distribution
	consumers []*consumer
	producers []*producer
	rr        int // next consumer to try, for closest
	stats     AddressStats
}

// consumer is a client's receiving link: the router sends on it.
type consumer struct {
	remote    bool // a peer router's subscription, not a client's
	rc        *rconn
	l         *amqp10conn.Link
	n         *node
	unsettled map[*amqp10conn.Outgoing]*transit
	// backlog holds copies routed to the consumer while it had no credit,
	// sent as credit comes (at most Options.Credit of them), as
	// qpid-dispatch keeps undelivered messages on an outgoing link.
	backlog []queued
}

// queued is a copy waiting for a consumer's credit.
type queued struct {
	payload    []byte
	presettled bool
	t          *transit // nil for a presettled copy
}

// producer is a client's sending link: the router receives on it. n is nil
// for an anonymous link, which routes by each message's "to".
type producer struct {
	rc *rconn
	l  *amqp10conn.Link
	n  *node
}

// transit is an unsettled delivery from a sender on its way to consumers.
type transit struct {
	dispose func(amqp10.DeliveryState) // gives the sender its outcome
	conn    string                     // the sender's connection
	link    string                     // the sender's link
	address string
	pending int // copies whose outcome is still due
	multi   bool
	routing bool // copies are still being made: do not finish yet
	last    amqp10.DeliveryState
	// multicast outcome tally
	accepted, released, modified int
	rejected                     *amqp10.Rejected
	firstModified                *amqp10.Modified
	final                        amqp10.DeliveryState
	done                         bool
}

// rconn is one client connection; it is the engine's Handler.
type rconn struct {
	mesh    bool // a peer router's connection
	r       *Router
	c       *amqp10conn.Conn
	name    string // container-id once open
	opened  bool
	links   map[*amqp10conn.Link]any // *consumer or *producer
	refused bool
}

func (rc *rconn) point(address string) fault.Point {
	return fault.Point{Queue: address, Connection: rc.name}
}

func (rc *rconn) skipKeepalive() bool {
	r := rc.r
	if !r.faults.Any(fault.StopHeartbeats) {
		return false
	}
	r.mu.Lock()
	name := rc.name
	r.mu.Unlock()
	_, on := r.faults.Check(fault.StopHeartbeats, fault.Point{Connection: name})
	return on
}

// Open implements amqp10conn.Handler.
func (rc *rconn) Open(c *amqp10conn.Conn) *amqp10.Error {
	r := rc.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if id := c.ContainerID(); id != "" {
		rc.name = id
	}
	if _, on := r.faults.Check(fault.RefuseConnections, fault.Point{Connection: rc.name}); on {
		rc.refused = true
		r.emit(Event{Type: EventConnectionRefused, Connection: rc.name, Reason: string(amqp10.CondConnectionForced)})
		return &amqp10.Error{Condition: amqp10.CondConnectionForced, Description: "connections refused by an injected fault"}
	}
	rc.opened = true
	rc.mesh = strings.HasPrefix(rc.name, meshPrefix)
	rc.links = map[*amqp10conn.Link]any{}
	r.totals.ConnectionsOpened++
	r.emit(Event{Type: EventConnectionOpened, Connection: rc.name})
	return nil
}

func (r *Router) nodeLocked(address string, dist Distribution) *node {
	n := r.nodes[address]
	if n == nil {
		if dist == "" {
			dist = r.distribution(address)
		}
		n = &node{address: address, dist: dist}
		n.stats.Address, n.stats.Distribution = address, dist
		r.nodes[address] = n
	}
	return n
}

// forgetLocked drops a node with no links left.
func (r *Router) forgetLocked(n *node) {
	if n != nil && len(n.consumers) == 0 && len(n.producers) == 0 {
		delete(r.nodes, n.address)
	}
}

func roleName(r amqp10.Role) string { return r.String() }

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// locals counts the consumers of this router's own clients.
func (n *node) locals() int {
	k := 0
	for _, c := range n.consumers {
		if !c.remote {
			k++
		}
	}
	return k
}

// Attach implements amqp10conn.Handler.
func (rc *rconn) Attach(l *amqp10conn.Link) *amqp10.Error {
	r := rc.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || !rc.opened {
		return &amqp10.Error{Condition: amqp10.CondConnectionForced, Description: "router shutting down"}
	}
	refuse := func(cond amqp10.Symbol, desc string) *amqp10.Error {
		r.emit(Event{Type: EventLinkRefused, Connection: rc.name, Link: l.Name(), Role: roleName(!l.Role()), Reason: string(cond) + ": " + desc})
		return &amqp10.Error{Condition: cond, Description: desc}
	}
	if (l.Source != nil && l.Source.Dynamic || l.Target != nil && l.Target.Dynamic) && r.opts.NoDynamic {
		return refuse(amqp10.CondNotImplemented, "dynamic sources and targets are not supported here")
	}
	if addr := linkAddress(l); addr != "" {
		for _, p := range r.opts.RefuseAddresses {
			if strings.HasPrefix(addr, p) {
				return refuse(amqp10.CondUnauthorizedAccess, "links to "+addr+" are refused by policy")
			}
		}
	}
	if l.Role() == amqp10.RoleSender {
		// The client receives from Source.
		src := l.Source
		var n *node
		switch {
		case src == nil:
			return refuse(amqp10.CondInvalidField, "receiving link without a source")
		case src.Dynamic:
			r.dynamic++
			addr := fmt.Sprintf("_dynamic/%s/temp.%d", r.opts.ContainerID, r.dynamic)
			local := *src
			local.Address = addr
			local.Dynamic = true
			l.LocalSource = &local
			n = r.nodeLocked(addr, Closest)
		case src.Address == "":
			return refuse(amqp10.CondInvalidField, "receiving link without a source address")
		default:
			n = r.nodeLocked(src.Address, "")
		}
		c := &consumer{rc: rc, l: l, n: n, remote: rc.mesh, unsettled: map[*amqp10conn.Outgoing]*transit{}}
		n.consumers = append(n.consumers, c)
		if !c.remote && n.locals() == 1 {
			r.subscribePeersLocked(n.address)
		}
		rc.links[l] = c
		r.totals.LinksAttached++
		r.emit(Event{Type: EventLinkAttached, Connection: rc.name, Address: n.address, Link: l.Name(), Role: "receiver"})
		return nil
	}
	// The client sends to Target.
	tgt := l.Target
	p := &producer{rc: rc, l: l}
	address := ""
	switch {
	case tgt != nil && tgt.Dynamic:
		r.dynamic++
		address = fmt.Sprintf("_dynamic/%s/temp.%d", r.opts.ContainerID, r.dynamic)
		local := *tgt
		local.Address = address
		l.LocalTarget = &local
		p.n = r.nodeLocked(address, Closest)
	case tgt != nil && tgt.Address != "":
		address = tgt.Address
		p.n = r.nodeLocked(address, "")
	}
	if p.n != nil {
		p.n.producers = append(p.n.producers, p)
	}
	rc.links[l] = p
	r.totals.LinksAttached++
	r.emit(Event{Type: EventLinkAttached, Connection: rc.name, Address: address, Link: l.Name(), Role: "sender"})
	r.creditLocked(p)
	return nil
}

// avail returns the credit the node's producers may have: what its
// consumers can take now, capped by Options.Credit.
func (r *Router) avail(n *node) uint32 {
	var sum, most uint64
	for _, c := range n.consumers {
		if r.cutLocked(c) {
			continue
		}
		cr := uint64(c.l.Credit())
		sum += cr
		most = max(most, cr)
	}
	if n.dist == Multicast {
		sum = most
	}
	return uint32(min(sum, uint64(r.opts.Credit)))
}

// creditLocked tops up or withdraws a producer's credit.
func (r *Router) creditLocked(p *producer) {
	target := r.opts.Credit
	addr := ""
	if p.n != nil {
		target = r.avail(p.n)
		addr = p.n.address
	}
	if r.faults.Any(fault.WithholdCredit) {
		if _, on := r.faults.Check(fault.WithholdCredit, p.rc.point(addr)); on {
			target = 0
		}
	}
	cur := p.l.Credit()
	switch {
	case target == 0 && cur > 0:
		p.l.Grant(0)
	case target > 0 && cur <= target/2:
		p.l.Grant(target)
	}
}

func (r *Router) nodeCreditLocked(n *node) {
	for _, p := range n.producers {
		r.creditLocked(p)
	}
}

// Flow implements amqp10conn.Handler.
func (rc *rconn) Flow(l *amqp10conn.Link) {
	r := rc.r
	r.mu.Lock()
	defer r.mu.Unlock()
	switch x := rc.links[l].(type) {
	case *consumer:
		r.flushBacklogLocked(x)
		r.nodeCreditLocked(x.n)
	case *producer:
		r.creditLocked(x)
	}
}

func bodyHash(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

// messageTo returns the "to" property of an encoded message.
func messageTo(payload []byte) (string, error) {
	var m amqp10.Message
	if err := m.Unmarshal(payload); err != nil {
		return "", err
	}
	if m.Properties == nil || m.Properties.To == "" {
		return "", fmt.Errorf("message without a to address")
	}
	return m.Properties.To, nil
}

// Delivery implements amqp10conn.Handler: it routes a sender's message.
func (rc *rconn) Delivery(in *amqp10conn.Incoming) {
	r := rc.r
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := rc.links[in.Link()].(*producer)
	if !ok {
		return
	}
	defer r.creditLocked(p)
	n := p.n
	address := ""
	if n != nil {
		address = n.address
	} else {
		to, err := messageTo(in.Payload)
		if err != nil {
			r.totals.Received++
			in.Dispose(&amqp10.Rejected{Error: &amqp10.Error{Condition: amqp10.CondInvalidField, Description: "anonymous link: " + err.Error()}})
			return
		}
		address = to
		n = r.nodes[to]
	}
	r.totals.Received++
	ev := Event{Type: EventReceived, Connection: rc.name, Address: address, Link: in.Link().Name(), Presettled: in.Settled}
	if !r.events.Off() {
		ev.BodyHash = bodyHash(in.Payload)
	}
	if n != nil {
		n.stats.Received++
	}
	r.emit(ev)

	if r.faults.Any(fault.EarlyAck) {
		if _, on := r.faults.Check(fault.EarlyAck, rc.point(address)); on {
			// Mutant: settle as accepted before any consumer has it.
			in.Dispose(amqp10.Accepted{})
			copies := 0
			if n != nil {
				for _, c := range r.pick(n) {
					if _, err := c.l.Send(in.Payload, true, nil); err == nil {
						copies++
						r.forwardedLocked(c, n, in.Payload)
						if n.dist != Multicast {
							break
						}
					}
				}
			}
			if copies == 0 {
				r.totals.Dropped++
				r.emit(Event{Type: EventDropped, Connection: rc.name, Address: address, Reason: "early-ack mutant"})
			}
			return
		}
	}

	if r.faults.Any(fault.LoseAcknowledged) {
		if _, on := r.faults.Check(fault.LoseAcknowledged, rc.point(address)); on {
			// Mutant: tell the sender accepted and forward nothing.
			in.Dispose(amqp10.Accepted{})
			r.totals.Dropped++
			r.emit(Event{Type: EventDropped, Connection: rc.name, Address: address, Link: in.Link().Name(), Reason: "lose-acknowledged mutant"})
			return
		}
	}

	if !in.Settled {
		for _, k := range []fault.Kind{fault.ReleaseDeliveries, fault.ModifyDeliveries} {
			if !r.faults.Any(k) {
				continue
			}
			if _, on := r.faults.Check(k, rc.point(address)); on {
				// Fault: answer instead of routing, as a router with no
				// consumer able to take the message would.
				t := &transit{dispose: in.Dispose, conn: rc.name, link: in.Link().Name(), address: address}
				var state amqp10.DeliveryState = amqp10.Released{}
				if k == fault.ModifyDeliveries {
					state = amqp10.Modified{DeliveryFailed: true}
				}
				r.emit(Event{Type: EventReleased, Connection: rc.name, Address: address, Link: in.Link().Name(), Reason: "fault " + string(k)})
				r.settleLocked(t, state)
				return
			}
		}
	}

	var t *transit
	if !in.Settled {
		t = &transit{dispose: in.Dispose, conn: rc.name, link: in.Link().Name(), address: address, routing: true}
	}
	copies := 0
	if n != nil {
		copies = r.routeLocked(n, in.Payload, in.Settled, t, false)
		if copies > 0 && r.faults.Any(fault.DuplicateDelivery) {
			if _, on := r.faults.Check(fault.DuplicateDelivery, rc.point(address)); on {
				// Mutant: a second copy of the same delivery, under the
				// same transit, so the sender hears one outcome.
				copies += r.routeLocked(n, in.Payload, in.Settled, t, false)
			}
		}
	}
	switch {
	case copies == 0 && in.Settled:
		r.totals.Dropped++
		r.emit(Event{Type: EventDropped, Connection: rc.name, Address: address, Reason: "no consumer"})
	case copies == 0:
		r.totals.ReleasedNoConsumer++
		if n != nil {
			n.stats.Released++
		}
		r.emit(Event{Type: EventReleased, Connection: rc.name, Address: address, Link: in.Link().Name()})
		t.routing = false
		r.settleLocked(t, amqp10.Released{})
	case t != nil:
		t.routing = false
		if t.pending == 0 {
			// Every copy went presettled (the consumers asked for settled
			// deliveries): nothing will come back; the router answers.
			r.finishLocked(t)
		}
	}
	if n != nil {
		r.nodeCreditLocked(n)
	}
}

// routeLocked hands copies of a message to n's consumers (only those of
// this router's own clients when localOnly) and returns how many took or
// queued one.
func (r *Router) routeLocked(n *node, payload []byte, presettled bool, t *transit, localOnly bool) int {
	if t != nil {
		t.multi = n.dist == Multicast
	}
	copies := 0
	for _, c := range r.order(n) {
		if localOnly && c.remote {
			continue
		}
		if c.l.Credit() > 0 {
			if !r.sendCopyLocked(c, queued{payload: payload, presettled: presettled, t: t}) {
				continue // detached meanwhile, or the message is too large for it
			}
		} else if len(c.backlog) < int(r.opts.Credit) {
			c.backlog = append(c.backlog, queued{payload: payload, presettled: presettled, t: t})
			if t != nil {
				t.pending++
			}
		} else {
			continue
		}
		copies++
		if n.dist != Multicast {
			break
		}
	}
	return copies
}

// sendCopyLocked sends a copy to a consumer that has credit and reports
// whether it went.
func (r *Router) sendCopyLocked(c *consumer, q queued) bool {
	o, err := c.l.Send(q.payload, q.presettled, nil)
	if err != nil {
		return false
	}
	r.forwardedLocked(c, c.n, q.payload)
	if q.t != nil {
		q.t.pending++
		if o != nil {
			c.unsettled[o] = q.t
		} else {
			// The consumer takes settled deliveries only: no outcome will
			// come, so count the copy as taken.
			r.copyDoneLocked(q.t, amqp10.Accepted{})
		}
	}
	return true
}

// flushBacklogLocked sends a consumer's queued copies while it has credit.
func (r *Router) flushBacklogLocked(c *consumer) {
	if r.cutLocked(c) {
		return
	}
	for len(c.backlog) > 0 && c.l.Credit() > 0 {
		q := c.backlog[0]
		c.backlog[0] = queued{}
		c.backlog = c.backlog[1:]
		if q.t != nil {
			q.t.pending-- // sendCopyLocked counts it again
		}
		if !r.sendCopyLocked(c, q) {
			if q.t != nil {
				q.t.pending++ // counted again for dropCopyLocked
			}
			r.dropCopyLocked(c, q)
		}
	}
	if len(c.backlog) == 0 {
		c.backlog = nil
	}
}

// dropCopyLocked gives up on a queued copy, still counted in its
// transit's pending copies: its sender hears released (for its share of
// the outcome); a presettled one is dropped.
func (r *Router) dropCopyLocked(c *consumer, q queued) {
	if q.t == nil {
		r.totals.Dropped++
		r.emit(Event{Type: EventDropped, Connection: c.rc.name, Address: c.n.address, Link: c.l.Name(), Reason: "consumer went away before it had credit"})
		return
	}
	r.copyDoneLocked(q.t, amqp10.Released{})
}

func (r *Router) forwardedLocked(c *consumer, n *node, payload []byte) {
	r.totals.Forwarded++
	n.stats.Forwarded++
	if !r.events.Off() {
		r.emit(Event{Type: EventForwarded, Connection: c.rc.name, Address: n.address, Link: c.l.Name(), BodyHash: bodyHash(payload)})
	}
}

// cutLocked reports whether c is a peer router's subscription that a
// Partition fault cuts off.
func (r *Router) cutLocked(c *consumer) bool {
	if !c.remote || !r.faults.Any(fault.Partition) {
		return false
	}
	_, on := r.faults.Check(fault.Partition, fault.Point{Queue: c.n.address, Connection: strings.TrimPrefix(c.rc.name, meshPrefix)})
	return on
}

// order returns every consumer of n in the order to try: those with
// credit as pick orders them, then the others, shortest backlog first.
func (r *Router) order(n *node) []*consumer {
	out := r.pick(n)
	var rest []*consumer
	for _, c := range n.consumers {
		if c.l.Credit() == 0 && !r.cutLocked(c) {
			rest = append(rest, c)
		}
	}
	slices.SortStableFunc(rest, func(a, b *consumer) int { return len(a.backlog) - len(b.backlog) })
	return append(out, rest...)
}

// pick returns the consumers to try, in order: for multicast every one
// with credit, for closest the next in turn first, for balanced the one
// with fewest unsettled deliveries first.
func (r *Router) pick(n *node) []*consumer {
	var out []*consumer
	k := len(n.consumers)
	for i := range k {
		c := n.consumers[(n.rr+i)%k]
		if c.l.Credit() > 0 && !r.cutLocked(c) {
			out = append(out, c)
		}
	}
	if k > 0 {
		n.rr = (n.rr + 1) % k
	}
	if n.dist == Closest && len(out) > 1 {
		// This router's own consumers are closer than other routers'.
		slices.SortStableFunc(out, func(a, b *consumer) int { return boolInt(a.remote) - boolInt(b.remote) })
	}
	if n.dist == Balanced && len(out) > 1 {
		best := 0
		for i, c := range out {
			if len(c.unsettled) < len(out[best].unsettled) {
				best = i
			}
		}
		out[0], out[best] = out[best], out[0]
	}
	return out
}

// Outcome implements amqp10conn.Handler: a consumer's disposition.
func (rc *rconn) Outcome(o *amqp10conn.Outgoing, state amqp10.DeliveryState, settled bool) {
	r := rc.r
	r.mu.Lock()
	defer r.mu.Unlock()
	c, _ := rc.links[o.Link()].(*consumer)
	terminal := settled
	switch state.(type) {
	case amqp10.Accepted, amqp10.Rejected, amqp10.Released, amqp10.Modified:
		terminal = true
	}
	if !terminal {
		return
	}
	if !settled {
		o.Settle()
	}
	if c == nil {
		return
	}
	t := c.unsettled[o]
	delete(c.unsettled, o)
	if t == nil {
		return
	}
	r.copyDoneLocked(t, state)
	r.nodeCreditLocked(c.n)
}

// copyDoneLocked records one copy's outcome and settles the sender's
// delivery when the last is in.
func (r *Router) copyDoneLocked(t *transit, state amqp10.DeliveryState) {
	if t.done {
		return
	}
	t.pending--
	if state == nil {
		state = amqp10.Accepted{} // settled without a state
	}
	t.last = state
	switch s := state.(type) {
	case amqp10.Accepted:
		t.accepted++
	case amqp10.Rejected:
		if t.rejected == nil {
			t.rejected = &s
		}
	case amqp10.Modified:
		t.modified++
		if t.firstModified == nil {
			t.firstModified = &s
		}
	default:
		t.released++
	}
	if t.pending > 0 || t.routing {
		return
	}
	r.finishLocked(t)
}

// finishLocked settles the sender's delivery with the outcome of its
// copies: for one copy its outcome; for multicast, qpid-dispatch's rule:
// rejected if any copy was rejected, else accepted if any was accepted,
// else modified if any was modified, else released.
func (r *Router) finishLocked(t *transit) {
	var final amqp10.DeliveryState
	switch {
	case !t.multi && t.last != nil:
		final = t.last
	case t.rejected != nil:
		final = *t.rejected
	case t.accepted > 0:
		final = amqp10.Accepted{}
	case t.firstModified != nil:
		final = *t.firstModified
	case t.released > 0:
		final = amqp10.Released{}
	default:
		final = amqp10.Accepted{}
	}
	r.settleLocked(t, final)
}

func outcomeName(s amqp10.DeliveryState) string {
	switch s.(type) {
	case amqp10.Accepted:
		return "accepted"
	case amqp10.Rejected:
		return "rejected"
	case amqp10.Released:
		return "released"
	case amqp10.Modified:
		return "modified"
	}
	return "settled"
}

// settleLocked gives the sender's delivery its outcome, unless a fault
// withholds it.
func (r *Router) settleLocked(t *transit, state amqp10.DeliveryState) {
	if t == nil || t.done {
		return
	}
	t.done = true
	t.final = state
	if r.faults.Any(fault.WithholdDispositions) {
		if _, on := r.faults.Check(fault.WithholdDispositions, fault.Point{Queue: t.address, Connection: t.conn}); on {
			r.withheld = append(r.withheld, t)
			return
		}
	}
	r.sendOutcomeLocked(t)
}

func (r *Router) sendOutcomeLocked(t *transit) {
	t.dispose(t.final)
	switch t.final.(type) {
	case amqp10.Accepted:
		r.totals.Accepted++
	case amqp10.Rejected:
		r.totals.Rejected++
	case amqp10.Released:
		r.totals.Released++
	case amqp10.Modified:
		r.totals.Modified++
	}
	if n := r.nodes[t.address]; n != nil {
		n.stats.Settled++
	}
	r.emit(Event{Type: EventSettled, Connection: t.conn, Address: t.address, Link: t.link, Outcome: outcomeName(t.final)})
}

// Settled implements amqp10conn.Handler: a sender settled a delivery
// before its outcome came; the outcome has nowhere to go.
func (rc *rconn) Settled(in *amqp10conn.Incoming) {}

// Detached implements amqp10conn.Handler.
func (rc *rconn) Detached(l *amqp10conn.Link, err *amqp10.Error) {
	r := rc.r
	r.mu.Lock()
	defer r.mu.Unlock()
	r.detachedLocked(rc, l, err)
}

func (r *Router) detachedLocked(rc *rconn, l *amqp10conn.Link, err *amqp10.Error) {
	x, ok := rc.links[l]
	if !ok {
		return
	}
	delete(rc.links, l)
	ev := Event{Type: EventLinkDetached, Connection: rc.name, Link: l.Name()}
	if err != nil {
		ev.Reason = err.Error()
	}
	switch x := x.(type) {
	case *consumer:
		n := x.n
		n.consumers = deleteItem(n.consumers, x)
		if n.rr >= len(n.consumers) {
			n.rr = 0
		}
		ev.Address, ev.Role = n.address, "receiver"
		r.emit(ev)
		// Deliveries the consumer never settled failed there: as
		// qpid-dispatch does, tell their senders modified (delivery-failed).
		for o, t := range x.unsettled {
			delete(x.unsettled, o)
			r.copyDoneLocked(t, amqp10.Modified{DeliveryFailed: true})
		}
		backlog := x.backlog
		x.backlog = nil
		for _, q := range backlog {
			r.dropCopyLocked(x, q)
		}
		if !x.remote && n.locals() == 0 {
			r.unsubscribePeersLocked(n.address)
		}
		r.nodeCreditLocked(n)
		r.forgetLocked(n)
	case *producer:
		if n := x.n; n != nil {
			n.producers = deleteItem(n.producers, x)
			ev.Address = n.address
			r.forgetLocked(n)
		}
		ev.Role = "sender"
		r.emit(ev)
	}
}

func deleteItem[T comparable](s []T, v T) []T {
	for i, x := range s {
		if x == v {
			return append(s[:i:i], s[i+1:]...)
		}
	}
	return s
}

// Closed implements amqp10conn.Handler.
func (rc *rconn) Closed(c *amqp10conn.Conn, err error) {
	r := rc.r
	r.mu.Lock()
	defer r.mu.Unlock()
	for l := range rc.links {
		r.detachedLocked(rc, l, nil)
	}
	delete(r.conns, rc)
	if rc.opened {
		ev := Event{Type: EventConnectionClosed, Connection: rc.name}
		if err != nil {
			ev.Reason = err.Error()
		}
		r.emit(ev)
	}
}

// onFault applies faults that act when switched.
func (r *Router) onFault(ch fault.Change) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	switch ch.Fault.Kind {
	case fault.CloseConnections:
		if !ch.On {
			return
		}
		for rc := range r.conns {
			if !rc.opened {
				continue
			}
			if _, on := r.faults.Check(fault.CloseConnections, fault.Point{Connection: rc.name}); on {
				rc.c.Close(&amqp10.Error{Condition: amqp10.CondConnectionForced, Description: "closed by an injected fault"})
			}
		}
	case fault.DetachLinks:
		if !ch.On {
			return
		}
		for rc := range r.conns {
			for l, x := range rc.links {
				addr := ""
				switch x := x.(type) {
				case *consumer:
					addr = x.n.address
				case *producer:
					if x.n != nil {
						addr = x.n.address
					}
				}
				if _, on := r.faults.Check(fault.DetachLinks, rc.point(addr)); on {
					derr := &amqp10.Error{Condition: amqp10.CondDetachForced, Description: "detached by an injected fault"}
					l.Detach(derr)
					r.detachedLocked(rc, l, derr)
				}
			}
		}
	case fault.WithholdCredit:
		for _, n := range r.nodes {
			r.nodeCreditLocked(n)
		}
		for rc := range r.conns {
			for _, x := range rc.links {
				if p, ok := x.(*producer); ok && p.n == nil {
					r.creditLocked(p)
				}
			}
		}
	case fault.Partition:
		for _, n := range r.nodes {
			if ch.On {
				// Copies waiting for a cut-off router's credit go back to
				// their senders as released.
				for _, c := range n.consumers {
					if r.cutLocked(c) {
						backlog := c.backlog
						c.backlog = nil
						for _, q := range backlog {
							r.dropCopyLocked(c, q)
						}
					}
				}
			}
			r.nodeCreditLocked(n)
		}
	case fault.WithholdDispositions:
		if ch.On {
			return
		}
		held := r.withheld
		r.withheld = nil
		for _, t := range held {
			if _, on := r.faults.Check(fault.WithholdDispositions, fault.Point{Queue: t.address, Connection: t.conn}); on {
				r.withheld = append(r.withheld, t)
				continue
			}
			r.sendOutcomeLocked(t)
		}
	}
}

// linkAddress is the address a link attaches to: its source's for a link
// the client receives on, its target's for one it sends on.
func linkAddress(l *amqp10conn.Link) string {
	if l.Role() == amqp10.RoleSender {
		if l.Source != nil {
			return l.Source.Address
		}
		return ""
	}
	if l.Target != nil {
		return l.Target.Address
	}
	return ""
}
