package brokertest_test

import (
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"

	"github.com/switchyard-dev/switchyard/fake/broker"
	"github.com/switchyard-dev/switchyard/fake/brokertest"
	"github.com/switchyard-dev/switchyard/fake/fault"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestNew(t *testing.T) {
	inj := fault.New(1)
	dir := t.TempDir()
	var b *broker.Broker
	t.Run("inner", func(t *testing.T) {
		b = brokertest.New(t, brokertest.WithUser("u", "p"), brokertest.WithVHosts("v"), brokertest.WithFaults(inj),
			brokertest.WithDir(dir), brokertest.WithHeartbeat(5e9))
		if b.Faults() != inj {
			t.Fatal("the injector was not used")
		}
		c, err := amqp.Dial(b.AMQPURL())
		if err != nil {
			t.Fatal(err)
		}
		if c.Config.Heartbeat != 5e9 {
			t.Errorf("heartbeat %v", c.Config.Heartbeat)
		}
		c.Close()
	})
	// The subtest's cleanup closed the broker.
	if _, err := amqp.Dial(b.AMQPURL()); err == nil {
		t.Fatal("the broker still accepts connections after the test")
	}
}

func TestWithOptions(t *testing.T) {
	b := brokertest.New(t, brokertest.WithOptions(broker.Options{VHosts: []string{"x"}}))
	if got := b.URL(); got != "rabbit://guest:guest@"+b.Addr()+"/x" {
		t.Fatalf("URL %q", got)
	}
}
