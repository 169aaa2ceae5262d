package rabbit

import (
	"reflect"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
)

func testPika(t *testing.T) *pikaDialect {
	t.Helper()
	cfg, err := drivers.DefaultConfig().Expand()
	if err != nil {
		t.Fatal(err)
	}
	return &pikaDialect{o: cfg.Pika, prog: "nova-api"}
}

// TestPikaWire holds what the Pika driver put on the wire (WIRE.md §3 and
// its source at the last release): names, properties and bodies.
func TestPikaWire(t *testing.T) {
	p := testPika(t)
	ctx := drivers.Context{"request_id": "req-1", "user_id": "u1"}
	msg := drivers.Message{"method": "get_info", "args": map[string]any{"id": "abc"}}

	// A call with retry: the with_ack queue, mandatory, correlation and
	// reply-to, expiration from the timeout, transient.
	rt := p.requestRoute(drivers.Target{Topic: "compute", Server: "host1"}, -1)
	if rt.exchange != (exchangeDecl{name: "openstack_rpc", kind: "direct", autoDelete: true}) || rt.key != "with_ack.compute.host1" || rt.mandatory {
		t.Fatalf("call route %+v", rt)
	}
	pub, err := p.encodeRequest(envelope.Outgoing{Message: msg, Context: ctx, MsgID: "m1", ReplyQueue: "reply.switchyard.nova-api.x", UniqueID: "u1"}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := amqp.Publishing{ContentType: "application/json", Headers: amqp.Table{"version": "1.0"}, MessageId: "u1",
		CorrelationId: "m1", ReplyTo: "reply.switchyard.nova-api.x", Expiration: "30000", DeliveryMode: 1,
		Body: []byte(`{"method": "get_info", "args": {"id": "abc"}, "_$_request_id": "req-1", "_$_user_id": "u1"}`)}
	if !reflect.DeepEqual(pub, want) {
		t.Fatalf("call\n got %+v\n     %s\nwant %+v\n     %s", pub, pub.Body, want, want.Body)
	}

	// A cast with retry 0 goes to the no_ack queue, without reply fields.
	rt = p.requestRoute(drivers.Target{Topic: "compute", Exchange: "nova"}, 0)
	if rt.exchange.name != "nova" || rt.key != "no_ack.compute" {
		t.Fatalf("cast route %+v", rt)
	}
	pub, _ = p.encodeRequest(envelope.Outgoing{Message: msg}, 0)
	if pub.CorrelationId != "" || pub.ReplyTo != "" || pub.Expiration != "" || len(pub.MessageId) != 32 || strings.Contains(string(pub.Body), "_$_") {
		t.Fatalf("cast %+v", pub)
	}

	// Fanout: the all_workers key, not mandatory.
	rt = p.requestRoute(drivers.Target{Topic: "compute", Fanout: true}, 3)
	if rt.key != "with_ack.compute.all_workers" || rt.mandatory {
		t.Fatalf("fanout route %+v", rt)
	}

	// Replies.
	pub, _ = p.encodeReply(envelope.Reply{Result: map[string]any{"state": "running"}, MsgID: "m1"})
	if string(pub.Body) != `{"s": {"state": "running"}}` || pub.CorrelationId != "m1" || pub.Headers["version"] != "1.0" {
		t.Fatalf("reply %+v %s", pub, pub.Body)
	}
	pub, _ = p.encodeReply(envelope.Reply{Failure: &drivers.RemoteError{Class: "ValueError", Module: "builtins", Message: "bad", Traceback: []string{"tb\n"}}, MsgID: "m1"})
	if string(pub.Body) != `{"e": {"c": "ValueError", "m": "builtins", "s": "bad", "t": ["tb\n"], "a": [], "k": {}}}` {
		t.Fatalf("failure %s", pub.Body)
	}
	rr := p.replyRoute("reply.x")
	if rr.exchange.name != "openstack_rpc_reply" || rr.key != "reply.x" || !rr.mandatory {
		t.Fatalf("reply route %+v", rr)
	}
	back, err := p.decodeReply(amqp.Delivery{ContentType: "application/json", Headers: amqp.Table{"version": "1.0"}, CorrelationId: "m1", Body: pub.Body}, nil)
	if err != nil || back.Failure == nil || back.Failure.Class != "ValueError" || !back.Failure.Rebuilt || back.MsgID != "m1" {
		t.Fatalf("failure back %+v %v", back, err)
	}
	other, _ := p.encodeReply(envelope.Reply{Failure: &drivers.RemoteError{Class: "E", Module: "nova.exception"}})
	if back, _ = p.decodeReply(amqp.Delivery{ContentType: "application/json", Body: other.Body}, nil); back.Failure.Rebuilt {
		t.Fatal("a module not allowed is rebuilt")
	}
	if back, _ = p.decodeReply(amqp.Delivery{ContentType: "application/json", Body: other.Body}, []string{"nova.exception"}); !back.Failure.Rebuilt {
		t.Fatal("an allowed module is not rebuilt")
	}

	// Notifications: the notification exchange, no envelope whatever the
	// version, declared on return.
	nt := p.notificationRoute(drivers.Target{Topic: "notifications.info"})
	if nt.exchange.name != "openstack_notification" || nt.key != "notifications.info" || !nt.declareOnReturn || nt.queue.name != "notifications.info" || nt.queue.durable {
		t.Fatalf("notification route %+v", nt)
	}
	pub, _ = p.encodeNotification(drivers.Message{"event_type": "e", "priority": "INFO"}, ctx, "2.0")
	if strings.Contains(string(pub.Body), "oslo.version") || pub.DeliveryMode != 1 {
		t.Fatalf("notification %+v %s", pub, pub.Body)
	}
	p.o.NotificationPersistence = true
	pub, _ = p.encodeNotification(drivers.Message{"event_type": "e"}, nil, "1.0")
	if pub.DeliveryMode != 2 || !p.notificationRoute(drivers.Target{Topic: "n.info"}).queue.durable {
		t.Fatalf("persistent notification %+v", pub)
	}
}

func TestPikaQueues(t *testing.T) {
	p := testPika(t)
	qs := p.rpcQueues(drivers.Target{Topic: "compute", Server: "host1"})
	var got []string
	for _, q := range qs {
		name := q.name
		if i := strings.Index(name, ".worker."); i > 0 {
			name = name[:i+len(".worker.")] + "<hex>"
		}
		got = append(got, name+" <- "+strings.Join(q.keys, ",")+map[bool]string{true: " (no ack)", false: ""}[q.noAck])
		if q.args["x-expires"] != int64(60000) || q.durable || q.exchange.name != "openstack_rpc" {
			t.Errorf("queue %+v", q)
		}
	}
	want := []string{
		"no_ack.compute <- no_ack.compute (no ack)",
		"no_ack.compute.host1 <- no_ack.compute.host1 (no ack)",
		"no_ack.compute.host1.worker.<hex> <- no_ack.compute.all_workers (no ack)",
		"with_ack.compute <- with_ack.compute",
		"with_ack.compute.host1 <- with_ack.compute.host1",
		"with_ack.compute.host1.worker.<hex> <- with_ack.compute.all_workers",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("rpc queues\n got %q\nwant %q", got, want)
	}
	rq := p.replyQueue()
	if !strings.HasPrefix(rq.name, "reply.switchyard.nova-api.") || rq.exchange.name != "openstack_rpc_reply" || rq.keys[0] != rq.name {
		t.Fatalf("reply queue %+v", rq)
	}
	nq := p.notificationQueues([]drivers.TargetPriority{{Target: drivers.Target{Topic: "n"}, Priority: "info"}, {Target: drivers.Target{Topic: "n", Exchange: "x"}, Priority: "error"}}, "pool1")
	if len(nq) != 2 || nq[0].name != "pool1" || nq[0].keys[0] != "n.info" || nq[1].exchange.name != "x" || nq[1].keys[0] != "n.error" {
		t.Fatalf("notification queues %+v", nq)
	}
}

func TestPikaDecode(t *testing.T) {
	p := testPika(t)
	in, err := p.decodeRequest(amqp.Delivery{ContentType: "application/json", Headers: amqp.Table{"version": "1.0"}, MessageId: "u", CorrelationId: "m", ReplyTo: "r",
		Body: []byte(`{"method": "x", "args": {}, "_$_request_id": "req"}`)})
	if err != nil || in.MsgID != "m" || in.ReplyQueue != "r" || in.UniqueID != "u" || in.Context["request_id"] != "req" || in.Message["method"] != "x" {
		t.Fatalf("%+v %v", in, err)
	}
	for _, del := range []amqp.Delivery{
		{ContentType: "application/json", Headers: amqp.Table{"version": "2.0"}, Body: []byte(`{}`)},
		{ContentType: "application/msgpack", Body: []byte(`{}`)},
		{ContentType: "application/json", Body: []byte(`[]`)},
		{ContentType: "application/json", Body: []byte(`nope`)},
	} {
		if _, err := p.decodeRequest(del); err == nil {
			t.Errorf("accepted %+v", del)
		}
	}
	if _, err := p.decodeRequest(amqp.Delivery{ContentType: "application/json", Body: []byte(`{}`)}); err != nil {
		t.Errorf("a message without a version header is accepted by Pika: %v", err)
	}
}
