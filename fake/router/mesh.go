package router

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/switchyard-dev/switchyard/fake/internal/amqp10"
)

// meshPrefix starts the container-id of a router's connection to a peer
// router; the peer treats that connection's receiving links as another
// router's subscriptions.
const meshPrefix = "switchyard-mesh/"

// peer is a connection this router opened to another router.
type peer struct {
	addr    string
	conn    *amqp.Conn
	sess    *amqp.Session
	proxies map[string]context.CancelFunc // address → stops its subscription
}

// Connect links r to the router listening at addr: for every address r's
// own clients consume from, r subscribes at that router, so messages sent
// there reach them (with end-to-end settlement). Traffic the other way
// needs the other router to Connect to r as well; Mesh does both for a set
// of routers. A lost connection is not re-established.
func (r *Router) Connect(ctx context.Context, addr string) error {
	conn, err := amqp.Dial(ctx, "amqp://"+addr, &amqp.ConnOptions{
		ContainerID: meshPrefix + r.opts.ContainerID,
		SASLType:    amqp.SASLTypeAnonymous(),
	})
	if err != nil {
		return fmt.Errorf("router: connect to %s: %w", addr, err)
	}
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		conn.Close()
		return fmt.Errorf("router: connect to %s: %w", addr, err)
	}
	p := &peer{addr: addr, conn: conn, sess: sess, proxies: map[string]context.CancelFunc{}}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		conn.Close()
		return ErrClosed
	}
	r.peers = append(r.peers, p)
	for address, n := range r.nodes {
		if n.locals() > 0 {
			r.subscribeLocked(p, address)
		}
	}
	return nil
}

// Mesh connects every router to every other, so that a message sent to
// any of them reaches consumers on all of them. The routers need distinct
// container-ids.
func Mesh(ctx context.Context, routers ...*Router) error {
	ids := map[string]bool{}
	for _, r := range routers {
		if ids[r.opts.ContainerID] {
			return fmt.Errorf("router: two routers share container-id %q", r.opts.ContainerID)
		}
		ids[r.opts.ContainerID] = true
	}
	var errs []error
	for _, a := range routers {
		for _, b := range routers {
			if a != b {
				errs = append(errs, a.Connect(ctx, b.Addr()))
			}
		}
	}
	return errors.Join(errs...)
}

func (r *Router) subscribePeersLocked(address string) {
	for _, p := range r.peers {
		r.subscribeLocked(p, address)
	}
}

func (r *Router) unsubscribePeersLocked(address string) {
	for _, p := range r.peers {
		if stop := p.proxies[address]; stop != nil {
			stop()
			delete(p.proxies, address)
		}
	}
}

// subscribeLocked starts a subscription to address at peer p.
func (r *Router) subscribeLocked(p *peer, address string) {
	if r.closed || p.proxies[address] != nil {
		return
	}
	ctx, cancel := context.WithCancel(r.meshCtx)
	p.proxies[address] = cancel
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer cancel()
		r.runSubscription(ctx, p, address)
	}()
}

// runSubscription receives address's messages at a peer and routes them to
// this router's own consumers until ctx ends or the peer goes away.
func (r *Router) runSubscription(ctx context.Context, p *peer, address string) {
	rcv, err := p.sess.NewReceiver(ctx, address, &amqp.ReceiverOptions{
		Credit: -1,
		Name:   meshPrefix + r.opts.ContainerID + "/" + address,
	})
	if err != nil {
		r.log.Warn("mesh subscription failed", "peer", p.addr, "address", address, "err", err)
		return
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		rcv.Close(cctx)
	}()
	if err := rcv.IssueCredit(r.opts.Credit); err != nil {
		return
	}
	for {
		m, err := rcv.Receive(ctx, nil)
		if err != nil {
			return
		}
		payload, err := m.MarshalBinary()
		r.mu.Lock()
		if err != nil {
			r.log.Warn("mesh: cannot re-encode a message", "err", err)
			r.meshSettleLocked(rcv, m, amqp10.Rejected{Error: &amqp10.Error{Condition: amqp10.CondDecodeError, Description: err.Error()}})
		} else {
			r.fromPeerLocked(p, rcv, m, address, payload)
		}
		r.mu.Unlock()
		if err := rcv.IssueCredit(1); err != nil {
			return
		}
	}
}

// fromPeerLocked routes a message a peer router forwarded to this router's
// own consumers of address.
func (r *Router) fromPeerLocked(p *peer, rcv *amqp.Receiver, m *amqp.Message, address string, payload []byte) {
	conn := "mesh:" + p.addr
	r.totals.Received++
	r.emit(Event{Type: EventReceived, Connection: conn, Address: address, Link: rcv.LinkName(), BodyHash: bodyHash(payload)})
	t := &transit{
		dispose: func(s amqp10.DeliveryState) { r.meshSettleLocked(rcv, m, s) },
		conn:    conn, link: rcv.LinkName(), address: address, routing: true,
	}
	copies := 0
	if n := r.nodes[address]; n != nil {
		n.stats.Received++
		copies = r.routeLocked(n, payload, false, t, true)
	}
	t.routing = false
	switch {
	case copies == 0:
		r.totals.ReleasedNoConsumer++
		r.emit(Event{Type: EventReleased, Connection: conn, Address: address, Link: rcv.LinkName()})
		r.settleLocked(t, amqp10.Released{})
	case t.pending == 0:
		r.finishLocked(t)
	}
}

// meshSettleLocked sends a forwarded message's outcome back to the peer
// router, off the lock since go-amqp waits for the network.
func (r *Router) meshSettleLocked(rcv *amqp.Receiver, m *amqp.Message, s amqp10.DeliveryState) {
	if r.closed {
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		ctx, cancel := context.WithTimeout(r.meshCtx, 5*time.Second)
		defer cancel()
		var err error
		switch s := s.(type) {
		case amqp10.Rejected:
			var e *amqp.Error
			if s.Error != nil {
				e = &amqp.Error{Condition: amqp.ErrCond(s.Error.Condition), Description: s.Error.Description}
			}
			err = rcv.RejectMessage(ctx, m, e)
		case amqp10.Released:
			err = rcv.ReleaseMessage(ctx, m)
		case amqp10.Modified:
			err = rcv.ModifyMessage(ctx, m, &amqp.ModifyMessageOptions{DeliveryFailed: s.DeliveryFailed, UndeliverableHere: s.UndeliverableHere})
		default:
			err = rcv.AcceptMessage(ctx, m)
		}
		if err != nil {
			r.log.Debug("mesh: settling at the peer failed", "err", err)
		}
	}()
}

// closePeers ends every connection to peer routers.
func (r *Router) closePeers(peers []*peer) {
	r.meshCancel()
	for _, p := range peers {
		p.conn.Close()
	}
}
