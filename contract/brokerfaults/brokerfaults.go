// Package brokerfaults lets the contract suite inject faults into
// Switchyard's fake AMQP 0-9-1 broker: it implements contract.FaultInjector
// over the broker's fault injector, scoping a fault to one driver by the
// connection_name prefix its connections present.
package brokerfaults

import (
	"context"
	"fmt"
	"time"

	"github.com/switchyard-dev/switchyard/contract"
	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/fake/broker"
	"github.com/switchyard-dev/switchyard/fake/fault"
)

// Named is a driver that can say which connections are its own: each
// presents a connection_name starting with ConnectionName() + ":". The
// rabbit and pika drivers are Named.
type Named interface {
	ConnectionName() string
}

// Injector injects the contract suite's faults into one fake broker.
type Injector struct {
	b *broker.Broker
}

var _ contract.FaultInjector = (*Injector)(nil)

// New returns an Injector for b. b must use its own fault injector (the
// default, or a *fault.Injector in Options.Faults).
func New(b *broker.Broker) *Injector { return &Injector{b: b} }

// kinds maps the suite's faults to the broker's.
var kinds = map[contract.FaultKind]fault.Kind{
	contract.DropConnections:   fault.CloseConnections,
	contract.RefuseConnections: fault.RefuseConnections,
	contract.DropBeforePublish: fault.CloseOnPublish,
	contract.DropAfterPublish:  fault.CloseBeforeConfirm,
	contract.DropAfterConfirm:  fault.CloseAfterConfirm,
	contract.WithholdConfirms:  fault.WithholdConfirms,
	contract.PauseDeliveries:   fault.PauseDeliveries,
	contract.DuplicateReplies:  fault.DuplicateDelivery,
}

// Inject implements contract.FaultInjector. The publish faults
// (DropBeforePublish, DropAfterPublish, DropAfterConfirm) act on the next
// matching publish only.
// DropConnections returns once the dropped connections are gone, so that
// the drivers have seen the close before the scenario goes on.
func (in *Injector) Inject(ctx context.Context, f contract.Fault) (func(), error) {
	inj := in.b.Faults()
	if inj == nil {
		return nil, fmt.Errorf("brokerfaults: the broker was started with a fault consulter that is not a *fault.Injector")
	}
	kind, ok := kinds[f.Kind]
	if !ok {
		return nil, fmt.Errorf("brokerfaults: unknown fault kind %d", f.Kind)
	}
	bf := fault.Fault{Kind: kind}
	if f.Driver != nil {
		prefix, err := connectionName(f.Driver)
		if err != nil {
			return nil, err
		}
		bf.Scope.Connection = prefix + ":*"
	}
	switch f.Kind {
	case contract.DropBeforePublish, contract.DropAfterPublish, contract.DropAfterConfirm:
		bf.Limit = 1
	}
	at := time.Now()
	id, err := inj.Enable(bf)
	if err != nil {
		return nil, fmt.Errorf("brokerfaults: %w", err)
	}
	if kind.OneShot() {
		if f.Kind == contract.DropConnections {
			if err := in.waitClosed(ctx, bf.Scope.Connection, at); err != nil {
				return nil, err
			}
		}
		return func() {}, nil
	}
	return func() { inj.Disable(id) }, nil
}

// closeWait bounds how long Inject waits for dropped connections to go.
const closeWait = 5 * time.Second

// waitClosed waits until no connection opened before at and matching
// pattern ("" matches every connection) is open.
func (in *Injector) waitClosed(ctx context.Context, pattern string, at time.Time) error {
	if pattern == "" {
		pattern = "*"
	}
	ctx, cancel := context.WithTimeout(ctx, closeWait)
	defer cancel()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		left := in.b.ConnectionsServing(pattern, at)
		if left == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("brokerfaults: %d dropped connections still open: %w", left, ctx.Err())
		case <-tick.C:
		}
	}
}

// ConnectionAttempts implements contract.FaultInjector: the logins the
// broker saw from d's connections, refused ones included. It is 0 for a
// driver that is not Named.
func (in *Injector) ConnectionAttempts(d drivers.Driver) int {
	prefix, err := connectionName(d)
	if err != nil {
		return 0
	}
	return in.b.ConnectionAttempts(prefix + ":*")
}

// connectionName finds d's connection_name prefix, looking through
// wrappers that have an Unwrap method.
func connectionName(d drivers.Driver) (string, error) {
	for range 8 {
		if n, ok := d.(Named); ok {
			return n.ConnectionName(), nil
		}
		u, ok := d.(interface{ Unwrap() drivers.Driver })
		if !ok {
			break
		}
		d = u.Unwrap()
	}
	return "", fmt.Errorf("brokerfaults: cannot tell the connections of a %T driver apart (it has no ConnectionName method)", d)
}
