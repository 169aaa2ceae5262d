// Package membroker is an in-process store-and-forward broker with a
// driver for it, laid out the way oslo.messaging's rabbit driver uses
// RabbitMQ (topic exchanges, a queue per topic and per topic.server, a
// fanout exchange per topic, notification queues declared by the sender,
// pools as shared queues). It exists to test the contract suite itself:
// the suite must pass on it, and must fail on it when it is broken on
// purpose. It is not a production driver and speaks no network protocol.
package membroker

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
)

// Scheme is the transport URL scheme of the driver.
const Scheme = "membroker"

var (
	brokersMu sync.Mutex
	brokers   = map[string]*Broker{}
)

// Broker is one in-memory broker, addressed by its name as the host of a
// membroker:// URL.
type Broker struct {
	name, user, pass string
	maxSize          int

	mu        sync.Mutex
	bindings  map[string]map[string][]*queue // exchange → routing key → queues
	fanouts   map[string][]*queue            // fanout exchange → queues
	queues    map[string]*queue
	replies   map[string]func(reply) // reply queue → the waiting driver
	taps      map[string][]*Tap      // exchange/key → taps
	published int
}

// Options configure a broker.
type Options struct {
	User, Password string
	// MaxMessageSize is the largest body accepted; 0 means 4 MiB.
	MaxMessageSize int
}

// New starts a broker and returns it with the URL that reaches it.
func New(o Options) (*Broker, string) {
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = 4 << 20
	}
	b := &Broker{
		name: "mem-" + envelope.NewID()[:12], user: o.User, pass: o.Password, maxSize: o.MaxMessageSize,
		bindings: map[string]map[string][]*queue{}, fanouts: map[string][]*queue{},
		queues: map[string]*queue{}, replies: map[string]func(reply){}, taps: map[string][]*Tap{},
	}
	brokersMu.Lock()
	brokers[b.name] = b
	brokersMu.Unlock()
	return b, fmt.Sprintf("%s://%s:%s@%s/", Scheme, o.User, o.Password, b.name)
}

// Close forgets the broker; drivers connected to it keep working on what
// they hold, new connections fail.
func (b *Broker) Close() {
	brokersMu.Lock()
	delete(brokers, b.name)
	brokersMu.Unlock()
}

// MaxMessageSize is the largest body the broker accepts.
func (b *Broker) MaxMessageSize() int { return b.maxSize }

// Published counts the messages the broker accepted.
func (b *Broker) Published() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.published
}

// envelopeMsg is a stored message: the body as it would travel on the
// wire, and what the broker knows about its sender.
type envelopeMsg struct {
	body     []byte
	ctx      drivers.Context
	msgID    string // RPC request expecting a reply
	replyTo  string
	monitor  time.Duration
	redelive bool
}

type reply struct {
	msgID     string
	result    any
	failure   string // serialized remote exception
	heartbeat bool
}

// queue is a broker queue with competing consumers, delivered round robin
// within each consumer's prefetch limit.
type queue struct {
	name       string
	autoDelete bool
	ready      []*envelopeMsg
	consumers  []*consumer
	next       int
}

type consumer struct {
	q        *queue
	l        *listener
	prefetch int
	unacked  map[*delivery]bool
}

type delivery struct {
	m    *envelopeMsg
	c    *consumer
	done bool
}

func (b *Broker) declare(name string, autoDelete bool) *queue {
	q, ok := b.queues[name]
	if !ok {
		q = &queue{name: name, autoDelete: autoDelete}
		b.queues[name] = q
	}
	return q
}

func (b *Broker) bind(q *queue, exchange, key string) {
	keys := b.bindings[exchange]
	if keys == nil {
		keys = map[string][]*queue{}
		b.bindings[exchange] = keys
	}
	for _, x := range keys[key] {
		if x == q {
			return
		}
	}
	keys[key] = append(keys[key], q)
}

// route returns the queues a message to (exchange, key) reaches.
func (b *Broker) route(exchange, key string, fanout bool) []*queue {
	if fanout {
		return b.fanouts[exchange]
	}
	return b.bindings[exchange][key]
}

