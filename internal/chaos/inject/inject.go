// Package inject carries out a chaos run's fault timeline: broker faults
// through the embedded broker's fault injector and Restart, router faults
// through every embedded router's fault injector, partitions of a router
// mesh by closing and re-opening its inter-router links, TCP faults
// through the proxy, connection closes through the RabbitMQ management API
// against staging, and queue deletions through an ordinary AMQP client.
package inject

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/switchyard-dev/switchyard/fake/broker"
	"github.com/switchyard-dev/switchyard/fake/fault"
	"github.com/switchyard-dev/switchyard/fake/router"
	"github.com/switchyard-dev/switchyard/internal/chaos/mgmt"
	"github.com/switchyard-dev/switchyard/internal/chaos/plan"
	"github.com/switchyard-dev/switchyard/internal/chaos/proxy"
	"github.com/switchyard-dev/switchyard/internal/chaos/scenario"
)

// Targets are what faults act on; unused ones may be nil.
type Targets struct {
	Broker  *broker.Broker   // the embedded broker
	Routers []*router.Router // the embedded routers, meshed when several
	Proxy   *proxy.Proxy     // the TCP proxy in front of the broker
	Mgmt    *mgmt.Client     // the staging broker's management API
	AMQPURL string           // a plain amqp:// URL of the broker, not through the proxy
	VHost   string
}

// Report says what one fault of the timeline did.
type Report struct {
	Fault   int      `json:"fault"`
	Kind    string   `json:"kind"`
	Target  string   `json:"target"`
	Applied int      `json:"applied"`          // times switched on (or fired, for one-shot kinds)
	Acted   int      `json:"acted"`            // events the broker applied it to, or connections/queues it hit
	Errors  []string `json:"errors,omitempty"` // failures to apply it
}

// Injector applies fault actions. It is safe for concurrent use.
type Injector struct {
	t      Targets
	faults []scenario.Fault

	mu      sync.Mutex
	on      map[int][]enabled // faults switched on, by scenario fault
	reports []Report
}

// enabled is a fault switched on in one injector; inj is nil for a
// partition, which has nothing to switch off but links to re-open.
type enabled struct {
	inj *fault.Injector
	id  fault.ID
}

// New returns an injector for the scenario's faults.
func New(t Targets, faults []scenario.Fault) *Injector {
	in := &Injector{t: t, faults: faults, on: map[int][]enabled{}}
	for i, f := range faults {
		in.reports = append(in.reports, Report{Fault: i, Kind: f.Kind, Target: f.Target})
	}
	return in
}

// Do carries out one action; errors are also kept for the report.
func (in *Injector) Do(ctx context.Context, a plan.Action) error {
	f := in.faults[a.Fault]
	var err error
	acted := 0
	if a.On {
		acted, err = in.on1(ctx, a.Fault, f)
	} else {
		acted, err = in.off(ctx, a.Fault, f)
	}
	in.mu.Lock()
	r := &in.reports[a.Fault]
	if a.On {
		r.Applied++
	}
	r.Acted += acted
	if err != nil && len(r.Errors) < 10 {
		r.Errors = append(r.Errors, err.Error())
	}
	in.mu.Unlock()
	if err != nil {
		return fmt.Errorf("fault %d (%s at %s): %w", a.Fault, f.Kind, a.At, err)
	}
	return nil
}

func toxicName(i int) string { return fmt.Sprintf("fault%d", i) }

