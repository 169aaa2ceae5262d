package contract_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/contract"
	"github.com/switchyard-dev/switchyard/drivers"
)

// lossy wraps a driver so that each of its listeners acknowledges and
// drops every third message it receives: a broken driver the suite must
// catch.
type lossy struct{ drivers.Driver }

func (d lossy) Listen(ctx context.Context, t drivers.Target, b drivers.Batch) (drivers.Listener, error) {
	l, err := d.Driver.Listen(ctx, t, b)
	if l == nil {
		return nil, err
	}
	return &lossyListener{Listener: l}, err
}

func (d lossy) ListenForNotifications(ctx context.Context, tps []drivers.TargetPriority, pool string, b drivers.Batch) (drivers.Listener, error) {
	l, err := d.Driver.ListenForNotifications(ctx, tps, pool, b)
	if l == nil {
		return nil, err
	}
	return &lossyListener{Listener: l}, err
}

type lossyListener struct {
	drivers.Listener
	n atomic.Int64
}

func (l *lossyListener) Poll(ctx context.Context) ([]drivers.IncomingMessage, error) {
	for {
		msgs, err := l.Listener.Poll(ctx)
		if err != nil {
			return nil, err
		}
		var kept []drivers.IncomingMessage
		for _, m := range msgs {
			if l.n.Add(1)%3 == 0 {
				m.Acknowledge()
				continue
			}
			kept = append(kept, m)
		}
		if len(kept) > 0 {
			return kept, nil
		}
	}
}

// lossyOpen opens drivers through open and breaks them.
func lossyOpen(open func(context.Context, string, *drivers.Config) (drivers.Driver, error)) func(context.Context, string, *drivers.Config) (drivers.Driver, error) {
	return func(ctx context.Context, url string, cfg *drivers.Config) (drivers.Driver, error) {
		d, err := open(ctx, url, cfg)
		if err != nil {
			return nil, err
		}
		return lossy{d}, nil
	}
}

// lossyExpectations are the clauses a listener that loses every third
// message must break, and the scenarios that show it.
var lossyExpectations = map[contract.Clause]bool{"C01": true, "C03": true, "C04": true, "C22": true, "C29": true, "C32": true}

const lossyTags = "@C01,@C03,@C04,@C22,@C29,@C32"

// mutate turns a harness into the mutation check of a lossy driver.
func mutate(h contract.Harness) contract.Harness {
	open := h.Open
	if open == nil {
		open = drivers.Open
	}
	h.Name += "-lossy"
	h.Open = lossyOpen(open)
	h.ExpectFail = lossyExpectations
	h.Tags = lossyTags
	h.Properties = []contract.Clause{}
	h.Wait = 2 * time.Second
	return h
}

// TestMutationOnMembroker proves the suite can fail: a driver that loses
// messages must fail the clauses about delivery.
func TestMutationOnMembroker(t *testing.T) {
	if testing.Short() {
		t.Skip("mutation check skipped in -short mode")
	}
	rep := contract.Run(t, mutate(memHarness(t)))
	for c := range lossyExpectations {
		if r := rep.Clause(c); r != nil {
			t.Logf("%s on the lossy driver: %s (%s)", c, r.Status, r.Detail)
		}
	}
}
