package contract_test

import (
	"context"
	"testing"

	"github.com/switchyard-dev/switchyard/contract"
	"github.com/switchyard-dev/switchyard/contract/internal/membroker"
	"github.com/switchyard-dev/switchyard/drivers"
)

// memObserver taps the in-memory broker.
type memObserver struct{ b *membroker.Broker }

func (o memObserver) TapNotifications(ctx context.Context, exchange, address string) (contract.Tap, error) {
	return o.b.TapNotifications(ctx, exchange, address)
}

func memHarness(t *testing.T) contract.Harness {
	b, url := membroker.New(membroker.Options{User: "guest", Password: "guest"})
	t.Cleanup(b.Close)
	return contract.Harness{
		Name:           "membroker",
		Backend:        "in-memory broker",
		Kind:           contract.Broker,
		URL:            url,
		Open:           membroker.Open,
		Prefetch:       func(cfg *drivers.Config, n int) { cfg.Rabbit.RabbitQoSPrefetchCount = n },
		MaxMessageSize: b.MaxMessageSize(),
		Observer:       memObserver{b},
		ReportDir:      t.TempDir(),
	}
}

// TestSuiteOnMembroker runs the whole suite on the in-memory broker: a
// correct broker-style driver must pass every clause that applies.
func TestSuiteOnMembroker(t *testing.T) {
	rep := contract.Run(t, memHarness(t))
	for _, c := range rep.Clauses {
		if c.Status == contract.Fail {
			t.Errorf("%s failed on the in-memory broker: %s", c.Clause, c.Detail)
		}
	}
}
