package scenario

import (
	"fmt"
	"math"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/fake/fault"
)

// Defaults of the optional fields.
const (
	DefaultSeed     = 1
	DefaultDuration = 30 * time.Second
	DefaultDrain    = 10 * time.Second
	DefaultTimeout  = 10 * time.Second
)

// Bounds of the fields.
const (
	MaxDuration    = time.Hour
	MaxRate        = 100000
	MaxConcurrency = 1000
	MaxConsumers   = 100
	MaxSize        = 16 << 20
)

// ReadFile reads and parses a scenario file.
func ReadFile(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Errors{{File: path, Msg: err.Error()}}
	}
	return Parse(path, data)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Parse parses and checks the scenario in data, read from file. The error,
// when not nil, is Errors listing every problem found.
func Parse(file string, data []byte) (*Scenario, error) {
	r := &reader{file: file}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		e := &Error{File: file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Msg = "not valid YAML: " + m[2]
		}
		return nil, Errors{e}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, Errors{{File: file, Msg: "empty file; a scenario needs at least name and workload"}}
	}
	s := r.scenario(doc.Content[0])
	if len(r.errs) > 0 {
		sort.SliceStable(r.errs, func(i, j int) bool { return r.errs[i].Line < r.errs[j].Line })
		return nil, r.errs
	}
	return s, nil
}

var topFields = []string{"name", "description", "seed", "duration", "drain", "backend", "driver", "expect", "options", "workload", "faults", "invariants"}

func (r *reader) scenario(n *yaml.Node) *Scenario {
	s := &Scenario{File: r.file}
	m := r.mapping(n, "", topFields...)
	if m == nil {
		return s
	}
	if !m.has("name") {
		r.errorf(n, "name", "required: a short name of lower-case letters, digits and dashes")
	}
	s.Name = m.name("name", "")
	s.Description = strings.TrimSpace(m.str("description", ""))
	s.Seed = uint64(m.integer("seed", DefaultSeed, 0, math.MaxInt64))
	s.Duration = m.duration("duration", DefaultDuration, time.Second, MaxDuration)
	s.Drain = m.duration("drain", DefaultDrain, 0, 10*time.Minute)
	s.Driver = m.choice("driver", Rabbit, Rabbit, Pika, AMQP1)
	s.ExpectFail = m.choice("expect", "pass", "pass", "fail") == "fail"
	if bn, ok := m.values["backend"]; ok {
		s.Backend = r.backend(bn, s.Driver)
	}
	if s.Backend.Router() && s.Driver != AMQP1 && m.has("driver") {
		r.errorf(m.values["driver"], "driver", "%s speaks AMQP 0-9-1; the embedded router needs driver amqp1", s.Driver)
	} else if s.Backend.Router() && s.Driver != AMQP1 {
		r.errorf(m.values["backend"], "backend", "the embedded router speaks AMQP 1.0 only; add driver: amqp1")
	}
	if on, ok := m.values["options"]; ok {
		s.Options = r.options(on, s.Driver)
	}
	items := m.list("workload")
	if len(items) == 0 {
		line := n
		if wn, ok := m.values["workload"]; ok {
			line = wn
		}
		r.errorf(line, "workload", "required: a list of at least one generator (kind: %s)", strings.Join(GeneratorKinds, ", "))
	}
	names := map[string]int{}
	for i, it := range items {
		g := r.generator(it, fmt.Sprintf("workload[%d]", i), i)
		if s.Driver == AMQP1 && len(g.Consumers.Pools) > 0 {
			r.errorf(it, fmt.Sprintf("workload[%d].listeners.pools", i), "the amqp1 driver has no notification listener pools; leave pools out")
		}
		if prev, dup := names[g.Name]; dup {
			r.errorf(it, fmt.Sprintf("workload[%d].name", i), "%q is already the name of workload[%d]; names must be unique", g.Name, prev)
		}
		names[g.Name] = i
		s.Workload = append(s.Workload, g)
	}
	for i, it := range m.list("faults") {
		s.Faults = append(s.Faults, r.fault(it, fmt.Sprintf("faults[%d]", i), s))
	}
	inv := defaultInvariants()
	if in, ok := m.values["invariants"]; ok {
		inv = r.invariants(in)
	}
	s.Invariants = inv
	if !s.Backend.Embedded() {
		r.errs = append(r.errs, s.StagingErrors()...)
	}
	return s
}

