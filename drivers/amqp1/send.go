package amqp1

import (
	"context"
	"errors"
	"fmt"
	"time"

	amqp "github.com/Azure/go-amqp"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
)

// attachTimeout bounds a link attach, so a peer that never answers one
// cannot hang a send or a listener.
const attachTimeout = 10 * time.Second

// senderLink is a cached sender for one address on one connection.
type senderLink struct {
	ready    chan struct{} // closed once the attach finished
	s        *amqp.Sender  // nil if the attach failed
	err      error
	inUse    int
	lastUsed time.Time
}

// sender returns the connection's sender for address, attaching it on
// first use (name "openstack.org/om/sender/[<address>]/<uuid>", source and
// target both the address, as oslo does). The caller must call release.
func (c *connection) sender(ctx context.Context, address string) (*senderLink, error) {
	c.mu.Lock()
	sl, ok := c.senders[address]
	if !ok {
		sl = &senderLink{ready: make(chan struct{})}
		c.senders[address] = sl
		if !c.spawn(func() { c.attachSender(sl, address) }) {
			sl.err = drivers.ErrClosed
			close(sl.ready)
		}
	}
	sl.inUse++
	sl.lastUsed = time.Now()
	c.mu.Unlock()
	select {
	case <-sl.ready:
	case <-ctx.Done():
		c.release(sl)
		return nil, ctx.Err()
	}
	if sl.err != nil {
		c.release(sl)
		c.forgetSender(address, sl)
		return nil, sl.err
	}
	return sl, nil
}

// attachSender attaches sl; it runs on its own so that a caller giving up
// does not leave a half-attached link behind. It ends within attachTimeout.
func (c *connection) attachSender(sl *senderLink, address string) {
	defer close(sl.ready)
	ctx, cancel := context.WithTimeout(c.stop, attachTimeout)
	defer cancel()
	sl.s, sl.err = c.sess.NewSender(ctx, address, &amqp.SenderOptions{
		Name:          "openstack.org/om/sender/[" + address + "]/" + envelope.NewID(),
		SourceAddress: address,
	})
}

func (c *connection) release(sl *senderLink) {
	c.mu.Lock()
	sl.inUse--
	sl.lastUsed = time.Now()
	c.mu.Unlock()
}

// forgetSender drops a failed sender from the cache, closing it.
func (c *connection) forgetSender(address string, sl *senderLink) {
	c.mu.Lock()
	if c.senders[address] == sl {
		delete(c.senders, address)
	}
	c.mu.Unlock()
	if sl.s != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = sl.s.Close(ctx)
		cancel()
	}
}

