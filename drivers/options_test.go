package drivers_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
)

func TestDefaults(t *testing.T) {
	c := drivers.DefaultConfig()
	checks := []struct {
		name      string
		got, want any
	}{
		{"transport_url", c.Default.TransportURL, "rabbit://"},
		{"control_exchange", c.Default.ControlExchange, "openstack"},
		{"rpc_response_timeout", c.Default.RPCResponseTimeout, 60 * time.Second},
		{"topics", c.Notifications.Topics, []string{"notifications"}},
		{"retry", c.Notifications.Retry, -1},
		{"driver", c.Notifications.Driver, []string(nil)},
		{"rabbit_transient_queues_ttl", c.Rabbit.RabbitTransientQueuesTTL, 1800 * time.Second},
		{"kombu_reconnect_delay", c.Rabbit.KombuReconnectDelay, time.Second},
		{"kombu_missing_consumer_retry_timeout", c.Rabbit.KombuMissingConsumerRetryTimeout, 60 * time.Second},
		{"heartbeat_timeout_threshold", c.Rabbit.HeartbeatTimeoutThreshold, 60 * time.Second},
		{"heartbeat_rate", c.Rabbit.HeartbeatRate, 2},
		{"rabbit_login_method", c.Rabbit.RabbitLoginMethod, "AMQPLAIN"},
		{"direct_mandatory_flag", c.Rabbit.DirectMandatoryFlag, true},
		{"rpc_conn_pool_size", c.Rabbit.RPCConnPoolSize, 30},
		{"pool_max_size (seed)", c.Pika.PoolMaxSize, 10},
		{"heartbeat_interval (seed)", c.Pika.HeartbeatInterval, time.Second},
		{"socket_timeout", c.Pika.SocketTimeout, 250 * time.Millisecond},
		{"default_rpc_exchange raw", c.Pika.DefaultRPCExchange, "${control_exchange}_rpc"},
		{"pre_settled", c.AMQP.PreSettled, []string{"rpc-cast", "rpc-reply"}},
		{"addressing_mode", c.AMQP.AddressingMode, "dynamic"},
		{"reply_link_credit", c.AMQP.ReplyLinkCredit, 200},
		{"default_sender_link_timeout", c.AMQP.DefaultSenderLinkTimeout, 600 * time.Second},
		{"pseudo_vhost", c.AMQP.PseudoVhost, true},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
	// Defaults are fresh copies.
	c.AMQP.PreSettled[0] = "x"
	if drivers.DefaultConfig().AMQP.PreSettled[0] != "rpc-cast" {
		t.Fatal("DefaultConfig shares slices")
	}
}

func TestSetParsesOsloTypes(t *testing.T) {
	c := drivers.DefaultConfig()
	ok := []struct{ group, name, value string }{
		{"oslo_messaging_rabbit", "amqp_durable_queues", "Yes"},
		{"oslo_messaging_rabbit", "rabbit_ha_queues", "on"},
		{"oslo_messaging_rabbit", "ssl", "1"},
		{"oslo_messaging_rabbit", "kombu_reconnect_delay", "0.5"},
		{"oslo_messaging_rabbit", "rabbit_qos_prefetch_count", " 10 "},
		{"oslo_messaging_rabbit", "rabbit_quroum_max_memory_length", "5"}, // oslo 14's spelling
		{"DEFAULT", "rpc_conn_pool_size", "7"},                            // oslo 14 keeps it in [DEFAULT]
		{"oslo_messaging_notifications", "topics", "notifications, audit,"},
		{"oslo_messaging_pika", "ssl_options", "ca_certs:/etc/ca.pem, cert_reqs:2"},
		{"oslo_messaging_amqp", "pre_settled", "notify"},
	}
	for _, s := range ok {
		if err := c.Set(s.group, s.name, s.value); err != nil {
			t.Errorf("Set(%s, %s, %q): %v", s.group, s.name, s.value, err)
		}
	}
	if !c.Rabbit.AMQPDurableQueues || !c.Rabbit.RabbitHAQueues || !c.Rabbit.SSL || c.Rabbit.KombuReconnectDelay != 500*time.Millisecond ||
		c.Rabbit.RabbitQoSPrefetchCount != 10 || c.Rabbit.RabbitQuorumMaxMemoryLength != 5 || c.Rabbit.RPCConnPoolSize != 7 ||
		!reflect.DeepEqual(c.Notifications.Topics, []string{"notifications", "audit"}) ||
		!reflect.DeepEqual(c.Pika.SSLOptions, map[string]string{"ca_certs": "/etc/ca.pem", "cert_reqs": "2"}) ||
		!reflect.DeepEqual(c.AMQP.PreSettled, []string{"notify"}) {
		t.Fatalf("values not stored: %+v", c)
	}
	if err := c.Set("oslo_messaging_amqp", "pre_settled", "rpc-call", "notify"); err != nil || !reflect.DeepEqual(c.AMQP.PreSettled, []string{"rpc-call", "notify"}) {
		t.Fatalf("multi-valued: %v %v", c.AMQP.PreSettled, err)
	}

	bad := []struct{ group, name, value, reason string }{
		{"oslo_messaging_rabbit", "amqp_durable_queues", "maybe", "boolean"},
		{"oslo_messaging_rabbit", "rabbit_qos_prefetch_count", "ten", "integer"},
		{"oslo_messaging_rabbit", "kombu_reconnect_delay", "5", "at most 4.5"},
		{"oslo_messaging_rabbit", "kombu_reconnect_delay", "NaN", "seconds"},
		{"oslo_messaging_rabbit", "rabbit_transient_queues_ttl", "0", "at least 1"},
		{"oslo_messaging_rabbit", "rabbit_transient_queues_ttl", "1.5", "integer"},
		{"oslo_messaging_rabbit", "kombu_failover_strategy", "random", "one of round-robin, shuffle"},
		{"oslo_messaging_amqp", "pre_settled", "rpc-everything", "items from"},
		{"oslo_messaging_pika", "ssl_options", "novalue", "key:value"},
		{"oslo_messaging_amqp", "default_send_timeout", "1", "at least 5"},
	}
	for _, b := range bad {
		err := c.Set(b.group, b.name, b.value)
		var oe *drivers.OptionError
		if !errors.As(err, &oe) || !strings.Contains(err.Error(), b.reason) || !strings.Contains(err.Error(), b.name) {
			t.Errorf("Set(%s, %q) = %v; want an OptionError about %q", b.name, b.value, err, b.reason)
		}
	}
	err := c.Set("oslo_messaging_rabbit", "rabit_qos_prefetch_count", "1")
	var oe *drivers.OptionError
	if !errors.Is(err, drivers.ErrUnknownOption) || !errors.As(err, &oe) || oe.Suggestion != "rabbit_qos_prefetch_count" {
		t.Fatalf("typo: %v", err)
	}
}

func TestExpand(t *testing.T) {
	c := drivers.DefaultConfig()
	if err := c.Set("DEFAULT", "control_exchange", "nova"); err != nil {
		t.Fatal(err)
	}
	if err := c.Set("oslo_messaging_pika", "rpc_reply_exchange", "$control_exchange-$$-${oslo_messaging_amqp.anycast_address}"); err != nil {
		t.Fatal(err)
	}
	e, err := c.Expand()
	if err != nil {
		t.Fatal(err)
	}
	if e.Pika.DefaultRPCExchange != "nova_rpc" || e.Pika.DefaultNotificationExchange != "nova_notification" || e.Pika.RPCReplyExchange != "nova-$-anycast" {
		t.Fatalf("expanded: %q %q %q", e.Pika.DefaultRPCExchange, e.Pika.DefaultNotificationExchange, e.Pika.RPCReplyExchange)
	}
	if c.Pika.DefaultRPCExchange != "${control_exchange}_rpc" {
		t.Fatal("Expand changed its receiver")
	}
	for _, v := range []string{"${nope}", "${control_exchange", "$loop"} {
		c2 := drivers.DefaultConfig()
		_ = c2.Set("oslo_messaging_rabbit", "hostname", v)
		_ = c2.Set("oslo_messaging_rabbit", "processname", "$loop")
		if v == "$loop" {
			_ = c2.Set("oslo_messaging_rabbit", "hostname", "$processname")
			_ = c2.Set("oslo_messaging_rabbit", "processname", "$hostname")
		}
		if _, err := c2.Expand(); err == nil {
			t.Errorf("Expand accepted %q", v)
		}
	}
}

func TestApplyQuery(t *testing.T) {
	c := drivers.DefaultConfig()
	n, err := c.ApplyQuery("oslo_messaging_rabbit", map[string]string{"rabbit_qos_prefetch_count": "5", "ssl": "true"})
	if err != nil || n.Rabbit.RabbitQoSPrefetchCount != 5 || !n.Rabbit.SSL || c.Rabbit.SSL {
		t.Fatalf("override: %+v %v", n.Rabbit, err)
	}
	_, err = c.ApplyQuery("oslo_messaging_rabbit", map[string]string{"rabbit_qos_prefetch": "5"})
	if !errors.Is(err, drivers.ErrUnknownOption) || !strings.Contains(err.Error(), `did you mean "rabbit_qos_prefetch_count"`) {
		t.Fatalf("unknown key: %v", err)
	}
	// An option of another group is not an option of this one.
	if _, err := c.ApplyQuery("oslo_messaging_rabbit", map[string]string{"pre_settled": "notify"}); !errors.Is(err, drivers.ErrUnknownOption) {
		t.Fatalf("foreign key: %v", err)
	}
	n, err = c.ApplyQuery("oslo_messaging_amqp", map[string]string{"pre_settled": "rpc-cast,notify"})
	if err != nil || !reflect.DeepEqual(n.AMQP.PreSettled, []string{"rpc-cast", "notify"}) {
		t.Fatalf("multi from query: %v %v", n.AMQP.PreSettled, err)
	}
}

func TestOptionCatalogue(t *testing.T) {
	if g := drivers.Groups(); !reflect.DeepEqual(g, []string{"DEFAULT", "oslo_messaging_notifications", "oslo_messaging_rabbit", "oslo_messaging_pika", "oslo_messaging_amqp"}) {
		t.Fatalf("groups %v", g)
	}
	total := 0
	for _, g := range drivers.Groups() {
		for _, o := range drivers.Options(g) {
			total++
			if o.Type == "" || o.Group != g {
				t.Errorf("%s/%s: %+v", g, o.Name, o)
			}
		}
	}
	if total < 100 {
		t.Fatalf("only %d options", total)
	}
	o, ok := drivers.LookupOption("DEFAULT", "notification_driver")
	if !ok || o.Group != "oslo_messaging_notifications" || o.Name != "driver" {
		t.Fatalf("deprecated name: %+v %v", o, ok)
	}
	c := drivers.DefaultConfig()
	if v, _ := c.Get("oslo_messaging_pika", "socket_timeout"); v != "0.25" {
		t.Fatalf("Get = %q", v)
	}
}

type fakeDriver struct {
	drivers.Driver
	u   *drivers.TransportURL
	cfg *drivers.Config
}

func TestOpenRegistry(t *testing.T) {
	drivers.Register(drivers.Registration{Scheme: "testfake", Group: "oslo_messaging_rabbit",
		Open: func(_ context.Context, u *drivers.TransportURL, cfg *drivers.Config) (drivers.Driver, error) {
			return &fakeDriver{u: u, cfg: cfg}, nil
		}})
	ctx := context.Background()
	d, err := drivers.Open(ctx, "testfake+x://h/?rabbit_qos_prefetch_count=3", nil)
	if err != nil {
		t.Fatal(err)
	}
	fd := d.(*fakeDriver)
	if fd.u.Scheme != "testfake+x" || fd.cfg.Rabbit.RabbitQoSPrefetchCount != 3 || fd.cfg.Pika.DefaultRPCExchange != "openstack_rpc" {
		t.Fatalf("opened with %+v %+v", fd.u, fd.cfg.Rabbit)
	}
	cfg := drivers.DefaultConfig()
	cfg.Default.TransportURL = "testfake://"
	if _, err := drivers.Open(ctx, "", cfg); err != nil {
		t.Fatalf("transport_url from config: %v", err)
	}
	_, err = drivers.Open(ctx, "kafka://h", nil)
	var ue *drivers.URLError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "testfake") || !strings.Contains(err.Error(), `"kafka"`) {
		t.Fatalf("unknown scheme: %v", err)
	}
	if _, err := drivers.Open(ctx, "testfake://h/?nope=1", nil); !errors.Is(err, drivers.ErrUnknownOption) {
		t.Fatalf("unknown query key: %v", err)
	}
	if _, err := drivers.Open(ctx, "testfake://h:x", nil); !errors.As(err, &ue) {
		t.Fatalf("bad URL: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("registering a scheme twice did not panic")
		}
	}()
	drivers.Register(drivers.Registration{Scheme: "testfake", Open: func(context.Context, *drivers.TransportURL, *drivers.Config) (drivers.Driver, error) { return nil, nil }})
}

