package broker_test

import (
	"fmt"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

func TestProtocolQueues(t *testing.T) { runSuite(t, queueCases) }

var queueCases = []protocolCase{
	{"server-named queue", func(t *testing.T, e *env) {
		_, ch := e.open()
		q, err := ch.QueueDeclare("", false, true, true, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(q.Name, "amq.gen-") || len(q.Name) != len("amq.gen-")+22 {
			t.Fatalf("name %q", q.Name)
		}
	}},
	{"declare-ok counts ready messages and consumers", func(t *testing.T, e *env) {
		_, ch := e.open()
		q := e.queue(ch, "counts", nil)
		for i := range 3 {
			publish(t, ch, "", q, text(fmt.Sprint(i)))
		}
		eventually(t, "3 ready messages", func() bool { return ready(t, ch, q) == 3 })
		get(t, ch, q, false) // one unacked: not counted
		consume(t, ch, q, false)
		st, err := ch.QueueDeclare(q, false, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if st.Consumers != 1 {
			t.Fatalf("consumers %d", st.Consumers)
		}
	}},
	{"equivalence checks", func(t *testing.T, e *env) {
		c := e.dial()
		q := e.name("eq")
		e.cleanupQueue(q)
		what := "queue '" + q + "' in vhost '/'"
		if _, err := e.channel(c).QueueDeclare(q, false, false, false, false, amqp.Table{"x-message-ttl": int32(1000), "x-other": "a"}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			durable, autoDelete bool
			args                amqp.Table
			text                string
		}{
			{true, false, amqp.Table{"x-message-ttl": int32(1000)}, "inequivalent arg 'durable' for " + what + ": received 'true' but current is 'false'"},
			{false, true, amqp.Table{"x-message-ttl": int32(1000)}, "inequivalent arg 'auto_delete' for " + what + ": received 'true' but current is 'false'"},
			{false, false, amqp.Table{"x-message-ttl": int32(2000)}, "inequivalent arg 'x-message-ttl' for " + what + ": received '2000' but current is '1000'"},
			{false, false, nil, "inequivalent arg 'x-message-ttl' for " + what + ": received none but current is the value '1000' of type 'signedint'"},
			{false, false, amqp.Table{"x-message-ttl": int32(1000), "x-expires": int32(5000)}, "inequivalent arg 'x-expires' for " + what + ": received the value '5000' of type 'signedint' but current is none"},
			{false, false, amqp.Table{"x-message-ttl": int32(1000), "x-queue-type": "quorum"}, ""},
		} {
			_, err := e.channel(c).QueueDeclare(q, tc.durable, tc.autoDelete, false, false, tc.args)
			if tc.text == "" {
				wantError(t, err, amqp.PreconditionFailed, "")
				continue
			}
			wantError(t, err, amqp.PreconditionFailed, "PRECONDITION_FAILED - "+tc.text)
		}
		// Integer types are interchangeable; other x- arguments are not compared.
		if _, err := e.channel(c).QueueDeclare(q, false, false, false, false, amqp.Table{"x-message-ttl": int64(1000), "x-other": "b", "x-queue-type": "classic"}); err != nil {
			t.Fatal(err)
		}
	}},
	{"invalid arguments", func(t *testing.T, e *env) {
		c := e.dial()
		for _, tc := range []struct {
			arg  string
			val  any
			text string // after "for queue 'q' in vhost '/': ", or the full text when it starts with "!"
		}{
			{"x-expires", int32(0), "{value_zero,0}"},
			{"x-expires", int32(-1), "{value_negative,-1}"},
			{"x-expires", "abc", `"expected integer, got longstr"`},
			{"x-expires", float64(100), `"expected integer, got double"`},
			{"x-message-ttl", int32(-1), "{value_negative,-1}"},
			{"x-max-length", int32(-1), "{value_negative,-1}"},
			{"x-max-length", "x", `"expected integer, got longstr"`},
			{"x-queue-type", "foo", `"unsupported queue type 'foo'"`},
			{"x-overflow", "foo", "invalid_overflow"},
			{"x-max-priority", int32(300), "{max_value_exceeded,300}"},
			{"x-dead-letter-routing-key", "k", "routing_key_but_no_dlx_defined"},
			{"x-dead-letter-exchange", int32(3), "!invalid type 'signedint' for arg 'x-dead-letter-exchange' in queue '%s' in vhost '/'"},
		} {
			q := e.name("bad")
			_, err := e.channel(c).QueueDeclare(q, false, true, false, false, amqp.Table{tc.arg: tc.val})
			want := fmt.Sprintf("invalid arg '%s' for queue '%s' in vhost '/': %s", tc.arg, q, tc.text)
			if rest, ok := strings.CutPrefix(tc.text, "!"); ok {
				want = fmt.Sprintf(rest, q)
			}
			wantError(t, err, amqp.PreconditionFailed, "PRECONDITION_FAILED - "+want)
		}
	}},
	{"quorum queues must be durable, shared and permanent", func(t *testing.T, e *env) {
		c := e.dial()
		args := amqp.Table{"x-queue-type": "quorum"}
		for _, tc := range []struct {
			durable, autoDelete, exclusive bool
			prop                           string
		}{
			{false, false, false, "non-durable"},
			{true, true, false, "auto-delete"},
			{true, false, true, "exclusive-owner"},
		} {
			q := e.name("qq")
			_, err := e.channel(c).QueueDeclare(q, tc.durable, tc.autoDelete, tc.exclusive, false, args)
			wantError(t, err, amqp.PreconditionFailed, "PRECONDITION_FAILED - invalid property '"+tc.prop+"' for queue '"+q+"' in vhost '/'")
		}
		q := e.name("qq-ok")
		e.cleanupQueue(q)
		ch := e.channel(c)
		if _, err := ch.QueueDeclare(q, true, false, false, false, args); err != nil {
			t.Fatal(err)
		}
		publish(t, ch, "", q, text("in quorum"))
		if d := get(t, ch, q, true); string(d.Body) != "in quorum" {
			t.Fatal(string(d.Body))
		}
	}},
	{"reserved and missing names", func(t *testing.T, e *env) {
		c := e.dial()
		_, err := e.channel(c).QueueDeclare("amq.mine", false, true, false, false, nil)
		wantError(t, err, amqp.AccessRefused, "ACCESS_REFUSED - queue name 'amq.mine' contains reserved prefix 'amq.*'")
		q := e.name("missing")
		_, err = e.channel(c).QueueDeclarePassive(q, false, false, false, false, nil)
		wantError(t, err, amqp.NotFound, "NOT_FOUND - no queue '"+q+"' in vhost '/'")
		_, err = e.channel(c).QueuePurge(q, false)
		wantError(t, err, amqp.NotFound, "NOT_FOUND - no queue '"+q+"' in vhost '/'")
		_, _, err = e.channel(c).Get(q, false)
		wantError(t, err, amqp.NotFound, "NOT_FOUND - no queue '"+q+"' in vhost '/'")
		_, err = e.channel(c).Consume(q, "", false, false, false, false, nil)
		wantError(t, err, amqp.NotFound, "NOT_FOUND - no queue '"+q+"' in vhost '/'")
		err = e.channel(c).QueueBind(q, "k", "amq.direct", false, nil)
		wantError(t, err, amqp.NotFound, "NOT_FOUND - no queue '"+q+"' in vhost '/'")
		ex := e.name("noex")
		err = e.channel(c).QueueBind(q, "k", ex, false, nil)
		wantError(t, err, amqp.NotFound, "NOT_FOUND - no exchange '"+ex+"' in vhost '/'")
		ch := e.channel(c)
		if n, err := ch.QueueDelete(q, false, false, false); err != nil || n != 0 {
			t.Fatalf("delete of a missing queue: %d %v", n, err)
		}
		if err := ch.QueueUnbind(q, "k", "amq.direct", nil); err != nil {
			t.Fatalf("unbind of a missing queue: %v", err)
		}
	}},
	{"exclusive queues belong to their connection", func(t *testing.T, e *env) {
		c1, ch1 := e.open()
		q := e.name("excl")
		if _, err := ch1.QueueDeclare(q, false, false, true, false, nil); err != nil {
			t.Fatal(err)
		}
		c2 := e.dial()
		locked := "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '" + q + "' in vhost '/'. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration."
		_, err := e.channel(c2).QueueDeclare(q, false, false, true, false, nil)
		wantError(t, err, amqp.ResourceLocked, locked)
		_, err = e.channel(c2).QueueDeclarePassive(q, false, false, true, false, nil)
		wantError(t, err, amqp.ResourceLocked, locked)
		_, err = e.channel(c2).Consume(q, "", false, false, false, false, nil)
		wantError(t, err, amqp.ResourceLocked, locked)
		_, _, err = e.channel(c2).Get(q, false)
		wantError(t, err, amqp.ResourceLocked, locked)
		_, err = e.channel(c2).QueuePurge(q, false)
		wantError(t, err, amqp.ResourceLocked, locked)
		_, err = e.channel(c2).QueueDelete(q, false, false, false)
		wantError(t, err, amqp.ResourceLocked, locked)
		err = e.channel(c2).QueueBind(q, "k", "amq.direct", false, nil)
		wantError(t, err, amqp.ResourceLocked, locked)
		_, err = e.channel(c1).QueueDeclare(q, false, false, false, false, nil)
		wantError(t, err, amqp.ResourceLocked, locked)
		c1.Close()
		eventually(t, "the exclusive queue to go with its connection", func() bool {
			_, err := e.channel(c2).QueueDeclarePassive(q, false, false, false, false, nil)
			return err != nil && strings.Contains(err.Error(), "NOT_FOUND")
		})
	}},
	{"auto-delete queue goes with its last consumer", func(t *testing.T, e *env) {
		c, ch := e.open()
		q := e.name("ad")
		e.cleanupQueue(q)
		if _, err := ch.QueueDeclare(q, false, true, false, false, nil); err != nil {
			t.Fatal(err)
		}
		// Never consumed: it stays.
		if _, err := ch.QueueDeclarePassive(q, false, true, false, false, nil); err != nil {
			t.Fatal(err)
		}
		ch.Consume(q, "c1", false, false, false, false, nil)
		ch.Consume(q, "c2", false, false, false, false, nil)
		ch.Cancel("c1", false)
		if _, err := ch.QueueDeclarePassive(q, false, true, false, false, nil); err != nil {
			t.Fatalf("gone with a consumer left: %v", err)
		}
		ch.Cancel("c2", false)
		_, err := e.channel(c).QueueDeclarePassive(q, false, true, false, false, nil)
		wantError(t, err, amqp.NotFound, "NOT_FOUND - no queue '"+q+"' in vhost '/'")
	}},
	{"bind, unbind and purge", func(t *testing.T, e *env) {
		_, ch := e.open()
		q := e.queue(ch, "bup", nil)
		if err := ch.QueueBind(q, "k", "amq.direct", false, nil); err != nil {
			t.Fatal(err)
		}
		if err := ch.QueueBind(q, "k", "amq.direct", false, nil); err != nil { // idempotent
			t.Fatal(err)
		}
		confirmChannel(t, ch)
		publishConfirmed(t, ch, "amq.direct", "k", false, text("1"))
		publishConfirmed(t, ch, "amq.direct", "k", false, text("2"))
		if n := ready(t, ch, q); n != 2 {
			t.Fatalf("ready %d, want 2 (one copy per message)", n)
		}
		if err := ch.QueueUnbind(q, "k", "amq.direct", nil); err != nil {
			t.Fatal(err)
		}
		publishConfirmed(t, ch, "amq.direct", "k", false, text("3"))
		n, err := ch.QueuePurge(q, false)
		if err != nil || n != 2 {
			t.Fatalf("purge: %d %v", n, err)
		}
		getEmpty(t, ch, q)
	}},
	{"delete if-empty and if-unused", func(t *testing.T, e *env) {
		c, ch := e.open()
		q := e.queue(ch, "del", nil)
		publish(t, ch, "", q, text("x"))
		eventually(t, "a ready message", func() bool { return ready(t, ch, q) == 1 })
		_, err := ch.QueueDelete(q, false, true, false)
		wantError(t, err, amqp.PreconditionFailed, "PRECONDITION_FAILED - queue '"+q+"' in vhost '/' not empty")
		ch = e.channel(c)
		consume(t, e.channel(c), q, false)
		_, err = ch.QueueDelete(q, true, false, false)
		wantError(t, err, amqp.PreconditionFailed, "PRECONDITION_FAILED - queue '"+q+"' in vhost '/' in use")
		q2 := e.queue(e.channel(c), "del2", nil)
		ch = e.channel(c)
		publish(t, ch, "", q2, text("a"))
		publish(t, ch, "", q2, text("b"))
		eventually(t, "two ready messages", func() bool { return ready(t, ch, q2) == 2 })
		if n, err := ch.QueueDelete(q2, false, false, false); err != nil || n != 2 {
			t.Fatalf("delete: %d %v", n, err)
		}
	}},
	{"x-expires deletes an unused queue", func(t *testing.T, e *env) {
		c, ch := e.open()
		q := e.name("exp")
		e.cleanupQueue(q)
		if _, err := ch.QueueDeclare(q, false, false, false, false, amqp.Table{"x-expires": int32(300)}); err != nil {
			t.Fatal(err)
		}
		// Polled with queue.bind: a declare, even passive, would count as
		// a use and restart the expiry.
		eventually(t, "the queue to expire", func() bool {
			err := e.channel(c).QueueBind(q, "probe", "amq.direct", false, nil)
			return err != nil && strings.Contains(err.Error(), "NOT_FOUND")
		})
	}},
	{"x-expires waits for consumers to go", func(t *testing.T, e *env) {
		c, ch := e.open()
		q := e.name("expc")
		e.cleanupQueue(q)
		if _, err := ch.QueueDeclare(q, false, false, false, false, amqp.Table{"x-expires": int32(200)}); err != nil {
			t.Fatal(err)
		}
		consume(t, ch, q, true)
		// Well past x-expires, the consumed queue is still there.
		deadline := timeAfter(600)
		for !deadline() {
			if _, err := e.channel(c).QueueDeclarePassive(q, false, false, false, false, nil); err != nil {
				t.Fatalf("a queue with a consumer expired: %v", err)
			}
			sleepMillis(100)
		}
	}},
}
