package contract_test

import (
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/contract"
	"github.com/switchyard-dev/switchyard/contract/brokerfaults"
	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/fake/broker"
	"github.com/switchyard-dev/switchyard/fake/brokertest"
)

// fakeBrokerHarness runs a driver of the AMQP 0-9-1 family (scheme
// "rabbit" or "pika") against Switchyard's embedded fake broker, started
// for the test.
func fakeBrokerHarness(t *testing.T, scheme string) contract.Harness {
	return fakeBrokerHarnessOn(t, brokertest.New(t), scheme)
}

// fakeBrokerHarnessOn is fakeBrokerHarness on a broker the test started.
func fakeBrokerHarnessOn(t *testing.T, b *broker.Broker, scheme string) contract.Harness {
	u, err := drivers.ParseURL(b.URL())
	if err != nil {
		t.Fatal(err)
	}
	u.Scheme = scheme
	h := contract.Harness{
		Name:    scheme,
		Backend: "fake broker",
		Kind:    contract.Broker,
		URL:     u.Secret(),
		Faults:  brokerfaults.New(b),
		Config:  fastReconnect,
		// In-process and on loopback, anything unwanted would show within
		// well under the default 300 ms.
		Quiet: 150 * time.Millisecond,
		// The fake broker answers a refused login at once (AuthDelay 0).
	}
	switch scheme {
	case "rabbit":
		h.Prefetch = func(cfg *drivers.Config, n int) { cfg.Rabbit.RabbitQoSPrefetchCount = n }
		h.Python = pythonPeer(t, b.URL())
	case "pika":
		h.Prefetch = func(cfg *drivers.Config, n int) {
			cfg.Pika.RPCListenerPrefetchCount, cfg.Pika.NotificationListenerPrefetch = n, n
		}
		h.NotApplicable = pikaNotApplicable
	}
	return h
}

// TestContractRabbitFakeBroker runs the suite on the rabbit driver against
// the fake broker.
func TestContractRabbitFakeBroker(t *testing.T) {
	contract.Run(t, fakeBrokerHarness(t, "rabbit"))
}

// TestContractPikaFakeBroker runs the suite on the pika dialect against the
// fake broker.
func TestContractPikaFakeBroker(t *testing.T) {
	contract.Run(t, fakeBrokerHarness(t, "pika"))
}

// fastReconnect is oslo's configuration with reconnect delays of a tenth
// of a second rather than seconds: the fake broker answers at once, and
// the retry scenarios (C14-C18) count attempts, not seconds.
func fastReconnect() *drivers.Config {
	cfg := drivers.DefaultConfig()
	cfg.Rabbit.RabbitRetryInterval = 100 * time.Millisecond
	cfg.Rabbit.RabbitRetryBackoff = 100 * time.Millisecond
	cfg.Rabbit.RabbitIntervalMax = 500 * time.Millisecond
	cfg.Pika.HostConnectionReconnectDelay = 100 * time.Millisecond
	return cfg
}

// TestContractAMQP1FakeBroker runs the suite on the amqp1 driver against
// the fake broker's AMQP 1.0 listener: a store-and-forward backend in
// legacy addressing, as with qpidd.
func TestContractAMQP1FakeBroker(t *testing.T) {
	b := brokertest.New(t, brokertest.WithAMQP1())
	contract.Run(t, contract.Harness{
		Name:    "amqp1",
		Backend: "fake broker",
		Kind:    contract.Broker,
		URL:     b.AMQP1URL(),
		Config:  routerConfig,
		Prefetch: func(cfg *drivers.Config, n int) {
			cfg.AMQP.RPCServerCredit, cfg.AMQP.NotifyServerCredit = n, n
		},
		Python: pythonPeer(t, b.AMQP1URL()),
		Quiet:  150 * time.Millisecond,
		NotApplicable: map[contract.Clause]string{
			"C17": "over AMQP 1.0 the broker creates a queue for any address, as qpidd does: nothing is unroutable, so mandatory delivery has no meaning (and the fault scenarios need 0-9-1 fault injection)",
		},
	})
}
