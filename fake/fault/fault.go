// Package fault holds the fault injection shared by Switchyard's fakes: a
// set of faults that can be switched on and off at any time, each scoped to
// everything, a virtual host, a queue (or address) or a connection, and
// decided deterministically from a seed.
//
// A fake consults an Injector through the small Consulter interface at the
// points where a fault can act (a publish is confirmed, a message is
// delivered, a heartbeat is due, ...) and watches it for changes, so that
// faults which act at once (closing connections) or end (releasing
// withheld confirms) take effect when they are switched. The package knows
// nothing of any fake.
//
// Some kinds are mutants: deliberately wrong broker behaviour (losing an
// acknowledged message, delivering one twice, confirming before routing,
// ignoring prefetch) that exists so a contract suite can prove it notices.
package fault

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Kind is what a fault does.
type Kind string

// The kinds of fault. CloseConnections and CloseChannels act once, when
// enabled, on whatever they match at that moment; every other kind stays in
// force until disabled.
const (
	// CloseConnections force-closes matching connections (320
	// CONNECTION_FORCED; amqp:connection:forced in AMQP 1.0).
	CloseConnections Kind = "close-connections"
	// CloseChannels force-closes matching channels: those of a matching
	// connection, or consuming from a matching queue.
	CloseChannels Kind = "close-channels"
	// RefuseConnections refuses new connections: the broker answers
	// connection.open with connection.close 320 CONNECTION_FORCED (an AMQP
	// 1.0 fake answers open with close amqp:connection:forced).
	RefuseConnections Kind = "refuse-connections"
	// WithholdConfirms holds back publisher confirms until no fault of this
	// kind remains.
	WithholdConfirms Kind = "withhold-confirms"
	// DelayConfirms sends publisher confirms Fault.Delay late.
	DelayConfirms Kind = "delay-confirms"
	// NackPublishes refuses publishes in confirm mode with basic.nack; the
	// message is not routed.
	NackPublishes Kind = "nack-publishes"
	// PauseDeliveries stops deliveries to consumers and makes basic.get
	// find nothing.
	PauseDeliveries Kind = "pause-deliveries"
	// BlockPublishers sends connection.blocked to matching connections and
	// stops reading from them once they publish, until disabled.
	BlockPublishers Kind = "block-publishers"
	// StopHeartbeats stops the heartbeats the fake sends (in AMQP 1.0, the
	// empty frames that keep a peer's idle time-out from expiring).
	StopHeartbeats Kind = "stop-heartbeats"
	// CloseOnPublish force-closes a matching connection when a publish
	// arrives on it, before the fake takes the message: the publisher
	// cannot know whether it was stored, and it was not.
	CloseOnPublish Kind = "close-on-publish"
	// CloseBeforeConfirm stores a publish from a matching connection and
	// then force-closes the connection before confirming it: the publisher
	// cannot know whether it was stored, and it was.
	CloseBeforeConfirm Kind = "close-before-confirm"
	// CloseAfterConfirm stores and confirms a publish from a matching
	// connection and then force-closes the connection.
	CloseAfterConfirm Kind = "close-after-confirm"

	// LoseAcknowledged is a mutant: a publish is confirmed (or accepted)
	// but never stored. In an AMQP 1.0 router a sender's delivery is
	// settled as accepted and the message goes to no consumer.
	LoseAcknowledged Kind = "lose-acknowledged"
	// DuplicateDelivery is a mutant: a message is stored twice, so it is
	// delivered twice. In an AMQP 1.0 router a message is forwarded to
	// consumers twice, as two copies of one delivery: the sender hears one
	// outcome, once both copies have theirs.
	DuplicateDelivery Kind = "duplicate-delivery"
	// EarlyAck is a mutant: a publish is confirmed before it is routed, and
	// then dropped. In an AMQP 1.0 router it settles a sender's delivery as
	// accepted before any consumer has settled it (violating end-to-end
	// settlement); the message goes on only to a consumer with credit.
	EarlyAck Kind = "early-ack"
	// IgnorePrefetch is a mutant: deliveries go on past the consumer's
	// prefetch limit.
	IgnorePrefetch Kind = "ignore-prefetch"
	// Reorder is a mutant: each matching message is held back until the
	// next one arrives on its queue and is then queued behind it, so
	// consecutive messages swap places (a message with no successor waits
	// until the fault ends).
	Reorder Kind = "reorder"

	// DetachLinks force-detaches matching AMQP 1.0 links with
	// amqp:link:detach-forced: those of a matching connection, or attached
	// to a matching address.
	DetachLinks Kind = "detach-links"
	// WithholdCredit stops an AMQP 1.0 intermediary from granting link
	// credit to senders until no fault of this kind remains.
	WithholdCredit Kind = "withhold-credit"
	// WithholdDispositions holds back the outcomes an AMQP 1.0
	// intermediary owes senders until no fault of this kind remains.
	WithholdDispositions Kind = "withhold-dispositions"
	// Partition cuts an AMQP 1.0 router off from the peer routers of its
	// mesh whose container-id matches Scope.Connection (Scope.Queue narrows
	// it to addresses): the router forwards them nothing and counts none of
	// their credit until no fault of this kind remains. It acts on the
	// router that has it, for messages sent there: enable it on both
	// routers to cut a link both ways.
	Partition Kind = "partition"
	// ReleaseDeliveries makes an AMQP 1.0 intermediary answer a sender's
	// unsettled delivery with released instead of routing it, as if no
	// consumer could take it: the sender may resend.
	ReleaseDeliveries Kind = "release-deliveries"
	// ModifyDeliveries makes an AMQP 1.0 intermediary answer a sender's
	// unsettled delivery with modified (delivery-failed) instead of routing
	// it.
	ModifyDeliveries Kind = "modify-deliveries"
)

