package runner

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/internal/chaos/history"
	"github.com/switchyard-dev/switchyard/internal/chaos/plan"
	"github.com/switchyard-dev/switchyard/internal/chaos/scenario"
)

// sendGrace is how long past a send's own timeout its context lives, so the
// driver reports its timeout before the context ends.
const sendGrace = 5 * time.Second

// clients runs generator gi's clients, each sending its planned messages
// when they are due (or at once when it is behind), until every planned
// message was sent or ctx ends.
func (r *run) clients(ctx context.Context, gi int, d drivers.Driver, ops []plan.Op, start time.Time, wg *sync.WaitGroup) {
	g := r.s.Workload[gi]
	byClient := make([][]plan.Op, g.Concurrency)
	for _, op := range ops {
		byClient[op.Client] = append(byClient[op.Client], op)
	}
	expect := r.expect(gi)
	for _, mine := range byClient {
		wg.Add(1)
		go func(mine []plan.Op) {
			defer wg.Done()
			for _, op := range mine {
				if wait := time.Until(start.Add(op.At)); wait > 0 {
					t := time.NewTimer(wait)
					select {
					case <-ctx.Done():
						t.Stop()
						return
					case <-t.C:
					}
				} else if ctx.Err() != nil {
					return
				}
				r.send(ctx, g, d, op, expect)
			}
		}(mine)
	}
}

// expect lists the consumer groups that must each process a message of
// generator gi once.
func (r *run) expect(gi int) []string {
	g := r.s.Workload[gi]
	switch g.Kind {
	case scenario.Fanout:
		out := make([]string, g.Consumers.Count)
		for i := range out {
			out[i] = r.serverName(gi, i)
		}
		return out
	case scenario.Notify:
		return r.pools(gi)
	}
	return []string{"*"}
}

// payload is n bytes of filler.
func payload(n int) string { return strings.Repeat("x", n) }

func (r *run) send(ctx context.Context, g scenario.Generator, d drivers.Driver, op plan.Op, expect []string) {
	r.rec.Attempt()
	topic := r.topic(op.Gen)
	sctx, cancel := context.WithTimeout(ctx, g.Timeout+sendGrace)
	defer cancel()
	mctx := drivers.Context{"request_id": "req-" + op.ID, "user_id": "chaos"}
	s := history.Send{ID: op.ID, Gen: op.Gen, Kind: g.Kind, Expect: expect, Start: r.rec.Now()}
	var reply any
	var err error
	switch g.Kind {
	case scenario.Notify:
		msg := drivers.Message{
			"message_id":   op.ID,
			"publisher_id": "chaos." + g.Name,
			"event_type":   "chaos.event",
			"priority":     strings.ToUpper(g.Priority),
			"payload":      map[string]any{"id": op.ID, "data": payload(op.Size)},
			"timestamp":    time.Now().UTC().Format("2006-01-02 15:04:05.000000"),
		}
		err = d.SendNotification(sctx, drivers.Target{Topic: topic + "." + g.Priority}, mctx, msg, "2.0", g.Retry)
	default:
		method := methodCast
		if g.Kind == scenario.Call {
			method = methodCall
		}
		msg := drivers.Message{"method": method, "args": map[string]any{"id": op.ID, "data": payload(op.Size)}}
		o := drivers.SendOptions{WaitForReply: g.Kind == scenario.Call, Timeout: g.Timeout, CallMonitorTimeout: g.CallMonitorTimeout, Retry: g.Retry}
		if g.Kind != scenario.Call {
			// A cast has no timeout of its own; the context bounds it.
			sctx2, cancel2 := context.WithTimeout(ctx, g.Timeout)
			defer cancel2()
			sctx = sctx2
		}
		reply, err = d.Send(sctx, drivers.Target{Topic: topic, Fanout: g.Kind == scenario.Fanout}, mctx, msg, o)
	}
	s.End = r.rec.Now()
	s.Outcome = outcome(err)
	if err != nil {
		s.Err = errorClass(err)
	}
	if m, ok := reply.(map[string]any); ok {
		s.Reply, _ = m["id"].(string)
	}
	r.rec.Sent(s)
}

// outcome classifies a send's error: Failed only when the driver says the
// broker certainly does not have the message.
func outcome(err error) history.Outcome {
	if err == nil {
		return history.OK
	}
	var de *drivers.DeliveryError
	switch {
	case errors.As(err, &de):
		if de.Ambiguous {
			return history.Unknown
		}
		return history.Failed
	case errors.Is(err, drivers.ErrUndeliverable), errors.Is(err, drivers.ErrMessageTooLarge),
		errors.Is(err, drivers.ErrInvalidTarget), errors.Is(err, drivers.ErrClosed):
		return history.Failed
	}
	return history.Unknown
}

// errorClass shortens an error for the report's error counts: the kind of
// error, without the ids and addresses that make every message unique.
func errorClass(err error) string {
	var de *drivers.DeliveryError
	switch {
	case errors.Is(err, drivers.ErrTimeout):
		return "timeout"
	case errors.As(err, &de) && de.Ambiguous:
		return "delivery failure (ambiguous)"
	case errors.Is(err, drivers.ErrUndeliverable):
		return "undeliverable"
	case errors.Is(err, drivers.ErrDeliveryFailure):
		return "delivery failure"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline exceeded"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	var re *drivers.RemoteError
	if errors.As(err, &re) {
		return "remote error " + re.Class
	}
	msg := err.Error()
	if len(msg) > 120 {
		msg = msg[:120]
	}
	return msg
}