// MaxRouters bounds backend.routers.
const MaxRouters = 5

// embeddedKind maps the scalar backend names to Backend.Kind.
func embeddedKind(v string) (string, bool) {
	switch v {
	case "embedded", EmbeddedBroker:
		return EmbeddedBroker, true
	case EmbeddedRouter:
		return EmbeddedRouter, true
	}
	return "", false
}

// URLDriverOK reports whether a transport URL of scheme driver (as
// drivers.TransportURL.Driver names it) suits the scenario's driver.
func URLDriverOK(driver, urlDriver string) bool {
	if driver == AMQP1 {
		return urlDriver == AMQP1
	}
	return urlDriver == Rabbit || urlDriver == Pika
}

// URLSchemes says which URL schemes suit driver.
func URLSchemes(driver string) string {
	if driver == AMQP1 {
		return "an amqp:// URL"
	}
	return "a rabbit:// or pika:// URL"
}

func (r *reader) backend(n *yaml.Node, driver string) Backend {
	if n.Kind == yaml.ScalarNode {
		kind, ok := embeddedKind(n.Value)
		if !ok {
			r.errorf(n, "backend", "must be embedded-broker (or embedded), embedded-router or a mapping such as {url: rabbit://user:pass@host:5672/} or {kind: embedded-router, routers: 2}, got %q", n.Value)
		}
		return Backend{Kind: kind}
	}
	m := r.mapping(n, "backend", "kind", "routers", "url", "management", "durable", "heartbeat")
	if m == nil {
		return Backend{}
	}
	b := Backend{
		Kind:       EmbeddedBroker,
		URL:        m.str("url", ""),
		Management: m.str("management", ""),
		Durable:    m.boolean("durable", false),
		Heartbeat:  m.duration("heartbeat", 0, time.Second, 10*time.Minute),
	}
	if kn, ok := m.scalar("kind"); ok {
		if kind, ok := embeddedKind(kn.Value); ok {
			b.Kind = kind
		} else {
			r.errorf(kn, "backend.kind", "must be embedded-broker, embedded or embedded-router, got %q", kn.Value)
		}
	}
	if m.has("routers") {
		b.Routers = int(m.integer("routers", 1, 1, MaxRouters))
		if b.Kind != EmbeddedRouter {
			r.errorf(m.values["routers"], "backend.routers", "applies only to kind embedded-router")
		}
	}
	if b.Kind == EmbeddedRouter && m.has("durable") {
		r.errorf(m.values["durable"], "backend.durable", "applies only to the embedded broker: routers store nothing")
	}
	if b.URL != "" {
		b.Kind = ""
		u, err := drivers.ParseURL(b.URL)
		switch {
		case err != nil:
			r.errorf(m.values["url"], "backend.url", "%v", err)
		case !URLDriverOK(driver, u.Driver()):
			r.errorf(m.values["url"], "backend.url", "driver %s needs %s, got scheme %q", driver, URLSchemes(driver), u.Scheme)
		}
		for _, k := range []string{"kind", "routers", "durable", "heartbeat"} {
			if m.has(k) {
				r.errorf(m.values[k], "backend."+k, "applies only to an embedded backend, not to a backend url")
			}
		}
	} else if m.has("management") {
		r.errorf(m.values["management"], "backend.management", "applies only with a backend url")
	}
	return b
}

// OptionGroup is the configuration group of driver's options.
func OptionGroup(driver string) string {
	switch driver {
	case Pika:
		return "oslo_messaging_pika"
	case AMQP1:
		return "oslo_messaging_amqp"
	}
	return "oslo_messaging_rabbit"
}

