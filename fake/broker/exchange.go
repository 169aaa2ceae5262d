package broker

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/switchyard-dev/switchyard/fake/internal/amqp091"
)

// Exchange types.
const (
	kindDirect  = "direct"
	kindFanout  = "fanout"
	kindTopic   = "topic"
	kindHeaders = "headers"
)

func validKind(k string) bool {
	return k == kindDirect || k == kindFanout || k == kindTopic || k == kindHeaders
}

// vhost is one virtual host: its exchanges and queues.
type vhost struct {
	name      string
	exchanges map[string]*exchange
	queues    map[string]*queue
}

// predeclared are the exchanges every virtual host starts with.
var predeclared = []struct{ name, kind string }{
	{"", kindDirect},
	{"amq.direct", kindDirect},
	{"amq.fanout", kindFanout},
	{"amq.topic", kindTopic},
	{"amq.headers", kindHeaders},
	{"amq.match", kindHeaders},
}

func newVHost(name string) *vhost {
	vh := &vhost{name: name, exchanges: map[string]*exchange{}, queues: map[string]*queue{}}
	for _, p := range predeclared {
		vh.exchanges[p.name] = &exchange{vh: vh, name: p.name, kind: p.kind, durable: true, system: true}
	}
	return vh
}

// exchange is an exchange and the bindings it is the source of.
type exchange struct {
	vh                            *vhost
	name, kind                    string
	durable, autoDelete, internal bool
	system                        bool // the default exchange and amq.*
	args                          amqp091.Table
	bindings                      []*binding            // where this is the source
	direct                        map[string][]*binding // direct bindings by key
	destOf                        []*binding            // exchange bindings where this is the destination
	deleted                       bool

	stats ExchangeStats
}

func (e *exchange) isDefault() bool { return e.name == "" }

// binding routes from an exchange to a queue or another exchange.
type binding struct {
	src   *exchange
	queue *queue    // destination queue, or nil
	dest  *exchange // destination exchange, or nil
	key   string
	args  amqp091.Table
	// headers exchanges: parsed x-match
	matchAll, withX bool
}

func (bd *binding) destName() string {
	if bd.queue != nil {
		return bd.queue.name
	}
	return bd.dest.name
}

// sameAs reports whether bd binds the same source, destination, key and
// arguments as o.
func (bd *binding) sameAs(o *binding) bool {
	return bd.src == o.src && bd.queue == o.queue && bd.dest == o.dest && bd.key == o.key && tablesEqual(bd.args, o.args)
}

// addBinding adds bd unless an identical binding exists; it reports
// whether it was added.
func (e *exchange) addBinding(bd *binding) bool {
	for _, o := range e.bindings {
		if o.sameAs(bd) {
			return false
		}
	}
	e.bindings = append(e.bindings, bd)
	if e.kind == kindDirect {
		if e.direct == nil {
			e.direct = map[string][]*binding{}
		}
		e.direct[bd.key] = append(e.direct[bd.key], bd)
	}
	if bd.queue != nil {
		bd.queue.bindings = append(bd.queue.bindings, bd)
	} else {
		bd.dest.destOf = append(bd.dest.destOf, bd)
	}
	return true
}

// removeBinding removes bd from every list that holds it.
func (e *exchange) removeBinding(bd *binding) {
	e.bindings = removePtr(e.bindings, bd)
	if e.direct != nil {
		l := removePtr(e.direct[bd.key], bd)
		if len(l) == 0 {
			delete(e.direct, bd.key)
		} else {
			e.direct[bd.key] = l
		}
	}
	if bd.queue != nil {
		bd.queue.bindings = removePtr(bd.queue.bindings, bd)
	} else {
		bd.dest.destOf = removePtr(bd.dest.destOf, bd)
	}
}

func removePtr[T comparable](s []T, v T) []T {
	if i := slices.Index(s, v); i >= 0 {
		return slices.Delete(s, i, i+1)
	}
	return s
}

// findBinding returns the binding equal to bd, or nil.
func (e *exchange) findBinding(bd *binding) *binding {
	for _, o := range e.bindings {
		if o.sameAs(bd) {
			return o
		}
	}
	return nil
}

