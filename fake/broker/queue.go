package broker

import (
	"slices"
	"time"

	"github.com/switchyard-dev/switchyard/fake/fault"
	"github.com/switchyard-dev/switchyard/fake/internal/amqp091"
)

// message is a published message. It is never changed once built, so the
// writers of several connections can send it at once without locking.
//
// It is kept to 96 bytes (a Go size class), as a broker may hold millions:
// persistence is read from the properties, and the publisher's name is
// shared by every message of its connection.
type message struct {
	id         uint64 // broker-wide, in publish order
	exchange   string // exchange it was (last) published to
	routingKey string
	props      *amqp091.Properties
	body       []byte
	hash       uint64  // FNV-1a of the body
	publisher  *string // name of the publishing connection; nil if unknown
	ttl        int64   // per-message TTL in ms from the expiration property; -1 for none
}

// persistent reports whether the message was published with delivery
// mode 2.
func (m *message) persistent() bool { return m.props.DeliveryMode == 2 }

// publisherName is the publishing connection's name, or "".
func (m *message) publisherName() string {
	if m.publisher == nil {
		return ""
	}
	return *m.publisher
}

// bodyHash is the 64-bit FNV-1a hash of b.
func bodyHash(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// qentry is a message's place in one queue.
type qentry struct {
	msg         *message
	seq         uint64 // order in the queue
	expiresAt   int64  // UnixNano; 0 for never
	redelivered bool
	stored      bool // recorded in the store
}

// queue is a queue with its messages and consumers.
type queue struct {
	vh                                *vhost
	name                              string
	durable, exclusive, autoDelete    bool
	owner                             *conn // for exclusive queues
	args                              amqp091.Table
	qa                                queueArgs
	msgs                              deque[*qentry]
	readyBytes                        int64
	nextSeq                           uint64
	consumers                         []*consumer
	rr                                int // round-robin position
	exclusiveConsumer                 bool
	hadConsumer                       bool
	bindings                          []*binding // where this is the destination
	unacked                           int
	lastUsed                          time.Time
	ttlArmed, expiryArmed             int64 // scheduled check times, UnixNano; 0 for none
	deleted, dispatching, serverNamed bool
	held                              *qentry // held back by the Reorder mutant

	stats QueueStats
}

// consumer is a basic.consume subscription.
type consumer struct {
	ch        *channel
	q         *queue
	tag       string
	noAck     bool
	exclusive bool
	prefetch  int // per-consumer limit; 0 for none
	unacked   int
}

// enqueue adds m to q, delivering it at once if a consumer can take it. It
// reports false when q refuses it (x-overflow reject-publish).
func (b *Broker) enqueue(q *queue, m *message, now time.Time) bool {
	if q.deleted {
		return false
	}
	if q.qa.overflow != overflowDropHead && q.full(0) {
		q.stats.Dropped++
		b.emit(Event{Type: EventDropped, VHost: q.vh.name, Queue: q.name, Exchange: m.exchange, RoutingKey: m.routingKey,
			MessageID: m.props.MessageID, BodyHash: m.hash, Reason: "overflow " + q.qa.overflow})
		if q.qa.overflow == overflowRejectDLX {
			b.deadLetter(q, &qentry{msg: m}, "maxlen", now)
		}
		return false
	}
	n := 1
	if b.faults.Any(fault.DuplicateDelivery) {
		if _, ok := b.faults.Check(fault.DuplicateDelivery, fault.Point{VHost: q.vh.name, Queue: q.name, Connection: m.publisherName()}); ok {
			n = 2
		}
	}
	reorder := false
	if b.faults.Any(fault.Reorder) {
		_, reorder = b.faults.Check(fault.Reorder, fault.Point{VHost: q.vh.name, Queue: q.name, Connection: m.publisherName()})
	}
	for range n {
		e := &qentry{msg: m, seq: q.nextSeq}
		q.nextSeq++
		ttl := q.qa.ttl
		if m.ttl >= 0 && (ttl < 0 || m.ttl < ttl) {
			ttl = m.ttl
		}
		if ttl >= 0 {
			e.expiresAt = now.UnixNano() + ttl*int64(time.Millisecond)
		}
		if b.store != nil && m.persistent() && q.durable {
			b.store.enqueue(q, e)
			e.stored = true
		}
		q.stats.Enqueued++
		if reorder && q.held == nil {
			q.held = e // queued behind the next message
			continue
		}
		q.push(e)
		if reorder {
			q.push(q.held)
			q.held = nil
		}
	}
	// A message whose TTL is zero may still go straight to a consumer, so
	// expiry at this instant waits until dispatch has had its chance.
	b.dispatchAt(q, now.UnixNano()-1)
	b.expireHead(q, now.UnixNano())
	b.enforceMaxLength(q, now)
	b.armTTL(q)
	return true
}

// full reports whether q holds as many ready messages (or bytes) as its
// limits allow, counting extra more bytes.
func (q *queue) full(extra int64) bool {
	if q.qa.maxLen >= 0 && int64(q.msgs.Len()) >= q.qa.maxLen {
		return true
	}
	return q.qa.maxBytes >= 0 && q.readyBytes+extra >= q.qa.maxBytes && q.msgs.Len() > 0
}

// enforceMaxLength drops (and dead-letters) messages from the head while q
// is over x-max-length or x-max-length-bytes.
func (b *Broker) enforceMaxLength(q *queue, now time.Time) {
	if q.qa.overflow != overflowDropHead {
		return
	}
	for q.msgs.Len() > 0 && ((q.qa.maxLen >= 0 && int64(q.msgs.Len()) > q.qa.maxLen) || (q.qa.maxBytes >= 0 && q.readyBytes > q.qa.maxBytes)) {
		e := q.popReady()
		q.stats.Dropped++
		b.emit(Event{Type: EventDropped, VHost: q.vh.name, Queue: q.name, Exchange: e.msg.exchange, RoutingKey: e.msg.routingKey,
			MessageID: e.msg.props.MessageID, BodyHash: e.msg.hash, Reason: "maxlen"})
		b.deadLetter(q, e, "maxlen", now)
		b.unstore(q, e)
	}
}

// popReady removes the head of q's ready messages.
func (q *queue) popReady() *qentry {
	e := q.msgs.PopFront()
	q.readyBytes -= int64(len(e.msg.body))
	return e
}

// unstore forgets a message that left q for good.
func (b *Broker) unstore(q *queue, e *qentry) {
	if !e.stored || b.store == nil {
		return
	}
	e.stored = false
	if q.deleted {
		b.store.forget(e) // the queue's deletion record covers it
		return
	}
	b.store.remove(q, e)
}

// requeue puts entries back in q in their original order, ahead of
// messages that were never delivered, and marks them redelivered.
func (b *Broker) requeue(q *queue, es []*qentry, now time.Time) {
	if q.deleted || len(es) == 0 {
		return
	}
	// Insert the highest sequence first so each insertion lands at (or
	// next to) the head.
	slices.SortFunc(es, func(x, y *qentry) int {
		switch {
		case x.seq > y.seq:
			return -1
		case x.seq < y.seq:
			return 1
		}
		return 0
	})
	for _, e := range es {
		e.redelivered = true
		if e.stored && b.store != nil {
			b.store.redelivered(q, e)
		}
		q.msgs.PushFront(e)
		q.readyBytes += int64(len(e.msg.body))
		for i := 0; i+1 < q.msgs.Len() && q.msgs.At(i+1).seq < e.seq; i++ {
			q.msgs.Swap(i, i+1)
		}
		q.stats.Requeued++
		b.emit(Event{Type: EventRequeued, VHost: q.vh.name, Queue: q.name, Exchange: e.msg.exchange, RoutingKey: e.msg.routingKey,
			MessageID: e.msg.props.MessageID, BodyHash: e.msg.hash})
	}
	b.dispatch(q, now)
}

// dispatch delivers ready messages of q to consumers that can take them.
func (b *Broker) dispatch(q *queue, now time.Time) {
	b.dispatchAt(q, now.UnixNano())
	b.armTTL(q)
}

func (b *Broker) dispatchAt(q *queue, now int64) {
	if q.deleted || q.dispatching {
		return
	}
	q.dispatching = true
	defer func() { q.dispatching = false }()
	b.expireHead(q, now)
	for q.msgs.Len() > 0 && len(q.consumers) > 0 {
		c := b.pickConsumer(q)
		if c == nil {
			return
		}
		b.deliver(c, q.popReady())
		b.expireHead(q, now)
	}
}

// pickConsumer returns the next consumer in round-robin order that may
// take a message, or nil.
func (b *Broker) pickConsumer(q *queue) *consumer {
	n := len(q.consumers)
	for i := range n {
		c := q.consumers[(q.rr+i)%n]
		if b.canDeliver(c) {
			q.rr = (q.rr + i + 1) % n
			return c
		}
	}
	return nil
}

func (b *Broker) canDeliver(c *consumer) bool {
	ch := c.ch
	if ch.closing || ch.c.closing || ch.c.congested() {
		return false
	}
	if b.faults.Any(fault.PauseDeliveries) {
		if _, ok := b.faults.Check(fault.PauseDeliveries, ch.c.point(c.q.name)); ok {
			return false
		}
	}
	if c.noAck {
		return true
	}
	if (c.prefetch > 0 && c.unacked >= c.prefetch) || (ch.prefetchGlobal > 0 && ch.consumerUnacked >= ch.prefetchGlobal) {
		if b.faults.Any(fault.IgnorePrefetch) {
			if _, ok := b.faults.Check(fault.IgnorePrefetch, ch.c.point(c.q.name)); ok {
				return true
			}
		}
		return false
	}
	return true
}

// deliver sends e to consumer c.
func (b *Broker) deliver(c *consumer, e *qentry) {
	ch, q := c.ch, c.q
	ch.nextTag++
	tag := ch.nextTag
	if c.noAck {
		b.unstore(q, e)
	} else {
		ch.addUnacked(&delivery{tag: tag, q: q, e: e, cons: c})
		c.unacked++
		ch.consumerUnacked++
		q.unacked++
	}
	ch.c.sendDeliver(ch.id, c.tag, tag, e.redelivered, e.msg)
	q.stats.Delivered++
	if e.redelivered {
		q.stats.Redelivered++
	}
	ch.c.stats.Delivered++
	b.totals.Delivered++
	b.emit(Event{Type: EventDelivered, VHost: q.vh.name, Queue: q.name, Exchange: e.msg.exchange, RoutingKey: e.msg.routingKey,
		DeliveryTag: tag, ConsumerTag: c.tag, Redelivered: e.redelivered, MessageID: e.msg.props.MessageID, BodyHash: e.msg.hash,
		Connection: ch.c.displayName(), Channel: ch.id})
}

// expireHead drops expired messages at the head of q, dead-lettering them
// when q has a dead-letter exchange. As in RabbitMQ, only the head
// expires: a message behind a longer-lived one waits for it.
func (b *Broker) expireHead(q *queue, now int64) {
	for q.msgs.Len() > 0 {
		e := q.msgs.Front()
		if e.expiresAt == 0 || e.expiresAt > now {
			return
		}
		q.popReady()
		q.stats.Expired++
		b.totals.Expired++
		b.emit(Event{Type: EventExpired, VHost: q.vh.name, Queue: q.name, Exchange: e.msg.exchange, RoutingKey: e.msg.routingKey,
			MessageID: e.msg.props.MessageID, BodyHash: e.msg.hash})
		b.deadLetter(q, e, "expired", time.Unix(0, now))
		b.unstore(q, e)
	}
}

// armTTL schedules the expiry of q's head message.
func (b *Broker) armTTL(q *queue) {
	if q.deleted || q.msgs.Len() == 0 || b.sched == nil {
		return
	}
	at := q.msgs.Front().expiresAt
	if at == 0 || (q.ttlArmed != 0 && q.ttlArmed <= at) {
		return
	}
	q.ttlArmed = at
	b.sched.at(at, func(now time.Time) {
		if q.ttlArmed == at {
			q.ttlArmed = 0
		}
		b.dispatch(q, now)
	})
}

// touch records a use of q for x-expires and schedules its expiry check.
func (b *Broker) touch(q *queue, now time.Time) {
	q.lastUsed = now
	b.armExpiry(q)
}

func (b *Broker) armExpiry(q *queue) {
	if q.deleted || q.qa.expires <= 0 || len(q.consumers) > 0 || b.sched == nil {
		return
	}
	at := q.lastUsed.Add(q.qa.expires).UnixNano()
	if q.expiryArmed != 0 && q.expiryArmed <= at {
		return
	}
	q.expiryArmed = at
	b.sched.at(at, func(now time.Time) {
		if q.expiryArmed == at {
			q.expiryArmed = 0
		}
		if q.deleted || len(q.consumers) > 0 {
			return
		}
		if due := q.lastUsed.Add(q.qa.expires); now.Before(due) {
			b.armExpiry(q)
			return
		}
		b.deleteQueue(q, "expired (x-expires)")
	})
}

// deleteQueue removes q with its bindings and messages, cancelling its
// consumers; it returns the number of ready messages dropped.
func (b *Broker) deleteQueue(q *queue, reason string) int {
	if q.deleted {
		return 0
	}
	n := q.msgs.Len()
	if b.vhosts[q.vh.name] == q.vh && q.vh.queues[q.name] == q {
		delete(q.vh.queues, q.name)
	}
	for _, bd := range slices.Clone(q.bindings) {
		b.removeBinding(bd)
	}
	for _, c := range slices.Clone(q.consumers) {
		b.removeConsumer(c)
		c.ch.c.sendCancel(c.ch.id, c.tag)
		delete(c.ch.consumers, c.tag)
	}
	if b.store != nil && q.durable {
		b.store.deleteQueue(q)
		for i := range q.msgs.Len() {
			b.store.forget(q.msgs.At(i))
		}
	}
	q.deleted = true
	q.msgs.Clear()
	q.readyBytes = 0
	b.emit(Event{Type: EventQueueDeleted, VHost: q.vh.name, Queue: q.name, Reason: reason})
	return n
}

// removeBinding deletes bd, and its source exchange too when that is
// auto-delete and bd was its last binding.
func (b *Broker) removeBinding(bd *binding) {
	src := bd.src
	src.removeBinding(bd)
	if b.store != nil && bindingDurable(bd) {
		b.store.unbind(bd)
	}
	if src.autoDelete && len(src.bindings) == 0 && !src.deleted {
		b.deleteExchange(src)
	}
}

func bindingDurable(bd *binding) bool {
	if !bd.src.durable || bd.src.isDefault() {
		return false
	}
	if bd.queue != nil {
		return bd.queue.durable
	}
	return bd.dest.durable
}

// deleteExchange removes e and every binding from or to it.
func (b *Broker) deleteExchange(e *exchange) {
	if e.deleted {
		return
	}
	e.deleted = true
	if e.vh.exchanges[e.name] == e {
		delete(e.vh.exchanges, e.name)
	}
	for _, bd := range slices.Clone(e.bindings) {
		e.removeBinding(bd)
		if b.store != nil && bindingDurable(bd) {
			b.store.unbind(bd)
		}
	}
	for _, bd := range slices.Clone(e.destOf) {
		b.removeBinding(bd)
	}
	if b.store != nil && e.durable {
		b.store.deleteExchange(e)
	}
	b.emit(Event{Type: EventExchangeDeleted, VHost: e.vh.name, Exchange: e.name})
}

// removeConsumer detaches c from its queue, deleting an auto-delete queue
// that lost its last consumer.
func (b *Broker) removeConsumer(c *consumer) {
	q := c.q
	if i := slices.Index(q.consumers, c); i >= 0 {
		q.consumers = slices.Delete(q.consumers, i, i+1)
		if q.rr > i {
			q.rr--
		}
		if q.rr >= len(q.consumers) {
			q.rr = 0
		}
	}
	if c.exclusive {
		q.exclusiveConsumer = false
	}
	q.stats.Consumers = len(q.consumers)
}

// deadLetter republishes e's message to q's dead-letter exchange, with the
// x-death history RabbitMQ adds, or drops it when q has none.
func (b *Broker) deadLetter(q *queue, e *qentry, reason string, now time.Time) {
	if q.qa.dlx == nil {
		return
	}
	ex := q.vh.exchanges[*q.qa.dlx]
	if ex == nil {
		return
	}
	m := e.msg
	keys := []string{m.routingKey}
	key := m.routingKey
	if q.qa.dlrk != nil {
		key = *q.qa.dlrk
	}
	props := *m.props
	headers := make(amqp091.Table, len(props.Headers)+4)
	for k, v := range props.Headers {
		headers[k] = v
	}
	death := amqp091.Table{
		"count":        int64(1),
		"reason":       reason,
		"queue":        q.name,
		"time":         now.Truncate(time.Second),
		"exchange":     m.exchange,
		"routing-keys": toAnySlice(keys),
	}
	if props.Expiration != "" {
		death["original-expiration"] = props.Expiration
		props.Expiration = ""
		props.Flags &^= amqp091.FlagExpiration
	}
	var deaths []any
	if old, ok := headers["x-death"].([]any); ok {
		for _, d := range old {
			t, ok := d.(amqp091.Table)
			if ok && t["queue"] == q.name && t["reason"] == reason {
				if n, ok := intArg(t["count"]); ok {
					death["count"] = n + 1
				}
				continue
			}
			deaths = append(deaths, d)
		}
	}
	deaths = append([]any{death}, deaths...)
	headers["x-death"] = deaths
	if _, ok := headers["x-first-death-reason"]; !ok {
		headers["x-first-death-reason"] = reason
		headers["x-first-death-queue"] = q.name
		headers["x-first-death-exchange"] = m.exchange
	}
	props.Headers = headers
	props.Flags |= amqp091.FlagHeaders
	b.nextMsgID++
	dm := &message{
		id: b.nextMsgID, exchange: ex.name, routingKey: key, props: &props, body: m.body,
		hash: m.hash, publisher: m.publisher, ttl: -1,
	}
	q.stats.DeadLettered++
	b.totals.DeadLettered++
	targets := ex.route(key, headers, nil)
	for _, t := range targets {
		if reason != "rejected" && isCycle(t.name, deaths) {
			continue
		}
		b.emit(Event{Type: EventDeadLettered, VHost: q.vh.name, Queue: q.name, Exchange: ex.name, RoutingKey: key,
			MessageID: m.props.MessageID, BodyHash: m.hash, Reason: reason, Target: t.name})
		b.enqueue(t, dm, now)
	}
}

// isCycle reports whether dead-lettering to queue would close a cycle
// without a rejection in it, which RabbitMQ breaks by dropping the
// message.
func isCycle(queue string, deaths []any) bool {
	for _, d := range deaths {
		t, _ := d.(amqp091.Table)
		if t["reason"] == "rejected" {
			return false
		}
		if t["queue"] == queue {
			return true
		}
	}
	return false
}

func toAnySlice(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// push appends e to the ready messages.
func (q *queue) push(e *qentry) {
	q.msgs.PushBack(e)
	q.readyBytes += int64(len(e.msg.body))
}

// releaseHeld queues the message the Reorder mutant held back, if any.
func (q *queue) releaseHeld() {
	if q.held != nil {
		q.push(q.held)
		q.held = nil
	}
}
