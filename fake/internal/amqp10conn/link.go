package amqp10conn

import (
	"fmt"

	"github.com/switchyard-dev/switchyard/fake/internal/amqp10"
)

// Link is one link the peer attached. Role is the engine's role: a
// RoleReceiver link carries messages from the peer, a RoleSender link
// carries messages to it.
type Link struct {
	c *Conn
	s *session

	handle        uint32
	name          string
	role          amqp10.Role
	rcvSettleMode amqp10.ReceiverSettleMode
	sndSettleMode amqp10.SenderSettleMode

	// Source and Target are the termini of the peer's attach; nil when
	// absent.
	Source *amqp10.Source
	Target *amqp10.Target
	// LocalSource and LocalTarget are the termini of the engine's answer,
	// the peer's by default; Handler.Attach may replace them (to give a
	// dynamic node its address).
	LocalSource *amqp10.Source
	LocalTarget *amqp10.Target
	// Value is free for the handler's use.
	Value any

	// Guarded by Conn.mu.
	attached      bool // the engine answered the attach
	creditPending bool // credit granted before the attach was answered
	detaching     bool // the engine sent detach and waits for the peer's
	gone          bool // Detached was queued; the link is unusable
	deliveryCount uint32
	credit        uint32
	// limit is the highest delivery-count a RoleReceiver link ever allowed
	// (delivery-count + credit when granted). After credit is reduced the
	// peer may still send up to it: those transfers were in flight.
	limit          uint32
	drain          bool
	available      uint32
	peerMaxMessage uint64
	nextTag        uint64
	cur            *Incoming // delivery being received
}

// Conn returns the link's connection.
func (l *Link) Conn() *Conn { return l.c }

// Name returns the link name.
func (l *Link) Name() string { return l.name }

// Role returns the engine's role on the link.
func (l *Link) Role() amqp10.Role { return l.role }

// Channel returns the channel of the link's session.
func (l *Link) Channel() uint16 { return l.s.ch }

// Handle returns the link's handle.
func (l *Link) Handle() uint32 { return l.handle }

// ReceiverSettleMode returns the receiver-settle-mode the peer asked for.
func (l *Link) ReceiverSettleMode() amqp10.ReceiverSettleMode { return l.rcvSettleMode }

// SenderSettleMode returns the sender-settle-mode the peer asked for.
func (l *Link) SenderSettleMode() amqp10.SenderSettleMode { return l.sndSettleMode }

// Credit returns the link credit: for a RoleSender link the deliveries the
// peer still accepts, for a RoleReceiver link those it may still send.
func (l *Link) Credit() uint32 {
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	if l.gone || l.detaching {
		return 0
	}
	return l.credit
}

// Drain reports whether the peer asked a RoleSender link to drain.
func (l *Link) Drain() bool {
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	return l.drain
}

// Usable reports whether the link can still carry deliveries.
func (l *Link) Usable() bool {
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	return !l.gone && !l.detaching
}

// answerAttachLocked sends the engine's attach, and a detach if the handler
// refused the link.
func (l *Link) answerAttachLocked(aerr *amqp10.Error) {
	if l.gone || l.s.ending || l.c.closing {
		return
	}
	a := &amqp10.Attach{
		Name:               l.name,
		Handle:             l.handle,
		Role:               l.role,
		ReceiverSettleMode: l.rcvSettleMode,
		Source:             l.LocalSource,
		Target:             l.LocalTarget,
	}
	ssm := l.sndSettleMode
	a.SenderSettleMode = &ssm
	if l.role == amqp10.RoleReceiver {
		a.MaxMessageSize = l.c.cfg.MaxMessageSize
	}
	if aerr != nil {
		// A refused link gets a null terminus on the engine's side.
		if l.role == amqp10.RoleSender {
			a.Source = nil
		} else {
			a.Target = nil
		}
	}
	l.c.frameLocked(l.s.ch, a)
	l.attached = true
	if aerr != nil {
		l.detachLocked(aerr)
		return
	}
	if l.creditPending {
		l.creditPending = false
		l.s.sendFlowLocked(l)
	}
}

