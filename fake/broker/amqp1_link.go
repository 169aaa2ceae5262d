package broker

import (
	"errors"
	"time"

	"github.com/switchyard-dev/switchyard/fake/fault"
	"github.com/switchyard-dev/switchyard/fake/internal/amqp091"
	"github.com/switchyard-dev/switchyard/fake/internal/amqp10"
	"github.com/switchyard-dev/switchyard/fake/internal/amqp10conn"
)

// newChannelLocked gives a link a channel of the shadow connection.
// Callers hold b.mu.
func (ac *a1conn) newChannelLocked(lk *a1link) bool {
	sc := ac.sc
	for range 1 << 16 {
		ac.nextCh++
		if ac.nextCh == 0 {
			ac.nextCh = 1
		}
		if sc.channels[ac.nextCh] == nil {
			ch := newChannel(sc, ac.nextCh)
			sc.channels[ch.id] = ch
			sc.stats.Channels = len(sc.channels)
			ac.byCh[ch.id] = lk
			lk.ch = ch
			return true
		}
	}
	return false
}

// Attach implements amqp10conn.Handler.
func (ac *a1conn) Attach(l *amqp10conn.Link) *amqp10.Error {
	b := ac.b
	b.mu.Lock()
	defer b.mu.Unlock()
	sc := ac.sc
	if sc == nil || sc.closing {
		return forced(amqp10.CondConnectionForced, "connection closing")
	}
	now := time.Now()
	lk := &a1link{l: l}
	if l.Role() == amqp10.RoleSender {
		// The client receives, from Source.
		src := l.Source
		switch {
		case src == nil:
			return forced(amqp10.CondInvalidField, "receiving link without a source")
		case src.Dynamic:
			lk.q = b.declareA1Queue(sc, genName(a1DynamicPrefix), true, now)
			lk.temp = true
			local := *src
			local.Address = lk.q.name
			l.LocalSource = &local
		case src.Address == "":
			return forced(amqp10.CondInvalidField, "receiving link without a source address")
		default:
			n, err := b.resolveA1Locked(sc, src.Address, true, now)
			if err != nil {
				return err
			}
			if n.ex != nil {
				lk.q = b.subscribeA1(sc, n.ex, now)
				lk.temp = true
			} else {
				lk.q = n.q
			}
		}
		lk.address = lk.q.name
		if !src.Dynamic {
			lk.address = src.Address
		}
		if !ac.newChannelLocked(lk) {
			if lk.temp {
				b.dropA1Queue(sc, lk.q, "link refused")
			}
			return forced(amqp10.CondResourceLimitExceeded, "too many links")
		}
		q := lk.q
		if q.exclusiveConsumer {
			if lk.temp {
				b.dropA1Queue(sc, q, "link refused")
			}
			ac.releaseLinkChannelLocked(lk, now)
			return forced(amqp10.CondResourceLocked, "queue '"+q.name+"' has an exclusive consumer")
		}
		// One phantom unsettled delivery keeps prefetch positive, so that
		// prefetch = unacked + credit stops deliveries at zero credit.
		cons := &consumer{ch: lk.ch, q: q, tag: l.Name(), unacked: 1, prefetch: 1}
		lk.cons = cons
		lk.ch.consumers[cons.tag] = cons
		q.consumers = append(q.consumers, cons)
		q.hadConsumer = true
		q.stats.Consumers = len(q.consumers)
		q.lastUsed = now
		ac.links[l] = lk
		return nil
	}
	// The client sends, to Target.
	tgt := l.Target
	switch {
	case tgt != nil && tgt.Dynamic:
		q := b.declareA1Queue(sc, genName(a1DynamicPrefix), true, now)
		lk.node = a1Node{q: q}
		lk.temp = true
		local := *tgt
		local.Address = q.name
		l.LocalTarget = &local
		lk.address = q.name
	case tgt == nil || tgt.Address == "":
		lk.anonymous = true
	default:
		n, err := b.resolveA1Locked(sc, tgt.Address, false, now)
		if err != nil {
			return err
		}
		lk.node = n
		lk.address = tgt.Address
	}
	if !ac.newChannelLocked(lk) {
		return forced(amqp10.CondResourceLimitExceeded, "too many links")
	}
	lk.ch.confirm = true
	ac.links[l] = lk
	ac.creditLocked(lk)
	return nil
}

// creditLocked tops up a client's sending link, or withdraws its credit
// while a fault blocks publishers. Callers hold b.mu.
func (ac *a1conn) creditLocked(lk *a1link) {
	want := ac.l.opts.Credit
	b := ac.b
	if ac.sc.blockedCh != nil {
		want = 0
	} else if b.faults.Any(fault.WithholdCredit) {
		if _, on := b.faults.Check(fault.WithholdCredit, ac.sc.point(lk.address)); on {
			want = 0
		}
	}
	cur := lk.l.Credit()
	switch {
	case want == 0 && cur > 0:
		lk.l.Grant(0)
	case want > 0 && cur <= want/2:
		lk.l.Grant(want)
	}
}

