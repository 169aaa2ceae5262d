package rabbit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/switchyard-dev/switchyard/drivers"
)

// consumer keeps a subscription alive: it owns one connection, declares its
// queues, consumes them, and after any failure reconnects, declares and
// consumes again (C18).
type consumer struct {
	d            *Driver
	purpose      string
	queues       []queueDecl
	prefetch     int
	autoAck      bool     // the broker forgets a message once it is sent (replies)
	deleteOnStop []string // queues this consumer owns alone (fanout)

	// handle receives every delivery with the generation (one per
	// connection) it arrived on and whether the broker already forgot it
	// (consumed without acknowledgements); it must not block for long.
	handle func(del amqp.Delivery, gen uint64, autoAcked bool)
	// onReady runs once the first generation consumes every queue.
	onReady func()
	// onFatal runs instead when the first connection fails in a way
	// retrying cannot mend (wrong credentials, a refused declaration).
	onFatal func(error)
	// onLost runs when a generation ends: its unacknowledged deliveries go
	// back to the broker.
	onLost func(gen uint64)

	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}

	mu  sync.Mutex
	gen uint64
}

func (c *consumer) init() {
	c.stop = make(chan struct{})
	c.done = make(chan struct{})
}

// halt asks the loop to end.
func (c *consumer) halt() { c.stopOnce.Do(func() { close(c.stop) }) }

// run is the consumer's loop; it returns once stopped.
func (c *consumer) run() {
	defer close(c.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-c.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	ready := false
	failures := 0
	for {
		select {
		case <-c.stop:
			return
		default:
		}
		err := c.session(ctx, func() {
			failures = 0
			if !ready {
				ready = true
				if c.onReady != nil {
					c.onReady()
				}
			}
		})
		if ctx.Err() != nil {
			return
		}
		var ae *drivers.AuthError
		var amqpErr *amqp.Error
		fatal := errors.As(err, &ae) || (errors.As(err, &amqpErr) && isDeclareRefusal(amqpErr))
		if fatal && !ready {
			if c.onFatal != nil {
				c.onFatal(err)
			}
			return
		}
		failures++
		delay := c.d.conn.backoff(failures)
		c.d.log.Warn("subscription lost; reconnecting", slog.String("purpose", c.purpose),
			slog.Any("error", err), slog.Duration("in", delay))
		if !sleepCtx(ctx, c.stop, delay) {
			return
		}
	}
}

// isDeclareRefusal reports errors that a retry cannot mend: the broker
// refused a declaration (PRECONDITION_FAILED, ACCESS_REFUSED, NOT_ALLOWED).
func isDeclareRefusal(e *amqp.Error) bool {
	return e.Code == amqp.PreconditionFailed || e.Code == amqp.AccessRefused || e.Code == amqp.NotAllowed
}

// session runs one connection until it fails or the consumer stops.
func (c *consumer) session(ctx context.Context, ready func()) error {
	conn, err := c.d.conn.dialOnce(ctx, c.purpose)
	if err != nil {
		return err
	}
	defer conn.Close()
	// Declarations cannot be cancelled; closing the connection ends them
	// if the consumer stops while they wait for the broker.
	setup := make(chan struct{})
	var setupOnce sync.Once
	endSetup := func() { setupOnce.Do(func() { close(setup) }) }
	defer endSetup()
	go func() {
		select {
		case <-ctx.Done():
			conn.Close()
		case <-setup:
		}
	}()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	if c.prefetch > 0 {
		if err := ch.Qos(c.prefetch, 0, false); err != nil {
			return err
		}
	}
	var args amqp.Table
	if c.d.opts.EnableCancelOnFailover {
		args = amqp.Table{"x-cancel-on-ha-failover": true}
	}
	var streams []<-chan amqp.Delivery
	for _, q := range c.queues {
		if err := declareQueue(ch, q); err != nil {
			return fmt.Errorf("declare queue %s: %w", q.name, err)
		}
		dl, err := ch.Consume(q.name, "", c.autoAck || q.noAck, false, false, false, args)
		if err != nil {
			return fmt.Errorf("consume %s: %w", q.name, err)
		}
		streams = append(streams, dl)
	}
	endSetup()
	c.mu.Lock()
	c.gen++
	gen := c.gen
	c.mu.Unlock()
	ready()

	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	ended := make(chan string, len(streams))
	var wg sync.WaitGroup
	for i, dl := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			auto := c.autoAck || c.queues[i].noAck
			for del := range dl {
				c.handle(del, gen, auto)
			}
			ended <- c.queues[i].name
		}()
	}
	var result error
	select {
	case e := <-closed:
		result = errors.New("connection closed")
		if e != nil {
			result = e
		}
	case q := <-ended:
		result = fmt.Errorf("the broker cancelled the consumer of queue %s", q)
	case <-ctx.Done():
		for _, name := range c.deleteOnStop {
			if _, err := ch.QueueDelete(name, false, false, false); err != nil {
				c.d.log.Info("could not delete queue on stop", slog.String("queue", name), slog.Any("error", err))
			}
		}
		result = ctx.Err()
	}
	// Closing the connection returns unacknowledged deliveries to the
	// broker and ends the delivery streams.
	_ = conn.Close()
	wg.Wait()
	if c.onLost != nil {
		c.onLost(gen)
	}
	return result
}

// waitReady waits for the consumer's first generation, its fatal error, or
// ctx; on ctx it stops the consumer (C05, C34). A context that ended while
// the consumer started wins over its readiness.
func waitReady(ctx context.Context, c *consumer, ready <-chan error) error {
	var err error
	select {
	case err = <-ready:
		if err == nil {
			err = ctx.Err()
		}
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		c.halt()
		<-c.done
	}
	return err
}