func (r *reader) options(n *yaml.Node, driver string) []Option {
	if n.Kind != yaml.MappingNode {
		r.errorf(n, "options", "must be a mapping of [%s] option names to values, got %s", OptionGroup(driver), describe(n))
		return nil
	}
	group := OptionGroup(driver)
	cfg := drivers.DefaultConfig()
	var out []Option
	seen := map[string]bool{}
	for _, k := range keysInOrder(n) {
		var v *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i] == k {
				v = n.Content[i+1]
			}
		}
		field := "options." + k.Value
		if seen[k.Value] {
			r.errorf(k, field, "given more than once")
			continue
		}
		seen[k.Value] = true
		if _, ok := drivers.LookupOption(group, k.Value); !ok {
			msg := fmt.Sprintf("not an option of [%s]", group)
			if s := drivers.SuggestOption(group, k.Value); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			r.errorf(k, field, "%s", msg)
			continue
		}
		if v.Kind != yaml.ScalarNode {
			r.errorf(v, field, "must be a single value, got %s", describe(v))
			continue
		}
		if err := cfg.Set(group, k.Value, v.Value); err != nil {
			r.errorf(v, field, "%v", err)
			continue
		}
		out = append(out, Option{Name: k.Value, Value: v.Value, Line: k.Line})
	}
	return out
}

var generatorFields = []string{"name", "kind", "rate", "concurrency", "size", "timeout", "call_monitor_timeout", "retry", "priority", "servers", "listeners"}

func (r *reader) generator(n *yaml.Node, path string, index int) Generator {
	g := Generator{Line: n.Line}
	m := r.mapping(n, path, generatorFields...)
	if m == nil {
		return g
	}
	if !m.has("kind") {
		r.errorf(n, path+".kind", "required: one of %s", strings.Join(GeneratorKinds, ", "))
	}
	g.Kind = m.choice("kind", "", GeneratorKinds...)
	g.Name = m.name("name", fmt.Sprintf("%s%d", g.Kind, index))
	if !m.has("rate") {
		r.errorf(n, path+".rate", "required: messages per second, over all clients")
	}
	g.Rate = m.number("rate", 1, 0.01, MaxRate, "messages per second")
	g.Concurrency = int(m.integer("concurrency", 1, 1, MaxConcurrency))
	g.Size = r.size(m)
	g.Timeout = m.duration("timeout", DefaultTimeout, 100*time.Millisecond, 10*time.Minute)
	g.CallMonitorTimeout = m.duration("call_monitor_timeout", 0, 0, 10*time.Minute)
	g.Retry = int(m.integer("retry", -1, -1, 1000))
	if g.CallMonitorTimeout != 0 {
		if g.Kind != Call {
			r.errorf(m.values["call_monitor_timeout"], path+".call_monitor_timeout", "applies only to kind call")
		} else if g.CallMonitorTimeout < 2*time.Second {
			r.errorf(m.values["call_monitor_timeout"], path+".call_monitor_timeout", "must be 0 or at least 2s: oslo ignores shorter call-monitor timeouts")
		}
	}
	if g.Kind == Notify {
		g.Priority = m.choice("priority", "info", "audit", "debug", "info", "warn", "error", "critical", "sample")
		if m.has("servers") {
			r.errorf(m.values["servers"], path+".servers", "notify generators have listeners, not servers")
		}
		g.Consumers = r.consumers(m, "listeners", true)
	} else {
		if m.has("priority") {
			r.errorf(m.values["priority"], path+".priority", "applies only to kind notify")
		}
		if m.has("listeners") {
			r.errorf(m.values["listeners"], path+".listeners", "%s generators have servers, not listeners", g.Kind)
		}
		g.Consumers = r.consumers(m, "servers", false)
	}
	return g
}

