package broker

import (
	"crypto/rand"
	"encoding/base64"
	"slices"
	"strings"
	"time"

	"github.com/switchyard-dev/switchyard/fake/fault"
	"github.com/switchyard-dev/switchyard/fake/internal/amqp091"
)

// expectState is what frame a channel needs next.
type expectState uint8

const (
	expectMethod expectState = iota
	expectHeader
	expectBody
)

// delivery is a message delivered on a channel and not yet settled.
type delivery struct {
	tag       uint64
	q         *queue
	e         *qentry
	cons      *consumer // nil for basic.get
	settled   bool
	txPending bool // acknowledged inside an uncommitted transaction
}

// confirmEntry is a publisher confirm waiting to be sent.
type confirmEntry struct {
	tag     uint64
	nack    bool
	held    bool  // withheld by a fault
	readyAt int64 // delayed by a fault until then, UnixNano
	msg     *message
}

// txOp is an acknowledgement made inside a transaction.
type txOp struct {
	kind    uint8 // txAck, txNack
	requeue bool
	ds      []*delivery
}

const (
	txAck uint8 = iota
	txNack
)

// channel is one AMQP channel of a connection.
type channel struct {
	c  *conn
	id uint16

	// Content assembly, touched only by the reader (under b.mu).
	expect   expectState
	pub      *amqp091.BasicPublish
	props    amqp091.Properties
	bodySize uint64
	bodyBuf  []byte

	// Guarded by b.mu.
	closing          bool
	consumers        map[string]*consumer
	unacked          []*delivery // in tag order; may hold settled entries
	unackedMap       map[uint64]*delivery
	nextTag          uint64
	consumerUnacked  int // unsettled deliveries to consumers (global prefetch)
	prefetchGlobal   int
	prefetchConsumer int
	confirm          bool
	publishSeq       uint64
	confirms         []confirmEntry
	inDirty          bool
	tx               bool
	txPubs           []txPublish
	txOps            []txOp
	lastQueue        string
}

// txPublish is a publish held until tx.commit.
type txPublish struct {
	pub *amqp091.BasicPublish
	ex  *exchange
	msg *message
}

func newChannel(c *conn, id uint16) *channel {
	return &channel{c: c, id: id, consumers: map[string]*consumer{}, unackedMap: map[uint64]*delivery{}}
}

func (ch *channel) b() *Broker { return ch.c.b }

func (ch *channel) vhostName() string { return ch.c.vh.name }

// unexpectedFrame is the exception for a frame of type typ arriving while
// the channel waits for content.
func (ch *channel) unexpectedFrame(typ uint8) *amqpError {
	if ch.expect == expectHeader {
		return errorf(amqp091.UnexpectedFrame, "expected content header for class 60, got non content header frame instead")
	}
	return errorf(amqp091.UnexpectedFrame, "expected content body, got non content body frame instead")
}

// methodWhileClosing handles a method arriving after the broker closed the
// channel: everything but the close handshake is dropped.
func (ch *channel) methodWhileClosing(m amqp091.Method) *amqpError {
	switch m.(type) {
	case *amqp091.ChannelCloseOk:
		delete(ch.c.channels, ch.id)
	case *amqp091.ChannelClose:
		ch.c.sendMethod(ch.id, &amqp091.ChannelCloseOk{})
		delete(ch.c.channels, ch.id)
	}
	ch.c.stats.Channels = len(ch.c.channels)
	return nil
}

