package contract_test

import (
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/contract"
	"github.com/switchyard-dev/switchyard/drivers"
	_ "github.com/switchyard-dev/switchyard/drivers/amqp1"
	"github.com/switchyard-dev/switchyard/fake/fault"
	"github.com/switchyard-dev/switchyard/fake/routertest"
)

// fakeRouterHarness is the amqp:// driver on Switchyard's fake AMQP 1.0
// router, started for the test: a direct backend, where a send returns
// once a listener settled it (C21).
func fakeRouterHarness(t *testing.T, opts ...routertest.Option) contract.Harness {
	r := routertest.New(t, opts...)
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

// TestMutantsRouter runs the router clauses against the router's early-ack
// mutant, which settles a sender's delivery as accepted before any
// consumer has: C21 must catch it.
func TestMutantsRouter(t *testing.T) {
	if testing.Short() {
		t.Skip("mutation check skipped in -short mode")
	}
	inj := fault.New(1)
	inj.MustEnable(fault.Fault{Kind: fault.EarlyAck})
	h := fakeRouterHarness(t, routertest.WithFaults(inj))
	h.Name = "amqp1-early-ack"
	h.Python = nil
	h.Tags = "@C21"
	h.Properties = []contract.Clause{}
	h.Wait = 2 * time.Second
	h.ExpectFail = map[contract.Clause]bool{"C21": true}
	rep := contract.Run(t, h)
	if r := rep.Clause("C21"); r != nil {
		t.Logf("early-ack: C21 %s (%s)", r.Status, r.Detail)
	}
}
