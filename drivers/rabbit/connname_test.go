package rabbit_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/rabbit"
	"github.com/switchyard-dev/switchyard/fake/brokertest"
)

// TestConnectionName checks that every connection a driver opens presents
// the driver's ConnectionName as the prefix of its connection_name, and
// that two drivers in one process have different prefixes.
func TestConnectionName(t *testing.T) {
	b := brokertest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	open := func() *rabbit.Driver {
		d, err := drivers.Open(ctx, b.URL(), fastConfig())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d.(*rabbit.Driver)
	}
	d1, d2 := open(), open()
	if d1.ConnectionName() == d2.ConnectionName() {
		t.Fatalf("two drivers share the connection name %q", d1.ConnectionName())
	}
	l, err := d1.Listen(ctx, drivers.Target{Topic: "names"}, drivers.Batch{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	if _, err := d1.Send(ctx, drivers.Target{Topic: "names"}, nil, drivers.Message{"method": "x"}, drivers.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	conns := b.Connections()
	if len(conns) < 2 {
		t.Fatalf("the broker sees %d connections, want a listener's and a sender's", len(conns))
	}
	for _, c := range conns {
		if !strings.HasPrefix(c.Name, d1.ConnectionName()+":") {
			t.Errorf("connection %q does not start with %q", c.Name, d1.ConnectionName()+":")
		}
	}
}
