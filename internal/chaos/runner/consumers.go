package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/internal/chaos/history"
	"github.com/switchyard-dev/switchyard/internal/chaos/scenario"
)

// Method names of the workload's RPC requests.
const (
	methodCall = "chaos_call"
	methodCast = "chaos_cast"
)

// consumer is one server or listener of the workload, with its own driver,
// as a separate service process would have.
type consumer struct {
	name  string
	group string // see history.Send.Expect
	gen   int
	spec  scenario.Consumers
	drv   drivers.Driver
	l     drivers.Listener
	rec   *history.Recorder
	wg    sync.WaitGroup // the poll loop and the message handlers
	errMu sync.Mutex
	errs  []string
}

// startConsumers starts every server and listener of generator gi.
func (r *run) startConsumers(ctx context.Context, gi int) ([]*consumer, error) {
	g := r.s.Workload[gi]
	topic := r.topic(gi)
	var out []*consumer
	if g.Kind == scenario.Notify {
		pools := r.pools(gi)
		for pi, pool := range pools {
			for i := 0; i < g.Consumers.Count; i++ {
				name := fmt.Sprintf("%s-listener%d", g.Name, i)
				if len(g.Consumers.Pools) > 0 {
					name = fmt.Sprintf("%s-%s-listener%d", g.Name, g.Consumers.Pools[pi], i)
				}
				c := &consumer{name: name, group: pool, gen: gi, spec: g.Consumers}
				d, err := r.openDriver(ctx, g.Consumers.Prefetch, scenario.Notify, driverName{name: name, purpose: "notification", index: len(out)})
				if err != nil {
					return out, err
				}
				c.drv = d
				out = append(out, c)
				tps := []drivers.TargetPriority{{Target: drivers.Target{Topic: topic}, Priority: g.Priority}}
				l, err := d.ListenForNotifications(ctx, tps, pool, drivers.Batch{Size: g.Consumers.BatchSize, Timeout: g.Consumers.BatchTimeout})
				if err != nil {
					return out, fmt.Errorf("%s: listen: %w", name, err)
				}
				c.l = l
			}
		}
	} else {
		for i := 0; i < g.Consumers.Count; i++ {
			name := r.serverName(gi, i)
			group := "*"
			if g.Kind == scenario.Fanout {
				group = name
			}
			c := &consumer{name: name, group: group, gen: gi, spec: g.Consumers}
			d, err := r.openDriver(ctx, g.Consumers.Prefetch, g.Kind, driverName{name: name, purpose: "rpc-server", index: i})
			if err != nil {
				return out, err
			}
			c.drv = d
			out = append(out, c)
			l, err := d.Listen(ctx, drivers.Target{Topic: topic, Server: name}, drivers.Batch{Size: 1})
			if err != nil {
				return out, fmt.Errorf("%s: listen: %w", name, err)
			}
			c.l = l
		}
	}
	return out, nil
}

// start starts the consumer's poll loop, which records into rec until ctx
// ends or the listener stops.
func (c *consumer) start(ctx context.Context, rec *history.Recorder) {
	c.rec = rec
	c.wg.Add(1)
	go c.loop(ctx)
}

func (r *run) serverName(gi, i int) string {
	return fmt.Sprintf("%s-server%d", r.s.Workload[gi].Name, i)
}

// pools are the notification pools of generator gi as the driver sees
// them: prefixed with the topic, so generators never share a pool queue.
func (r *run) pools(gi int) []string {
	g := r.s.Workload[gi]
	if len(g.Consumers.Pools) == 0 {
		return []string{""}
	}
	out := make([]string, len(g.Consumers.Pools))
	for i, p := range g.Consumers.Pools {
		out[i] = r.topic(gi) + "-" + p
	}
	return out
}

// loop polls until ctx ends or the listener stops, handing each message to
// at most spec.Threads handlers at once.
func (c *consumer) loop(ctx context.Context) {
	defer c.wg.Done()
	sem := make(chan struct{}, max(c.spec.Threads, 1))
	for {
		msgs, err := c.l.Poll(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, drivers.ErrClosed) {
				return
			}
			c.note(err)
			// Poll failed without ending: wait a little rather than spin.
			t := time.NewTimer(50 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		for _, m := range msgs {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			c.wg.Add(1)
			go func(m drivers.IncomingMessage) {
				defer c.wg.Done()
				defer func() { <-sem }()
				c.handle(ctx, m)
			}(m)
		}
	}
}

func (c *consumer) note(err error) {
	c.errMu.Lock()
	if len(c.errs) < 10 {
		c.errs = append(c.errs, err.Error())
	}
	c.errMu.Unlock()
}

// handle processes one message: records it, works for spec.Work
// (heartbeating a call whose caller asked for it), replies to calls and
// acknowledges notifications.
func (c *consumer) handle(ctx context.Context, m drivers.IncomingMessage) {
	msg := m.Message()
	id := messageID(msg)
	c.rec.Processed(history.Delivery{ID: id, Gen: c.gen, Group: c.group, Consumer: c.name, At: c.rec.Now()})
	rpc, isRPC := m.(drivers.RPCIncomingMessage)
	if c.spec.Work > 0 {
		var beat <-chan time.Time
		if isRPC && rpc.CallMonitorTimeout() > 0 {
			t := time.NewTicker(rpc.CallMonitorTimeout() / 2)
			defer t.Stop()
			beat = t.C
		}
		work := time.NewTimer(c.spec.Work)
	wait:
		for {
			select {
			case <-work.C:
				break wait
			case <-beat:
				rpc.Heartbeat(ctx)
			case <-ctx.Done():
				work.Stop()
				return
			}
		}
	}
	if isRPC {
		m.Acknowledge()
		if msg["method"] == methodCall {
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			rpc.Reply(rctx, map[string]any{"id": id}, nil)
			cancel()
		}
		return
	}
	m.Acknowledge()
}

// messageID finds the id the workload put in a request's args or a
// notification's payload; "" when there is none.
func messageID(msg drivers.Message) string {
	for _, k := range []string{"args", "payload"} {
		if inner, ok := msg[k].(map[string]any); ok {
			if id, ok := inner["id"].(string); ok {
				return id
			}
		}
	}
	return ""
}

// stop stops the listener, waits for the handlers, and releases the
// driver.
func (c *consumer) stop() {
	if c.l != nil {
		c.l.Stop()
	}
	c.wg.Wait()
	if c.l != nil {
		c.l.Cleanup()
	}
	if c.drv != nil {
		c.drv.Close()
	}
}
