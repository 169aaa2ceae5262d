package amqp10conn

import (
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/switchyard-dev/switchyard/fake/internal/amqp10"
)

// session is one session, on the channel the peer began it on (the engine
// answers on the same channel number). Its fields are guarded by Conn.mu.
type session struct {
	c      *Conn
	ch     uint16
	ending bool // the engine sent end and waits for the peer's

	nextIncomingID uint32 // transfer-id the next incoming transfer has
	incomingWindow uint32 // transfers the peer may still send
	nextOutgoingID uint32 // transfer-id of the next transfer sent
	remoteIncoming uint32 // transfers the peer will still accept
	peerHandleMax  uint32

	nextDeliveryID uint32 // delivery-id of the next delivery sent
	links          map[uint32]*Link
	unsettledOut   map[uint32]*Outgoing
	unsettledIn    map[uint32]*Incoming
	pending        []*Outgoing // deliveries with transfer frames still to send
}

// endLocked ends the session with err and reports its links as gone.
func (s *session) endLocked(cond amqp10.Symbol, format string, args ...any) {
	if s.ending {
		return
	}
	err := &amqp10.Error{Condition: cond, Description: fmt.Sprintf(format, args...)}
	s.ending = true
	s.c.frameLocked(s.ch, &amqp10.End{Error: err})
	s.dropLinksLocked()
}

// dropLinksLocked marks every link gone and queues their Detached calls.
func (s *session) dropLinksLocked() {
	for _, l := range s.links {
		l.goneLocked(nil)
	}
	s.pending = nil
	clear(s.unsettledOut)
	clear(s.unsettledIn)
}

func (s *session) process(body amqp10.FrameBody) {
	if s.ending {
		if _, ok := body.(*amqp10.End); ok {
			delete(s.c.sessions, s.ch)
		}
		return
	}
	switch p := body.(type) {
	case *amqp10.Attach:
		s.attach(p)
	case *amqp10.Flow:
		s.flow(p)
	case *amqp10.Transfer:
		s.transfer(p)
	case *amqp10.Disposition:
		s.disposition(p)
	case *amqp10.Detach:
		s.detach(p)
	case *amqp10.End:
		s.dropLinksLocked()
		s.c.frameLocked(s.ch, &amqp10.End{})
		delete(s.c.sessions, s.ch)
	default:
		s.c.connErrorLocked(amqp10.CondNotAllowed, "unexpected %s", amqp10.DescriptorName(body.Descriptor()))
	}
}

func validAttach(a *amqp10.Attach) bool {
	if !utf8.ValidString(a.Name) {
		return false
	}
	if a.Source != nil && !utf8.ValidString(a.Source.Address) {
		return false
	}
	if a.Target != nil && !utf8.ValidString(a.Target.Address) {
		return false
	}
	return true
}

func (s *session) attach(a *amqp10.Attach) {
	c := s.c
	switch {
	case !validAttach(a):
		c.connErrorLocked(amqp10.CondDecodeError, "attach: invalid UTF-8 in the link name or an address")
		return
	case a.Handle > c.cfg.HandleMax:
		s.endLocked(amqp10.CondNotAllowed, "attach: handle %d beyond handle-max %d", a.Handle, c.cfg.HandleMax)
		return
	case s.links[a.Handle] != nil:
		s.endLocked(amqp10.CondHandleInUse, "attach: handle %d is in use", a.Handle)
		return
	}
	l := &Link{
		c:              c,
		s:              s,
		handle:         a.Handle,
		name:           a.Name,
		role:           !a.Role,
		Source:         a.Source,
		Target:         a.Target,
		rcvSettleMode:  a.ReceiverSettleMode,
		sndSettleMode:  amqp10.SenderSettleModeMixed,
		peerMaxMessage: a.MaxMessageSize,
		LocalSource:    a.Source,
		LocalTarget:    a.Target,
	}
	if a.SenderSettleMode != nil {
		l.sndSettleMode = *a.SenderSettleMode
	}
	if a.Role == amqp10.RoleSender {
		l.deliveryCount = a.InitialDeliveryCount
		l.limit = a.InitialDeliveryCount
	}
	s.links[a.Handle] = l
	c.post = append(c.post, func() {
		aerr := c.h.Attach(l)
		c.mu.Lock()
		defer c.mu.Unlock()
		l.answerAttachLocked(aerr)
	})
}

