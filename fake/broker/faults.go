package broker

import (
	"slices"
	"time"

	"github.com/switchyard-dev/switchyard/fake/fault"
	"github.com/switchyard-dev/switchyard/fake/internal/amqp091"
)

// flushConfirms sends the confirms that the frames read so far produced.
// The reader calls it whenever it is about to wait for input (idle) or
// after a long burst, so confirms for a burst of publishes go out as one
// basic.ack with multiple set. When idle with several confirms pending, a
// pipelining publisher is at work: the confirms linger up to confirmLinger
// for the next publishes to join them, sent by the writer's timer.
func (c *conn) flushConfirms(idle bool) {
	if !c.hasDirty.Load() {
		return
	}
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	now := time.Now()
	if idle && c.pendingConfirms() > 1 {
		at := now.Add(confirmLinger).UnixNano()
		if cur := c.confirmAt.Load(); cur == 0 || cur > at {
			c.confirmAt.Store(at)
			select {
			case c.wake <- struct{}{}:
			default:
			}
		}
		return
	}
	c.releaseConfirms(now)
}

// pendingConfirms counts the confirms of the connection ready to send.
// Callers hold b.mu.
func (c *conn) pendingConfirms() int {
	n := 0
	for _, ch := range c.dirty {
		n += len(ch.confirms)
		if n > 1 {
			return n
		}
	}
	return n
}

// releaseConfirms sends every ready confirm of the connection and arms the
// writer's timer for delayed ones. Callers hold b.mu.
func (c *conn) releaseConfirms(now time.Time) {
	if len(c.dirty) == 0 {
		c.hasDirty.Store(false)
		return
	}
	if c.b.store != nil {
		// What a confirm promises must be on disk first.
		c.b.store.flush()
	}
	var next int64
	keep := c.dirty[:0]
	for _, ch := range c.dirty {
		at := ch.emitConfirms(now.UnixNano())
		if len(ch.confirms) > 0 {
			keep = append(keep, ch)
			if at != 0 && (next == 0 || at < next) {
				next = at
			}
		} else {
			ch.inDirty = false
		}
	}
	clear(c.dirty[len(keep):])
	c.dirty = keep
	c.hasDirty.Store(len(keep) > 0)
	if c.confirmAt.Swap(next) != next && next != 0 {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// kickConsumers retries deliveries to a connection whose writer caught up.
func (b *Broker) kickConsumers(c *conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	for _, ch := range c.channels {
		for _, cons := range ch.consumers {
			b.dispatch(cons.q, now)
		}
	}
}

// connOpened records a new connection and applies faults that concern it.
// Callers hold b.mu.
func (b *Broker) connOpened(c *conn) {
	c.stats.Name = c.displayName()
	c.stats.User = c.user
	c.stats.VHost = c.vh.name
	c.stats.OpenedAt = c.openedAt
	b.totals.ConnectionsOpened++
	b.emit(Event{Type: EventConnectionOpened, VHost: c.vh.name, Connection: c.displayName(), Reason: c.name})
	b.applyBlock(c)
}

// applyBlock blocks or unblocks c's publishers as BlockPublishers faults
// say. Callers hold b.mu.
func (b *Broker) applyBlock(c *conn) {
	block := false
	if b.faults.Any(fault.BlockPublishers) {
		_, block = b.faults.Check(fault.BlockPublishers, c.point(""))
	}
	switch {
	case block && c.blockedCh == nil:
		c.blockedCh = make(chan struct{})
		if c.capBlocked {
			c.sendMethod(0, &amqp091.ConnectionBlocked{Reason: "fault injection"})
		}
		b.emit(Event{Type: EventConnectionBlocked, VHost: c.vh.name, Connection: c.displayName()})
	case !block && c.blockedCh != nil:
		close(c.blockedCh)
		c.blockedCh = nil
		if c.capBlocked {
			c.sendMethod(0, &amqp091.ConnectionUnblocked{})
		}
		b.emit(Event{Type: EventConnectionUnblocked, VHost: c.vh.name, Connection: c.displayName()})
	}
}

// openConns returns the open connections in a stable order. Callers hold
// b.mu.
func (b *Broker) openConns() []*conn {
	var cs []*conn
	for c := range b.conns {
		if c.open && !c.closing {
			cs = append(cs, c)
		}
	}
	slices.SortFunc(cs, func(x, y *conn) int {
		switch {
		case x.openedAt.Before(y.openedAt):
			return -1
		case y.openedAt.Before(x.openedAt):
			return 1
		}
		return 0
	})
	return cs
}

// faultPoints are the points at which a connection-wide or channel-wide
// fault may match: the connection itself, then each queue it consumes.
func faultPoints(c *conn, chs []*channel) []fault.Point {
	pts := []fault.Point{c.point("")}
	for _, ch := range chs {
		for _, cons := range ch.consumers {
			pts = append(pts, c.point(cons.q.name))
		}
	}
	return pts
}

func (b *Broker) checkPoints(kind fault.Kind, pts []fault.Point) bool {
	for _, p := range pts {
		if _, ok := b.faults.Check(kind, p); ok {
			return true
		}
	}
	return false
}

func sortedChannels(c *conn) []*channel {
	chs := make([]*channel, 0, len(c.channels))
	for _, ch := range c.channels {
		chs = append(chs, ch)
	}
	slices.SortFunc(chs, func(x, y *channel) int { return int(x.id) - int(y.id) })
	return chs
}

// onFault reacts to faults being switched on or off.
func (b *Broker) onFault(ch fault.Change) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	now := time.Now()
	switch ch.Fault.Kind {
	case fault.CloseConnections:
		for _, c := range b.openConns() {
			if b.checkPoints(fault.CloseConnections, faultPoints(c, sortedChannels(c))) {
				c.forceClose(amqp091.ConnectionForced, "CONNECTION_FORCED - Closed via fault injection")
			}
		}
	case fault.CloseChannels:
		for _, c := range b.openConns() {
			for _, chn := range sortedChannels(c) {
				if chn.closing {
					continue
				}
				if b.checkPoints(fault.CloseChannels, faultPoints(c, []*channel{chn})) {
					b.closeChannelWith(chn, amqp091.ConnectionForced, "CONNECTION_FORCED - channel closed via fault injection", 0, 0)
				}
			}
		}
	case fault.BlockPublishers:
		for _, c := range b.openConns() {
			b.applyBlock(c)
		}
	case fault.WithholdConfirms, fault.DelayConfirms:
		if ch.On {
			return
		}
		stillHeld := b.faults.Any(fault.WithholdConfirms)
		stillDelayed := b.faults.Any(fault.DelayConfirms)
		for _, c := range b.openConns() {
			for _, chn := range c.channels {
				for i := range chn.confirms {
					if !stillHeld {
						chn.confirms[i].held = false
					}
					if !stillDelayed {
						chn.confirms[i].readyAt = 0
					}
				}
			}
			c.releaseConfirms(now)
		}
	case fault.PauseDeliveries, fault.IgnorePrefetch, fault.Reorder:
		if ch.On {
			return
		}
		release := ch.Fault.Kind == fault.Reorder && !b.faults.Any(fault.Reorder)
		for _, name := range slices.Sorted(mapsKeys(b.vhosts)) {
			vh := b.vhosts[name]
			for _, qn := range slices.Sorted(mapsKeys(vh.queues)) {
				if release {
					vh.queues[qn].releaseHeld()
				}
				b.dispatch(vh.queues[qn], now)
			}
		}
	}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