// Grant sets the credit of a RoleReceiver link: the peer may send n more
// deliveries from now. Credit already granted is not taken back: n below
// what the peer may still send under earlier grants is raised to that
// (the peer may have sent it already, and some peers miscount a credit
// that falls below their own delivery-count).
func (l *Link) Grant(n uint32) error {
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	if l.role != amqp10.RoleReceiver {
		return fmt.Errorf("amqp10conn: Grant on a link the engine sends on")
	}
	if l.c.closing || l.c.finished {
		return ErrClosed
	}
	if l.gone || l.detaching {
		return ErrDetached
	}
	if floor := l.limit - l.deliveryCount; int32(floor) > 0 && n < floor {
		n = floor
	}
	if n == l.credit && l.attached {
		return nil // nothing changes
	}
	l.credit = n
	if lim := l.deliveryCount + n; int32(lim-l.limit) > 0 {
		l.limit = lim
	}
	if !l.attached {
		l.creditPending = true
		return nil
	}
	l.s.sendFlowLocked(l)
	return nil
}

// Detach closes the link with err (nil for a clean close). The handler is
// not told through Detached: a handler that detaches a link cleans up
// after it itself.
func (l *Link) Detach(err *amqp10.Error) {
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	// Outside the reading goroutine's processing the post queue is empty,
	// so what detachLocked queues is the Detached call alone.
	saved := l.c.post
	l.detachLocked(err)
	l.c.post = saved
}

func (l *Link) detachLocked(err *amqp10.Error) {
	if l.gone || l.detaching || l.s.ending || l.c.closing {
		return
	}
	l.detaching = true
	l.c.frameLocked(l.s.ch, &amqp10.Detach{Handle: l.handle, Closed: true, Error: err})
	l.goneLocked(err)
}

// goneLocked makes the link unusable, forgets its deliveries and queues
// Handler.Detached.
func (l *Link) goneLocked(err *amqp10.Error) {
	if l.gone {
		return
	}
	l.gone = true
	l.cur = nil
	s := l.s
	for id, o := range s.unsettledOut {
		if o.link == l {
			delete(s.unsettledOut, id)
		}
	}
	for id, in := range s.unsettledIn {
		if in.link == l {
			delete(s.unsettledIn, id)
		}
	}
	c := l.c
	c.post = append(c.post, func() { c.h.Detached(l, err) })
}

func (l *Link) transferLocked(t *amqp10.Transfer) {
	cfg := &l.c.cfg
	d := l.cur
	if d == nil {
		switch {
		case t.DeliveryID == nil:
			l.detachLocked(&amqp10.Error{Condition: amqp10.CondInvalidField, Description: "first transfer of a delivery without delivery-id"})
			return
		case t.DeliveryTag == nil:
			l.detachLocked(&amqp10.Error{Condition: amqp10.CondInvalidField, Description: "first transfer of a delivery without delivery-tag"})
			return
		case len(t.DeliveryTag) > 32:
			l.detachLocked(&amqp10.Error{Condition: amqp10.CondInvalidField, Description: "delivery-tag longer than 32 bytes"})
			return
		case l.credit == 0 && int32(l.limit-l.deliveryCount) <= 0:
			l.detachLocked(&amqp10.Error{Condition: amqp10.CondTransferLimitExceeded, Description: "transfer without link credit"})
			return
		}
		if l.credit > 0 {
			l.credit--
		}
		l.deliveryCount++
		d = &Incoming{link: l, id: *t.DeliveryID, Tag: append([]byte(nil), t.DeliveryTag...), rcvSettleMode: l.rcvSettleMode}
		if t.MessageFormat != nil {
			d.Format = *t.MessageFormat
		}
		if t.ReceiverSettleMode != nil {
			d.rcvSettleMode = *t.ReceiverSettleMode
		}
		l.cur = d
	} else if t.DeliveryID != nil && *t.DeliveryID != d.id {
		l.detachLocked(&amqp10.Error{Condition: amqp10.CondInvalidField, Description: fmt.Sprintf("transfer for delivery %d while delivery %d is incomplete", *t.DeliveryID, d.id)})
		return
	}
	if t.Settled {
		d.Settled = true
	}
	if t.Aborted {
		l.cur = nil
		return
	}
	if uint64(len(d.Payload))+uint64(len(t.Payload)) > cfg.MaxMessageSize {
		l.detachLocked(&amqp10.Error{Condition: amqp10.CondMessageSizeExceeded, Description: fmt.Sprintf("message larger than %d bytes", cfg.MaxMessageSize)})
		return
	}
	if d.Payload == nil && !t.More {
		// A one-frame message: the frame body is freshly allocated for
		// this frame, and its capacity is capped, so keep it.
		d.Payload = t.Payload
	} else {
		d.Payload = append(d.Payload, t.Payload...)
	}
	if t.More {
		return
	}
	l.cur = nil
	if !d.Settled {
		l.s.unsettledIn[d.id] = d
	}
	c := l.c
	c.post = append(c.post, func() { c.h.Delivery(d) })
}