// Kinds lists every kind, in a stable order.
var Kinds = []Kind{
	CloseConnections, CloseChannels, RefuseConnections, WithholdConfirms,
	DelayConfirms, NackPublishes, PauseDeliveries, BlockPublishers,
	StopHeartbeats, CloseOnPublish, CloseBeforeConfirm, CloseAfterConfirm,
	LoseAcknowledged, DuplicateDelivery, EarlyAck, IgnorePrefetch, Reorder,
	DetachLinks, WithholdCredit, WithholdDispositions, Partition,
	ReleaseDeliveries, ModifyDeliveries,
}

// Valid reports whether k is one of Kinds.
func (k Kind) Valid() bool { return slices.Contains(Kinds, k) }

// Mutant reports whether k is deliberately wrong broker behaviour.
func (k Kind) Mutant() bool {
	switch k {
	case LoseAcknowledged, DuplicateDelivery, EarlyAck, IgnorePrefetch, Reorder:
		return true
	}
	return false
}

// OneShot reports whether k acts once when enabled rather than staying in
// force.
func (k Kind) OneShot() bool {
	return k == CloseConnections || k == CloseChannels || k == DetachLinks
}

// Scope says what a fault applies to. An empty field matches anything; a
// non-empty one must match the corresponding field of a Point, where '*'
// stands for any run of characters. A point that does not concern a queue
// (or connection, or virtual host) has that field empty, so a fault scoped
// to a queue never matches it.
type Scope struct {
	VHost      string // virtual host name
	Queue      string // queue (or address) name pattern
	Connection string // client-provided connection_name pattern
}

// String describes the scope.
func (s Scope) String() string {
	var parts []string
	if s.VHost != "" {
		parts = append(parts, "vhost="+s.VHost)
	}
	if s.Queue != "" {
		parts = append(parts, "queue="+s.Queue)
	}
	if s.Connection != "" {
		parts = append(parts, "connection="+s.Connection)
	}
	if len(parts) == 0 {
		return "everything"
	}
	return strings.Join(parts, " ")
}

// Matches reports whether p is within the scope.
func (s Scope) Matches(p Point) bool {
	return matchField(s.VHost, p.VHost) && matchField(s.Queue, p.Queue) && matchField(s.Connection, p.Connection)
}

func matchField(pattern, value string) bool {
	if pattern == "" {
		return true
	}
	if value == "" {
		return false
	}
	return Glob(pattern, value)
}