// method handles a method frame on an open channel waiting for a method.
func (ch *channel) method(m amqp091.Method) *amqpError {
	b := ch.b()
	now := time.Now()
	switch m := m.(type) {
	case *amqp091.ChannelOpen:
		return errorf(amqp091.ChannelError, "second 'channel.open' seen")
	case *amqp091.ChannelFlow:
		if !m.Active {
			return errorf(amqp091.NotImplemented, "active=false")
		}
		ch.c.sendMethod(ch.id, &amqp091.ChannelFlowOk{Active: true})
	case *amqp091.ChannelFlowOk:
		// The broker never sends channel.flow; ignore a stray answer.
	case *amqp091.ChannelClose:
		b.releaseChannel(ch, now)
		b.emit(Event{Type: EventChannelClosed, VHost: ch.vhostName(), Connection: ch.c.displayName(), Channel: ch.id,
			Code: m.ReplyCode, Reason: "closed by client: " + m.ReplyText})
		ch.c.sendMethod(ch.id, &amqp091.ChannelCloseOk{})
		delete(ch.c.channels, ch.id)
		ch.c.stats.Channels = len(ch.c.channels)
	case *amqp091.ExchangeDeclare:
		return ch.exchangeDeclare(m)
	case *amqp091.ExchangeDelete:
		return ch.exchangeDelete(m)
	case *amqp091.ExchangeBind:
		return ch.exchangeBind(m.Destination, m.Source, m.RoutingKey, m.Arguments, m.NoWait, true)
	case *amqp091.ExchangeUnbind:
		return ch.exchangeBind(m.Destination, m.Source, m.RoutingKey, m.Arguments, m.NoWait, false)
	case *amqp091.QueueDeclare:
		return ch.queueDeclare(m, now)
	case *amqp091.QueueBind:
		return ch.queueBind(m)
	case *amqp091.QueueUnbind:
		return ch.queueUnbind(m)
	case *amqp091.QueuePurge:
		return ch.queuePurge(m)
	case *amqp091.QueueDelete:
		return ch.queueDelete(m)
	case *amqp091.BasicQos:
		if m.PrefetchSize != 0 {
			return errorf(amqp091.NotImplemented, "prefetch_size!=0 (%d)", m.PrefetchSize)
		}
		if m.Global {
			ch.prefetchGlobal = int(m.PrefetchCount)
			// A larger limit may let waiting messages through.
			for _, c := range ch.consumers {
				b.dispatch(c.q, now)
			}
		} else {
			ch.prefetchConsumer = int(m.PrefetchCount)
		}
		ch.c.sendMethod(ch.id, &amqp091.BasicQosOk{})
	case *amqp091.BasicConsume:
		return ch.consume(m, now)
	case *amqp091.BasicCancel:
		if c := ch.consumers[m.ConsumerTag]; c != nil {
			delete(ch.consumers, m.ConsumerTag)
			b.cancelConsumer(c, now)
		}
		if !m.NoWait {
			ch.c.sendMethod(ch.id, &amqp091.BasicCancelOk{ConsumerTag: m.ConsumerTag})
		}
	case *amqp091.BasicCancelOk:
		// A client's answer to a server-sent cancel: nothing to do.
	case *amqp091.BasicPublish:
		if m.Immediate {
			return errorf(amqp091.NotImplemented, "immediate=true")
		}
		ch.pub = m
		ch.expect = expectHeader
	case *amqp091.BasicGet:
		return ch.get(m, now)
	case *amqp091.BasicAck:
		return ch.settle(m.DeliveryTag, m.Multiple, txAck, false, now)
	case *amqp091.BasicNack:
		return ch.settle(m.DeliveryTag, m.Multiple, txNack, m.Requeue, now)
	case *amqp091.BasicReject:
		return ch.settle(m.DeliveryTag, false, txNack, m.Requeue, now)
	case *amqp091.BasicRecover:
		if !m.Requeue {
			return errorf(amqp091.NotImplemented, "requeue=false")
		}
		ch.recover(now)
		ch.c.sendMethod(ch.id, &amqp091.BasicRecoverOk{})
	case *amqp091.BasicRecoverAsync:
		if !m.Requeue {
			return errorf(amqp091.NotImplemented, "requeue=false")
		}
		ch.recover(now)
	case *amqp091.ConfirmSelect:
		if ch.tx {
			return errorf(amqp091.PreconditionFailed, "cannot switch from tx to confirm mode")
		}
		ch.confirm = true
		if !m.NoWait {
			ch.c.sendMethod(ch.id, &amqp091.ConfirmSelectOk{})
		}
	case *amqp091.TxSelect:
		if ch.confirm {
			return errorf(amqp091.PreconditionFailed, "cannot switch from confirm to tx mode")
		}
		ch.tx = true
		ch.c.sendMethod(ch.id, &amqp091.TxSelectOk{})
	case *amqp091.TxCommit:
		if !ch.tx {
			return errorf(amqp091.PreconditionFailed, "channel is not transactional")
		}
		if err := ch.commit(now); err != nil {
			return err
		}
		ch.c.sendMethod(ch.id, &amqp091.TxCommitOk{})
	case *amqp091.TxRollback:
		if !ch.tx {
			return errorf(amqp091.PreconditionFailed, "channel is not transactional")
		}
		ch.rollback()
		ch.c.sendMethod(ch.id, &amqp091.TxRollbackOk{})
	case *amqp091.ChannelCloseOk:
		return errUnimplemented()
	default:
		// A method only a server sends.
		return errUnimplemented()
	}
	return nil
}

// Content assembly.

func (ch *channel) header(payload []byte) *amqpError {
	if ch.expect != expectHeader {
		if ch.expect == expectMethod {
			return errorf(amqp091.UnexpectedFrame, "expected method frame, got non method frame instead")
		}
		return errorf(amqp091.UnexpectedFrame, "expected content body, got non content body frame instead")
	}
	var h amqp091.ContentHeader
	if err := h.UnmarshalBinary(payload); err != nil {
		if ce, ok := err.(*amqp091.Error); ok {
			e := fromCodec(ce)
			e.classID, e.methodID = amqp091.ClassBasic, amqp091.MethodBasicPublish
			return e
		}
		return errorf(amqp091.FrameError, "%v", err)
	}
	if h.ClassID != amqp091.ClassBasic {
		return errorf(amqp091.UnexpectedFrame, "expected content header for class 60, got one for class %d instead", h.ClassID)
	}
	if h.Weight != 0 {
		return errorf(amqp091.UnexpectedFrame, "expected content header for class 60, got non content header frame instead")
	}
	if max := ch.b().opts.MaxMessageSize; h.BodySize > uint64(max) {
		ch.expect, ch.pub = expectMethod, nil
		return publishError(errorf(amqp091.PreconditionFailed, "message size %d is larger than configured max size %d", h.BodySize, max))
	}
	ch.props = h.Properties
	ch.bodySize = h.BodySize
	ch.bodyBuf = nil
	if h.BodySize == 0 {
		return ch.completePublish()
	}
	ch.expect = expectBody
	return nil
}

func (ch *channel) body(payload []byte) *amqpError {
	if ch.expect != expectBody {
		if ch.expect == expectMethod {
			return errorf(amqp091.UnexpectedFrame, "expected method frame, got non method frame instead")
		}
		return errorf(amqp091.UnexpectedFrame, "expected content header for class 60, got non content header frame instead")
	}
	have := uint64(len(ch.bodyBuf))
	if have+uint64(len(payload)) > ch.bodySize {
		return errorf(amqp091.UnexpectedFrame, "content body of %d bytes exceeds the declared size %d", have+uint64(len(payload)), ch.bodySize)
	}
	if ch.bodyBuf == nil && uint64(len(payload)) == ch.bodySize {
		ch.bodyBuf = slices.Clone(payload) // the common single-frame body, exactly sized
	} else {
		// Grow with what actually arrives, never by the declared size.
		ch.bodyBuf = append(ch.bodyBuf, payload...)
	}
	if uint64(len(ch.bodyBuf)) == ch.bodySize {
		return ch.completePublish()
	}
	return nil
}

