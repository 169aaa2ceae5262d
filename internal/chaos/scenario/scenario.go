// Package scenario reads and checks chaos scenarios: YAML files that
// describe a workload of RPC calls, casts, fanouts and notifications, a
// timeline of faults and the invariants a run must keep.
//
// Parse reports every problem it finds at once, each as file:line: field:
// what is wrong and what is allowed.
package scenario

import (
	"strconv"
	"time"

	"github.com/switchyard-dev/switchyard/fake/fault"
)

// Generator kinds.
const (
	Call   = "call"   // RPC call: the client waits for the reply
	Cast   = "cast"   // RPC cast: one server processes it
	Fanout = "fanout" // RPC fanout cast: every server processes it
	Notify = "notify" // notification: every listener pool processes it
)

// GeneratorKinds lists the workload kinds, in documentation order.
var GeneratorKinds = []string{Call, Cast, Fanout, Notify}

// Fault kinds the runner carries out itself rather than through a fake's
// fault.Injector. Partition shares its name with fault.Partition, which
// cuts a mesh link without closing it; the runner's kind closes the
// inter-router connections and relinks the mesh afterwards.
const (
	// Restart restarts the embedded broker; For keeps it refusing
	// connections that long after the restart.
	Restart = "restart"
	// DeleteQueue deletes the queues the target's queue pattern matches,
	// through an ordinary AMQP client.
	DeleteQueue = "delete-queue"
	// Partition cuts every connection between the routers of an embedded
	// mesh for For, then links them again.
	Partition = "partition"
)

// Drivers a scenario may use.
const (
	Rabbit = "rabbit" // AMQP 0-9-1, oslo's rabbit driver
	Pika   = "pika"   // AMQP 0-9-1, oslo's pika driver
	AMQP1  = "amqp1"  // AMQP 1.0, oslo's amqp driver
)

// Embedded backend kinds.
const (
	EmbeddedBroker = "embedded-broker" // the fake AMQP 0-9-1 broker, with its AMQP 1.0 listener
	EmbeddedRouter = "embedded-router" // the fake AMQP 1.0 router, or a mesh of them
)

// amqp10Only are the fault kinds that exist only in AMQP 1.0.
var amqp10Only = []string{string(fault.DetachLinks), string(fault.WithholdCredit), string(fault.WithholdDispositions)}

// RouterKinds lists the fault kinds an embedded router applies, besides
// the TCP faults (single router only).
var RouterKinds = []string{
	string(fault.CloseConnections), string(fault.RefuseConnections), string(fault.DetachLinks),
	string(fault.WithholdCredit), string(fault.WithholdDispositions), string(fault.StopHeartbeats),
	string(fault.EarlyAck), Partition,
}

// Toxic kinds: TCP faults of the proxy between the drivers and the broker.
const (
	Latency   = "latency"
	Bandwidth = "bandwidth"
	ResetPeer = "reset_peer"
	Timeout   = "timeout"
	Slicer    = "slicer"
	Down      = "down"
)

// ToxicKinds lists the TCP fault kinds.
var ToxicKinds = []string{Latency, Bandwidth, ResetPeer, Timeout, Slicer, Down}

// toxicParams lists the parameters each toxic takes (toxiproxy's attribute
// names).
var toxicParams = map[string][]string{
	Latency:   {"latency", "jitter"},
	Bandwidth: {"rate"},
	ResetPeer: {"timeout"},
	Timeout:   {"timeout"},
	Slicer:    {"average_size", "size_variation", "delay"},
	Down:      nil,
}

// Scenario is one parsed and checked scenario file.
type Scenario struct {
	File        string        // where it was read from
	Name        string        // short name, [a-z0-9-]
	Description string        // one line for "chaos list"
	Seed        uint64        // seeds the schedule of operations and faults
	Duration    time.Duration // how long the workload runs
	Drain       time.Duration // longest wait for in-flight messages afterwards
	Backend     Backend
	Driver      string // Rabbit, Pika or AMQP1
	ExpectFail  bool   // the scenario exists to show an invariant failing
	Options     []Option
	Workload    []Generator
	Faults      []Fault
	Invariants  Invariants
}

// Backend says which broker or router the scenario runs against.
type Backend struct {
	// URL is a staging broker or router; empty means an embedded one.
	URL string
	// Kind is EmbeddedBroker or EmbeddedRouter when URL is empty; empty
	// means EmbeddedBroker.
	Kind string
	// Routers is how many embedded routers form the mesh; 0 or 1 is a
	// single router.
	Routers int
	// Management is the RabbitMQ management API base URL for staging
	// connection closes; empty means http://<first host>:15672.
	Management string
	// Durable gives the embedded broker a data directory, so durable
	// queues and persistent messages survive a restart.
	Durable bool
	// Heartbeat is the heartbeat interval the embedded broker proposes,
	// or the idle time-out the embedded routers announce; zero keeps the
	// default.
	Heartbeat time.Duration
}