// Send sends a message on a RoleSender link, using one credit. Unless
// presettled, the peer's disposition comes back through Handler.Outcome.
// The returned Outgoing is nil for a presettled delivery.
func (l *Link) Send(payload []byte, presettled bool, value any) (*Outgoing, error) {
	c := l.c
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case l.role != amqp10.RoleSender:
		return nil, fmt.Errorf("amqp10conn: Send on a link the engine receives on")
	case c.closing || c.finished:
		return nil, ErrClosed
	case l.gone || l.detaching:
		return nil, ErrDetached
	case l.credit == 0:
		return nil, ErrNoCredit
	case l.peerMaxMessage != 0 && uint64(len(payload)) > l.peerMaxMessage:
		return nil, ErrTooLarge
	}
	if l.sndSettleMode == amqp10.SenderSettleModeSettled {
		presettled = true
	} else if l.sndSettleMode == amqp10.SenderSettleModeUnsettled {
		presettled = false
	}
	l.credit--
	l.deliveryCount++
	s := l.s
	l.nextTag++
	tag := fmt.Appendf(nil, "%d", l.nextTag)
	o := &Outgoing{link: l, id: s.nextDeliveryID, tag: tag, format: 0, payload: payload, presettled: presettled, Value: value}
	s.nextDeliveryID++
	if !presettled {
		s.unsettledOut[o.id] = o
	}
	s.pending = append(s.pending, o)
	s.pumpLocked()
	if presettled {
		return nil, nil
	}
	return o, nil
}

// Incoming is a message received from the peer.
type Incoming struct {
	link          *Link
	id            uint32
	rcvSettleMode amqp10.ReceiverSettleMode
	stateSent     bool // a terminal state was sent, awaiting the peer's settlement
	peerSettled   bool
	done          bool

	// Tag is the delivery tag.
	Tag []byte
	// Format is the message format (0 for AMQP messages).
	Format uint32
	// Settled reports that the peer sent the delivery settled.
	Settled bool
	// Payload is the whole encoded message.
	Payload []byte
	// Value is free for the handler's use.
	Value any
}

// Link returns the link the message came on.
func (d *Incoming) Link() *Link { return d.link }

// ID returns the delivery-id.
func (d *Incoming) ID() uint32 { return d.id }

// Dispose sends the delivery's outcome and settles it; with the peer's
// receiver-settle-mode second it settles once the peer has. It does
// nothing for a presettled delivery or on a link that is gone.
func (d *Incoming) Dispose(state amqp10.DeliveryState) {
	l := d.link
	c := l.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if d.done || d.Settled || d.peerSettled || l.gone || l.s.ending || c.closing {
		return
	}
	d.done = true
	if d.rcvSettleMode == amqp10.ReceiverSettleModeSecond && !d.peerSettled {
		d.stateSent = true
		c.frameLocked(l.s.ch, &amqp10.Disposition{Role: amqp10.RoleReceiver, First: d.id, State: state})
		return
	}
	delete(l.s.unsettledIn, d.id)
	c.frameLocked(l.s.ch, &amqp10.Disposition{Role: amqp10.RoleReceiver, First: d.id, Settled: true, State: state})
}

// Outgoing is an unsettled message sent to the peer.
type Outgoing struct {
	link       *Link
	id         uint32
	tag        []byte
	format     uint32
	payload    []byte
	off        int
	presettled bool
	settled    bool

	// Value is free for the handler's use.
	Value any
}

// Link returns the link the message went on.
func (o *Outgoing) Link() *Link { return o.link }

// ID returns the delivery-id.
func (o *Outgoing) ID() uint32 { return o.id }

// Settle settles the delivery after the peer gave an outcome without
// settling it.
func (o *Outgoing) Settle() {
	l := o.link
	c := l.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if o.settled || l.gone || l.s.ending || c.closing {
		return
	}
	o.settled = true
	delete(l.s.unsettledOut, o.id)
	c.frameLocked(l.s.ch, &amqp10.Disposition{Role: amqp10.RoleSender, First: o.id, Settled: true})
}