// noProperties are the properties of a message published without any. It
// is never modified.
var noProperties amqp091.Properties

// publishError marks err as caused by basic.publish.
func publishError(err *amqpError) *amqpError {
	if err != nil {
		err.classID, err.methodID = amqp091.ClassBasic, amqp091.MethodBasicPublish
	}
	return err
}

// completePublish handles a fully received message.
func (ch *channel) completePublish() *amqpError {
	c := ch.c
	pub := ch.pub
	props := &noProperties // shared by the many messages without any
	if ch.props.Flags != 0 {
		props = new(amqp091.Properties)
		*props = ch.props
	}
	body := ch.bodyBuf
	if body == nil {
		body = []byte{}
	}
	ch.expect, ch.pub, ch.bodyBuf, ch.props = expectMethod, nil, nil, amqp091.Properties{}
	vh := c.vh
	ex := vh.exchanges[pub.Exchange]
	if ex == nil {
		return publishError(errNoExchange(vh.name, pub.Exchange))
	}
	if ex.internal {
		return publishError(errorf(amqp091.AccessRefused, "cannot publish to internal exchange '%s' in vhost '%s'", ex.name, vh.name))
	}
	if props.UserID != "" && props.UserID != c.user {
		return publishError(errorf(amqp091.PreconditionFailed, "user_id property set to '%s' but authenticated user was '%s'", props.UserID, c.user))
	}
	ttl, err := parseExpiration(props.Expiration)
	if err != nil {
		return publishError(err)
	}
	m := &message{
		exchange: pub.Exchange, routingKey: pub.RoutingKey, props: props, body: body,
		hash: bodyHash(body), publisher: c.publisherName, ttl: ttl,
	}
	if ch.tx {
		ch.txPubs = append(ch.txPubs, txPublish{pub: pub, ex: ex, msg: m})
		return nil
	}
	ch.route(pub, ex, m, time.Now())
	return nil
}

// route routes a message, returns it if mandatory and unroutable, and
// records its confirm.
func (ch *channel) route(pub *amqp091.BasicPublish, ex *exchange, m *message, now time.Time) {
	b := ch.b()
	c := ch.c
	if b.faults.Any(fault.CloseOnPublish) {
		if _, ok := b.faults.Check(fault.CloseOnPublish, c.point("")); ok {
			b.emit(Event{Type: EventDropped, VHost: c.vh.name, Exchange: ex.name, RoutingKey: m.routingKey, MessageID: m.props.MessageID,
				BodyHash: m.hash, Connection: c.displayName(), Reason: "fault " + string(fault.CloseOnPublish)})
			c.forceClose(amqp091.ConnectionForced, "CONNECTION_FORCED - closed on publish via fault injection")
			return
		}
	}
	b.nextMsgID++
	m.id = b.nextMsgID
	var tag uint64
	if ch.confirm {
		ch.publishSeq++
		tag = ch.publishSeq
	}
	c.stats.Published++
	b.totals.Published++
	ex.stats.PublishedIn++
	vh := c.vh.name
	b.emit(Event{Type: EventPublished, VHost: vh, Exchange: ex.name, RoutingKey: m.routingKey, DeliveryTag: tag,
		MessageID: m.props.MessageID, BodyHash: m.hash, Connection: c.displayName(), Channel: ch.id})

	queues := ex.route(m.routingKey, m.props.Headers, nil)
	if len(queues) == 0 {
		if ae, ok := ex.args["alternate-exchange"].(string); ok {
			if alt := c.vh.exchanges[ae]; alt != nil {
				queues = alt.route(m.routingKey, m.props.Headers, nil)
			}
		}
	}
	firstQueue := ""
	if len(queues) > 0 {
		firstQueue = queues[0].name
	}
	checkAny := func(kind fault.Kind) bool {
		if !b.faults.Any(kind) {
			return false
		}
		if len(queues) == 0 {
			_, ok := b.faults.Check(kind, c.point(""))
			return ok
		}
		for _, q := range queues {
			if _, ok := b.faults.Check(kind, c.point(q.name)); ok {
				return true
			}
		}
		return false
	}

	if checkAny(fault.EarlyAck) {
		// Mutant: confirm at once, before routing, and then lose it.
		if ch.confirm {
			c.sendAck(ch.id, tag, false)
			c.stats.Confirmed++
			b.totals.Confirmed++
			b.emit(Event{Type: EventConfirmed, VHost: vh, Exchange: ex.name, RoutingKey: m.routingKey, DeliveryTag: tag,
				MessageID: m.props.MessageID, BodyHash: m.hash, Connection: c.displayName(), Channel: ch.id})
		}
		b.emit(Event{Type: EventDropped, VHost: vh, Exchange: ex.name, RoutingKey: m.routingKey, MessageID: m.props.MessageID,
			BodyHash: m.hash, Connection: c.displayName(), Reason: "mutant " + string(fault.EarlyAck)})
		return
	}
	if ch.confirm && checkAny(fault.NackPublishes) {
		ch.addConfirm(tag, true, m, firstQueue, now)
		return
	}
	lose := checkAny(fault.LoseAcknowledged)
	rejected := false
	for _, q := range queues {
		if lose {
			b.emit(Event{Type: EventDropped, VHost: vh, Queue: q.name, Exchange: ex.name, RoutingKey: m.routingKey,
				MessageID: m.props.MessageID, BodyHash: m.hash, Connection: c.displayName(), Reason: "mutant " + string(fault.LoseAcknowledged)})
			continue
		}
		b.emit(Event{Type: EventRouted, VHost: vh, Queue: q.name, Exchange: ex.name, RoutingKey: m.routingKey,
			MessageID: m.props.MessageID, BodyHash: m.hash, Connection: c.displayName(), Channel: ch.id})
		if !b.enqueue(q, m, now) {
			rejected = true
		}
	}
	if len(queues) == 0 {
		ex.stats.Unroutable++
		if pub.Mandatory {
			c.sendContent(ch.id, &amqp091.BasicReturn{ReplyCode: amqp091.NoRoute, ReplyText: "NO_ROUTE", Exchange: ex.name, RoutingKey: m.routingKey}, m)
			c.stats.Returned++
			b.totals.Returned++
			b.emit(Event{Type: EventReturned, VHost: vh, Exchange: ex.name, RoutingKey: m.routingKey, DeliveryTag: tag,
				MessageID: m.props.MessageID, BodyHash: m.hash, Connection: c.displayName(), Channel: ch.id, Code: amqp091.NoRoute, Reason: "NO_ROUTE"})
		} else {
			b.emit(Event{Type: EventDropped, VHost: vh, Exchange: ex.name, RoutingKey: m.routingKey, MessageID: m.props.MessageID,
				BodyHash: m.hash, Connection: c.displayName(), Reason: "unroutable"})
		}
	} else {
		ex.stats.Routed++
	}
	if ch.confirm && checkAny(fault.CloseBeforeConfirm) {
		c.forceClose(amqp091.ConnectionForced, "CONNECTION_FORCED - closed before confirming via fault injection")
		return
	}
	if ch.confirm {
		ch.addConfirm(tag, rejected, m, firstQueue, now)
	}
	if checkAny(fault.CloseAfterConfirm) {
		c.releaseConfirms(now)
		c.forceClose(amqp091.ConnectionForced, "CONNECTION_FORCED - closed after confirming via fault injection")
	}
}

