package broker_test

import (
	"slices"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

func TestProtocolExchanges(t *testing.T) { runSuite(t, exchangeCases) }

// routes publishes one message per key to exchange ex and reports, for
// each queue, the bodies (keys) it received, in order.
func routes(t *testing.T, ch *amqp.Channel, ex string, keys []string, queues []string) map[string][]string {
	t.Helper()
	confirmChannel(t, ch)
	for _, k := range keys {
		if !publishConfirmed(t, ch, ex, k, false, amqp.Publishing{Body: []byte(k)}) {
			t.Fatalf("publish %q nacked", k)
		}
	}
	got := map[string][]string{}
	for _, q := range queues {
		for i := 0; i < 1000; i++ {
			d, ok, err := ch.Get(q, true)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			got[q] = append(got[q], string(d.Body))
		}
	}
	return got
}

var exchangeCases = []protocolCase{
	{"declare each type, passive and again", func(t *testing.T, e *env) {
		_, ch := e.open()
		for _, kind := range []string{"direct", "fanout", "topic", "headers"} {
			name := e.exchange(ch, "x-"+kind, kind)
			if err := ch.ExchangeDeclarePassive(name, "", false, false, false, false, nil); err != nil {
				t.Fatal(err)
			}
			if err := ch.ExchangeDeclare(name, kind, false, false, false, false, nil); err != nil {
				t.Fatal(err)
			}
		}
		for _, name := range []string{"amq.direct", "amq.fanout", "amq.topic", "amq.headers", "amq.match"} {
			if err := ch.ExchangeDeclarePassive(name, "", false, false, false, false, nil); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		if err := ch.ExchangeDeclare("amq.direct", "direct", true, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
	}},
	{"equivalence checks", func(t *testing.T, e *env) {
		c := e.dial()
		name := e.name("eq")
		e.cleanupExchange(name)
		what := "exchange '" + name + "' in vhost '/'"
		ch := e.channel(c)
		if err := ch.ExchangeDeclare(name, "direct", false, false, false, false, amqp.Table{"alternate-exchange": "ae"}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			kind                          string
			durable, autoDelete, internal bool
			args                          amqp.Table
			text                          string
		}{
			{"fanout", false, false, false, amqp.Table{"alternate-exchange": "ae"}, "inequivalent arg 'type' for " + what + ": received 'fanout' but current is 'direct'"},
			{"direct", true, false, false, amqp.Table{"alternate-exchange": "ae"}, "inequivalent arg 'durable' for " + what + ": received 'true' but current is 'false'"},
			{"direct", false, true, false, amqp.Table{"alternate-exchange": "ae"}, "inequivalent arg 'auto_delete' for " + what + ": received 'true' but current is 'false'"},
			{"direct", false, false, true, amqp.Table{"alternate-exchange": "ae"}, "inequivalent arg 'internal' for " + what + ": received 'true' but current is 'false'"},
			{"direct", false, false, false, nil, "inequivalent arg 'alternate-exchange' for " + what + ": received none but current is the value 'ae' of type 'longstr'"},
			{"direct", false, false, false, amqp.Table{"alternate-exchange": "other"}, "inequivalent arg 'alternate-exchange' for " + what + ": received 'other' but current is 'ae'"},
		} {
			ch := e.channel(c)
			err := ch.ExchangeDeclare(name, tc.kind, tc.durable, tc.autoDelete, tc.internal, false, tc.args)
			wantError(t, err, amqp.PreconditionFailed, "PRECONDITION_FAILED - "+tc.text)
		}
		// Arguments RabbitMQ does not compare may differ.
		ch = e.channel(c)
		if err := ch.ExchangeDeclare(name, "direct", false, false, false, false, amqp.Table{"alternate-exchange": "ae", "x-other": 1}); err != nil {
			t.Fatal(err)
		}
	}},
	{"passive declare of a missing exchange is 404", func(t *testing.T, e *env) {
		_, ch := e.open()
		name := e.name("missing")
		err := ch.ExchangeDeclarePassive(name, "direct", false, false, false, false, nil)
		wantError(t, err, amqp.NotFound, "NOT_FOUND - no exchange '"+name+"' in vhost '/'")
	}},
	{"reserved names", func(t *testing.T, e *env) {
		c := e.dial()
		err := e.channel(c).ExchangeDeclare("amq.custom", "direct", false, false, false, false, nil)
		wantError(t, err, amqp.AccessRefused, "ACCESS_REFUSED - exchange name 'amq.custom' contains reserved prefix 'amq.*'")
		err = e.channel(c).ExchangeDeclare("", "direct", true, false, false, false, nil)
		wantError(t, err, amqp.AccessRefused, "ACCESS_REFUSED - operation not permitted on the default exchange")
		err = e.channel(c).ExchangeDeclarePassive("", "direct", true, false, false, false, nil)
		wantError(t, err, amqp.AccessRefused, "ACCESS_REFUSED - operation not permitted on the default exchange")
		err = e.channel(c).ExchangeDelete("amq.direct", false, false)
		wantError(t, err, amqp.AccessRefused, "ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '/' not allowed")
		err = e.channel(c).ExchangeDelete("", false, false)
		wantError(t, err, amqp.AccessRefused, "ACCESS_REFUSED - operation not permitted on the default exchange")
	}},
	{"unknown exchange type closes the connection with 503", func(t *testing.T, e *env) {
		c, ch := e.open()
		closes := c.NotifyClose(make(chan *amqp.Error, 1))
		err := ch.ExchangeDeclare(e.name("bad"), "nosuchtype", false, false, false, false, nil)
		wantError(t, err, amqp.CommandInvalid, "COMMAND_INVALID - unknown exchange type 'nosuchtype'")
		wantError(t, closed(t, closes), amqp.CommandInvalid, "COMMAND_INVALID - unknown exchange type 'nosuchtype'")
	}},
	{"delete if-unused and delete of a missing exchange", func(t *testing.T, e *env) {
		c, ch := e.open()
		ex := e.exchange(ch, "used", "direct")
		q := e.queue(ch, "q", nil)
		if err := ch.QueueBind(q, "k", ex, false, nil); err != nil {
			t.Fatal(err)
		}
		err := ch.ExchangeDelete(ex, true, false)
		wantError(t, err, amqp.PreconditionFailed, "PRECONDITION_FAILED - exchange '"+ex+"' in vhost '/' in use")
		ch = e.channel(c)
		if err := ch.ExchangeDelete(ex, false, false); err != nil {
			t.Fatal(err)
		}
		if err := ch.ExchangeDelete(e.name("never"), false, false); err != nil {
			t.Fatal(err)
		}
		// A destination-only exchange is not "in use".
		src, dst := e.exchange(ch, "src", "direct"), e.exchange(ch, "dst", "direct")
		if err := ch.ExchangeBind(dst, "k", src, false, nil); err != nil {
			t.Fatal(err)
		}
		if err := ch.ExchangeDelete(dst, true, false); err != nil {
			t.Fatal(err)
		}
	}},
	{"direct routing", func(t *testing.T, e *env) {
		_, ch := e.open()
		ex := e.exchange(ch, "d", "direct")
		qa, qb := e.queue(ch, "a", nil), e.queue(ch, "b", nil)
		for _, b := range [][2]string{{qa, "a"}, {qb, "b"}, {qb, "both"}, {qa, "both"}} {
			if err := ch.QueueBind(b[0], b[1], ex, false, nil); err != nil {
				t.Fatal(err)
			}
		}
		got := routes(t, ch, ex, []string{"a", "b", "both", "none"}, []string{qa, qb})
		if !slices.Equal(got[qa], []string{"a", "both"}) || !slices.Equal(got[qb], []string{"b", "both"}) {
			t.Fatalf("got %v", got)
		}
	}},
	{"default exchange routes by queue name", func(t *testing.T, e *env) {
		_, ch := e.open()
		q := e.queue(ch, "dflt", nil)
		got := routes(t, ch, "", []string{q, "nope"}, []string{q})
		if !slices.Equal(got[q], []string{q}) {
			t.Fatalf("got %v", got)
		}
		err := ch.QueueBind(q, "x", "", false, nil)
		wantError(t, err, amqp.AccessRefused, "ACCESS_REFUSED - operation not permitted on the default exchange")
	}},
	{"fanout routing", func(t *testing.T, e *env) {
		_, ch := e.open()
		ex := e.exchange(ch, "f", "fanout")
		qa, qb, qc := e.queue(ch, "a", nil), e.queue(ch, "b", nil), e.queue(ch, "c", nil)
		ch.QueueBind(qa, "ignored", ex, false, nil)
		ch.QueueBind(qb, "", ex, false, nil)
		got := routes(t, ch, ex, []string{"x", "y"}, []string{qa, qb, qc})
		if !slices.Equal(got[qa], []string{"x", "y"}) || !slices.Equal(got[qb], []string{"x", "y"}) || len(got[qc]) != 0 {
			t.Fatalf("got %v", got)
		}
	}},
	{"topic routing", func(t *testing.T, e *env) {
		_, ch := e.open()
		ex := e.exchange(ch, "t", "topic")
		patterns := []string{"a.*", "a.#", "#", "*.b.*", "#.c", "a.*.c", "a.#.c", "*", "#.#", "a.b.c", ""}
		keys := []string{"a", "a.b", "a.b.c", "b.b.b", "x.c", "a.x.y.c", "c", "", "a..c", "a.b.c.d"}
		qs := make([]string, len(patterns))
		for i, p := range patterns {
			qs[i] = e.queue(ch, "t"+string(rune('a'+i)), nil)
			if err := ch.QueueBind(qs[i], p, ex, false, nil); err != nil {
				t.Fatal(err)
			}
		}
		got := routes(t, ch, ex, keys, qs)
		want := map[string][]string{
			"a.*":   {"a.b"},
			"a.#":   {"a", "a.b", "a.b.c", "a.x.y.c", "a..c", "a.b.c.d"},
			"#":     keys,
			"*.b.*": {"a.b.c", "b.b.b"},
			"#.c":   {"a.b.c", "x.c", "a.x.y.c", "c", "a..c"},
			"a.*.c": {"a.b.c", "a..c"},
			"a.#.c": {"a.b.c", "a.x.y.c", "a..c"},
			"*":     {"a", "c"}, // the empty key has no words
			"#.#":   keys,
			"a.b.c": {"a.b.c"},
			"":      {""},
		}
		for i, p := range patterns {
			if !slices.Equal(got[qs[i]], want[p]) {
				t.Errorf("pattern %q got %q, want %q", p, got[qs[i]], want[p])
			}
		}
	}},
	{"headers routing", func(t *testing.T, e *env) {
		_, ch := e.open()
		ex := e.exchange(ch, "h", "headers")
		qAll, qAny, qVoid, qNone := e.queue(ch, "all", nil), e.queue(ch, "any", nil), e.queue(ch, "void", nil), e.queue(ch, "none", nil)
		ch.QueueBind(qAll, "", ex, false, amqp.Table{"x-match": "all", "a": "1", "b": int32(2)})
		ch.QueueBind(qAny, "", ex, false, amqp.Table{"x-match": "any", "a": "1", "b": int32(2)})
		ch.QueueBind(qVoid, "", ex, false, amqp.Table{"c": nil})
		ch.QueueBind(qNone, "", ex, false, amqp.Table{"x-match": "any"})
		confirmChannel(t, ch)
		for _, h := range []struct {
			name string
			hdr  amqp.Table
		}{
			{"ab", amqp.Table{"a": "1", "b": int64(2)}},
			{"a", amqp.Table{"a": "1"}},
			{"b-wrong", amqp.Table{"b": int32(3)}},
			{"c", amqp.Table{"c": "anything"}},
			{"none", nil},
		} {
			publishConfirmed(t, ch, ex, "", false, amqp.Publishing{Headers: h.hdr, Body: []byte(h.name)})
		}
		got := routes(t, ch, ex, nil, []string{qAll, qAny, qVoid, qNone})
		if !slices.Equal(got[qAll], []string{"ab"}) || !slices.Equal(got[qAny], []string{"ab", "a"}) || !slices.Equal(got[qVoid], []string{"c"}) || len(got[qNone]) != 0 {
			t.Fatalf("got all=%v any=%v void=%v none=%v", got[qAll], got[qAny], got[qVoid], got[qNone])
		}
		err := ch.QueueBind(qAll, "", ex, false, amqp.Table{"x-match": "some"})
		wantError(t, err, amqp.PreconditionFailed, `PRECONDITION_FAILED - Invalid x-match field value <<"some">>; expected all, any, all-with-x, or any-with-x`)
	}},
	{"exchange-to-exchange bindings", func(t *testing.T, e *env) {
		_, ch := e.open()
		src, mid := e.exchange(ch, "src", "topic"), e.exchange(ch, "mid", "fanout")
		q := e.queue(ch, "q", nil)
		if err := ch.ExchangeBind(mid, "a.*", src, false, nil); err != nil {
			t.Fatal(err)
		}
		if err := ch.QueueBind(q, "", mid, false, nil); err != nil {
			t.Fatal(err)
		}
		// Also bound directly: the message still reaches q once.
		if err := ch.QueueBind(q, "a.b", src, false, nil); err != nil {
			t.Fatal(err)
		}
		got := routes(t, ch, src, []string{"a.b", "a.c", "b.c"}, []string{q})
		if !slices.Equal(got[q], []string{"a.b", "a.c"}) {
			t.Fatalf("got %v", got)
		}
		if err := ch.ExchangeUnbind(mid, "a.*", src, false, nil); err != nil {
			t.Fatal(err)
		}
		got = routes(t, ch, src, []string{"a.b", "a.c"}, []string{q})
		if !slices.Equal(got[q], []string{"a.b"}) {
			t.Fatalf("after unbind got %v", got)
		}
		err := ch.ExchangeBind(mid, "k", e.name("nosrc"), false, nil)
		wantError(t, err, amqp.NotFound, "NOT_FOUND - no exchange '"+e.name("nosrc")+"' in vhost '/'")
	}},
	{"internal exchange refuses publishes", func(t *testing.T, e *env) {
		c, ch := e.open()
		in := e.name("internal")
		e.cleanupExchange(in)
		if err := ch.ExchangeDeclare(in, "fanout", false, false, true, false, nil); err != nil {
			t.Fatal(err)
		}
		src := e.exchange(ch, "front", "fanout")
		q := e.queue(ch, "q", nil)
		ch.ExchangeBind(in, "", src, false, nil)
		ch.QueueBind(q, "", in, false, nil)
		got := routes(t, ch, src, []string{"via-front"}, []string{q})
		if !slices.Equal(got[q], []string{"via-front"}) {
			t.Fatalf("got %v", got)
		}
		ch = e.channel(c)
		channelClosedBy(t, ch, amqp.AccessRefused, "ACCESS_REFUSED - cannot publish to internal exchange '"+in+"' in vhost '/'", func() {
			ch.Publish(in, "", false, false, text("x"))
		})
	}},
	{"auto-delete exchange goes with its last binding", func(t *testing.T, e *env) {
		c, ch := e.open()
		ex := e.name("ad")
		e.cleanupExchange(ex)
		if err := ch.ExchangeDeclare(ex, "direct", false, true, false, false, nil); err != nil {
			t.Fatal(err)
		}
		q := e.queue(ch, "q", nil)
		ch.QueueBind(q, "k1", ex, false, nil)
		ch.QueueBind(q, "k2", ex, false, nil)
		ch.QueueUnbind(q, "k1", ex, nil)
		if err := ch.ExchangeDeclarePassive(ex, "direct", false, true, false, false, nil); err != nil {
			t.Fatalf("gone too early: %v", err)
		}
		ch.QueueUnbind(q, "k2", ex, nil)
		err := e.channel(c).ExchangeDeclarePassive(ex, "direct", false, true, false, false, nil)
		wantError(t, err, amqp.NotFound, "NOT_FOUND - no exchange '"+ex+"' in vhost '/'")
	}},
	{"alternate exchange takes unroutable messages", func(t *testing.T, e *env) {
		_, ch := e.open()
		ae := e.exchange(ch, "ae", "fanout")
		ex := e.name("main")
		e.cleanupExchange(ex)
		if err := ch.ExchangeDeclare(ex, "direct", false, false, false, false, amqp.Table{"alternate-exchange": ae}); err != nil {
			t.Fatal(err)
		}
		qm, qa := e.queue(ch, "m", nil), e.queue(ch, "a", nil)
		ch.QueueBind(qm, "k", ex, false, nil)
		ch.QueueBind(qa, "", ae, false, nil)
		got := routes(t, ch, ex, []string{"k", "other"}, []string{qm, qa})
		if !slices.Equal(got[qm], []string{"k"}) || !slices.Equal(got[qa], []string{"other"}) {
			t.Fatalf("got %v", got)
		}
	}},
}