func TestTargetValidation(t *testing.T) {
	cases := []struct {
		t    drivers.Target
		call bool
		ok   bool
	}{
		{drivers.Target{Topic: "compute"}, true, true},
		{drivers.Target{Topic: "compute", Fanout: true}, false, true},
		{drivers.Target{Topic: "compute", Fanout: true}, true, false},
		{drivers.Target{}, false, false},
		{drivers.Target{Topic: "a\nb"}, false, false},
		{drivers.Target{Topic: strings.Repeat("x", 201)}, false, false},
	}
	for _, c := range cases {
		err := c.t.ValidateSend(c.call)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, drivers.ErrInvalidTarget)) {
			t.Errorf("%s call=%v: %v", c.t, c.call, err)
		}
	}
	if err := (drivers.Target{}).ValidateListen(); !errors.Is(err, drivers.ErrInvalidTarget) {
		t.Fatal(err)
	}
	if got := (drivers.TargetPriority{Target: drivers.Target{Topic: "notifications"}, Priority: "INFO"}).Address(); got != "notifications.info" {
		t.Fatal(got)
	}
}

func TestErrorKinds(t *testing.T) {
	cases := []struct {
		err  error
		kind error
	}{
		{&drivers.TimeoutError{Op: "call"}, drivers.ErrTimeout},
		{&drivers.DeliveryError{Address: "x"}, drivers.ErrDeliveryFailure},
		{&drivers.DeliveryError{Undeliverable: true}, drivers.ErrUndeliverable},
		{&drivers.TargetError{}, drivers.ErrInvalidTarget},
		{&drivers.NotImplementedError{Driver: "amqp", Feature: "pools"}, drivers.ErrNotImplemented},
	}
	for _, c := range cases {
		wrapped := errors.Join(errors.New("context"), c.err)
		if !errors.Is(wrapped, c.kind) || c.err.Error() == "" {
			t.Errorf("%T is not %v", c.err, c.kind)
		}
	}
	if errors.Is(&drivers.DeliveryError{Undeliverable: true}, drivers.ErrDeliveryFailure) {
		t.Error("undeliverable must not be a delivery failure (oslo keeps them apart)")
	}
	cause := errors.New("connection reset")
	if !errors.Is(&drivers.DeliveryError{Err: cause}, cause) || !errors.Is(&drivers.AuthError{Err: cause}, cause) {
		t.Error("causes are not unwrapped")
	}
}

func TestValidateNotificationListen(t *testing.T) {
	ok := []drivers.TargetPriority{{Target: drivers.Target{Topic: "n"}, Priority: "info"}}
	if err := drivers.ValidateNotificationListen(ok); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]drivers.TargetPriority{nil, {{Target: drivers.Target{}, Priority: "info"}}, {{Target: drivers.Target{Topic: "n"}}}} {
		if err := drivers.ValidateNotificationListen(bad); !errors.Is(err, drivers.ErrInvalidTarget) {
			t.Errorf("%v: %v", bad, err)
		}
	}
}