// addConfirm records a confirm to send when the reader next runs out of
// input, applying confirm faults.
func (ch *channel) addConfirm(tag uint64, nack bool, m *message, queue string, now time.Time) {
	b := ch.b()
	e := confirmEntry{tag: tag, nack: nack, msg: m}
	if b.faults.Any(fault.WithholdConfirms) {
		if _, ok := b.faults.Check(fault.WithholdConfirms, ch.c.point(queue)); ok {
			e.held = true
		}
	}
	if b.faults.Any(fault.DelayConfirms) {
		if f, ok := b.faults.Check(fault.DelayConfirms, ch.c.point(queue)); ok {
			e.readyAt = now.Add(f.Delay).UnixNano()
		}
	}
	ch.confirms = append(ch.confirms, e)
	if !ch.inDirty {
		ch.inDirty = true
		ch.c.dirty = append(ch.c.dirty, ch)
		ch.c.hasDirty.Store(true)
	}
}

func (e *confirmEntry) ready(now int64) bool { return !e.held && e.readyAt <= now }

// emitConfirms sends the confirms that are ready: runs at the front of the
// outstanding ones as one multiple=true ack or nack, others one by one. It
// returns the earliest time a delayed confirm becomes ready, or 0.
func (ch *channel) emitConfirms(now int64) (next int64) {
	b := ch.b()
	c := ch.c
	es := ch.confirms
	keep := es[:0]
	front := true
	for i := 0; i < len(es); {
		e := es[i]
		if !e.ready(now) {
			front = false
			if !e.held && (next == 0 || e.readyAt < next) {
				next = e.readyAt
			}
			keep = append(keep, e)
			i++
			continue
		}
		j := i + 1
		if front {
			for j < len(es) && es[j].ready(now) && es[j].nack == e.nack {
				j++
			}
		}
		last := es[j-1].tag
		multiple := j-i > 1
		if e.nack {
			c.sendMethod(ch.id, &amqp091.BasicNack{DeliveryTag: last, Multiple: multiple})
		} else {
			c.sendAck(ch.id, last, multiple)
		}
		for _, x := range es[i:j] {
			typ := EventConfirmed
			if x.nack {
				typ = EventPublishNacked
				c.stats.PublishNacked++
				b.totals.PublishNacked++
			} else {
				c.stats.Confirmed++
				b.totals.Confirmed++
			}
			b.emit(Event{Type: typ, VHost: c.vh.name, Exchange: x.msg.exchange, RoutingKey: x.msg.routingKey, DeliveryTag: x.tag,
				MessageID: x.msg.props.MessageID, BodyHash: x.msg.hash, Connection: c.displayName(), Channel: ch.id})
		}
		i = j
	}
	clear(es[len(keep):])
	ch.confirms = keep
	return next
}

// Acknowledgements.

func (ch *channel) addUnacked(d *delivery) {
	ch.unacked = append(ch.unacked, d)
	ch.unackedMap[d.tag] = d
}

// takeDeliveries finds the deliveries an ack, nack or reject names.
func (ch *channel) takeDeliveries(tag uint64, multiple bool) ([]*delivery, *amqpError) {
	if !multiple {
		d := ch.unackedMap[tag]
		if d == nil || d.txPending {
			return nil, errorf(amqp091.PreconditionFailed, "unknown delivery tag %d", tag)
		}
		return []*delivery{d}, nil
	}
	if tag != 0 {
		if d := ch.unackedMap[tag]; d == nil || d.txPending {
			return nil, errorf(amqp091.PreconditionFailed, "unknown delivery tag %d", tag)
		}
	}
	var ds []*delivery
	for _, d := range ch.unacked {
		if tag != 0 && d.tag > tag {
			break
		}
		if !d.settled && !d.txPending {
			ds = append(ds, d)
		}
	}
	return ds, nil
}