// Glob reports whether s matches pattern, in which '*' matches any run of
// characters (including none) and every other character matches itself.
func Glob(pattern, s string) bool {
	// Iterative matching with one backtrack point: linear in practice and
	// never exponential.
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// Point is a place where a fake asks whether a fault applies: the virtual
// host, queue and connection concerned, each empty when not applicable.
type Point struct {
	VHost      string // virtual host of the operation
	Queue      string // queue (or address) concerned
	Connection string // client-provided connection_name
}

// Fault is one fault: what it does, where, and how often.
type Fault struct {
	Kind  Kind  // what the fault does
	Scope Scope // where it applies

	// Probability, between 0 and 1, is the chance that the fault applies to
	// each matching event, drawn from a generator seeded from the
	// Injector's seed and the fault's ID. 0 means always.
	Probability float64
	// Skip lets the first Skip matching events through untouched.
	Skip int
	// Limit caps how many events the fault applies to; 0 means no cap.
	Limit int
	// Delay is how late DelayConfirms sends confirms.
	Delay time.Duration
	// For switches the fault off by itself after this long; 0 means it
	// stays on until disabled. It has no effect on one-shot kinds.
	For time.Duration
}

// String describes the fault.
func (f Fault) String() string {
	s := string(f.Kind) + " on " + f.Scope.String()
	if f.Probability > 0 && f.Probability < 1 {
		s += fmt.Sprintf(" p=%g", f.Probability)
	}
	if f.Skip > 0 {
		s += fmt.Sprintf(" skip=%d", f.Skip)
	}
	if f.Limit > 0 {
		s += fmt.Sprintf(" limit=%d", f.Limit)
	}
	if f.Delay > 0 {
		s += " delay=" + f.Delay.String()
	}
	if f.For > 0 {
		s += " for=" + f.For.String()
	}
	return s
}

func (f Fault) validate() error {
	switch {
	case !f.Kind.Valid():
		return fmt.Errorf("fault: unknown kind %q", f.Kind)
	case f.Probability < 0 || f.Probability > 1 || f.Probability != f.Probability:
		return fmt.Errorf("fault: probability %g is outside [0, 1]", f.Probability)
	case f.Skip < 0 || f.Limit < 0:
		return errors.New("fault: skip and limit must not be negative")
	case f.Delay < 0 || f.For < 0:
		return errors.New("fault: delay and for must not be negative")
	case f.Kind == DelayConfirms && f.Delay == 0:
		return errors.New("fault: delay-confirms needs a positive Delay")
	}
	return nil
}

// ID identifies an enabled fault.
type ID uint64

// Change reports that a fault was switched on or off.
type Change struct {
	ID    ID    // the fault's ID
	Fault Fault // the fault
	On    bool  // true when enabled, false when disabled
}

// Consulter is what a fake asks. Implementations must be safe for
// concurrent use and must not call back into the fake from Check.
type Consulter interface {
	// Any reports whether any fault of kind is on. It must be cheap: fakes
	// call it on every event before calling Check.
	Any(kind Kind) bool
	// Check reports whether a fault of kind applies to an event at p, and
	// which one (the earliest enabled). A true answer counts as the fault
	// acting: it uses up the fault's Skip, Limit and random draws.
	Check(kind Kind, p Point) (Fault, bool)
	// Watch registers fn to be called after every change, outside any lock
	// of the Consulter, and returns a function that unregisters it. For a
	// one-shot kind fn is called with On set while the fault is still
	// enabled, so Check finds it; it is disabled right after.
	Watch(fn func(Change)) (cancel func())
}

// rule is an enabled fault with its own state.
type rule struct {
	id    ID
	f     Fault
	rng   *rand.Rand
	seen  int // matching events so far
	fired int // events the fault applied to
	timer *time.Timer
}

// Injector is the standard Consulter: a set of enabled faults. The zero
// value is not usable; call New.
type Injector struct {
	seed   uint64
	mu     sync.Mutex
	next   ID
	rules  []*rule // in enabling order
	fired  map[ID]int
	counts map[Kind]*atomic.Int32
	on     atomic.Int32 // faults enabled, of any kind: Any's fast path
	wmu    sync.Mutex
	wnext  int
	watch  map[int]func(Change)
}

// New returns an Injector with no fault enabled, whose random decisions
// derive from seed.
func New(seed uint64) *Injector {
	in := &Injector{seed: seed, fired: map[ID]int{}, counts: map[Kind]*atomic.Int32{}, watch: map[int]func(Change){}}
	for _, k := range Kinds {
		in.counts[k] = new(atomic.Int32)
	}
	return in
}

// Enable switches f on and returns its ID. A one-shot fault acts (through
// the watchers) before Enable returns and is then off again.
func (in *Injector) Enable(f Fault) (ID, error) {
	if err := f.validate(); err != nil {
		return 0, err
	}
	in.mu.Lock()
	in.next++
	r := &rule{id: in.next, f: f, rng: rand.New(rand.NewPCG(in.seed, uint64(in.next)))}
	in.rules = append(in.rules, r)
	in.counts[f.Kind].Add(1)
	in.on.Add(1)
	if f.For > 0 && !f.Kind.OneShot() {
		id := r.id
		r.timer = time.AfterFunc(f.For, func() { in.Disable(id) })
	}
	in.mu.Unlock()
	in.notify(Change{ID: r.id, Fault: f, On: true})
	if f.Kind.OneShot() {
		in.Disable(r.id)
	}
	return r.id, nil
}

// MustEnable is Enable for faults known to be valid; it panics otherwise.
func (in *Injector) MustEnable(f Fault) ID {
	id, err := in.Enable(f)
	if err != nil {
		panic(err)
	}
	return id
}

// Disable switches a fault off and reports whether it was on.
func (in *Injector) Disable(id ID) bool {
	in.mu.Lock()
	i := slices.IndexFunc(in.rules, func(r *rule) bool { return r.id == id })
	if i < 0 {
		in.mu.Unlock()
		return false
	}
	r := in.rules[i]
	in.rules = slices.Delete(in.rules, i, i+1)
	in.counts[r.f.Kind].Add(-1)
	in.on.Add(-1)
	in.fired[id] = r.fired
	if r.timer != nil {
		r.timer.Stop()
	}
	in.mu.Unlock()
	if !r.f.Kind.OneShot() {
		in.notify(Change{ID: id, Fault: r.f, On: false})
	}
	return true
}

// DisableAll switches every fault off.
func (in *Injector) DisableAll() {
	for _, f := range in.Enabled() {
		in.Disable(f.ID)
	}
}

// EnabledFault is an enabled fault with its ID and how often it has acted.
type EnabledFault struct {
	ID    ID    // the fault's ID
	Fault Fault // the fault
	Fired int   // events it has applied to so far
}

// Enabled lists the faults that are on, in enabling order.
func (in *Injector) Enabled() []EnabledFault {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make([]EnabledFault, len(in.rules))
	for i, r := range in.rules {
		out[i] = EnabledFault{ID: r.id, Fault: r.f, Fired: r.fired}
	}
	return out
}

// Fired reports how many events the fault with this ID has applied to,
// whether it is still on or not.
func (in *Injector) Fired(id ID) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, r := range in.rules {
		if r.id == id {
			return r.fired
		}
	}
	return in.fired[id]
}

