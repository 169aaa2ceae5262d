package contract_test

import (
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/contract"
	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/internal/realbroker"
)

// pikaHarness is the pika:// dialect of the AMQP 0-9-1 driver on a real
// RabbitMQ.
func pikaHarness(t *testing.T) contract.Harness {
	u, err := drivers.ParseURL(realbroker.RabbitURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Scheme = "pika"
	return contract.Harness{
		Name:    "pika",
		Backend: "RabbitMQ",
		Kind:    contract.Broker,
		URL:     u.Secret(),
		Prefetch: func(cfg *drivers.Config, n int) {
			cfg.Pika.RPCListenerPrefetchCount, cfg.Pika.NotificationListenerPrefetch = n, n
		},
		// RabbitMQ holds a refused login for 3 s before closing.
		AuthDelay:     3 * time.Second,
		NotApplicable: pikaNotApplicable,
	}
}

// pikaNotApplicable are the clauses the Pika dialect cannot meet by design.
var pikaNotApplicable = map[contract.Clause]string{
	"C12": "the Pika driver predates call-monitor heartbeats (CallMonitorTimeout is ignored)",
	"C26": "the Pika driver never used the 2.0 envelope: every version is sent bare",
	"C35": "Python oslo.messaging 14 has no Pika driver (removed in 6.0.0)",
}

// TestContractPika runs the contract suite on the pika dialect against a
// real RabbitMQ.
func TestContractPika(t *testing.T) {
	contract.Run(t, pikaHarness(t))
}