func (r *reader) size(m *mapping) Size {
	n, ok := m.values["size"]
	if !ok {
		return Size{Min: 64, Max: 64}
	}
	field := m.field("size")
	if n.Kind == yaml.ScalarNode {
		v, err := strconv.Atoi(n.Value)
		if err != nil || v < 0 || v > MaxSize {
			r.errorf(n, field, "must be a number of bytes from 0 to %d or a mapping {min, max}, got %s", MaxSize, describe(n))
			return Size{Min: 64, Max: 64}
		}
		return Size{Min: v, Max: v}
	}
	sm := r.mapping(n, field, "min", "max")
	if sm == nil {
		return Size{Min: 64, Max: 64}
	}
	s := Size{Min: int(sm.integer("min", 0, 0, MaxSize)), Max: int(sm.integer("max", MaxSize, 0, MaxSize))}
	if !sm.has("max") {
		r.errorf(n, field+".max", "required: the largest payload in bytes")
	}
	if s.Max < s.Min {
		r.errorf(n, field, "min (%d) is larger than max (%d)", s.Min, s.Max)
	}
	return s
}

func (r *reader) consumers(m *mapping, key string, notify bool) Consumers {
	c := Consumers{Count: 1, Threads: 1, BatchSize: 1}
	n, ok := m.values[key]
	if !ok {
		return c
	}
	fields := []string{"count", "threads", "prefetch", "work"}
	if notify {
		fields = append(fields, "pools", "batch")
	}
	cm := r.mapping(n, m.field(key), fields...)
	if cm == nil {
		return c
	}
	c.Count = int(cm.integer("count", 1, 1, MaxConsumers))
	c.Threads = int(cm.integer("threads", 1, 1, 1000))
	c.Prefetch = int(cm.integer("prefetch", 0, 0, 65535))
	c.Work = cm.duration("work", 0, 0, time.Minute)
	seen := map[string]bool{}
	for i, p := range cm.list("pools") {
		field := fmt.Sprintf("%s.pools[%d]", cm.path, i)
		if p.Kind != yaml.ScalarNode || !namePattern.MatchString(p.Value) {
			r.errorf(p, field, "must be a pool name of lower-case letters, digits and dashes, got %s", describe(p))
			continue
		}
		if seen[p.Value] {
			r.errorf(p, field, "pool %q is listed twice", p.Value)
			continue
		}
		seen[p.Value] = true
		c.Pools = append(c.Pools, p.Value)
	}
	if bn, ok := cm.values["batch"]; ok {
		bm := r.mapping(bn, cm.field("batch"), "size", "timeout")
		if bm != nil {
			c.BatchSize = int(bm.integer("size", 1, 1, 10000))
			c.BatchTimeout = bm.duration("timeout", 0, 0, time.Minute)
		}
	}
	return c
}

var faultFields = []string{"at", "for", "every", "kind", "target", "probability", "delay", "stream", "params"}

// FaultKinds lists every fault kind a scenario may use.
func FaultKinds() []string {
	var ks []string
	for _, k := range fault.Kinds {
		ks = append(ks, string(k))
	}
	for _, k := range append([]string{Restart, DeleteQueue, Partition}, ToxicKinds...) {
		if !contains(ks, k) {
			ks = append(ks, k)
		}
	}
	return ks
}

// oneShot reports whether the kind acts once when it starts.
func oneShot(kind string) bool {
	return fault.Kind(kind).OneShot() || kind == DeleteQueue
}

