package brokerfaults_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchyard-dev/switchyard/contract"
	"github.com/switchyard-dev/switchyard/contract/brokerfaults"
	"github.com/switchyard-dev/switchyard/drivers"
	_ "github.com/switchyard-dev/switchyard/drivers/rabbit"
	"github.com/switchyard-dev/switchyard/fake/brokertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func fastConfig() *drivers.Config {
	c := drivers.DefaultConfig()
	c.Rabbit.RabbitRetryInterval = 20 * time.Millisecond
	c.Rabbit.RabbitRetryBackoff = 20 * time.Millisecond
	c.Rabbit.RabbitIntervalMax = 50 * time.Millisecond
	return c
}

// TestScopedToDriver refuses and drops the connections of one driver and
// checks that another driver on the same broker keeps working, and that
// the broker counted the first driver's attempts.
func TestScopedToDriver(t *testing.T) {
	b := brokertest.New(t)
	in := brokerfaults.New(b)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	open := func() drivers.Driver {
		d, err := drivers.Open(ctx, b.URL(), fastConfig())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
	victim, bystander := open(), open()
	cast := func(d drivers.Driver, retry int) error {
		_, err := d.Send(ctx, drivers.Target{Topic: "scoped"}, nil, drivers.Message{"method": "x"}, drivers.SendOptions{Retry: retry})
		return err
	}
	for _, d := range []drivers.Driver{victim, bystander} {
		if err := cast(d, 0); err != nil {
			t.Fatal(err)
		}
	}
	before := in.ConnectionAttempts(victim)
	if before != 1 {
		t.Fatalf("ConnectionAttempts = %d after one cast, want 1", before)
	}
	end, err := in.Inject(ctx, contract.Fault{Kind: contract.RefuseConnections, Driver: victim})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Inject(ctx, contract.Fault{Kind: contract.DropConnections, Driver: victim}); err != nil {
		t.Fatal(err)
	}
	err = cast(victim, 1)
	if !errors.Is(err, drivers.ErrDeliveryFailure) {
		t.Fatalf("cast from the refused driver = %v, want a delivery failure", err)
	}
	if got := in.ConnectionAttempts(victim) - before; got < 1 || got > 2 {
		t.Errorf("the refused driver tried %d times with retry 1, want 1 or 2", got)
	}
	if err := cast(bystander, 0); err != nil {
		t.Fatalf("the other driver was affected: %v", err)
	}
	end()
	if err := cast(victim, -1); err != nil {
		t.Fatalf("cast after the fault ended: %v", err)
	}
}

// unnamed is a driver that cannot say which connections are its own.
type unnamed struct{ drivers.Driver }

func TestUnnamedDriver(t *testing.T) {
	in := brokerfaults.New(brokertest.New(t))
	if _, err := in.Inject(context.Background(), contract.Fault{Kind: contract.DropConnections, Driver: unnamed{}}); err == nil {
		t.Fatal("a fault scoped to a driver without a connection name was accepted")
	}
	if _, err := in.Inject(context.Background(), contract.Fault{Kind: 99}); err == nil {
		t.Fatal("an unknown fault kind was accepted")
	}
}