// purgeSenders detaches the senders idle for at least idle
// (default_sender_link_timeout) and returns how many remain.
func (c *connection) purgeSenders(idle time.Duration) int {
	var stale []*amqp.Sender
	c.mu.Lock()
	for a, sl := range c.senders {
		if sl.inUse == 0 && time.Since(sl.lastUsed) >= idle && isDone(sl.ready) {
			delete(c.senders, a)
			if sl.s != nil {
				stale = append(stale, sl.s)
			}
		}
	}
	n := len(c.senders)
	c.mu.Unlock()
	for _, s := range stale {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = s.Close(ctx)
		cancel()
	}
	return n
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// sendSpec is one logical message to send.
type sendSpec struct {
	what    string // "RPC call", "RPC cast", "notification", "RPC reply"
	target  drivers.Target
	svc     service
	address string // fixed address (replies); empty: resolve target
	body    *string
	// ttl, when positive, is written as the message's ttl; an expired
	// deadline is then a timeout rather than a delivery failure (§4.4).
	ttl        time.Duration
	msgID      string
	corrID     any
	presettled bool
	retry      int
	// prepare runs on the connection before each attempt (calls: the
	// reply link's address becomes reply-to).
	prepare func(ctx context.Context, conn *connection, m *amqpMessage) error
}

// amqpMessage is go-amqp's message, named for files that do not import it.
type amqpMessage = amqp.Message

// attemptError is how one attempt ended: err is nil on success;
// retryable says the peer certainly does not have the message, so sending
// it again cannot duplicate it; ambiguous says the outcome is unknown.
type attemptError struct {
	err       error
	retryable bool
	ambiguous bool
	delay     time.Duration // before the next attempt
}

// send delivers s within ctx's deadline and s.retry, resending only when
// the peer certainly does not have the message: the connection or link
// could not be made, the transfer was not written, or the peer released
// the message (or modified it without delivery-failed and
// undeliverable-here). A message whose outcome is unknown is never resent
// (C14-C16, WIRE.md §4.4).
func (d *Driver) send(ctx context.Context, parent context.Context, s sendSpec) error {
	address := s.address
	if s.body != nil && len(*s.body) > d.maxSize {
		to := address
		if to == "" {
			to = s.target.String()
		}
		return fmt.Errorf("%w: %d bytes to %s, the limit is %d", drivers.ErrMessageTooLarge, len(*s.body), to, d.maxSize)
	}
	if err := parent.Err(); err != nil {
		return err // nothing is sent for a context that already ended (C34)
	}
	var last error
	for attempt := 1; ; attempt++ {
		conn, err := d.conn.get(ctx)
		var ae attemptError
		if err != nil {
			ae = attemptError{err: err, retryable: true, delay: d.conn.backoff(attempt)}
		} else {
			if s.address == "" {
				address = conn.addr.resolve(s.target, s.svc)
			}
			ae = d.attempt(ctx, conn, address, s)
			if ae.err == nil {
				return nil
			}
		}
		last = ae.err
		var authErr *drivers.AuthError
		switch {
		case errors.Is(ae.err, drivers.ErrClosed):
			return drivers.ErrClosed
		case errors.As(ae.err, &authErr), errors.Is(ae.err, drivers.ErrMessageTooLarge):
			return ae.err
		}
		if ctx.Err() != nil || ae.ambiguous || !ae.retryable || (s.retry >= 0 && attempt > s.retry) {
			de := &drivers.DeliveryError{Address: address, Attempts: attempt, Ambiguous: ae.ambiguous, Err: last}
			return d.deadlineError(parent, ctx, s, de)
		}
		d.log.Info("send failed; retrying", "what", s.what, "address", address, "attempt", attempt, "error", last, "in", ae.delay)
		if !wait(ctx, ae.delay) {
			de := &drivers.DeliveryError{Address: address, Attempts: attempt, Err: last}
			return d.deadlineError(parent, ctx, s, de)
		}
	}
}

// deadlineError reports de, or the reason the send's context ended: the
// caller's cancellation as its error (C34); the send's own deadline as a
// timeout when the message carried a ttl and as a delivery failure
// otherwise (§4.4).
func (d *Driver) deadlineError(parent, ctx context.Context, s sendSpec, de *drivers.DeliveryError) error {
	if parent.Err() != nil {
		return errors.Join(parent.Err(), de)
	}
	if ctx.Err() != nil && s.ttl > 0 {
		return &drivers.TimeoutError{Op: s.what + " to " + de.Address, Reason: de.Error()}
	}
	if ctx.Err() != nil && de.Err == nil {
		de.Err = fmt.Errorf("no acknowledgement within the send deadline")
	}
	return de
}

// attempt sends the message once on conn.
func (d *Driver) attempt(ctx context.Context, conn *connection, address string, s sendSpec) attemptError {
	m := buildMessage(address, s)
	linkDelay := d.opts.LinkRetryDelay
	if s.prepare != nil {
		if err := s.prepare(ctx, conn, m); err != nil {
			return attemptError{err: err, retryable: !errors.Is(err, ErrNoDynamicSource), delay: linkDelay}
		}
	}
	sl, err := conn.sender(ctx, address)
	if err != nil {
		if !conn.alive() {
			return attemptError{err: err, retryable: true, delay: d.conn.backoff(1)}
		}
		return attemptError{err: fmt.Errorf("attach sender: %w", err), retryable: true, delay: linkDelay}
	}
	defer conn.release(sl)
	if s.presettled {
		if err := sl.s.Send(ctx, m, &amqp.SendOptions{Settled: true}); err != nil {
			return d.transferFailed(conn, address, sl, err)
		}
		return attemptError{}
	}
	receipt, err := sl.s.SendWithReceipt(ctx, m, nil)
	if err != nil {
		return d.transferFailed(conn, address, sl, err)
	}
	state, err := receipt.Wait(ctx)
	if err != nil {
		// Written, but no outcome: the peer may have the message.
		if !conn.alive() {
			d.conn.drop(conn)
		} else if ctx.Err() == nil {
			conn.forgetSender(address, sl)
		}
		return attemptError{err: fmt.Errorf("no outcome for the message: %w", err), ambiguous: true}
	}
	switch st := state.(type) {
	case nil, *amqp.StateAccepted:
		return attemptError{}
	case *amqp.StateReleased:
		return attemptError{err: errors.New("the peer released the message"), retryable: true, delay: linkDelay}
	case *amqp.StateModified:
		if !st.DeliveryFailed && !st.UndeliverableHere {
			return attemptError{err: errors.New("the peer returned the message modified"), retryable: true, delay: linkDelay}
		}
		return attemptError{err: fmt.Errorf("the peer could not deliver the message (modified: delivery-failed=%v, undeliverable-here=%v)", st.DeliveryFailed, st.UndeliverableHere)}
	case *amqp.StateRejected:
		if st.Error != nil {
			return attemptError{err: fmt.Errorf("the peer rejected the message: %w", st.Error)}
		}
		return attemptError{err: errors.New("the peer rejected the message")}
	default:
		return attemptError{err: fmt.Errorf("unexpected delivery outcome %T", state)}
	}
}

// buildMessage is the AMQP message for s as oslo writes it: the body an
// amqp-value string of JSON (none for a heartbeat), "to" the address,
// message-id for a call, correlation-id for a reply or heartbeat, and a
// header with the ttl only when there is one (WIRE.md §4.3).
func buildMessage(address string, s sendSpec) *amqp.Message {
	m := &amqp.Message{Properties: &amqp.MessageProperties{To: &address}}
	if s.body != nil {
		m.Value = *s.body
	}
	if s.ttl > 0 {
		m.Header = &amqp.MessageHeader{Priority: 4, TTL: s.ttl}
	}
	if s.msgID != "" {
		m.Properties.MessageID = s.msgID
	}
	if s.corrID != nil {
		m.Properties.CorrelationID = s.corrID
	}
	return m
}

// transferFailed classifies an error from writing a transfer: it was not
// (completely) written, so the peer does not have the message.
func (d *Driver) transferFailed(conn *connection, address string, sl *senderLink, err error) attemptError {
	var ae *amqp.Error
	if errors.As(err, &ae) && ae.Condition == amqp.ErrCondMessageSizeExceeded {
		return attemptError{err: fmt.Errorf("%w: %v", drivers.ErrMessageTooLarge, err)}
	}
	if errors.As(err, &ae) && ae.Condition == amqp.ErrCondTransferLimitExceeded {
		// go-amqp's word for "no credit before the deadline": never written.
		return attemptError{err: fmt.Errorf("no credit from the peer: %w", err), retryable: true, delay: d.opts.LinkRetryDelay}
	}
	if !conn.alive() {
		d.conn.drop(conn)
		return attemptError{err: err, retryable: true, delay: d.conn.backoff(1)}
	}
	conn.forgetSender(address, sl)
	return attemptError{err: err, retryable: true, delay: d.opts.LinkRetryDelay}
}