// settle handles basic.ack, basic.nack and basic.reject.
func (ch *channel) settle(tag uint64, multiple bool, kind uint8, requeue bool, now time.Time) *amqpError {
	ds, err := ch.takeDeliveries(tag, multiple)
	if err != nil {
		return err
	}
	if ch.tx {
		for _, d := range ds {
			d.txPending = true
		}
		ch.txOps = append(ch.txOps, txOp{kind: kind, requeue: requeue, ds: ds})
		return nil
	}
	ch.applySettle(ds, kind, requeue, now)
	return nil
}

// applySettle acknowledges, requeues or dead-letters deliveries.
func (ch *channel) applySettle(ds []*delivery, kind uint8, requeue bool, now time.Time) {
	b := ch.b()
	var kick []*queue
	requeues := map[*queue][]*qentry{}
	for _, d := range ds {
		if d.settled {
			continue
		}
		ch.forget(d)
		q := d.q
		if !slices.Contains(kick, q) {
			kick = append(kick, q)
		}
		ev := Event{VHost: q.vh.name, Queue: q.name, Exchange: d.e.msg.exchange, RoutingKey: d.e.msg.routingKey, DeliveryTag: d.tag,
			MessageID: d.e.msg.props.MessageID, BodyHash: d.e.msg.hash, Connection: ch.c.displayName(), Channel: ch.id}
		if d.cons != nil {
			ev.ConsumerTag = d.cons.tag
		}
		switch {
		case kind == txAck:
			ev.Type = EventAcked
			q.stats.Acked++
			ch.c.stats.Acked++
			b.totals.Acked++
			b.emit(ev)
			b.unstore(q, d.e)
		case requeue:
			ev.Type = EventNacked
			ev.Reason = "requeue"
			q.stats.Nacked++
			b.totals.Nacked++
			b.emit(ev)
			requeues[q] = append(requeues[q], d.e)
		default:
			ev.Type = EventNacked
			ev.Reason = "discard"
			q.stats.Nacked++
			b.totals.Nacked++
			b.emit(ev)
			if !q.deleted {
				b.deadLetter(q, d.e, "rejected", now)
			}
			b.unstore(q, d.e)
		}
	}
	for _, q := range kick {
		if es := requeues[q]; len(es) > 0 {
			b.requeue(q, es, now)
		}
	}
	ch.compactUnacked()
	for _, q := range kick {
		b.dispatch(q, now)
	}
	if ch.prefetchGlobal > 0 {
		for _, c := range ch.consumers {
			b.dispatch(c.q, now)
		}
	}
}

// forget marks d settled and updates the counts it was part of.
func (ch *channel) forget(d *delivery) {
	d.settled = true
	delete(ch.unackedMap, d.tag)
	if d.cons != nil {
		d.cons.unacked--
		ch.consumerUnacked--
	}
	d.q.unacked--
}

// compactUnacked drops settled deliveries from the ordered list.
func (ch *channel) compactUnacked() {
	i := 0
	for i < len(ch.unacked) && ch.unacked[i].settled {
		ch.unacked[i] = nil
		i++
	}
	ch.unacked = ch.unacked[i:]
	if len(ch.unacked) > 64 && len(ch.unacked) > 2*len(ch.unackedMap) {
		live := make([]*delivery, 0, len(ch.unackedMap))
		for _, d := range ch.unacked {
			if !d.settled {
				live = append(live, d)
			}
		}
		ch.unacked = live
	}
	if len(ch.unacked) == 0 {
		ch.unacked = nil
	}
}

// recover requeues every unsettled delivery of the channel.
func (ch *channel) recover(now time.Time) {
	var ds []*delivery
	for _, d := range ch.unacked {
		if !d.settled && !d.txPending {
			ds = append(ds, d)
		}
	}
	ch.applySettle(ds, txNack, true, now)
}

// commit applies a transaction's publishes and acknowledgements.
func (ch *channel) commit(now time.Time) *amqpError {
	ops, pubs := ch.txOps, ch.txPubs
	ch.txOps, ch.txPubs = nil, nil
	for _, op := range ops {
		for _, d := range op.ds {
			d.txPending = false
		}
		ch.applySettle(op.ds, op.kind, op.requeue, now)
	}
	for _, p := range pubs {
		if p.ex.deleted {
			// RabbitMQ would fail the commit; the exchange went away
			// after the publish was accepted.
			return publishError(errNoExchange(ch.vhostName(), p.ex.name))
		}
		ch.route(p.pub, p.ex, p.msg, now)
	}
	return nil
}

// rollback discards a transaction's publishes and acknowledgements.
func (ch *channel) rollback() {
	for _, op := range ch.txOps {
		for _, d := range op.ds {
			d.txPending = false
		}
	}
	ch.txOps, ch.txPubs = nil, nil
}

// releaseChannel cancels a closing channel's consumers and requeues its
// unsettled deliveries in order.
func (b *Broker) releaseChannel(ch *channel, now time.Time) {
	ch.closing = true
	ch.rollback()
	var emptied []*queue
	for tag, c := range ch.consumers {
		b.removeConsumer(c)
		delete(ch.consumers, tag)
		emptied = append(emptied, c.q)
	}
	requeues := map[*queue][]*qentry{}
	var order []*queue
	for _, d := range ch.unacked {
		if d.settled {
			continue
		}
		ch.forget(d)
		if _, ok := requeues[d.q]; !ok {
			order = append(order, d.q)
		}
		requeues[d.q] = append(requeues[d.q], d.e)
	}
	ch.unacked = nil
	for _, q := range order {
		b.requeue(q, requeues[q], now)
	}
	for _, q := range emptied {
		b.afterConsumerGone(q, now)
	}
	ch.confirms = nil
	if ch.inDirty {
		ch.c.dirty = removePtr(ch.c.dirty, ch)
		ch.inDirty = false
	}
}