func (s *session) link(h uint32, what string) *Link {
	l := s.links[h]
	if l == nil {
		s.endLocked(amqp10.CondUnattachedHandle, "%s for handle %d, which is not attached", what, h)
	}
	return l
}

func (s *session) flow(f *amqp10.Flow) {
	// Session flow state.
	nii := uint32(0) // the peer has our begin: its next-incoming-id is set
	if f.NextIncomingID != nil {
		nii = *f.NextIncomingID
	}
	s.remoteIncoming = nii + f.IncomingWindow - s.nextOutgoingID
	if s.remoteIncoming > f.IncomingWindow {
		// The peer's view is ahead of ours (or garbage): trust its window.
		s.remoteIncoming = f.IncomingWindow
	}
	if f.Handle == nil {
		if f.Echo {
			s.sendFlowLocked(nil)
		}
		s.pumpLocked()
		return
	}
	l := s.link(*f.Handle, "flow")
	if l == nil || l.detaching {
		return
	}
	if l.role == amqp10.RoleSender {
		// The peer receives: it grants credit.
		if f.LinkCredit != nil {
			dc := l.deliveryCount
			if f.DeliveryCount != nil {
				dc = *f.DeliveryCount
			}
			l.credit = dc + *f.LinkCredit - l.deliveryCount
			if int32(l.credit) < 0 {
				l.credit = 0
			}
		}
		l.drain = f.Drain
	} else if f.DeliveryCount != nil {
		// The peer sends: it may have advanced delivery-count (draining).
		if d := *f.DeliveryCount - l.deliveryCount; int32(d) > 0 {
			l.deliveryCount = *f.DeliveryCount
			if d >= l.credit {
				l.credit = 0
			} else {
				l.credit -= d
			}
		}
		if f.Available != nil {
			l.available = *f.Available
		}
	}
	echo := f.Echo
	s.pumpLocked()
	c := s.c
	c.post = append(c.post, func() {
		c.h.Flow(l)
		c.mu.Lock()
		defer c.mu.Unlock()
		if l.gone {
			return
		}
		if l.role == amqp10.RoleSender && l.drain {
			// Nothing more to send: use up the credit, as drain asks, and
			// tell the peer (even when no credit was left).
			l.deliveryCount += l.credit
			l.credit = 0
			l.s.sendFlowLocked(l)
		} else if echo {
			l.s.sendFlowLocked(l)
		}
	})
}

// sendFlowLocked sends the session's flow state, with l's if l is not nil.
func (s *session) sendFlowLocked(l *Link) {
	nii := s.nextIncomingID
	f := &amqp10.Flow{
		NextIncomingID: &nii,
		IncomingWindow: s.incomingWindow,
		NextOutgoingID: s.nextOutgoingID,
		OutgoingWindow: outgoingWindow,
	}
	if l != nil {
		h, dc, cr := l.handle, l.deliveryCount, l.credit
		f.Handle, f.DeliveryCount, f.LinkCredit = &h, &dc, &cr
		f.Drain = l.drain && l.role == amqp10.RoleSender
	}
	s.c.frameLocked(s.ch, f)
}

func (s *session) transfer(t *amqp10.Transfer) {
	if s.incomingWindow == 0 {
		s.endLocked(amqp10.CondWindowViolation, "transfer beyond the incoming window")
		return
	}
	s.incomingWindow--
	s.nextIncomingID++
	if s.incomingWindow <= s.c.cfg.IncomingWindow/2 {
		s.incomingWindow = s.c.cfg.IncomingWindow
		s.sendFlowLocked(nil)
	}
	l := s.link(t.Handle, "transfer")
	if l == nil || l.detaching {
		return
	}
	if l.role != amqp10.RoleReceiver {
		l.detachLocked(&amqp10.Error{Condition: amqp10.CondNotAllowed, Description: "transfer on a link where the peer is the receiver"})
		return
	}
	l.transferLocked(t)
}

