package brokertest_test

import (
	"io"
	"net"
	"testing"
	"time"

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

func TestWithAMQP1(t *testing.T) {
	b := brokertest.New(t, brokertest.WithAMQP1())
	if b.AMQP1Addr() == "" || b.AMQP1URL() != "amqp://guest:guest@"+b.AMQP1Addr()+"/" {
		t.Fatalf("AMQP 1.0 address %q, URL %q", b.AMQP1Addr(), b.AMQP1URL())
	}
	nc, err := net.Dial("tcp", b.AMQP1Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Write([]byte("AMQP\x00\x01\x00\x00")); err != nil {
		t.Fatal(err)
	}
	var hdr [8]byte
	if _, err := io.ReadFull(nc, hdr[:]); err != nil || string(hdr[:]) != "AMQP\x00\x01\x00\x00" {
		t.Fatalf("header %q %v", hdr, err)
	}
	if brokertest.New(t).AMQP1Addr() != "" {
		t.Fatal("AMQP 1.0 listener without WithAMQP1")
	}
}