// cancelConsumer ends a consumer.
func (b *Broker) cancelConsumer(c *consumer, now time.Time) {
	b.removeConsumer(c)
	b.afterConsumerGone(c.q, now)
}

// afterConsumerGone deletes an auto-delete queue without consumers and
// starts x-expires timing.
func (b *Broker) afterConsumerGone(q *queue, now time.Time) {
	if q.deleted || len(q.consumers) > 0 {
		return
	}
	if q.autoDelete && q.hadConsumer {
		b.deleteQueue(q, "auto-delete: last consumer cancelled")
		return
	}
	b.touch(q, now)
}

// closeChannelWith closes ch from the broker's side.
func (b *Broker) closeChannelWith(ch *channel, code uint16, text string, classID, methodID uint16) {
	if ch.closing {
		return
	}
	b.releaseChannel(ch, time.Now())
	ch.expect, ch.pub, ch.bodyBuf = expectMethod, nil, nil
	b.emit(Event{Type: EventChannelClosed, VHost: ch.vhostName(), Connection: ch.c.displayName(), Channel: ch.id, Code: code, Reason: text})
	ch.c.sendMethod(ch.id, &amqp091.ChannelClose{ReplyCode: code, ReplyText: text, FailedClassID: classID, FailedMethodID: methodID})
}

// Exchanges.

func (ch *channel) exchangeDeclare(m *amqp091.ExchangeDeclare) *amqpError {
	b := ch.b()
	vh := ch.c.vh
	if m.Exchange == "" {
		return errDefaultExchange()
	}
	ex := vh.exchanges[m.Exchange]
	if m.Passive {
		if ex == nil {
			return errNoExchange(vh.name, m.Exchange)
		}
	} else {
		if !validKind(m.Type) {
			return errorf(amqp091.CommandInvalid, "unknown exchange type '%s'", m.Type)
		}
		if ex == nil {
			if strings.HasPrefix(m.Exchange, "amq.") {
				return errorf(amqp091.AccessRefused, "exchange name '%s' contains reserved prefix 'amq.*'", m.Exchange)
			}
			ex = &exchange{vh: vh, name: m.Exchange, kind: m.Type, durable: m.Durable, autoDelete: m.AutoDelete,
				internal: m.Internal, args: m.Arguments}
			vh.exchanges[ex.name] = ex
			if b.store != nil && ex.durable {
				b.store.declareExchange(ex)
			}
			b.emit(Event{Type: EventExchangeDeclared, VHost: vh.name, Exchange: ex.name, Connection: ch.c.displayName()})
		} else {
			what := "exchange '" + ex.name + "' in vhost '" + vh.name + "'"
			if ex.kind != m.Type {
				return errorf(amqp091.PreconditionFailed, "inequivalent arg 'type' for %s: received '%s' but current is '%s'", what, m.Type, ex.kind)
			}
			if err := checkFlagEquivalent("durable", ex.durable, m.Durable, what); err != nil {
				return err
			}
			if err := checkFlagEquivalent("auto_delete", ex.autoDelete, m.AutoDelete, what); err != nil {
				return err
			}
			if err := checkFlagEquivalent("internal", ex.internal, m.Internal, what); err != nil {
				return err
			}
			if err := checkArgsEquivalent(ex.args, m.Arguments, exchangeEquivalenceArgs, what); err != nil {
				return err
			}
		}
	}
	if !m.NoWait {
		ch.c.sendMethod(ch.id, &amqp091.ExchangeDeclareOk{})
	}
	return nil
}

func (ch *channel) exchangeDelete(m *amqp091.ExchangeDelete) *amqpError {
	b := ch.b()
	vh := ch.c.vh
	if m.Exchange == "" {
		return errDefaultExchange()
	}
	ex := vh.exchanges[m.Exchange]
	if ex != nil {
		if ex.system {
			return errorf(amqp091.AccessRefused, "deletion of system exchange '%s' in vhost '%s' not allowed", ex.name, vh.name)
		}
		if m.IfUnused && len(ex.bindings) > 0 {
			return errorf(amqp091.PreconditionFailed, "exchange '%s' in vhost '%s' in use", ex.name, vh.name)
		}
		b.deleteExchange(ex)
	}
	if !m.NoWait {
		ch.c.sendMethod(ch.id, &amqp091.ExchangeDeleteOk{})
	}
	return nil
}

// exchangeBind handles exchange.bind (bind) and exchange.unbind.
func (ch *channel) exchangeBind(destName, srcName, key string, args amqp091.Table, noWait, bind bool) *amqpError {
	b := ch.b()
	vh := ch.c.vh
	if destName == "" || srcName == "" {
		return errDefaultExchange()
	}
	src, dest := vh.exchanges[srcName], vh.exchanges[destName]
	if bind {
		if src == nil {
			return errNoExchange(vh.name, srcName)
		}
		if dest == nil {
			return errNoExchange(vh.name, destName)
		}
		bd := &binding{src: src, dest: dest, key: key, args: args}
		if src.kind == kindHeaders {
			var err *amqpError
			if bd.matchAll, bd.withX, err = parseXMatch(args); err != nil {
				return err
			}
		}
		if src.addBinding(bd) && b.store != nil && bindingDurable(bd) {
			b.store.bind(bd)
		}
	} else if src != nil && dest != nil {
		if bd := src.findBinding(&binding{src: src, dest: dest, key: key, args: args}); bd != nil {
			b.removeBinding(bd)
		}
	}
	if !noWait {
		if bind {
			ch.c.sendMethod(ch.id, &amqp091.ExchangeBindOk{})
		} else {
			ch.c.sendMethod(ch.id, &amqp091.ExchangeUnbindOk{})
		}
	}
	return nil
}