// publish stores m in every queue of the route and returns how many took
// it.
func (b *Broker) publish(exchange, key string, fanout bool, m *envelopeMsg) (int, error) {
	if len(m.body) > b.maxSize {
		return 0, fmt.Errorf("%w: %d bytes, the broker accepts %d", drivers.ErrMessageTooLarge, len(m.body), b.maxSize)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	qs := b.route(exchange, key, fanout)
	for _, t := range b.taps[exchange+"/"+key] {
		t.add(m.body)
	}
	for _, q := range qs {
		cp := *m
		q.ready = append(q.ready, &cp)
		b.dispatch(q)
	}
	b.published++
	return len(qs), nil
}

// dispatch hands ready messages to consumers with room, round robin.
// b.mu is held.
func (b *Broker) dispatch(q *queue) {
	for len(q.ready) > 0 && len(q.consumers) > 0 {
		var c *consumer
		for i := 0; i < len(q.consumers); i++ {
			cand := q.consumers[(q.next+i)%len(q.consumers)]
			if cand.prefetch == 0 || len(cand.unacked) < cand.prefetch {
				c = cand
				q.next = (q.next + i + 1) % len(q.consumers)
				break
			}
		}
		if c == nil {
			return
		}
		m := q.ready[0]
		q.ready = q.ready[1:]
		d := &delivery{m: m, c: c}
		c.unacked[d] = true
		c.l.push(d)
	}
}

func (b *Broker) settle(d *delivery, requeue bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if d.done {
		return
	}
	d.done = true
	delete(d.c.unacked, d)
	q := d.c.q
	if requeue {
		d.m.redelive = true
		q.ready = append([]*envelopeMsg{d.m}, q.ready...)
	}
	b.dispatch(q)
}

func (b *Broker) subscribe(l *listener, q *queue, prefetch int) *consumer {
	c := &consumer{q: q, l: l, prefetch: prefetch, unacked: map[*delivery]bool{}}
	q.consumers = append(q.consumers, c)
	b.dispatch(q)
	return c
}

// cancel removes consumers and requeues what they held unacknowledged, as
// closing an AMQP channel does. b.mu is held.
func (b *Broker) cancel(cs []*consumer) {
	for _, c := range cs {
		q := c.q
		for i, x := range q.consumers {
			if x == c {
				q.consumers = append(q.consumers[:i], q.consumers[i+1:]...)
				break
			}
		}
		var back []*envelopeMsg
		for d := range c.unacked {
			d.done = true
			d.m.redelive = true
			back = append(back, d.m)
		}
		c.unacked = map[*delivery]bool{}
		q.ready = append(back, q.ready...)
		if q.autoDelete && len(q.consumers) == 0 {
			b.deleteQueue(q)
			continue
		}
		if len(q.consumers) > 0 {
			q.next %= len(q.consumers)
		}
		b.dispatch(q)
	}
}

func (b *Broker) deleteQueue(q *queue) {
	delete(b.queues, q.name)
	for ex, keys := range b.bindings {
		for k, qs := range keys {
			keys[k] = without(qs, q)
		}
		b.bindings[ex] = keys
	}
	for ex, qs := range b.fanouts {
		b.fanouts[ex] = without(qs, q)
	}
}

func without(qs []*queue, q *queue) []*queue {
	out := qs[:0:0]
	for _, x := range qs {
		if x != q {
			out = append(out, x)
		}
	}
	return out
}

// Tap records the bodies routed to one address.
type Tap struct {
	b      *Broker
	key    string
	mu     sync.Mutex
	bodies [][]byte
	ch     chan struct{}
}

// TapNotifications records what is published to (exchange, address).
func (b *Broker) TapNotifications(_ context.Context, exchange, address string) (*Tap, error) {
	if exchange == "" {
		exchange = "openstack"
	}
	t := &Tap{b: b, key: exchange + "/" + address, ch: make(chan struct{})}
	b.mu.Lock()
	b.taps[t.key] = append(b.taps[t.key], t)
	b.mu.Unlock()
	return t, nil
}

func (t *Tap) add(body []byte) {
	t.mu.Lock()
	t.bodies = append(t.bodies, append([]byte(nil), body...))
	close(t.ch)
	t.ch = make(chan struct{})
	t.mu.Unlock()
}

// Next returns the next recorded body, waiting for one until ctx ends.
func (t *Tap) Next(ctx context.Context) ([]byte, error) {
	for {
		t.mu.Lock()
		if len(t.bodies) > 0 {
			b := t.bodies[0]
			t.bodies = t.bodies[1:]
			t.mu.Unlock()
			return b, nil
		}
		ch := t.ch
		t.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Close stops the recording.
func (t *Tap) Close() error {
	t.b.mu.Lock()
	defer t.b.mu.Unlock()
	taps := t.b.taps[t.key]
	for i, x := range taps {
		if x == t {
			t.b.taps[t.key] = append(taps[:i], taps[i+1:]...)
			break
		}
	}
	return nil
}