// Flow implements amqp10conn.Handler.
func (ac *a1conn) Flow(l *amqp10conn.Link) {
	b := ac.b
	b.mu.Lock()
	defer b.mu.Unlock()
	lk := ac.links[l]
	if lk == nil {
		return
	}
	if lk.cons == nil {
		ac.creditLocked(lk)
		return
	}
	ac.flushLocked()
	ac.sendBacklogLocked(lk)
	ac.setPrefetchLocked(lk)
	b.dispatch(lk.q, time.Now())
	ac.flushLocked()
	if l.Drain() {
		// The engine uses up the rest of the credit when this returns.
		lk.cons.prefetch = lk.cons.unacked
	}
}

// setPrefetchLocked lets the broker deliver as many messages to a link as
// its credit allows, less those already waiting for it.
func (ac *a1conn) setPrefetchLocked(lk *a1link) {
	avail := int(lk.l.Credit()) - len(lk.backlog)
	lk.cons.prefetch = lk.cons.unacked + max(avail, 0)
}

// sendBacklogLocked sends the deliveries assigned to a link while it has
// credit. Callers hold b.mu.
func (ac *a1conn) sendBacklogLocked(lk *a1link) {
	b := ac.b
	presettled := lk.l.SenderSettleMode() == amqp10.SenderSettleModeSettled
	for len(lk.backlog) > 0 {
		d := lk.backlog[0]
		if d.settled {
			lk.backlog = lk.backlog[1:]
			continue
		}
		payload, err := ac.l.encodeA1Message(d.e.msg, d.e.redelivered)
		var o *amqp10conn.Outgoing
		if err == nil {
			o, err = lk.l.Send(payload, presettled, d.tag)
		}
		if errors.Is(err, amqp10conn.ErrNoCredit) || errors.Is(err, amqp10conn.ErrDetached) || errors.Is(err, amqp10conn.ErrClosed) {
			return // sent when credit comes, or requeued when the link goes
		}
		lk.backlog[0] = nil
		lk.backlog = lk.backlog[1:]
		now := time.Now()
		switch {
		case err != nil:
			// Too large for the client, or not encodable: it can never go
			// to this link.
			b.log.Warn("AMQP 1.0 delivery failed", "queue", lk.q.name, "err", err)
			lk.cons.prefetch--
			lk.ch.applySettle([]*delivery{d}, txNack, false, now)
		case o == nil:
			// Presettled: the message is gone from the broker.
			lk.cons.prefetch--
			lk.ch.forget(d)
			b.unstore(d.q, d.e)
			lk.ch.compactUnacked()
		}
	}
	lk.backlog = nil
}

// confirmedLocked gives the outcome of stored (or refused) messages to
// the client that sent them. Callers hold b.mu.
func (ac *a1conn) confirmedLocked(ch uint16, tag uint64, multiple, nack bool) {
	lk := ac.byCh[ch]
	if lk == nil {
		return
	}
	var state amqp10.DeliveryState = amqp10.Accepted{}
	if nack {
		state = amqp10.Rejected{Error: forced(amqp10.CondResourceLimitExceeded, "the broker could not store the message")}
	}
	kept := lk.pending[:0]
	for _, p := range lk.pending {
		if p.tag == tag || (multiple && p.tag < tag) {
			p.in.Dispose(state)
			continue
		}
		kept = append(kept, p)
	}
	clear(lk.pending[len(kept):])
	lk.pending = kept
	if len(lk.pending) == 0 {
		lk.pending = nil
	}
}

// Delivery implements amqp10conn.Handler: a client's message is routed and
// accepted once stored.
func (ac *a1conn) Delivery(in *amqp10conn.Incoming) {
	b := ac.b
	b.mu.Lock()
	defer b.mu.Unlock()
	lk := ac.links[in.Link()]
	sc := ac.sc
	if lk == nil || lk.cons != nil || sc == nil || sc.closing {
		return
	}
	defer ac.creditLocked(lk)
	now := time.Now()
	reject := func(cond amqp10.Symbol, text string) {
		in.Dispose(amqp10.Rejected{Error: forced(cond, text)})
	}
	if in.Format != 0 {
		reject(amqp10.CondNotImplemented, "unsupported message format")
		return
	}
	dm, err := decodeA1Message(in.Payload)
	if err != nil {
		reject(amqp10.CondDecodeError, "undecodable message: "+err.Error())
		return
	}
	n := lk.node
	address := lk.address
	if (n.q != nil && n.q.deleted) || (n.ex != nil && n.ex.deleted) {
		// The node went away since the attach (deleted over AMQP 0-9-1,
		// or a restart): find or make it again, as a new attach would.
		var aerr *amqp10.Error
		if n, aerr = b.resolveA1Locked(sc, address, false, now); aerr != nil {
			reject(aerr.Condition, aerr.Description)
			return
		}
		lk.node = n
	}
	if lk.anonymous {
		if dm.to == "" {
			reject(amqp10.CondInvalidField, "message without a to address on an anonymous link")
			return
		}
		address = dm.to
		var aerr *amqp10.Error
		n, aerr = b.resolveA1Locked(sc, address, false, now)
		if aerr != nil {
			reject(aerr.Condition, aerr.Description)
			return
		}
	}
	var ex *exchange
	key := address
	switch {
	case n.q != nil:
		ex = sc.vh.exchanges[""]
		key = n.q.name
	case n.ex != nil:
		ex = n.ex
		if s, _ := dm.props.Headers[a1HeaderSubject].(string); s != "" && ex.kind != kindFanout {
			key = s
		}
	}
	if ex == nil {
		reject(amqp10.CondNotFound, "no node '"+address+"'")
		return
	}
	m := &message{exchange: ex.name, routingKey: key, props: dm.props, body: dm.body,
		hash: bodyHash(dm.body), publisher: sc.publisherName, ttl: dm.ttl}
	ac.l.raw.put(m, in.Payload)
	ch := lk.ch
	seq := ch.publishSeq
	ch.route(&amqp091.BasicPublish{Exchange: ex.name, RoutingKey: key}, ex, m, now)
	if ch.publishSeq != seq {
		lk.pending = append(lk.pending, a1pending{tag: ch.publishSeq, in: in})
	}
	sc.releaseConfirms(now)
	ac.flushLocked()
}

