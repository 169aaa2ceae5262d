package broker

import (
	"strings"
	"time"

	"github.com/switchyard-dev/switchyard/fake/internal/amqp10"
)

// DefaultAMQP1QueuePatterns are the address prefixes the AMQP 1.0 listener
// treats as queues unless AMQP1Options.QueuePatterns says otherwise: the
// qpidd configuration of the oslo.messaging AMQP 1.0 guide
// (queue-patterns=exclusive, queue-patterns=unicast) and oslo's routable
// anycast and unicast addresses.
var DefaultAMQP1QueuePatterns = []string{
	"exclusive",
	"unicast",
	"openstack.org/om/rpc/anycast",
	"openstack.org/om/rpc/unicast",
	"openstack.org/om/notify/anycast",
	"openstack.org/om/notify/unicast",
}

// DefaultAMQP1TopicPatterns are the address prefixes the AMQP 1.0 listener
// treats as topics, where every receiver gets its own copy, unless
// AMQP1Options.TopicPatterns says otherwise: the guide's
// topic-patterns=broadcast and oslo's routable multicast addresses.
var DefaultAMQP1TopicPatterns = []string{
	"broadcast",
	"openstack.org/om/rpc/multicast",
	"openstack.org/om/notify/multicast",
}

// a1DynamicPrefix starts the names of the queues made for dynamic
// sources and targets.
const a1DynamicPrefix = "amq.gen-"

// matchA1Pattern reports whether address is pattern or lies below it: the
// character after the pattern is "." or "/", or the pattern ends in one.
func matchA1Pattern(pattern, address string) bool {
	if pattern == "" || !strings.HasPrefix(address, pattern) {
		return false
	}
	if len(address) == len(pattern) {
		return true
	}
	if last := pattern[len(pattern)-1]; last == '.' || last == '/' {
		return true
	}
	c := address[len(pattern)]
	return c == '.' || c == '/'
}

// longestMatch returns the length of the longest pattern address matches,
// or -1.
func longestMatch(patterns []string, address string) int {
	best := -1
	for _, p := range patterns {
		if matchA1Pattern(p, address) && len(p) > best {
			best = len(p)
		}
	}
	return best
}

// a1Node is what an address names: a queue, or an exchange whose
// receivers each get a subscription queue.
type a1Node struct {
	q  *queue    // for a queue
	ex *exchange // for a topic
}

// isTopic reports whether a new node for address would be a topic: it
// matches a topic pattern more closely than any queue pattern.
func (l *amqp1Listener) isTopic(address string) bool {
	t := longestMatch(l.opts.TopicPatterns, address)
	return t >= 0 && t > longestMatch(l.opts.QueuePatterns, address)
}

// resolveA1Locked finds or creates the node address names in sc's vhost:
// an existing queue, else an existing exchange, else a new topic exchange
// or queue as the patterns say. Only the owner may consume from an
// exclusive queue; anyone may send to it. Callers hold b.mu.
func (b *Broker) resolveA1Locked(sc *conn, address string, consume bool, now time.Time) (a1Node, *amqp10.Error) {
	vh := sc.vh
	if q := vh.queues[address]; q != nil {
		if consume && q.exclusive && q.owner != sc {
			return a1Node{}, &amqp10.Error{Condition: amqp10.CondResourceLocked, Description: "queue '" + address + "' is exclusive to another connection"}
		}
		return a1Node{q: q}, nil
	}
	if address != "" {
		if ex := vh.exchanges[address]; ex != nil {
			return a1Node{ex: ex}, nil
		}
	}
	if address == "" || strings.HasPrefix(address, a1DynamicPrefix) {
		return a1Node{}, &amqp10.Error{Condition: amqp10.CondNotFound, Description: "no node '" + address + "' in vhost '" + vh.name + "'"}
	}
	if b.a1.isTopic(address) {
		ex := &exchange{vh: vh, name: address, kind: kindFanout}
		vh.exchanges[address] = ex
		b.emit(Event{Type: EventExchangeDeclared, VHost: vh.name, Exchange: address, Connection: sc.displayName()})
		return a1Node{ex: ex}, nil
	}
	return a1Node{q: b.declareA1Queue(sc, address, false, now)}, nil
}

// declareA1Queue creates a non-durable queue; an exclusive one belongs to
// sc and goes when sc does. Callers hold b.mu.
func (b *Broker) declareA1Queue(sc *conn, name string, exclusive bool, now time.Time) *queue {
	vh := sc.vh
	qa, _ := parseQueueArgs(nil, "")
	q := &queue{vh: vh, name: name, exclusive: exclusive, qa: qa, lastUsed: now, serverNamed: exclusive}
	q.stats.VHost, q.stats.Name = vh.name, name
	if exclusive {
		q.owner = sc
		sc.exclusiveQs = append(sc.exclusiveQs, q)
	}
	vh.queues[name] = q
	b.emit(Event{Type: EventQueueDeclared, VHost: vh.name, Queue: name, Connection: sc.displayName()})
	b.touch(q, now)
	return q
}

// subscribeA1 makes a subscription queue for a receiver on topic ex,
// bound so that it gets every message the exchange routes. Callers hold
// b.mu.
func (b *Broker) subscribeA1(sc *conn, ex *exchange, now time.Time) *queue {
	q := b.declareA1Queue(sc, genName(a1DynamicPrefix), true, now)
	bd := &binding{src: ex, queue: q}
	switch ex.kind {
	case kindTopic:
		bd.key = "#"
	case kindDirect:
		bd.key = ex.name
	case kindHeaders:
		bd.matchAll = true // no headers to match: every message
	}
	ex.addBinding(bd)
	return q
}

// dropA1Queue deletes a queue made for one link. Callers hold b.mu.
func (b *Broker) dropA1Queue(sc *conn, q *queue, reason string) {
	if q == nil || q.deleted {
		return
	}
	sc.exclusiveQs = removePtr(sc.exclusiveQs, q)
	b.deleteQueue(q, reason)
}
