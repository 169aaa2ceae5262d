package amqp1

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp "github.com/Azure/go-amqp"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
)

// ErrNoDynamicSource is wrapped by the error of a call on a peer that
// cannot give the reply link a dynamic source (RabbitMQ's AMQP 1.0 plugin
// before 4.0, for one). Such a peer cannot carry RPC calls for this driver
// or for oslo's; casts and notifications still work.
var ErrNoDynamicSource = errors.New("the peer does not support dynamic link sources, which RPC replies need")

// replyAddressName is the target of the reply link, as oslo names it.
const replyAddressName = "rpc-response"

// replyLink is the one reply receiver of a connection: its source is
// dynamic, so the peer assigns the address that calls put in reply-to.
type replyLink struct {
	ready   chan struct{} // closed once attached or failed
	address string
	rcv     *amqp.Receiver
	err     error
	dead    chan struct{} // closed when the receive loop ended
}

// replyAddress returns the address of conn's reply link, attaching it on
// first use; no call is sent before it is active (WIRE.md §4.2).
func (d *Driver) replyAddress(ctx context.Context, conn *connection) (string, error) {
	conn.mu.Lock()
	rl := conn.reply
	if rl == nil || (isDone(rl.ready) && rl.err != nil) || isDone(rl.dead) {
		rl = &replyLink{ready: make(chan struct{}), dead: make(chan struct{})}
		conn.reply = rl
		if !d.goLoop(func() { d.runReplyLink(conn, rl) }) {
			rl.err = drivers.ErrClosed
			close(rl.ready)
			close(rl.dead)
		}
	}
	conn.mu.Unlock()
	select {
	case <-rl.ready:
	case <-d.stopCtx.Done():
		return "", drivers.ErrClosed
	case <-ctx.Done():
		return "", ctx.Err()
	}
	if rl.err != nil {
		return "", rl.err
	}
	return rl.address, nil
}

// runReplyLink attaches rl and hands replies to the waiting calls until
// the link or the connection ends.
func (d *Driver) runReplyLink(conn *connection, rl *replyLink) {
	defer close(rl.dead)
	ctx, cancel := context.WithTimeout(d.stopCtx, attachTimeout)
	rcv, err := conn.sess.NewReceiver(ctx, "", &amqp.ReceiverOptions{
		Name:           "openstack.org/om/receiver/[" + replyAddressName + "]/" + envelope.NewID(),
		DynamicAddress: true,
		TargetAddress:  replyAddressName,
		Credit:         int32(d.opts.ReplyLinkCredit),
	})
	cancel()
	rl.err = replyLinkError(conn.alive(), rcv, err)
	if rl.err != nil && d.stopCtx.Err() != nil {
		rl.err = drivers.ErrClosed
	}
	if rl.err != nil {
		if rcv != nil {
			closeReceiver(rcv)
		}
		close(rl.ready)
		return
	}
	rl.rcv, rl.address = rcv, rcv.Address()
	close(rl.ready)
	d.log.Debug("reply link active", "address", rl.address)
	stop := d.stopCtx
	for {
		msg, err := rcv.Receive(stop, nil)
		if err != nil {
			if stop.Err() == nil {
				d.log.Warn("reply link ended", "error", err)
			}
			closeReceiver(rcv)
			return
		}
		d.replies.deliver(stop, rcv, msg)
	}
}

// replyLinkError explains a reply link that could not be attached: with
// the connection still up, the peer refused a dynamic source (or gave no
// address), which waiting will not change.
func replyLinkError(connAlive bool, rcv *amqp.Receiver, err error) error {
	if err != nil {
		if !connAlive {
			return fmt.Errorf("reply link: %w", err)
		}
		return fmt.Errorf("%w: attaching the reply link (a receiver with a dynamic source) failed: %w", ErrNoDynamicSource, err)
	}
	if rcv.Address() == "" {
		return fmt.Errorf("%w: the peer attached the reply link without assigning it an address", ErrNoDynamicSource)
	}
	return nil
}

func closeReceiver(r *amqp.Receiver) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_ = r.Close(ctx)
	cancel()
}

// replyMsg is a reply (or heartbeat) handed to a waiting call.
type replyMsg struct {
	heartbeat bool
	text      string
}

// replies routes replies to the calls waiting for them, by correlation-id.
type replies struct {
	d       *Driver
	mu      sync.Mutex
	waiters map[string]chan replyMsg
}

func (r *replies) register(id string) chan replyMsg {
	ch := make(chan replyMsg, 16)
	r.mu.Lock()
	r.waiters[id] = ch
	r.mu.Unlock()
	return ch
}

// unregister forgets id: a reply arriving later is refused (C08).
func (r *replies) unregister(id string) {
	r.mu.Lock()
	delete(r.waiters, id)
	r.mu.Unlock()
}

// deliver hands msg to its call and accepts it; a reply for no waiting
// call is dispositioned modified with delivery-failed and
// undeliverable-here, as oslo does.
func (r *replies) deliver(ctx context.Context, rcv *amqp.Receiver, msg *amqp.Message) {
	var id string
	if msg.Properties != nil && msg.Properties.CorrelationID != nil {
		id = correlationKey(msg.Properties.CorrelationID)
	}
	text, hasBody, err := bodyText(msg.Value, msg.Data)
	r.mu.Lock()
	ch, ok := r.waiters[id]
	r.mu.Unlock()
	if !ok || err != nil {
		if err != nil {
			r.d.log.Warn("refusing a malformed reply", "correlation_id", id, "error", err)
		} else {
			r.d.log.Info("refusing a reply for a call no longer waiting (timed out or unknown)", "correlation_id", id)
		}
		_ = rcv.ModifyMessage(ctx, msg, &amqp.ModifyMessageOptions{DeliveryFailed: true, UndeliverableHere: true})
		return
	}
	_ = rcv.AcceptMessage(ctx, msg)
	select {
	case ch <- replyMsg{heartbeat: !hasBody, text: text}:
	default:
		r.d.log.Warn("dropping a reply: the caller's buffer is full", "correlation_id", id)
	}
}

// correlationKey renders a correlation-id of any AMQP type as a map key;
// oslo sends strings.
func correlationKey(v any) string {
	switch id := v.(type) {
	case string:
		return id
	case []byte:
		return string(id)
	}
	return fmt.Sprint(v)
}

// errMonitor marks a call whose server stopped heartbeating.
var errMonitor = errors.New("no heartbeat or reply within call_monitor_timeout")

// wait returns the call's result or failure (C06, C10), the first reply
// only (C11), resetting the call monitor on each heartbeat (C12).
func (r *replies) wait(ctx context.Context, ch chan replyMsg, monitor time.Duration) (any, error) {
	var monitorC <-chan time.Time
	var mt *time.Timer
	if monitor > 0 {
		mt = time.NewTimer(monitor)
		defer mt.Stop()
		monitorC = mt.C
	}
	for {
		select {
		case m := <-ch:
			if m.heartbeat {
				if mt != nil {
					mt.Reset(monitor)
				}
				continue
			}
			rep, err := decodeReply(m.text, r.d.cfg.AllowedRemoteExmods)
			if err != nil {
				return nil, fmt.Errorf("amqp1: malformed reply: %w", err)
			}
			if rep.Failure != nil {
				return nil, rep.Failure
			}
			return rep.Result, nil
		case <-monitorC:
			return nil, errMonitor
		case <-r.d.stopCtx.Done():
			return nil, drivers.ErrClosed
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
