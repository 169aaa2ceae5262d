package scenario

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const valid = `name: demo
description: a demo
seed: 5
duration: 10s
options:
  rabbit_retry_interval: 1
workload:
  - name: calls
    kind: call
    rate: 20
    concurrency: 2
    size: {min: 10, max: 100}
    timeout: 3s
    call_monitor_timeout: 2s
    servers: {count: 2, threads: 3, prefetch: 5, work: 1ms}
  - kind: notify
    rate: 5.5
    listeners: {count: 2, pools: [a, b], batch: {size: 10, timeout: 100ms}}
faults:
  - at: 2s
    for: 3s
    every: 1s
    kind: close-connections
    target: rpc-server
  - at: 1s
    for: 1s
    kind: latency
    params: {latency: 50}
  - at: 4s
    for: 1s
    kind: delete-queue
    target: queue:reply_*
invariants:
  lost: 0
  duplicated: 3
  recovered: any
  call_success_rate: 0.9
  latency:
    outside_faults: {p50: 20ms, p99.9: 1s}
`

func TestParseValid(t *testing.T) {
	s, err := Parse("demo.yaml", []byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "demo" || s.Seed != 5 || s.Duration != 10*time.Second || s.Drain != DefaultDrain || s.Driver != "rabbit" {
		t.Errorf("top level: %+v", s)
	}
	if len(s.Workload) != 2 {
		t.Fatalf("workload: %+v", s.Workload)
	}
	c := s.Workload[0]
	if c.Kind != Call || c.Rate != 20 || c.Concurrency != 2 || c.Size != (Size{10, 100}) || c.Timeout != 3*time.Second ||
		c.CallMonitorTimeout != 2*time.Second || c.Retry != -1 || c.Consumers.Count != 2 || c.Consumers.Threads != 3 ||
		c.Consumers.Prefetch != 5 || c.Consumers.Work != time.Millisecond || c.Line != 8 {
		t.Errorf("call generator: %+v", c)
	}
	n := s.Workload[1]
	if n.Name != "notify1" || n.Priority != "info" || n.Rate != 5.5 || len(n.Consumers.Pools) != 2 || n.Consumers.BatchSize != 10 ||
		n.Consumers.BatchTimeout != 100*time.Millisecond {
		t.Errorf("notify generator: %+v", n)
	}
	if len(s.Faults) != 3 || s.Faults[0].Every != time.Second || !s.Faults[1].Toxic() || s.Faults[1].Params["latency"] != 50 ||
		s.Faults[1].Stream != "downstream" || s.Faults[0].Toxic() || !s.Faults[0].Broker() {
		t.Errorf("faults: %+v", s.Faults)
	}
	inv := s.Invariants
	if inv.Lost != (Limit{}) || inv.Duplicated.Max != 3 || !inv.Recovered.Unlimited || inv.CallSuccessRate != 0.9 || len(inv.Latency) != 2 {
		t.Errorf("invariants: %+v", inv)
	}
	if len(s.Options) != 1 || s.Options[0].Name != "rabbit_retry_interval" {
		t.Errorf("options: %+v", s.Options)
	}
}

func TestParseDefaults(t *testing.T) {
	s, err := Parse("min.yaml", []byte("name: m\nworkload:\n  - kind: cast\n    rate: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Seed != DefaultSeed || s.Duration != DefaultDuration || !s.Backend.Embedded() || s.ExpectFail {
		t.Errorf("defaults: %+v", s)
	}
	inv := s.Invariants
	if !inv.Lost.Allows(0) || inv.Lost.Allows(1) || inv.Duplicated.Allows(1) || inv.Unexpected.Allows(1) || !inv.Recovered.Allows(1000) || inv.CallSuccessRate >= 0 {
		t.Errorf("default invariants: %+v", inv)
	}
	if g := s.Workload[0]; g.Name != "cast0" || g.Consumers.Count != 1 || g.Size != (Size{64, 64}) {
		t.Errorf("default generator: %+v", g)
	}
}

// TestParseErrors checks that every problem is reported as file:line:
// field: message, with what is allowed.
func TestParseErrors(t *testing.T) {
	base := "name: x\nworkload:\n  - kind: cast\n    rate: 1\n"
	cases := []struct {
		name, yaml string
		want       []string // substrings of the error, in order
	}{
		{"syntax", "name: [x\n", []string{"bad.yaml:", "not valid YAML"}},
		{"empty", "", []string{"bad.yaml: empty file"}},
		{"not a mapping", "- a\n", []string{"bad.yaml:1: must be a mapping with the fields name, description"}},
		{"unknown top field", base + "durations: 5s\n", []string{"bad.yaml:5: durations: unknown field \"durations\" (did you mean \"duration\"?); allowed: name,"}},
		{"missing name", "workload:\n  - kind: cast\n    rate: 1\n", []string{"bad.yaml:1: name: required"}},
		{"bad name", "name: Bad_Name\nworkload:\n  - kind: cast\n    rate: 1\n", []string{"bad.yaml:1: name: must be 1-63 lower-case letters"}},
		{"no workload", "name: x\n", []string{"bad.yaml:1: workload: required: a list of at least one generator (kind: call, cast, fanout, notify)"}},
		{"workload not a list", "name: x\nworkload: 3\n", []string{"bad.yaml:2: workload: must be a list, got \"3\""}},
		{"bad duration", "name: x\nduration: soon\nworkload:\n  - kind: cast\n    rate: 1\n", []string{"bad.yaml:2: duration: must be a duration such as 500ms or 2s, from 1s to 1h0m0s, got \"soon\""}},
		{"bad driver", "name: x\ndriver: amqp\nworkload:\n  - kind: cast\n    rate: 1\n", []string{"bad.yaml:2: driver: must be one of rabbit, pika, amqp1, got \"amqp\""}},
		{"bad kind", "name: x\nworkload:\n  - kind: calls\n    rate: 1\n", []string{"bad.yaml:3: workload[0].kind: must be one of call, cast, fanout, notify, got \"calls\" (did you mean \"call\"?)"}},
		{"missing rate", "name: x\nworkload:\n  - kind: cast\n", []string{"bad.yaml:3: workload[0].rate: required"}},
		{"negative rate", "name: x\nworkload:\n  - kind: cast\n    rate: -4\n", []string{"bad.yaml:4: workload[0].rate: must be messages per second from 0.01 to 100000, got \"-4\""}},
		{"zero concurrency", base + "    concurrency: 0\n", []string{"bad.yaml:5: workload[0].concurrency: must be a whole number from 1 to 1000, got \"0\""}},
		{"size min above max", base + "    size: {min: 10, max: 5}\n", []string{"bad.yaml:5: workload[0].size: min (10) is larger than max (5)"}},
		{"unknown server field", base + "    servers: {count: 1, pools: [a]}\n", []string{"bad.yaml:5: workload[0].servers.pools: unknown field \"pools\"; allowed: count, threads, prefetch, work"}},
		{"listeners on cast", base + "    listeners: {count: 1}\n", []string{"bad.yaml:5: workload[0].listeners: cast generators have servers, not listeners"}},
		{"monitor timeout on cast", base + "    call_monitor_timeout: 5s\n", []string{"bad.yaml:5: workload[0].call_monitor_timeout: applies only to kind call"}},
		{"short monitor timeout", "name: x\nworkload:\n  - kind: call\n    rate: 1\n    call_monitor_timeout: 1s\n", []string{"bad.yaml:5: workload[0].call_monitor_timeout: must be 0 or at least 2s"}},
		{"duplicate names", "name: x\nworkload:\n  - {kind: cast, rate: 1, name: a}\n  - {kind: cast, rate: 1, name: a}\n", []string{"bad.yaml:4: workload[1].name: \"a\" is already the name of workload[0]"}},
		{"duplicate key", base + "    rate: 2\n", []string{"bad.yaml:5: workload[0].rate: given more than once"}},
		{"bad pool", "name: x\nworkload:\n  - kind: notify\n    rate: 1\n    listeners: {pools: [Ok]}\n", []string{"bad.yaml:5: workload[0].listeners.pools[0]: must be a pool name"}},
		{"unknown option", base + "options:\n  rabbit_retry_intervals: 1\n", []string{"bad.yaml:6: options.rabbit_retry_intervals: not an option of [oslo_messaging_rabbit] (did you mean \"rabbit_retry_interval\"?)"}},
		{"bad option value", base + "options:\n  amqp_durable_queues: maybe\n", []string{"bad.yaml:6: options.amqp_durable_queues:"}},
		{"bad fault kind", base + "faults:\n  - {at: 1s, kind: explode}\n", []string{"bad.yaml:6: faults[0].kind: must be one of close-connections,"}},
		{"fault missing at", base + "faults:\n  - kind: restart\n", []string{"bad.yaml:6: faults[0].at: required"}},
		{"fault after end", "name: x\nduration: 5s\nworkload:\n  - kind: cast\n    rate: 1\nfaults:\n  - {at: 6s, kind: restart}\n", []string{"bad.yaml:7: faults[0].at: 6s is not within the workload's duration 5s"}},
		{"fault too long", "name: x\nduration: 5s\nworkload:\n  - kind: cast\n    rate: 1\nfaults:\n  - {at: 4s, for: 2s, kind: pause-deliveries}\n", []string{"bad.yaml:7: faults[0].for: the fault would end at 6s, after the workload's duration 5s"}},
		{"bad target", base + "faults:\n  - {at: 1s, kind: close-connections, target: servers}\n", []string{"bad.yaml:6: faults[0].target: \"servers\" is not a target; allowed: all, a driver connection kind"}},
		{"every on lasting fault", base + "faults:\n  - {at: 1s, for: 2s, every: 1s, kind: pause-deliveries}\n", []string{"bad.yaml:6: faults[0].every: applies only to the one-shot kinds"}},
		{"params on broker fault", base + "faults:\n  - {at: 1s, kind: restart, params: {latency: 3}}\n", []string{"bad.yaml:6: faults[0].params: applies only to the TCP fault kinds"}},
		{"bad toxic param", base + "faults:\n  - {at: 1s, for: 1s, kind: latency, params: {delay: 3}}\n", []string{"bad.yaml:6: faults[0].params.delay: unknown field \"delay\"; allowed: latency, jitter"}},
		{"down without for", base + "faults:\n  - {at: 1s, kind: down}\n", []string{"bad.yaml:6: faults[0].for: required for down"}},
		{"delete-queue without queue", base + "faults:\n  - {at: 1s, kind: delete-queue, target: send}\n", []string{"bad.yaml:6: faults[0].target: delete-queue needs target queue:PATTERN"}},
		{"delay-confirms without delay", base + "faults:\n  - {at: 1s, for: 1s, kind: delay-confirms}\n", []string{"bad.yaml:6: faults[0].delay: required for delay-confirms"}},
		{"probability above 1", base + "faults:\n  - {at: 1s, for: 1s, kind: nack-publishes, probability: 2}\n", []string{"bad.yaml:6: faults[0].probability: must be a probability from 0 to 1, got \"2\""}},
		{"bad limit", base + "invariants:\n  lost: few\n", []string{"bad.yaml:6: invariants.lost: must be the largest allowed count (a whole number ≥ 0) or any, got \"few\""}},
		{"bad percentile", base + "invariants:\n  latency:\n    all: {median: 1s}\n", []string{"bad.yaml:7: invariants.latency.all.median: not a percentile"}},
		{"bad latency window", base + "invariants:\n  latency:\n    during: {p50: 1s}\n", []string{"bad.yaml:7: invariants.latency.during: unknown field \"during\"; allowed: outside_faults, during_faults, all"}},
		{"bad backend", base + "backend: staging\n", []string{"bad.yaml:5: backend: must be embedded-broker (or embedded), embedded-router or a mapping", "got \"staging\""}},
		{"backend url scheme", base + "backend: {url: \"amqp://h:5672\"}\n", []string{"bad.yaml:5: backend.url: driver rabbit needs a rabbit:// or pika:// URL"}},
		{"amqp1 url scheme", base + "driver: amqp1\nbackend: {url: \"rabbit://h:5672\"}\n", []string{"bad.yaml:6: backend.url: driver amqp1 needs an amqp:// URL, got scheme \"rabbit\""}},
		{"rabbit on router", base + "driver: rabbit\nbackend: embedded-router\n", []string{"bad.yaml:5: driver: rabbit speaks AMQP 0-9-1; the embedded router needs driver amqp1"}},
		{"default driver on router", base + "backend: embedded-router\n", []string{"bad.yaml:5: backend: the embedded router speaks AMQP 1.0 only; add driver: amqp1"}},
		{"bad backend kind", base + "backend: {kind: router}\n", []string{"bad.yaml:5: backend.kind: must be embedded-broker, embedded or embedded-router, got \"router\""}},
		{"routers on broker", base + "backend: {kind: embedded-broker, routers: 2}\n", []string{"bad.yaml:5: backend.routers: applies only to kind embedded-router"}},
		{"durable router", base + "driver: amqp1\nbackend: {kind: embedded-router, durable: true}\n", []string{"bad.yaml:6: backend.durable: applies only to the embedded broker"}},
		{"0-9-1 fault on router", base + "driver: amqp1\nbackend: embedded-router\nfaults:\n  - {at: 1s, kind: close-channels}\n", []string{"bad.yaml:8: faults[0].kind: close-channels is not a fault the embedded router applies; it applies close-connections,"}},
		{"1.0 fault with rabbit", base + "faults:\n  - {at: 1s, kind: detach-links}\n", []string{"bad.yaml:6: faults[0].kind: detach-links is an AMQP 1.0 fault; driver rabbit speaks AMQP 0-9-1"}},
		{"dispositions on broker", base + "driver: amqp1\nfaults:\n  - {at: 1s, for: 1s, kind: withhold-dispositions}\n", []string{"bad.yaml:7: faults[0].kind: withhold-dispositions is a router fault"}},
		{"partition without mesh", base + "driver: amqp1\nbackend: embedded-router\nfaults:\n  - {at: 1s, for: 1s, kind: partition}\n", []string{"bad.yaml:8: faults[0].kind: partition needs a mesh"}},
		{"partition without for", base + "driver: amqp1\nbackend: {kind: embedded-router, routers: 2}\nfaults:\n  - {at: 1s, kind: partition, target: send}\n", []string{"bad.yaml:8: faults[0].for: required for partition", "bad.yaml:8: faults[0].target: partition cuts every link"}},
		{"toxic on mesh", base + "driver: amqp1\nbackend: {kind: embedded-router, routers: 3}\nfaults:\n  - {at: 1s, for: 1s, kind: latency}\n", []string{"bad.yaml:8: faults[0].kind: TCP faults need a single router"}},
		{"reply target with amqp1", base + "driver: amqp1\nfaults:\n  - {at: 1s, kind: close-connections, target: reply}\n", []string{"bad.yaml:7: faults[0].target: the amqp1 driver has no reply connection"}},
		{"pools with amqp1", "name: x\ndriver: amqp1\nworkload:\n  - kind: notify\n    rate: 1\n    listeners: {pools: [a]}\n", []string{"bad.yaml:4: workload[0].listeners.pools: the amqp1 driver has no notification listener pools"}},
		{"amqp1 option group", base + "driver: amqp1\noptions:\n  rabbit_retry_interval: 1\n", []string{"bad.yaml:7: options.rabbit_retry_interval: not an option of [oslo_messaging_amqp]"}},
		{"latency min above max", base + "invariants:\n  latency:\n    all: {p50: {min: 2s, max: 1s}}\n", []string{"bad.yaml:7: invariants.latency.all.p50: min (2s) is larger than max (1s)"}},
		{"latency empty bound", base + "invariants:\n  latency:\n    all: {p50: {}}\n", []string{"bad.yaml:7: invariants.latency.all.p50: needs min, max or both"}},
		{"broker fault on staging", base + "backend: {url: \"rabbit://g:g@h:5672/\"}\nfaults:\n  - {at: 1s, for: 1s, kind: pause-deliveries}\n", []string{"bad.yaml:7: faults[0].kind: pause-deliveries needs the embedded broker"}},
		{"bad expect", base + "expect: fails\n", []string{"bad.yaml:5: expect: must be one of pass, fail, got \"fails\" (did you mean \"fail\"?)"}},
		{"two errors", "name: x\nseed: -1\nworkload:\n  - kind: cast\n    rate: 0\n", []string{"bad.yaml:2: seed:", "\nbad.yaml:5: workload[0].rate:"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse("bad.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("no error; got %+v", s)
			}
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error is %T, want Errors", err)
			}
			msg := err.Error()
			rest := msg
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("error\n%s\ndoes not contain (in order) %q", msg, w)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

func TestParseTarget(t *testing.T) {
	for in, want := range map[string]Target{
		"all": {}, "": {}, "send": {Connection: "*:send"}, "rpc-server": {Connection: "*:rpc-server"},
		"connection:*reply": {Connection: "*reply"}, "queue:reply_*": {Queue: "reply_*"}, "vhost:/": {VHost: "/"},
	} {
		got, err := ParseTarget(in)
		if err != nil || got != want {
			t.Errorf("ParseTarget(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"queue:", "servers", "connection:"} {
		if _, err := ParseTarget(in); err == nil {
			t.Errorf("ParseTarget(%q) succeeded", in)
		}
	}
}

func TestStagingErrors(t *testing.T) {
	s, err := Parse("s.yaml", []byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	if es := s.StagingErrors(); len(es) != 0 {
		t.Errorf("close-connections by kind, a toxic and delete-queue work on staging; got %v", es)
	}
	s.Faults = append(s.Faults, Fault{Line: 99, Kind: Restart})
	es := s.StagingErrors()
	if len(es) != 1 || es[0].Line != 99 || !strings.Contains(es[0].Error(), "s.yaml:99: faults[3].kind: restart needs the embedded broker") {
		t.Errorf("restart on staging: %v", es)
	}
}

func TestParseRouterMesh(t *testing.T) {
	s, err := Parse("m.yaml", []byte(`name: m
driver: amqp1
backend: {kind: embedded-router, routers: 3, heartbeat: 2s}
options:
  link_retry_delay: 1
workload:
  - {kind: call, rate: 5, servers: {count: 2, prefetch: 7}}
faults:
  - {at: 1s, for: 2s, kind: partition}
  - {at: 2s, for: 2s, every: 500ms, kind: detach-links, target: rpc-server}
  - {at: 3s, for: 1s, kind: withhold-dispositions, target: "queue:openstack.org/*"}
invariants:
  latency:
    all: {p50: {min: 100ms, max: 1s}, p99: {min: 50ms}}
`))
	if err != nil {
		t.Fatal(err)
	}
	b := s.Backend
	if s.Driver != AMQP1 || !b.Router() || b.RouterCount() != 3 || b.Heartbeat != 2*time.Second || !b.Embedded() {
		t.Errorf("driver %q, backend %+v", s.Driver, b)
	}
	if len(s.Faults) != 3 || s.Faults[0].Kind != Partition || s.Faults[1].Every != 500*time.Millisecond {
		t.Errorf("faults: %+v", s.Faults)
	}
	lat := s.Invariants.Latency
	if len(lat) != 2 || lat[0].Min != 100*time.Millisecond || lat[0].Max != time.Second || lat[1].Max != 0 {
		t.Fatalf("latency bounds: %+v", lat)
	}
	if !lat[0].Holds(500*time.Millisecond) || lat[0].Holds(50*time.Millisecond) || lat[0].Holds(2*time.Second) || !lat[1].Holds(time.Hour) {
		t.Error("LatencyBound.Holds")
	}
	if lat[0].Allowed() != "≥ 100ms, ≤ 1s" || lat[1].Allowed() != "≥ 50ms" {
		t.Errorf("Allowed: %q, %q", lat[0].Allowed(), lat[1].Allowed())
	}
	for _, src := range []string{"backend: embedded\n", "backend: embedded-broker\n", ""} {
		s, err := Parse("b.yaml", []byte("name: b\nworkload:\n  - {kind: cast, rate: 1}\n"+src))
		if err != nil || s.Backend.Router() || s.Backend.RouterCount() != 0 || !s.Backend.Embedded() {
			t.Errorf("%q: %+v, %v", src, s, err)
		}
	}
	s, err = Parse("r.yaml", []byte("name: r\ndriver: amqp1\nbackend: embedded-router\nworkload:\n  - {kind: cast, rate: 1}\n"))
	if err != nil || s.Backend.RouterCount() != 1 {
		t.Errorf("single router: %+v, %v", s, err)
	}
}

func TestStagingErrorsAMQP1(t *testing.T) {
	s, err := Parse("a.yaml", []byte("name: a\ndriver: amqp1\nbackend: {url: \"amqp://h:5672/\"}\nworkload:\n  - {kind: cast, rate: 1}\nfaults:\n  - {at: 1s, for: 1s, kind: latency}\n  - {at: 1s, kind: close-connections}\n"))
	if err == nil {
		t.Fatalf("close-connections against an amqp:// URL accepted: %+v", s)
	}
	if !strings.Contains(err.Error(), "a.yaml:8: faults[1].kind: close-connections needs an embedded broker or router; against an amqp:// URL only the TCP faults") ||
		strings.Contains(err.Error(), "faults[0]") {
		t.Errorf("error: %v", err)
	}
}

func TestReadFileMissing(t *testing.T) {
	_, err := ReadFile("/nonexistent/x.yaml")
	if err == nil || !strings.HasPrefix(err.Error(), "/nonexistent/x.yaml: ") {
		t.Errorf("ReadFile of a missing file: %v", err)
	}
}