// inRange reports whether id is within [first, last] in serial-number
// arithmetic.
func inRange(id, first, last uint32) bool { return id-first <= last-first }

func (s *session) disposition(d *amqp10.Disposition) {
	last := d.First
	if d.Last != nil {
		last = *d.Last
	}
	if last-d.First > 1<<31 {
		s.c.connErrorLocked(amqp10.CondInvalidField, "disposition: last %d precedes first %d", last, d.First)
		return
	}
	span := uint64(last-d.First) + 1
	c := s.c
	if d.Role == amqp10.RoleReceiver {
		// About deliveries the engine sent.
		var hit []*Outgoing
		if span <= uint64(len(s.unsettledOut)) {
			for i := uint64(0); i < span; i++ {
				if o := s.unsettledOut[d.First+uint32(i)]; o != nil {
					hit = append(hit, o)
				}
			}
		} else {
			for id, o := range s.unsettledOut {
				if inRange(id, d.First, last) {
					hit = append(hit, o)
				}
			}
			slices.SortFunc(hit, func(a, b *Outgoing) int { return int(int32(a.id - b.id)) })
		}
		state, settled := d.State, d.Settled
		for _, o := range hit {
			if settled {
				delete(s.unsettledOut, o.id)
				o.settled = true
			}
			c.post = append(c.post, func() { c.h.Outcome(o, state, settled) })
		}
		return
	}
	// The peer settles (or updates) deliveries it sent.
	if !d.Settled {
		return
	}
	var hit []*Incoming
	if span <= uint64(len(s.unsettledIn)) {
		for i := uint64(0); i < span; i++ {
			if in := s.unsettledIn[d.First+uint32(i)]; in != nil {
				hit = append(hit, in)
			}
		}
	} else {
		for id, in := range s.unsettledIn {
			if inRange(id, d.First, last) {
				hit = append(hit, in)
			}
		}
		slices.SortFunc(hit, func(a, b *Incoming) int { return int(int32(a.id - b.id)) })
	}
	for _, in := range hit {
		delete(s.unsettledIn, in.id)
		in.peerSettled = true
		if in.stateSent {
			// Mode second: the engine decided, the peer settled; settle too.
			s.c.frameLocked(s.ch, &amqp10.Disposition{Role: amqp10.RoleReceiver, First: in.id, Settled: true})
			continue
		}
		c.post = append(c.post, func() { c.h.Settled(in) })
	}
}

func (s *session) detach(d *amqp10.Detach) {
	l := s.link(d.Handle, "detach")
	if l == nil {
		return
	}
	delete(s.links, d.Handle)
	if l.detaching {
		return // the answer to the engine's detach
	}
	s.c.frameLocked(s.ch, &amqp10.Detach{Handle: l.handle, Closed: d.Closed})
	l.goneLocked(d.Error)
}

// pumpLocked writes transfer frames of pending deliveries while the peer's
// incoming window allows.
func (s *session) pumpLocked() {
	c := s.c
	for len(s.pending) > 0 && s.remoteIncoming > 0 && !s.ending {
		o := s.pending[0]
		if o.link.gone {
			s.pending = s.pending[1:]
			continue
		}
		t := &amqp10.Transfer{Handle: o.link.handle, More: true, Settled: o.presettled}
		if o.off == 0 {
			id, format := o.id, o.format
			t.DeliveryID, t.DeliveryTag, t.MessageFormat = &id, o.tag, &format
		}
		perf, err := t.Marshal(nil)
		if err != nil {
			c.log.Error("encode transfer", "err", err)
			s.pending = s.pending[1:]
			continue
		}
		room := int(c.peerMaxFrame) - amqp10.FrameHeaderSize - len(perf)
		rest := len(o.payload) - o.off
		n := min(rest, max(room, 1))
		t.Payload = o.payload[o.off : o.off+n]
		t.More = n < rest
		o.off += n
		c.frameLocked(s.ch, t)
		s.nextOutgoingID++
		s.remoteIncoming--
		if !t.More {
			o.payload = nil
			s.pending = s.pending[1:]
		}
	}
	if len(s.pending) == 0 {
		s.pending = nil
	}
}