// route collects the queues a message published to e with routing key
// key and headers reaches, following exchange-to-exchange bindings, each
// queue once.
func (e *exchange) route(key string, headers amqp091.Table, out []*queue) []*queue {
	if e.isDefault() {
		if q := e.vh.queues[key]; q != nil {
			out = append(out, q)
		}
		return out
	}
	var seenEx []*exchange
	var walk func(x *exchange)
	walk = func(x *exchange) {
		if slices.Contains(seenEx, x) {
			return
		}
		seenEx = append(seenEx, x)
		visit := func(bd *binding) {
			if bd.queue != nil {
				if !slices.Contains(out, bd.queue) {
					out = append(out, bd.queue)
				}
			} else if bd.dest != nil {
				walk(bd.dest)
			}
		}
		switch x.kind {
		case kindDirect:
			for _, bd := range x.direct[key] {
				visit(bd)
			}
		case kindFanout:
			for _, bd := range x.bindings {
				visit(bd)
			}
		case kindTopic:
			for _, bd := range x.bindings {
				if topicMatch(bd.key, key) {
					visit(bd)
				}
			}
		case kindHeaders:
			for _, bd := range x.bindings {
				if headersMatch(bd, headers) {
					visit(bd)
				}
			}
		}
	}
	walk(e)
	return out
}

// topicMatch reports whether a routing key matches a topic binding pattern:
// words are separated by dots, "*" matches exactly one word and "#" zero
// or more.
func topicMatch(pattern, key string) bool {
	if pattern == "#" {
		return true
	}
	if !strings.ContainsAny(pattern, "*#") {
		return pattern == key
	}
	return matchWords(words(pattern), words(key))
}

// words splits a routing key or pattern at dots; as in RabbitMQ, the empty
// key has no words at all.
func words(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ".")
}

// matchWords matches pattern words against key words with "*" and "#", by
// dynamic programming over positions so that no input is exponential.
func matchWords(p, k []string) bool {
	// cur[j] reports whether p[:i] matches k[:j].
	cur := make([]bool, len(k)+1)
	next := make([]bool, len(k)+1)
	cur[0] = true
	for i := range p {
		clear(next)
		switch p[i] {
		case "#":
			reach := false
			for j := 0; j <= len(k); j++ {
				reach = reach || cur[j]
				next[j] = reach
			}
		case "*":
			for j := 1; j <= len(k); j++ {
				next[j] = cur[j-1]
			}
		default:
			for j := 1; j <= len(k); j++ {
				next[j] = cur[j-1] && k[j-1] == p[i]
			}
		}
		cur, next = next, cur
	}
	return cur[len(k)]
}

// parseXMatch reads a headers binding's x-match argument.
func parseXMatch(args amqp091.Table) (matchAll, withX bool, err *amqpError) {
	v, ok := args["x-match"]
	if !ok {
		return true, false, nil
	}
	s, _ := v.(string)
	switch s {
	case "all":
		return true, false, nil
	case "any":
		return false, false, nil
	case "all-with-x":
		return true, true, nil
	case "any-with-x":
		return false, true, nil
	}
	return false, false, errorf(amqp091.PreconditionFailed, "Invalid x-match field value <<%q>>; expected all, any, all-with-x, or any-with-x", formatArg(v))
}

// headersMatch applies a headers binding to a message's headers, as
// RabbitMQ does: arguments starting with "x-" take part only with the
// "-with-x" variants, an argument of void value matches any value, and
// values compare numerically across integer and float types.
func headersMatch(bd *binding, headers amqp091.Table) bool {
	for k, want := range bd.args {
		if strings.HasPrefix(k, "x-") && (!bd.withX || k == "x-match") {
			continue
		}
		got, ok := headers[k]
		hit := ok && (want == nil || valuesEqual(want, got))
		if hit && !bd.matchAll {
			return true
		}
		if !hit && bd.matchAll {
			return false
		}
	}
	// All matched (x-match all), or none did (any).
	return bd.matchAll
}

// numeric returns a field value as a float64 when it is a number.
func numeric(v any) (float64, bool) {
	switch n := v.(type) {
	case int8:
		return float64(n), true
	case uint8:
		return float64(n), true
	case int16:
		return float64(n), true
	case uint16:
		return float64(n), true
	case int32:
		return float64(n), true
	case uint32:
		return float64(n), true
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case float32:
		return float64(n), true
	case float64:
		return n, true
	}
	return math.NaN(), false
}

// valuesEqual compares two field values as RabbitMQ's == does: numbers by
// value whatever their type, everything else by type and value.
func valuesEqual(a, b any) bool {
	if x, ok := numeric(a); ok {
		y, ok := numeric(b)
		return ok && x == y
	}
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return ok && x == y
	case []byte:
		y, ok := b.([]byte)
		return ok && string(x) == string(y)
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case nil:
		return b == nil
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	case amqp091.Decimal:
		y, ok := b.(amqp091.Decimal)
		return ok && x == y
	case amqp091.Table:
		y, ok := b.(amqp091.Table)
		return ok && tablesEqual(x, y)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !valuesEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return false
}

// tablesEqual compares tables key by key with valuesEqual; nil and empty
// are equal.
func tablesEqual(a, b amqp091.Table) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !valuesEqual(v, w) {
			return false
		}
	}
	return true
}