func (r *reader) fault(n *yaml.Node, path string, s *Scenario) Fault {
	f := Fault{Line: n.Line}
	m := r.mapping(n, path, faultFields...)
	if m == nil {
		return f
	}
	for _, req := range []string{"at", "kind"} {
		if !m.has(req) {
			r.errorf(n, path+"."+req, "required")
		}
	}
	f.At = m.duration("at", 0, 0, MaxDuration)
	f.Kind = m.choice("kind", "", FaultKinds()...)
	f.For = m.duration("for", 0, 0, MaxDuration)
	f.Every = m.duration("every", 0, 100*time.Millisecond, MaxDuration)
	f.Target = m.str("target", "all")
	f.Probability = m.number("probability", 0, 0, 1, "a probability")
	f.Delay = m.duration("delay", 0, 0, time.Minute)
	if f.At >= s.Duration && m.has("at") {
		r.errorf(m.values["at"], path+".at", "%s is not within the workload's duration %s", f.At, s.Duration)
	}
	if f.For > 0 && f.At+f.For > s.Duration {
		r.errorf(m.values["for"], path+".for", "the fault would end at %s, after the workload's duration %s", f.At+f.For, s.Duration)
	}
	if f.Kind == "" {
		return f
	}
	if f.Every > 0 && !oneShot(f.Kind) {
		r.errorf(m.values["every"], path+".every", "applies only to the one-shot kinds close-connections, close-channels, detach-links and delete-queue")
	}
	if f.Every > 0 && f.For == 0 {
		r.errorf(m.values["every"], path+".every", "needs for: the time during which the fault repeats")
	}
	if m.has("delay") && f.Kind != string(fault.DelayConfirms) {
		r.errorf(m.values["delay"], path+".delay", "applies only to kind delay-confirms")
	}
	if f.Kind == string(fault.DelayConfirms) && f.Delay == 0 {
		r.errorf(n, path+".delay", "required for delay-confirms: how late confirms are sent")
	}
	if !f.Toxic() && (m.has("stream") || m.has("params")) {
		for _, k := range []string{"stream", "params"} {
			if m.has(k) {
				r.errorf(m.values[k], path+"."+k, "applies only to the TCP fault kinds %s", strings.Join(ToxicKinds, ", "))
			}
		}
	}
	if f.Toxic() {
		f.Stream = m.choice("stream", "downstream", "downstream", "upstream")
		f.Params = r.toxicParams(m, f.Kind)
		if m.has("target") && f.Target != "all" {
			r.errorf(m.values["target"], path+".target", "TCP faults act on every proxied connection; target must be all")
		}
		if f.Kind == Down && f.For == 0 {
			r.errorf(n, path+".for", "required for down: how long the proxy refuses connections")
		}
	} else if _, err := ParseTarget(f.Target); err != nil {
		tn := n
		if m.has("target") {
			tn = m.values["target"]
		}
		r.errorf(tn, path+".target", "%v", err)
	} else if f.Kind == DeleteQueue && !strings.HasPrefix(f.Target, "queue:") {
		r.errorf(n, path+".target", "delete-queue needs target queue:PATTERN, such as queue:reply_*")
	}
	if f.Kind == Restart && s.Backend.Embedded() && m.has("probability") {
		r.errorf(m.values["probability"], path+".probability", "does not apply to restart")
	}
	r.faultFits(n, m, path, f, s)
	return f
}

// faultFits checks that the fault suits the scenario's driver and backend.
func (r *reader) faultFits(n *yaml.Node, m *mapping, path string, f Fault, s *Scenario) {
	kn := m.values["kind"]
	switch {
	case s.Driver != AMQP1 && contains(amqp10Only, f.Kind):
		r.errorf(kn, path+".kind", "%s is an AMQP 1.0 fault; driver %s speaks AMQP 0-9-1 (use driver: amqp1)", f.Kind, s.Driver)
	case f.Kind == Partition && s.Backend.RouterCount() < 2:
		r.errorf(kn, path+".kind", "partition needs a mesh: backend {kind: embedded-router, routers: 2} or more")
	case s.Backend.Router() && f.Toxic() && s.Backend.RouterCount() > 1:
		r.errorf(kn, path+".kind", "TCP faults need a single router: the proxy stands in front of one")
	case s.Backend.Router() && !f.Toxic() && !contains(RouterKinds, f.Kind):
		r.errorf(kn, path+".kind", "%s is not a fault the embedded router applies; it applies %s and the TCP faults", f.Kind, strings.Join(RouterKinds, ", "))
	case s.Backend.Embedded() && !s.Backend.Router() && f.Kind == string(fault.WithholdDispositions):
		r.errorf(kn, path+".kind", "withhold-dispositions is a router fault; use backend embedded-router (the broker has withhold-confirms)")
	}
	if f.Kind == Partition {
		if f.For == 0 {
			r.errorf(n, path+".for", "required for partition: how long the routers stay apart")
		}
		if m.has("target") && f.Target != "all" {
			r.errorf(m.values["target"], path+".target", "partition cuts every link between the routers; target must be all")
		}
		if m.has("probability") {
			r.errorf(m.values["probability"], path+".probability", "does not apply to partition")
		}
	}
	if s.Driver == AMQP1 && f.Target == "reply" {
		r.errorf(m.values["target"], path+".target", "the amqp1 driver has no reply connection: its reply link shares the connection of the sender (use send)")
	}
}