// Embedded reports whether the scenario runs against an embedded broker
// or router.
func (b Backend) Embedded() bool { return b.URL == "" }

// Router reports whether the scenario runs against embedded routers.
func (b Backend) Router() bool { return b.URL == "" && b.Kind == EmbeddedRouter }

// RouterCount is how many embedded routers the backend has: 0 unless
// Router.
func (b Backend) RouterCount() int {
	if !b.Router() {
		return 0
	}
	return max(b.Routers, 1)
}

// Option is one [oslo_messaging_rabbit] (or [oslo_messaging_pika]) option
// given to every driver of the run.
type Option struct {
	Name, Value string
	Line        int
}

// Generator is one workload generator.
type Generator struct {
	Line               int
	Name               string  // unique in the scenario; names its topic
	Kind               string  // one of GeneratorKinds
	Rate               float64 // messages per second, over all clients
	Concurrency        int     // clients sending in parallel
	Size               Size    // payload size in bytes
	Timeout            time.Duration
	CallMonitorTimeout time.Duration
	Retry              int
	Priority           string    // notifications only
	Consumers          Consumers // servers (RPC) or listeners (notify)
}

// Size is a payload size distribution: Min == Max is a fixed size.
type Size struct {
	Min, Max int
}

// Consumers are the servers of an RPC generator or the listeners of a
// notification generator.
type Consumers struct {
	Count        int           // servers, or listeners per pool
	Pools        []string      // notification pools; empty: one unpooled group
	Threads      int           // messages a consumer works on at once
	BatchSize    int           // notification batch size
	BatchTimeout time.Duration // notification batch timeout
	Prefetch     int           // rabbit_qos_prefetch_count of the consumers' drivers
	Work         time.Duration // processing time of one message
}

// Fault is one entry of the fault timeline.
type Fault struct {
	Line        int
	At          time.Duration // from the start of the workload
	For         time.Duration // how long it stays on (the marked window)
	Every       time.Duration // repeat a one-shot fault this often within For
	Kind        string
	Target      string // see TargetHelp
	Probability float64
	Delay       time.Duration    // delay-confirms
	Stream      string           // toxics: downstream or upstream
	Params      map[string]int64 // toxics' attributes
}

// Broker reports whether the fault acts inside the embedded broker (or
// router).
func (f Fault) Broker() bool { return fault.Kind(f.Kind).Valid() || f.Kind == Restart }

// Toxic reports whether the fault is a TCP fault of the proxy.
func (f Fault) Toxic() bool { return isToxic(f.Kind) }

func isToxic(kind string) bool {
	_, ok := toxicParams[kind]
	return ok
}

// Limit is an allowed maximum of a count.
type Limit struct {
	Max       int64
	Unlimited bool
}

// Allows reports whether n is within the limit.
func (l Limit) Allows(n int64) bool { return l.Unlimited || n <= l.Max }

// String renders the limit as the verdict table shows it.
func (l Limit) String() string {
	if l.Unlimited {
		return "any"
	}
	return "≤ " + strconv.FormatInt(l.Max, 10)
}

// Invariants are what a run must keep.
type Invariants struct {
	Lost           Limit // acknowledged sends never processed
	Duplicated     Limit // messages processed more than once by one group
	Unexpected     Limit // processed, never sent
	Recovered      Limit // send failed or unknown, processed anyway
	CrossedReplies Limit // replies carrying another call's id
	// CallSuccessRate is the least fraction of calls that must succeed; a
	// negative value sets no bound.
	CallSuccessRate float64
	Latency         []LatencyBound
}

// Windows of a latency bound.
const (
	OutsideFaults = "outside_faults"
	DuringFaults  = "during_faults"
	AllTime       = "all"
)

// LatencyBound bounds a percentile of call latency (or of send latency
// where the workload has no calls) in a part of the run.
type LatencyBound struct {
	Window     string        // OutsideFaults, DuringFaults or AllTime
	Percentile float64       // such as 99
	Min        time.Duration // least allowed; 0: no lower bound
	Max        time.Duration // most allowed; 0: no upper bound
}

// Allowed renders the bound as the verdict table shows it.
func (b LatencyBound) Allowed() string {
	switch {
	case b.Min > 0 && b.Max > 0:
		return "≥ " + b.Min.String() + ", ≤ " + b.Max.String()
	case b.Min > 0:
		return "≥ " + b.Min.String()
	}
	return "≤ " + b.Max.String()
}

// Holds reports whether d is within the bound.
func (b LatencyBound) Holds(d time.Duration) bool {
	return d >= b.Min && (b.Max <= 0 || d <= b.Max)
}