// Queues.

// genName returns prefix followed by 22 random URL-safe characters, the
// form of RabbitMQ's server-generated names.
func genName(prefix string) string {
	var r [16]byte
	rand.Read(r[:])
	return prefix + base64.RawURLEncoding.EncodeToString(r[:])
}

// lookupQueue finds a queue the channel may use; "" means the last queue
// declared on the channel.
func (ch *channel) lookupQueue(name string) (*queue, *amqpError) {
	vh := ch.c.vh
	if name == "" {
		name = ch.lastQueue
		if name == "" {
			return nil, errorf(amqp091.NotFound, "no previously declared queue")
		}
	}
	q := vh.queues[name]
	if q == nil {
		return nil, errNoQueue(vh.name, name)
	}
	if q.exclusive && q.owner != ch.c {
		return nil, errLocked(vh.name, name)
	}
	return q, nil
}

func (ch *channel) queueDeclare(m *amqp091.QueueDeclare, now time.Time) *amqpError {
	b := ch.b()
	vh := ch.c.vh
	name := m.Queue
	if m.Passive {
		if name == "" {
			// Unlike other queue methods, a passive declare does not
			// take "" as the channel's last queue.
			return errNoQueue(vh.name, "")
		}
		q, err := ch.lookupQueue(name)
		if err != nil {
			return err
		}
		ch.lastQueue = q.name
		b.touch(q, now)
		if !m.NoWait {
			ch.c.sendMethod(ch.id, &amqp091.QueueDeclareOk{Queue: q.name, MessageCount: uint32(q.msgs.Len()), ConsumerCount: uint32(len(q.consumers))})
		}
		return nil
	}
	serverNamed := name == ""
	if serverNamed {
		name = genName("amq.gen-")
	} else if strings.HasPrefix(name, "amq.") {
		return errorf(amqp091.AccessRefused, "queue name '%s' contains reserved prefix 'amq.*'", name)
	}
	what := "queue '" + name + "' in vhost '" + vh.name + "'"
	qa, err := parseQueueArgs(m.Arguments, what)
	if err != nil {
		return err
	}
	if qa.queueType == "quorum" {
		switch {
		case m.AutoDelete:
			return errorf(amqp091.PreconditionFailed, "invalid property 'auto-delete' for %s", what)
		case m.Exclusive:
			return errorf(amqp091.PreconditionFailed, "invalid property 'exclusive-owner' for %s", what)
		case !m.Durable:
			return errorf(amqp091.PreconditionFailed, "invalid property 'non-durable' for %s", what)
		}
	}
	q := vh.queues[name]
	if q != nil {
		if q.exclusive != m.Exclusive || (q.exclusive && q.owner != ch.c) {
			return errLocked(vh.name, name)
		}
		if err := checkFlagEquivalent("durable", q.durable, m.Durable, what); err != nil {
			return err
		}
		if err := checkFlagEquivalent("auto_delete", q.autoDelete, m.AutoDelete, what); err != nil {
			return err
		}
		if q.qa.queueType != qa.queueType {
			return errorf(amqp091.PreconditionFailed, "inequivalent arg 'x-queue-type' for %s: received '%s' but current is '%s'", what, qa.queueType, q.qa.queueType)
		}
		if err := checkArgsEquivalent(q.args, m.Arguments, queueEquivalenceArgs, what); err != nil {
			return err
		}
	} else {
		q = &queue{vh: vh, name: name, durable: m.Durable, exclusive: m.Exclusive, autoDelete: m.AutoDelete,
			args: m.Arguments, qa: qa, serverNamed: serverNamed, lastUsed: now}
		q.stats.VHost, q.stats.Name = vh.name, name
		if m.Exclusive {
			q.owner = ch.c
			ch.c.exclusiveQs = append(ch.c.exclusiveQs, q)
		}
		vh.queues[name] = q
		if b.store != nil && q.durable {
			b.store.declareQueue(q)
		}
		b.emit(Event{Type: EventQueueDeclared, VHost: vh.name, Queue: name, Connection: ch.c.displayName()})
	}
	ch.lastQueue = name
	b.touch(q, now)
	if !m.NoWait {
		ch.c.sendMethod(ch.id, &amqp091.QueueDeclareOk{Queue: name, MessageCount: uint32(q.msgs.Len()), ConsumerCount: uint32(len(q.consumers))})
	}
	return nil
}

func (ch *channel) queueBind(m *amqp091.QueueBind) *amqpError {
	b := ch.b()
	vh := ch.c.vh
	if m.Exchange == "" {
		return errDefaultExchange()
	}
	ex := vh.exchanges[m.Exchange]
	if ex == nil {
		return errNoExchange(vh.name, m.Exchange)
	}
	q, err := ch.lookupQueue(m.Queue)
	if err != nil {
		return err
	}
	bd := &binding{src: ex, queue: q, key: m.RoutingKey, args: m.Arguments}
	if m.Queue == "" && m.RoutingKey == "" {
		bd.key = q.name // the AMQP rule for an empty queue and key
	}
	if ex.kind == kindHeaders {
		if bd.matchAll, bd.withX, err = parseXMatch(m.Arguments); err != nil {
			return err
		}
	}
	if ex.addBinding(bd) && b.store != nil && bindingDurable(bd) {
		b.store.bind(bd)
	}
	if !m.NoWait {
		ch.c.sendMethod(ch.id, &amqp091.QueueBindOk{})
	}
	return nil
}