// Any implements Consulter; it takes no lock.
func (in *Injector) Any(kind Kind) bool {
	if in.on.Load() == 0 {
		return false
	}
	c := in.counts[kind]
	return c != nil && c.Load() > 0
}

// Check implements Consulter.
func (in *Injector) Check(kind Kind, p Point) (Fault, bool) {
	if !in.Any(kind) {
		return Fault{}, false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, r := range in.rules {
		if r.f.Kind != kind || !r.f.Scope.Matches(p) {
			continue
		}
		if r.f.Limit > 0 && r.fired >= r.f.Limit {
			continue
		}
		r.seen++
		if r.seen <= r.f.Skip {
			continue
		}
		if pr := r.f.Probability; pr > 0 && pr < 1 && r.rng.Float64() >= pr {
			continue
		}
		r.fired++
		return r.f, true
	}
	return Fault{}, false
}

// Watch implements Consulter.
func (in *Injector) Watch(fn func(Change)) (cancel func()) {
	in.wmu.Lock()
	id := in.wnext
	in.wnext++
	in.watch[id] = fn
	in.wmu.Unlock()
	return func() {
		in.wmu.Lock()
		delete(in.watch, id)
		in.wmu.Unlock()
	}
}

func (in *Injector) notify(c Change) {
	in.wmu.Lock()
	keys := make([]int, 0, len(in.watch))
	for k := range in.watch {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	fns := make([]func(Change), len(keys))
	for i, k := range keys {
		fns[i] = in.watch[k]
	}
	in.wmu.Unlock()
	for _, fn := range fns {
		fn(c)
	}
}