// Outcome implements amqp10conn.Handler: a client's disposition of a
// delivery.
func (ac *a1conn) Outcome(o *amqp10conn.Outgoing, state amqp10.DeliveryState, settled bool) {
	b := ac.b
	b.mu.Lock()
	defer b.mu.Unlock()
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
	lk := ac.links[o.Link()]
	tag, _ := o.Value.(uint64)
	if lk == nil || lk.cons == nil {
		return
	}
	d := lk.ch.unackedMap[tag]
	if d == nil {
		return
	}
	now := time.Now()
	lk.cons.prefetch--
	switch s := state.(type) {
	case amqp10.Released:
		lk.ch.applySettle([]*delivery{d}, txNack, true, now)
	case amqp10.Modified:
		if s.UndeliverableHere {
			lk.ch.applySettle([]*delivery{d}, txNack, false, now)
			break
		}
		if s.DeliveryFailed || len(s.MessageAnnotations) > 0 {
			d.e.msg = ac.l.withDeliveryFailed(d.e.msg, s.MessageAnnotations)
		}
		lk.ch.applySettle([]*delivery{d}, txNack, true, now)
	case amqp10.Rejected:
		lk.ch.applySettle([]*delivery{d}, txNack, false, now)
	default: // accepted, or settled without an outcome
		lk.ch.applySettle([]*delivery{d}, txAck, false, now)
	}
	ac.flushLocked()
}

// Settled implements amqp10conn.Handler: a client settled a message before
// the broker stored it; the outcome has nowhere to go.
func (ac *a1conn) Settled(in *amqp10conn.Incoming) {}

// Detached implements amqp10conn.Handler.
func (ac *a1conn) Detached(l *amqp10conn.Link, err *amqp10.Error) {
	b := ac.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if lk := ac.links[l]; lk != nil {
		ac.detachedLocked(lk, err)
	}
}

// detachedLocked releases what a link held: its unsettled deliveries go
// back to the queue, and a queue made for it is deleted. Callers hold
// b.mu.
func (ac *a1conn) detachedLocked(lk *a1link, err *amqp10.Error) {
	if ac.links[lk.l] != lk {
		return
	}
	delete(ac.links, lk.l)
	now := time.Now()
	lk.backlog = nil
	ac.releaseLinkChannelLocked(lk, now)
	if lk.temp {
		q := lk.q
		if q == nil {
			q = lk.node.q
		}
		reason := "link detached"
		if err != nil {
			reason += ": " + err.Error()
		}
		ac.b.dropA1Queue(ac.sc, q, reason)
	}
}

// releaseLinkChannelLocked closes a link's channel of the shadow
// connection. Callers hold b.mu.
func (ac *a1conn) releaseLinkChannelLocked(lk *a1link, now time.Time) {
	ch := lk.ch
	if ch == nil {
		return
	}
	sc := ac.sc
	if sc.channels[ch.id] == ch {
		ac.b.releaseChannel(ch, now)
		delete(sc.channels, ch.id)
		sc.stats.Channels = len(sc.channels)
	}
	delete(ac.byCh, ch.id)
}

// Closed implements amqp10conn.Handler.
func (ac *a1conn) Closed(ec *amqp10conn.Conn, err error) {
	b := ac.b
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(ac.l.conns, ac)
	sc := ac.sc
	if sc == nil {
		return
	}
	for _, lk := range ac.links {
		ac.detachedLocked(lk, nil)
	}
	var ae *amqp10.Error
	switch {
	case sc.closing:
		sc.setReason("closed by broker")
	case err == nil:
		sc.setReason("client closed the connection")
	case errors.As(err, &ae):
		sc.setReason("client closed the connection: " + ae.Error())
	default:
		sc.setReason("connection lost: " + err.Error())
	}
	if !sc.closing {
		sc.closing = true
		close(sc.closingCh)
	}
	sc.cleanup()
	delete(b.conns, sc)
	close(sc.done)
}
