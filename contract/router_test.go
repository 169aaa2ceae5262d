package contract_test

import (
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/contract"
	"github.com/switchyard-dev/switchyard/drivers"
	_ "github.com/switchyard-dev/switchyard/drivers/amqp1"
	"github.com/switchyard-dev/switchyard/fake/routertest"
)

// fakeRouterHarness is the amqp:// driver on Switchyard's fake AMQP 1.0
// router, started for the test: a direct backend, where a send returns
// once a listener settled it (C21).
func fakeRouterHarness(t *testing.T) contract.Harness {
	r := routertest.New(t)
	return contract.Harness{
		Name:    "amqp1",
		Backend: "fake router",
		Kind:    contract.Router,
		URL:     r.URL(),
		Config:  routerConfig,
		Prefetch: func(cfg *drivers.Config, n int) {
			cfg.AMQP.RPCServerCredit, cfg.AMQP.NotifyServerCredit = n, n
		},
		Python: pythonPeer(t, r.URL()),
	}
}

// TestContractAMQP1FakeRouter runs the contract suite on the amqp1 driver
// against the fake router.
func TestContractAMQP1FakeRouter(t *testing.T) {
	contract.Run(t, fakeRouterHarness(t))
}

// routerConfig is oslo's configuration but for faster retries: a released
// message is resent after 100 ms instead of link_retry_delay's 10 s, so the
// requeue scenarios (C21, C30) fit their waits.
func routerConfig() *drivers.Config {
	cfg := drivers.DefaultConfig()
	cfg.AMQP.LinkRetryDelay = 100 * time.Millisecond
	cfg.AMQP.ConnectionRetryInterval = 50 * time.Millisecond
	return cfg
}