func (r *reader) toxicParams(m *mapping, kind string) map[string]int64 {
	allowed := toxicParams[kind]
	out := map[string]int64{}
	pn, ok := m.values["params"]
	if !ok {
		return out
	}
	if len(allowed) == 0 {
		r.errorf(pn, m.field("params"), "%s takes no params", kind)
		return out
	}
	pm := r.mapping(pn, m.field("params"), allowed...)
	if pm == nil {
		return out
	}
	for _, k := range allowed {
		if pm.has(k) {
			out[k] = pm.integer(k, 0, 0, math.MaxInt32)
		}
	}
	return out
}

// Target is where a broker fault applies; empty fields match everything.
type Target struct {
	Connection string // connection_name pattern
	Queue      string // queue name pattern
	VHost      string // virtual host
}

// Purposes are the connection kinds of the rabbit driver, usable as fault
// targets: the names its connections end with.
var Purposes = []string{"send", "reply", "rpc-server", "notification"}

// TargetHelp says what a target may be.
const TargetHelp = `all, a driver connection kind (send, reply, rpc-server, notification), connection:PATTERN, queue:PATTERN or vhost:NAME, where * in a PATTERN matches any run of characters`

// ParseTarget parses a fault target.
func ParseTarget(s string) (Target, error) {
	switch {
	case s == "" || s == "all":
		return Target{}, nil
	case contains(Purposes, s):
		return Target{Connection: "*:" + s}, nil
	case strings.HasPrefix(s, "connection:") && len(s) > len("connection:"):
		return Target{Connection: strings.TrimPrefix(s, "connection:")}, nil
	case strings.HasPrefix(s, "queue:") && len(s) > len("queue:"):
		return Target{Queue: strings.TrimPrefix(s, "queue:")}, nil
	case strings.HasPrefix(s, "vhost:") && len(s) > len("vhost:"):
		return Target{VHost: strings.TrimPrefix(s, "vhost:")}, nil
	}
	return Target{}, fmt.Errorf("%q is not a target; allowed: %s", s, TargetHelp)
}

var invariantFields = []string{"lost", "duplicated", "unexpected", "recovered", "crossed_replies", "call_success_rate", "latency"}

func defaultInvariants() Invariants {
	return Invariants{Recovered: Limit{Unlimited: true}, CallSuccessRate: -1}
}

func (r *reader) invariants(n *yaml.Node) Invariants {
	inv := defaultInvariants()
	m := r.mapping(n, "invariants", invariantFields...)
	if m == nil {
		return inv
	}
	inv.Lost = r.limit(m, "lost", inv.Lost)
	inv.Duplicated = r.limit(m, "duplicated", inv.Duplicated)
	inv.Unexpected = r.limit(m, "unexpected", inv.Unexpected)
	inv.Recovered = r.limit(m, "recovered", inv.Recovered)
	inv.CrossedReplies = r.limit(m, "crossed_replies", inv.CrossedReplies)
	inv.CallSuccessRate = m.number("call_success_rate", -1, 0, 1, "a fraction")
	if ln, ok := m.values["latency"]; ok {
		lm := r.mapping(ln, "invariants.latency", OutsideFaults, DuringFaults, AllTime)
		if lm != nil {
			for _, w := range []string{OutsideFaults, DuringFaults, AllTime} {
				if wn, ok := lm.values[w]; ok {
					inv.Latency = append(inv.Latency, r.percentiles(wn, "invariants.latency."+w, w)...)
				}
			}
		}
	}
	return inv
}

var percentileKey = regexp.MustCompile(`^p(\d{1,2}(\.\d+)?)$`)

