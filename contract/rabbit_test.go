package contract_test

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/switchyard-dev/switchyard/contract"
	"github.com/switchyard-dev/switchyard/drivers"
	_ "github.com/switchyard-dev/switchyard/drivers/rabbit"
	"github.com/switchyard-dev/switchyard/internal/pyoslo"
	"github.com/switchyard-dev/switchyard/internal/realbroker"
)

// rabbitHarness is the rabbit driver on a real RabbitMQ: a container when
// Docker answers, else $SWITCHYARD_RABBIT_URL, else a skip (a failure
// under SWITCHYARD_REQUIRE_REAL=1).
func rabbitHarness(t *testing.T) contract.Harness {
	u := realbroker.RabbitURL(t)
	return contract.Harness{
		Name:     "rabbit",
		Backend:  "RabbitMQ",
		Kind:     contract.Broker,
		URL:      u,
		Prefetch: func(cfg *drivers.Config, n int) { cfg.Rabbit.RabbitQoSPrefetchCount = n },
		// RabbitMQ holds a refused login for 3 s before closing
		// (rabbit_reader's SILENT_CLOSE_DELAY); a raw amqp091 dial sees
		// the same delay.
		AuthDelay: 3 * time.Second,
		Observer:  rabbitObserver{url: u},
		Python:    pythonPeer(t, u),
	}
}

// pythonPeer is Python oslo.messaging 14 on the same RabbitMQ, or nil
// (C35 then n.a.) when it is not installed and real peers are not
// required; under SWITCHYARD_REQUIRE_REAL=1 its absence fails the test.
func pythonPeer(t *testing.T, url string) contract.PythonPeer {
	if _, err := pyoslo.Version(); err != nil {
		if realbroker.RequireReal() {
			pyoslo.Require(t)
		}
		return nil
	}
	return pyoslo.Peer{URL: url}
}

// TestContractRabbit runs the contract suite on the rabbit driver against
// a real RabbitMQ.
func TestContractRabbit(t *testing.T) {
	contract.Run(t, rabbitHarness(t))
}

// TestMutationRabbit: the rabbit driver with listeners that lose every
// third message must fail the delivery clauses.
func TestMutationRabbit(t *testing.T) {
	if testing.Short() {
		t.Skip("mutation check skipped in -short mode")
	}
	contract.Run(t, mutate(rabbitHarness(t)))
}

// rabbitObserver taps RabbitMQ with a queue of its own, bound to the
// notification address, so the suite sees the bodies as they travel.
type rabbitObserver struct{ url string }

func amqpURL(raw string) (string, error) {
	u, err := drivers.ParseURL(raw)
	if err != nil {
		return "", err
	}
	h := drivers.TransportHost{}
	if len(u.Hosts) > 0 {
		h = u.Hosts[0]
	}
	user, pass := h.Username, h.Password
	if user == "" {
		user, pass = "guest", "guest"
	}
	vhost := u.VirtualHost
	if vhost == "" {
		vhost = "/"
	}
	return fmt.Sprintf("amqp://%s:%s@%s/%s", url.PathEscape(user), url.PathEscape(pass), h.Addr(drivers.DefaultPort), url.PathEscape(vhost)), nil
}

func (o rabbitObserver) TapNotifications(ctx context.Context, exchange, address string) (contract.Tap, error) {
	if exchange == "" {
		exchange = drivers.DefaultConfig().Default.ControlExchange
	}
	au, err := amqpURL(o.url)
	if err != nil {
		return nil, err
	}
	conn, err := amqp.Dial(au)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (contract.Tap, error) {
		conn.Close()
		return nil, err
	}
	ch, err := conn.Channel()
	if err != nil {
		return fail(err)
	}
	// As oslo declares its topic exchange with the default options.
	if err := ch.ExchangeDeclare(exchange, "topic", false, false, false, false, nil); err != nil {
		return fail(err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		return fail(err)
	}
	if err := ch.QueueBind(q.Name, address, exchange, false, nil); err != nil {
		return fail(err)
	}
	deliveries, err := ch.ConsumeWithContext(ctx, q.Name, "", true, true, false, false, nil)
	if err != nil {
		return fail(err)
	}
	return &rabbitTap{conn: conn, deliveries: deliveries}, nil
}

type rabbitTap struct {
	conn       *amqp.Connection
	deliveries <-chan amqp.Delivery
	once       sync.Once
}

func (t *rabbitTap) Next(ctx context.Context) ([]byte, error) {
	select {
	case d, ok := <-t.deliveries:
		if !ok {
			return nil, fmt.Errorf("the tap's consumer ended")
		}
		return d.Body, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (t *rabbitTap) Close() error {
	var err error
	t.once.Do(func() { err = t.conn.Close() })
	return err
}
