package broker_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/switchyard-dev/switchyard/fake/internal/amqp091"
)

func TestProtocolBasic(t *testing.T) { runSuite(t, basicCases) }

// bodies returns the bodies of deliveries.
func bodies(ds []amqp.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = string(d.Body)
	}
	return out
}

// fill publishes bodies "0".."n-1" to q on a confirm channel.
func fill(t *testing.T, e *env, q string, n int) {
	t.Helper()
	_, ch := e.open()
	confirmChannel(t, ch)
	for i := range n {
		if !publishConfirmed(t, ch, "", q, false, text(fmt.Sprint(i))) {
			t.Fatal("nacked")
		}
	}
}

func seq(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint(i)
	}
	return out
}

var basicCases = []protocolCase{
	{"per-queue FIFO", func(t *testing.T, e *env) {
		_, ch := e.open()
		q := e.queue(ch, "fifo", nil)
		fill(t, e, q, 200)
		ds := consume(t, ch, q, true)
		var got []amqp.Delivery
		for range 200 {
			got = append(got, recv(t, ds))
		}
		if !slices.Equal(bodies(got), seq(200)) {
			t.Fatalf("out of order: %v", bodies(got))
		}
	}},
	{"properties and headers survive", func(t *testing.T, e *env) {
		_, ch := e.open()
		q := e.queue(ch, "props", nil)
		ts := time.Unix(1700000000, 0)
		p := amqp.Publishing{
			ContentType: "application/json", ContentEncoding: "utf-8", DeliveryMode: 2, Priority: 3,
			CorrelationId: "corr", ReplyTo: "reply", Expiration: "60000", MessageId: "mid", Timestamp: ts,
			Type: "t", UserId: "guest", AppId: "app",
			Headers: amqp.Table{"s": "v", "i": int32(-5), "l": int64(1 << 40), "b": true, "d": 1.5, "n": amqp.Table{"x": "y"}, "a": []any{"p", int32(1)}},
			Body:    []byte(`{"k":1}`),
		}
		publish(t, ch, "", q, p)
		d := get(t, ch, q, true)
		if d.ContentType != p.ContentType || d.ContentEncoding != p.ContentEncoding || d.DeliveryMode != 2 || d.Priority != 3 ||
			d.CorrelationId != "corr" || d.ReplyTo != "reply" || d.Expiration != "60000" || d.MessageId != "mid" ||
			!d.Timestamp.Equal(ts) || d.Type != "t" || d.UserId != "guest" || d.AppId != "app" || string(d.Body) != `{"k":1}` {
			t.Fatalf("properties changed: %+v", d)
		}
		if fmt.Sprint(d.Headers) != fmt.Sprint(p.Headers) {
			t.Fatalf("headers %v, want %v", d.Headers, p.Headers)
		}
		if d.Exchange != "" || d.RoutingKey != q || d.Redelivered {
			t.Fatalf("delivery info %q %q %v", d.Exchange, d.RoutingKey, d.Redelivered)
		}
	}},
	{"empty body", func(t *testing.T, e *env) {
		_, ch := e.open()
		q := e.queue(ch, "empty", nil)
		publish(t, ch, "", q, amqp.Publishing{})
		if d := get(t, ch, q, true); len(d.Body) != 0 {
			t.Fatalf("body %q", d.Body)
		}
	}},
	{"basic.get counts and get-empty", func(t *testing.T, e *env) {
		_, ch := e.open()
		q := e.queue(ch, "get", nil)
		getEmpty(t, ch, q)
		fill(t, e, q, 3)
		d := get(t, ch, q, false)
		if string(d.Body) != "0" || d.MessageCount != 2 {
			t.Fatalf("got %q count %d", d.Body, d.MessageCount)
		}
		if err := d.Ack(false); err != nil {
			t.Fatal(err)
		}
		d = get(t, ch, q, true)
		if string(d.Body) != "1" || d.MessageCount != 1 {
			t.Fatalf("got %q count %d", d.Body, d.MessageCount)
		}
	}},
	{"ack multiple, nack and reject with requeue", func(t *testing.T, e *env) {
		_, ch := e.open()
		q := e.queue(ch, "acks", nil)
		fill(t, e, q, 5)
		ds := consume(t, ch, q, false)
		var got []amqp.Delivery
		for range 5 {
			got = append(got, recv(t, ds))
		}
		if err := ch.Ack(got[1].DeliveryTag, true); err != nil { // 0 and 1
			t.Fatal(err)
		}
		if err := ch.Reject(got[3].DeliveryTag, true); err != nil {
			t.Fatal(err)
		}
		if err := ch.Nack(got[4].DeliveryTag, true, true); err != nil { // 2 and 4 (3 is settled)
			t.Fatal(err)
		}
		var again []amqp.Delivery
		for range 3 {
			again = append(again, recv(t, ds))
		}
		// The reject requeued 3, which went straight back to the consumer
		// before the nack requeued 2 and 4 (in queue order).
		if !slices.Equal(bodies(again), []string{"3", "2", "4"}) {
			t.Fatalf("redelivered %v, want [3 2 4]", bodies(again))
		}
		for _, d := range again {
			if !d.Redelivered {
				t.Fatalf("%s not marked redelivered", d.Body)
			}
		}
		ch.Ack(0, true)
		if n := ready(t, ch, q); n != 0 {
			t.Fatalf("ready %d", n)
		}
	}},
	{"nack and reject without requeue drop", func(t *testing.T, e *env) {
		_, ch := e.open()
		q := e.queue(ch, "drop", nil)
		fill(t, e, q, 2)
		a, b := get(t, ch, q, false), get(t, ch, q, false)
		ch.Reject(a.DeliveryTag, false)
		ch.Nack(b.DeliveryTag, false, false)
		getEmpty(t, ch, q)
	}},
	{"unknown delivery tag closes the channel with 406", func(t *testing.T, e *env) {
		c, ch := e.open()
		channelClosedBy(t, ch, amqp.PreconditionFailed, "PRECONDITION_FAILED - unknown delivery tag 42", func() { ch.Ack(42, false) })
		ch = e.channel(c)
		q := e.queue(ch, "dbl", nil)
		fill(t, e, q, 1)
		d := get(t, ch, q, false)
		ch.Ack(d.DeliveryTag, false)
		channelClosedBy(t, ch, amqp.PreconditionFailed, fmt.Sprintf("PRECONDITION_FAILED - unknown delivery tag %d", d.DeliveryTag), func() { ch.Ack(d.DeliveryTag, false) })
		ch = e.channel(c)
		channelClosedBy(t, ch, amqp.PreconditionFailed, "PRECONDITION_FAILED - unknown delivery tag 7", func() { ch.Nack(7, true, true) })
		// Acknowledging everything when nothing is outstanding is fine.
		ch = e.channel(c)
		if err := ch.Ack(0, true); err != nil {
			t.Fatal(err)
		}
		if _, err := ch.QueueDeclare("", false, true, true, false, nil); err != nil {
			t.Fatal(err)
		}
	}},
	{"recover requeues unacked deliveries", func(t *testing.T, e *env) {
		c, ch := e.open()
		q := e.queue(ch, "rec", nil)
		fill(t, e, q, 3)
		ds := consume(t, ch, q, false)
		for range 3 {
			recv(t, ds)
		}
		//lint:ignore SA1019 basic.recover is the method under test
		if err := ch.Recover(true); err != nil {
			t.Fatal(err)
		}
		var again []amqp.Delivery
		for range 3 {
			again = append(again, recv(t, ds))
		}
		if !slices.Equal(bodies(again), seq(3)) || !again[0].Redelivered {
			t.Fatalf("got %v", bodies(again))
		}
		ch = e.channel(c)
		closes := c.NotifyClose(make(chan *amqp.Error, 1))
		//lint:ignore SA1019 basic.recover is the method under test
		err := ch.Recover(false)
		wantError(t, err, amqp.NotImplemented, "NOT_IMPLEMENTED - requeue=false")
		closed(t, closes)
	}},
	{"closing a channel requeues in order", func(t *testing.T, e *env) {
		c, ch := e.open()
		q := e.queue(ch, "close", nil)
		fill(t, e, q, 6)
		ch.Qos(4, 0, false)
		ds := consume(t, ch, q, false)
		var got []amqp.Delivery
		for range 4 {
			got = append(got, recv(t, ds))
		}
		ch.Ack(got[1].DeliveryTag, false)
		ch.Close()
		ch2 := e.channel(c)
		var again []string
		for range 5 {
			d := get(t, ch2, q, true)
			again = append(again, fmt.Sprintf("%s/%v", d.Body, d.Redelivered))
		}
		// The ack let 4 through before the close; 5 was never delivered.
		want := []string{"0/true", "2/true", "3/true", "4/true", "5/false"}
		if !slices.Equal(again, want) {
			t.Fatalf("got %v, want %v", again, want)
		}
	}},
	{"closing a connection requeues", func(t *testing.T, e *env) {
		c1, ch := e.open()
		q := e.queue(ch, "cclose", nil)
		fill(t, e, q, 2)
		ds := consume(t, ch, q, false)
		recv(t, ds)
		recv(t, ds)
		c1.Close()
		_, ch2 := e.open()
		a, b := get(t, ch2, q, true), get(t, ch2, q, true)
		if string(a.Body) != "0" || string(b.Body) != "1" || !a.Redelivered || !b.Redelivered {
			t.Fatalf("got %s/%v %s/%v", a.Body, a.Redelivered, b.Body, b.Redelivered)
		}
	}},
	{"prefetch per consumer", func(t *testing.T, e *env) {
		_, ch := e.open()
		q := e.queue(ch, "qos", nil)
		fill(t, e, q, 5)
		if err := ch.Qos(2, 0, false); err != nil {
			t.Fatal(err)
		}
		ds := consume(t, ch, q, false)
		a, _ := recv(t, ds), recv(t, ds)
		eventually(t, "three messages left ready", func() bool { return ready(t, ch, q) == 3 })
		select {
		case d := <-ds:
			t.Fatalf("got %s past the prefetch limit", d.Body)
		default:
		}
		a.Ack(false)
		d := recv(t, ds)
		if string(d.Body) != "2" {
			t.Fatalf("got %s", d.Body)
		}
		if n := ready(t, ch, q); n != 2 {
			t.Fatalf("ready %d, want 2", n)
		}
	}},
	{"global prefetch is shared by the channel's consumers", func(t *testing.T, e *env) {
		_, ch := e.open()
		q1, q2 := e.queue(ch, "g1", nil), e.queue(ch, "g2", nil)
		fill(t, e, q1, 3)
		fill(t, e, q2, 3)
		if err := ch.Qos(3, 0, true); err != nil {
			t.Fatal(err)
		}
		consume(t, ch, q1, false)
		consume(t, ch, q2, false)
		eventually(t, "three deliveries in all", func() bool { return ready(t, ch, q1)+ready(t, ch, q2) == 3 })
	}},
	{"prefetch_size is not implemented", func(t *testing.T, e *env) {
		c, ch := e.open()
		closes := c.NotifyClose(make(chan *amqp.Error, 1))
		err := ch.Qos(1, 1000, false)
		wantError(t, err, amqp.NotImplemented, "NOT_IMPLEMENTED - prefetch_size!=0 (1000)")
		closed(t, closes)
	}},
	{"exclusive consumers and tag reuse", func(t *testing.T, e *env) {
		c, ch := e.open()
		q := e.queue(ch, "xc", nil)
		if _, err := ch.Consume(q, "only", false, true, false, false, nil); err != nil {
			t.Fatal(err)
		}
		_, err := e.channel(c).Consume(q, "", false, false, false, false, nil)
		wantError(t, err, amqp.AccessRefused, "ACCESS_REFUSED - queue '"+q+"' in vhost '/' in exclusive use")
		q2 := e.queue(e.channel(c), "xc2", nil)
		ch2 := e.channel(c)
		consume(t, ch2, q2, false)
		_, err = ch2.Consume(q2, "", false, true, false, false, nil)
		wantError(t, err, amqp.AccessRefused, "ACCESS_REFUSED - queue '"+q2+"' in vhost '/' in exclusive use")
		c2, ch3 := e.open()
		closes := c2.NotifyClose(make(chan *amqp.Error, 1))
		ch3.Consume(q2, "tag", false, false, false, false, nil)
		_, err = ch3.Consume(q2, "tag", false, false, false, false, nil)
		wantError(t, err, amqp.NotAllowed, "NOT_ALLOWED - attempt to reuse consumer tag 'tag'")
		closed(t, closes)
	}},
	{"server-generated consumer tags", func(t *testing.T, e *env) {
		_, ch := e.open()
		q := e.queue(ch, "tags", nil)
		rc := dialRaw(t, e.addr)
		rc.handshake()
		rc.send(1, &amqp091.BasicConsume{Queue: q})
		ok := expect[*amqp091.BasicConsumeOk](rc)
		if len(ok.ConsumerTag) != len("amq.ctag-")+22 || ok.ConsumerTag[:9] != "amq.ctag-" {
			t.Fatalf("tag %q", ok.ConsumerTag)
		}
	}},
	{"cancel stops a consumer; unknown tags are fine", func(t *testing.T, e *env) {
		_, ch := e.open()
		q := e.queue(ch, "cancel", nil)
		ds, err := ch.Consume(q, "c", true, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := ch.Cancel("c", false); err != nil {
			t.Fatal(err)
		}
		if _, ok := <-ds; ok {
			t.Fatal("delivery after cancel")
		}
		fill(t, e, q, 1)
		if n := ready(t, ch, q); n != 1 {
			t.Fatalf("ready %d", n)
		}
		if err := ch.Cancel("never-existed", false); err != nil {
			t.Fatal(err)
		}
	}},
	{"deleting a queue cancels its consumers", func(t *testing.T, e *env) {
		c, ch := e.open()
		q := e.queue(ch, "gone", nil)
		cancels := ch.NotifyCancel(make(chan string, 1))
		if _, err := ch.Consume(q, "watcher", false, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := e.channel(c).QueueDelete(q, false, false, false); err != nil {
			t.Fatal(err)
		}
		select {
		case tag := <-cancels:
			if tag != "watcher" {
				t.Fatalf("cancel for %q", tag)
			}
		case <-time.After(waitTimeout):
			t.Fatal("no basic.cancel")
		}
	}},
	{"publish to a missing exchange closes the channel with 404", func(t *testing.T, e *env) {
		c, ch := e.open()
		ex := e.name("nowhere")
		channelClosedBy(t, ch, amqp.NotFound, "NOT_FOUND - no exchange '"+ex+"' in vhost '/'", func() { ch.Publish(ex, "k", false, false, text("x")) })
		// The connection is still fine.
		if _, err := e.channel(c).QueueDeclare("", false, true, true, false, nil); err != nil {
			t.Fatal(err)
		}
	}},
	{"publish errors", func(t *testing.T, e *env) {
		c, ch := e.open()
		channelClosedBy(t, ch, amqp.PreconditionFailed, "PRECONDITION_FAILED - user_id property set to 'mallory' but authenticated user was 'guest'", func() {
			ch.Publish("", "k", false, false, amqp.Publishing{UserId: "mallory"})
		})
		ch = e.channel(c)
		closes := c.NotifyClose(make(chan *amqp.Error, 1))
		ch.Publish("", "k", false, true, text("immediate"))
		wantError(t, closed(t, closes), amqp.NotImplemented, "NOT_IMPLEMENTED - immediate=true")
	}},
	{"channel.flow", func(t *testing.T, e *env) {
		c, ch := e.open()
		if err := ch.Flow(true); err != nil {
			t.Fatal(err)
		}
		closes := c.NotifyClose(make(chan *amqp.Error, 1))
		err := ch.Flow(false)
		wantError(t, err, amqp.NotImplemented, "NOT_IMPLEMENTED - active=false")
		closed(t, closes)
	}},
	{"publisher confirms", func(t *testing.T, e *env) {
		_, ch := e.open()
		q := e.queue(ch, "conf", nil)
		confirmChannel(t, ch)
		confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 100))
		for i := range 50 {
			publish(t, ch, "", q, text(fmt.Sprint(i)))
		}
		publish(t, ch, "", "no-such-queue-"+e.name(""), text("unroutable"))
		for i := uint64(1); i <= 51; i++ {
			select {
			case cf := <-confirms:
				if cf.DeliveryTag != i || !cf.Ack {
					t.Fatalf("confirm %+v, want ack %d", cf, i)
				}
			case <-time.After(waitTimeout):
				t.Fatalf("no confirm %d", i)
			}
		}
		if n := ready(t, ch, q); n != 50 {
			t.Fatalf("ready %d", n)
		}
	}},
	{"mandatory return comes before the confirm", func(t *testing.T, e *env) {
		rc := dialRaw(t, e.addr)
		rc.handshake()
		rc.send(1, &amqp091.ConfirmSelect{})
		expect[*amqp091.ConfirmSelectOk](rc)
		key := e.name("unroutable")
		rc.w.WriteContent(1, &amqp091.BasicPublish{RoutingKey: key, Mandatory: true}, &amqp091.Properties{MessageID: "m1"}, []byte("lost"))
		rc.w.Flush()
		ret := expect[*amqp091.BasicReturn](rc)
		if ret.ReplyCode != 312 || ret.ReplyText != "NO_ROUTE" || ret.RoutingKey != key {
			t.Fatalf("return %+v", ret)
		}
		if f, _, err := rc.next(); err != nil || f.Type != amqp091.FrameHeader {
			t.Fatalf("after basic.return: %v %v", f.Type, err)
		}
		if f, _, err := rc.next(); err != nil || f.Type != amqp091.FrameBody || string(f.Payload) != "lost" {
			t.Fatalf("body: %v %q %v", f.Type, f.Payload, err)
		}
		ack := expect[*amqp091.BasicAck](rc)
		if ack.DeliveryTag != 1 {
			t.Fatalf("ack %+v", ack)
		}
	}},
	{"mandatory return through amqp091-go", func(t *testing.T, e *env) {
		_, ch := e.open()
		returns := ch.NotifyReturn(make(chan amqp.Return, 1))
		confirmChannel(t, ch)
		key := e.name("nope")
		if !publishConfirmed(t, ch, "", key, true, text("r")) {
			t.Fatal("nacked")
		}
		select {
		case r := <-returns:
			if r.ReplyCode != 312 || r.RoutingKey != key || string(r.Body) != "r" {
				t.Fatalf("return %+v", r)
			}
		case <-time.After(waitTimeout):
			t.Fatal("no return")
		}
	}},
	{"transactions", func(t *testing.T, e *env) {
		c, ch := e.open()
		q := e.queue(ch, "tx", nil)
		fill(t, e, q, 1)
		if err := ch.Tx(); err != nil {
			t.Fatal(err)
		}
		publish(t, ch, "", q, text("tx-1"))
		look := e.channel(c)
		if n := ready(t, look, q); n != 1 {
			t.Fatalf("uncommitted publish visible: ready %d", n)
		}
		if err := ch.TxCommit(); err != nil {
			t.Fatal(err)
		}
		if n := ready(t, look, q); n != 2 {
			t.Fatalf("after commit ready %d", n)
		}
		publish(t, ch, "", q, text("tx-rolled-back"))
		if err := ch.TxRollback(); err != nil {
			t.Fatal(err)
		}
		if n := ready(t, look, q); n != 2 {
			t.Fatalf("after rollback ready %d", n)
		}
		// Acknowledgements too wait for the commit.
		d := get(t, ch, q, false)
		ch.Ack(d.DeliveryTag, false)
		if err := ch.TxRollback(); err != nil {
			t.Fatal(err)
		}
		ch.Ack(d.DeliveryTag, false) // still outstanding after the rollback
		if err := ch.TxCommit(); err != nil {
			t.Fatal(err)
		}
		if n := ready(t, look, q); n != 1 {
			t.Fatalf("ready %d", n)
		}
		err := ch.Confirm(false)
		wantError(t, err, amqp.PreconditionFailed, "PRECONDITION_FAILED - cannot switch from tx to confirm mode")
		ch = e.channel(c)
		confirmChannel(t, ch)
		wantError(t, ch.Tx(), amqp.PreconditionFailed, "PRECONDITION_FAILED - cannot switch from confirm to tx mode")
		wantError(t, e.channel(c).TxCommit(), amqp.PreconditionFailed, "PRECONDITION_FAILED - channel is not transactional")
		wantError(t, e.channel(c).TxRollback(), amqp.PreconditionFailed, "PRECONDITION_FAILED - channel is not transactional")
	}},
	{"no-ack consumer", func(t *testing.T, e *env) {
		c, ch := e.open()
		q := e.queue(ch, "noack", nil)
		fill(t, e, q, 3)
		ds := consume(t, ch, q, true)
		for range 3 {
			recv(t, ds)
		}
		ch.Close()
		if n := ready(t, e.channel(c), q); n != 0 {
			t.Fatalf("ready %d after no-ack deliveries", n)
		}
	}},
	{"round-robin between consumers", func(t *testing.T, e *env) {
		_, ch := e.open()
		q := e.queue(ch, "rr", nil)
		_, chA := e.open()
		_, chB := e.open()
		chA.Qos(1, 0, false)
		chB.Qos(1, 0, false)
		da, db := consume(t, chA, q, false), consume(t, chB, q, false)
		fill(t, e, q, 2)
		a, b := recv(t, da), recv(t, db)
		if string(a.Body) == string(b.Body) {
			t.Fatal("both consumers got the same message")
		}
	}},
}