func (ch *channel) queueUnbind(m *amqp091.QueueUnbind) *amqpError {
	b := ch.b()
	vh := ch.c.vh
	if m.Exchange == "" {
		return errDefaultExchange()
	}
	q := vh.queues[m.Queue]
	if m.Queue == "" {
		q = vh.queues[ch.lastQueue]
	}
	if q != nil && q.exclusive && q.owner != ch.c {
		return errLocked(vh.name, q.name)
	}
	if ex := vh.exchanges[m.Exchange]; ex != nil && q != nil {
		if bd := ex.findBinding(&binding{src: ex, queue: q, key: m.RoutingKey, args: m.Arguments}); bd != nil {
			b.removeBinding(bd)
		}
	}
	ch.c.sendMethod(ch.id, &amqp091.QueueUnbindOk{})
	return nil
}

func (ch *channel) queuePurge(m *amqp091.QueuePurge) *amqpError {
	b := ch.b()
	q, err := ch.lookupQueue(m.Queue)
	if err != nil {
		return err
	}
	n := q.msgs.Len()
	for q.msgs.Len() > 0 {
		e := q.popReady()
		b.unstore(q, e)
	}
	q.stats.Purged += uint64(n)
	b.emit(Event{Type: EventPurged, VHost: q.vh.name, Queue: q.name, Connection: ch.c.displayName(), Count: n})
	if !m.NoWait {
		ch.c.sendMethod(ch.id, &amqp091.QueuePurgeOk{MessageCount: uint32(n)})
	}
	return nil
}

func (ch *channel) queueDelete(m *amqp091.QueueDelete) *amqpError {
	b := ch.b()
	vh := ch.c.vh
	name := m.Queue
	if name == "" {
		name = ch.lastQueue
	}
	q := vh.queues[name]
	n := 0
	if q != nil {
		if q.exclusive && q.owner != ch.c {
			return errLocked(vh.name, name)
		}
		if m.IfUnused && len(q.consumers) > 0 {
			return errorf(amqp091.PreconditionFailed, "queue '%s' in vhost '%s' in use", name, vh.name)
		}
		if m.IfEmpty && q.msgs.Len() > 0 {
			return errorf(amqp091.PreconditionFailed, "queue '%s' in vhost '%s' not empty", name, vh.name)
		}
		n = b.deleteQueue(q, "deleted by client")
	}
	if !m.NoWait {
		ch.c.sendMethod(ch.id, &amqp091.QueueDeleteOk{MessageCount: uint32(n)})
	}
	return nil
}

// Consuming.

func (ch *channel) consume(m *amqp091.BasicConsume, now time.Time) *amqpError {
	b := ch.b()
	q, err := ch.lookupQueue(m.Queue)
	if err != nil {
		return err
	}
	tag := m.ConsumerTag
	if tag == "" {
		tag = genName("amq.ctag-")
	}
	if _, dup := ch.consumers[tag]; dup {
		return errorf(amqp091.NotAllowed, "attempt to reuse consumer tag '%s'", tag)
	}
	if q.exclusiveConsumer || (m.Exclusive && len(q.consumers) > 0) {
		return errorf(amqp091.AccessRefused, "queue '%s' in vhost '%s' in exclusive use", q.name, q.vh.name)
	}
	c := &consumer{ch: ch, q: q, tag: tag, noAck: m.NoAck, exclusive: m.Exclusive, prefetch: ch.prefetchConsumer}
	q.consumers = append(q.consumers, c)
	q.hadConsumer = true
	q.exclusiveConsumer = q.exclusiveConsumer || m.Exclusive
	q.stats.Consumers = len(q.consumers)
	q.lastUsed = now
	ch.consumers[tag] = c
	if !m.NoWait {
		ch.c.sendMethod(ch.id, &amqp091.BasicConsumeOk{ConsumerTag: tag})
	}
	b.dispatch(q, now)
	return nil
}

func (ch *channel) get(m *amqp091.BasicGet, now time.Time) *amqpError {
	b := ch.b()
	q, err := ch.lookupQueue(m.Queue)
	if err != nil {
		return err
	}
	b.touch(q, now)
	paused := false
	if b.faults.Any(fault.PauseDeliveries) {
		_, paused = b.faults.Check(fault.PauseDeliveries, ch.c.point(q.name))
	}
	b.expireHead(q, now.UnixNano())
	if paused || q.msgs.Len() == 0 {
		ch.c.sendMethod(ch.id, &amqp091.BasicGetEmpty{})
		return nil
	}
	e := q.popReady()
	ch.nextTag++
	tag := ch.nextTag
	if m.NoAck {
		b.unstore(q, e)
	} else {
		ch.addUnacked(&delivery{tag: tag, q: q, e: e})
		q.unacked++
	}
	ch.c.sendContent(ch.id, &amqp091.BasicGetOk{DeliveryTag: tag, Redelivered: e.redelivered, Exchange: e.msg.exchange,
		RoutingKey: e.msg.routingKey, MessageCount: uint32(q.msgs.Len())}, e.msg)
	q.stats.Delivered++
	if e.redelivered {
		q.stats.Redelivered++
	}
	ch.c.stats.Delivered++
	b.totals.Delivered++
	b.emit(Event{Type: EventDelivered, VHost: q.vh.name, Queue: q.name, Exchange: e.msg.exchange, RoutingKey: e.msg.routingKey,
		DeliveryTag: tag, Redelivered: e.redelivered, MessageID: e.msg.props.MessageID, BodyHash: e.msg.hash,
		Connection: ch.c.displayName(), Channel: ch.id, Reason: "basic.get"})
	b.armTTL(q)
	return nil
}
