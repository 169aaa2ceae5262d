package contract_test

import (
	"testing"

	"github.com/switchyard-dev/switchyard/contract"
	"github.com/switchyard-dev/switchyard/drivers"
	_ "github.com/switchyard-dev/switchyard/drivers/amqp1"
	"github.com/switchyard-dev/switchyard/internal/realbroker"
)

// amqp1Harness is the amqp:// driver on a real AMQP 1.0 broker: the proton
// example broker (started by the test), or SWITCHYARD_AMQP1_URL.
func amqp1Harness(t *testing.T) contract.Harness {
	u := realbroker.AMQP1Broker(t)
	return contract.Harness{
		Name:    "amqp1",
		Backend: "proton broker",
		Kind:    contract.Broker,
		URL:     u,
		Prefetch: func(cfg *drivers.Config, n int) {
			cfg.AMQP.RPCServerCredit, cfg.AMQP.NotifyServerCredit = n, n
		},
		Python: pythonPeer(t, u),
		// What the proton example broker (broker.py) does not do; the
		// driver's own tests cover these on peers that do.
		NotApplicable: map[contract.Clause]string{
			"C03": "the proton example broker has no multicast: every address is a queue, so fanout is competing consumers",
			"C04": "the proton example broker gives each message to the first consumer with credit, never balancing",
			"C17": "an AMQP 1.0 broker creates a queue for any address: nothing is unroutable, so mandatory has no meaning",
			"C29": "the proton example broker removes a message when it sends it: an unsettled delivery is never redelivered",
			"C30": "the proton example broker ignores released outcomes: a requeued message is never delivered again",
			"C35": "Python interop through this broker is covered by drivers/amqp1's interop tests; its fanout scenario needs multicast (see C03)",
		},
	}
}

// TestContractAMQP1 runs the contract suite on the amqp1 driver against the
// proton example broker.
func TestContractAMQP1(t *testing.T) {
	contract.Run(t, amqp1Harness(t))
}