func (in *Injector) on1(ctx context.Context, i int, f scenario.Fault) (int, error) {
	switch {
	case f.Toxic():
		if in.t.Proxy == nil {
			return 0, fmt.Errorf("no proxy")
		}
		if f.Kind == scenario.Down {
			in.t.Proxy.Down()
			return 1, nil
		}
		return 1, in.t.Proxy.AddToxic(toxicName(i), f.Kind, f.Stream, f.Probability, f.Params)
	case f.Kind == scenario.DeleteQueue:
		return in.deleteQueues(ctx, f)
	case len(in.t.Routers) > 0:
		return in.routerOn(i, f)
	case f.Kind == string(fault.CloseConnections) && in.t.Broker == nil:
		if in.t.Mgmt == nil {
			return 0, fmt.Errorf("no management API")
		}
		tg, _ := scenario.ParseTarget(f.Target)
		return in.t.Mgmt.CloseConnections(ctx, tg.Connection)
	case in.t.Broker == nil:
		return 0, fmt.Errorf("%s needs the embedded broker", f.Kind)
	case f.Kind == scenario.Restart:
		inj := in.t.Broker.Faults()
		if f.For > 0 {
			id, err := inj.Enable(fault.Fault{Kind: fault.RefuseConnections})
			if err != nil {
				return 0, err
			}
			in.remember(i, enabled{inj, id})
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return 1, in.t.Broker.Restart(rctx)
	default:
		tg, err := scenario.ParseTarget(f.Target)
		if err != nil {
			return 0, err
		}
		ff := fault.Fault{Kind: fault.Kind(f.Kind), Scope: fault.Scope{VHost: tg.VHost, Queue: tg.Queue, Connection: tg.Connection},
			Probability: f.Probability, Delay: f.Delay}
		inj := in.t.Broker.Faults()
		id, err := inj.Enable(ff)
		if err != nil {
			return 0, err
		}
		if ff.Kind.OneShot() {
			return inj.Fired(id), nil
		}
		in.remember(i, enabled{inj, id})
		return 0, nil
	}
}

// meshConnections matches the connections routers open to each other.
const meshConnections = "switchyard-mesh/*"

// routerOn switches fault i on in every embedded router: a partition
// closes every inter-router connection, other kinds go to the routers'
// fault injectors.
func (in *Injector) routerOn(i int, f scenario.Fault) (int, error) {
	var ff fault.Fault
	if f.Kind == scenario.Partition {
		ff = fault.Fault{Kind: fault.CloseConnections, Scope: fault.Scope{Connection: meshConnections}}
		in.remember(i, enabled{})
	} else {
		tg, err := scenario.ParseTarget(f.Target)
		if err != nil {
			return 0, err
		}
		ff = fault.Fault{Kind: fault.Kind(f.Kind), Scope: fault.Scope{Queue: tg.Queue, Connection: tg.Connection}, Probability: f.Probability}
	}
	acted := 0
	for _, rt := range in.t.Routers {
		inj := rt.Faults()
		id, err := inj.Enable(ff)
		if err != nil {
			return acted, err
		}
		if ff.Kind.OneShot() {
			acted += inj.Fired(id)
		} else {
			in.remember(i, enabled{inj, id})
		}
	}
	return acted, nil
}

func (in *Injector) remember(i int, e enabled) {
	in.mu.Lock()
	in.on[i] = append(in.on[i], e)
	in.mu.Unlock()
}

func (in *Injector) off(ctx context.Context, i int, f scenario.Fault) (int, error) {
	switch {
	case f.Toxic() && in.t.Proxy == nil:
		return 0, fmt.Errorf("no proxy")
	case f.Kind == scenario.Down:
		return 0, in.t.Proxy.Up()
	case f.Toxic():
		return 0, in.t.Proxy.RemoveToxic(ctx, toxicName(i))
	}
	in.mu.Lock()
	ons := in.on[i]
	delete(in.on, i)
	in.mu.Unlock()
	acted := 0
	for _, e := range ons {
		if e.inj != nil {
			acted += e.inj.Fired(e.id)
			e.inj.Disable(e.id)
		}
	}
	if f.Kind == scenario.Partition && len(ons) > 0 {
		// The routers do not re-open lost links by themselves.
		if err := router.Mesh(ctx, in.t.Routers...); err != nil {
			return acted, fmt.Errorf("heal the partition: %w", err)
		}
	}
	if f.Kind == scenario.Restart {
		acted = 0 // refused connections are not the restart's count
	}
	return acted, nil
}

// deleteQueues deletes the queues the fault's target matches.
func (in *Injector) deleteQueues(ctx context.Context, f scenario.Fault) (int, error) {
	tg, _ := scenario.ParseTarget(f.Target)
	vhost := in.t.VHost
	if vhost == "" {
		vhost = "/"
	}
	var names []string
	switch {
	case in.t.Broker != nil:
		names = in.t.Broker.QueueNames(vhost)
	case in.t.Mgmt != nil:
		var err error
		if names, err = in.t.Mgmt.Queues(ctx, vhost); err != nil {
			return 0, err
		}
	default:
		return 0, fmt.Errorf("cannot list queues: no embedded broker and no management API")
	}
	var match []string
	for _, n := range names {
		if fault.Glob(tg.Queue, n) {
			match = append(match, n)
		}
	}
	if len(match) == 0 {
		return 0, nil
	}
	sort.Strings(match)
	conn, err := amqp.DialConfig(in.t.AMQPURL, amqp.Config{Dial: amqp.DefaultDial(5 * time.Second), Properties: amqp.Table{"connection_name": "switchyard-chaos:delete-queue"}})
	if err != nil {
		return 0, fmt.Errorf("connect to delete queues: %w", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, q := range match {
		if _, err := ch.QueueDelete(q, false, false, false); err != nil {
			return n, fmt.Errorf("delete queue %s: %w", q, err)
		}
		n++
	}
	return n, nil
}

// Stop switches off every fault still on, so the drain after the workload
// runs without faults.
func (in *Injector) Stop(ctx context.Context) {
	in.mu.Lock()
	var pending []int
	for i := range in.on {
		pending = append(pending, i)
	}
	in.mu.Unlock()
	sort.Ints(pending)
	for _, i := range pending {
		_ = in.Do(ctx, plan.Action{Fault: i, On: false})
	}
	if in.t.Proxy != nil {
		_ = in.t.Proxy.Up()
		for i, f := range in.faults {
			if f.Toxic() && f.Kind != scenario.Down {
				_ = in.t.Proxy.RemoveToxic(ctx, toxicName(i))
			}
		}
	}
}

// Reports returns what each fault did.
func (in *Injector) Reports() []Report {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make([]Report, len(in.reports))
	for i, r := range in.reports {
		r.Errors = append([]string(nil), r.Errors...)
		out[i] = r
	}
	return out
}