func (r *reader) percentiles(n *yaml.Node, path, window string) []LatencyBound {
	if n.Kind != yaml.MappingNode {
		r.errorf(n, path, "must be a mapping of percentiles to durations, such as {p50: 20ms, p99: 500ms}, got %s", describe(n))
		return nil
	}
	var out []LatencyBound
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		field := path + "." + k.Value
		mm := percentileKey.FindStringSubmatch(k.Value)
		if mm == nil {
			r.errorf(k, field, "not a percentile; use p50, p90, p95, p99, p99.9 and so on")
			continue
		}
		p, _ := strconv.ParseFloat(mm[1], 64)
		if p <= 0 || p >= 100 {
			r.errorf(k, field, "a percentile must be above 0 and below 100")
			continue
		}
		if v.Kind == yaml.MappingNode {
			bm := r.mapping(v, field, "min", "max")
			if bm == nil {
				continue
			}
			b := LatencyBound{Window: window, Percentile: p,
				Min: bm.duration("min", 0, 0, time.Hour), Max: bm.duration("max", 0, 0, time.Hour)}
			switch {
			case !bm.has("min") && !bm.has("max"):
				r.errorf(v, field, "needs min, max or both")
			case bm.has("max") && b.Max <= 0:
				r.errorf(bm.values["max"], field+".max", "must be a positive duration")
			case bm.has("max") && b.Min > b.Max:
				r.errorf(v, field, "min (%s) is larger than max (%s)", b.Min, b.Max)
			default:
				out = append(out, b)
			}
			continue
		}
		d, err := parseDuration(v.Value)
		if v.Kind != yaml.ScalarNode || err != nil || d <= 0 {
			r.errorf(v, field, "must be a positive duration such as 250ms or a mapping {min: 100ms, max: 1s}, got %s", describe(v))
			continue
		}
		out = append(out, LatencyBound{Window: window, Percentile: p, Max: d})
	}
	return out
}

func (r *reader) limit(m *mapping, key string, def Limit) Limit {
	n, ok := m.scalar(key)
	if !ok {
		return def
	}
	if n.Value == "any" {
		return Limit{Unlimited: true}
	}
	v, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil || v < 0 {
		r.errorf(n, m.field(key), "must be the largest allowed count (a whole number ≥ 0) or any, got %q", n.Value)
		return def
	}
	return Limit{Max: v}
}

// StagingErrors lists the faults that need the embedded broker, for a run
// against a broker URL: each as an error at the fault's line.
func (s *Scenario) StagingErrors() Errors {
	var es Errors
	for i, f := range s.Faults {
		switch {
		case f.Toxic():
		case s.Driver == AMQP1:
			es = append(es, &Error{File: s.File, Line: f.Line, Field: fmt.Sprintf("faults[%d].kind", i),
				Msg: fmt.Sprintf("%s needs an embedded broker or router; against an amqp:// URL only the TCP faults (%s) work", f.Kind, strings.Join(ToxicKinds, ", "))})
			continue
		case f.Kind == DeleteQueue, f.Kind == string(fault.CloseConnections):
		default:
			es = append(es, &Error{File: s.File, Line: f.Line, Field: fmt.Sprintf("faults[%d].kind", i),
				Msg: fmt.Sprintf("%s needs the embedded broker; against a broker URL only the TCP faults (%s), close-connections (through the management API) and delete-queue work", f.Kind, strings.Join(ToxicKinds, ", "))})
		}
		if f.Kind == string(fault.CloseConnections) && f.Target != "all" && !contains(Purposes, f.Target) && !strings.HasPrefix(f.Target, "connection:") {
			es = append(es, &Error{File: s.File, Line: f.Line, Field: fmt.Sprintf("faults[%d].target", i),
				Msg: "against a broker URL close-connections selects connections by name: all, a connection kind or connection:PATTERN"})
		}
	}
	if s.Backend.Durable || s.Backend.Heartbeat != 0 || s.Backend.Routers != 0 {
		es = append(es, &Error{File: s.File, Field: "backend", Msg: "durable, heartbeat and routers apply only to an embedded backend"})
	}
	return es
}
