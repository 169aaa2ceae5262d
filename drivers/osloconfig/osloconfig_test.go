package osloconfig

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
)

func TestNovaConf(t *testing.T) {
	cfg, warnings, err := LoadFiles("testdata/nova.conf")
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"transport_url", cfg.Default.TransportURL, "rabbit://nova:s3cret@ctl1:5672,nova:s3cret@ctl2:5672/nova"},
		{"control_exchange", cfg.Default.ControlExchange, "nova"},
		{"rpc_response_timeout", cfg.Default.RPCResponseTimeout, 120 * time.Second},
		{"rpc_conn_pool_size from [DEFAULT]", cfg.Rabbit.RPCConnPoolSize, 20},
		{"driver (multi, current name wins)", cfg.Notifications.Driver, []string{"messagingv2", "log"}},
		{"topics (multi-line)", cfg.Notifications.Topics, []string{"notifications", "versioned_notifications"}},
		{"retry", cfg.Notifications.Retry, 3},
		{"amqp_durable_queues", cfg.Rabbit.AMQPDurableQueues, true},
		{"rabbit_qos_prefetch_count (last wins)", cfg.Rabbit.RabbitQoSPrefetchCount, 64},
		{"heartbeat_timeout_threshold (colon)", cfg.Rabbit.HeartbeatTimeoutThreshold, 30 * time.Second},
		{"kombu_reconnect_delay", cfg.Rabbit.KombuReconnectDelay, 500 * time.Millisecond},
		{"rabbit_ha_queues", cfg.Rabbit.RabbitHAQueues, false},
		{"ssl_ca_file (quoted)", cfg.Rabbit.SSLCAFile, "/etc/ssl/ca bundle.pem"},
		{"rabbit_retry_interval (typo'd, default kept)", cfg.Rabbit.RabbitRetryInterval, time.Second},
		{"oslo 14 spelling", cfg.Rabbit.RabbitQuorumMaxMemoryLength, 100},
		{"pre_settled (multi)", cfg.AMQP.PreSettled, []string{"rpc-cast", "notify"}},
		{"addressing_mode", cfg.AMQP.AddressingMode, "routable"},
		{"idle_timeout", cfg.AMQP.IdleTimeout, time.Minute},
		{"pool_max_size", cfg.Pika.PoolMaxSize, 25},
		{"ssl_options", cfg.Pika.SSLOptions, map[string]string{"ca_certs": "/etc/ca.pem", "cert_reqs": "2"}},
		{"untouched default", cfg.Rabbit.RabbitTransientQueuesTTL, 1800 * time.Second},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
	if len(warnings) != 1 {
		t.Fatalf("warnings: %v", warnings)
	}
	w := warnings[0]
	if w.Key != "rabit_retry_interval" || w.Suggestion != "rabbit_retry_interval" || w.Line != 33 || w.Section != "oslo_messaging_rabbit" {
		t.Fatalf("warning %+v", w)
	}
	if s := w.String(); !strings.Contains(s, `testdata/nova.conf:33`) || !strings.Contains(s, `did you mean "rabbit_retry_interval"`) {
		t.Fatalf("warning text %q", s)
	}
	// The loaded configuration opens drivers with ${control_exchange}
	// substituted from the file.
	e, err := cfg.Expand()
	if err != nil || e.Pika.DefaultRPCExchange != "nova_rpc" {
		t.Fatalf("expand: %q %v", e.Pika.DefaultRPCExchange, err)
	}
}

func TestInvalidValueNamesPlace(t *testing.T) {
	src := Source{Name: "bad.conf", Data: []byte("[DEFAULT]\ndebug = 1\n\n[oslo_messaging_rabbit]\n# comment\nrabbit_qos_prefetch_count = ten\n")}
	_, err := Apply(drivers.DefaultConfig(), src)
	var ve *ValueError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v", err)
	}
	if ve.File != "bad.conf" || ve.Line != 6 || ve.Section != "oslo_messaging_rabbit" || ve.Key != "rabbit_qos_prefetch_count" || ve.Value != "ten" {
		t.Fatalf("%+v", ve)
	}
	if got := err.Error(); got != `bad.conf:6: [oslo_messaging_rabbit] rabbit_qos_prefetch_count = "ten": want an integer` {
		t.Fatalf("message %q", got)
	}
	var oe *drivers.OptionError
	if !errors.As(err, &oe) {
		t.Fatal("ValueError does not unwrap to the OptionError")
	}
}

func TestLaterFilesOverride(t *testing.T) {
	cfg := drivers.DefaultConfig()
	_, err := Apply(cfg,
		Source{Name: "a.conf", Data: []byte("[oslo_messaging_rabbit]\nrabbit_qos_prefetch_count = 1\n[oslo_messaging_amqp]\npre_settled = notify\n")},
		Source{Name: "b.conf", Data: []byte("[oslo_messaging_rabbit]\nrabbit_qos_prefetch_count = 2\n[oslo_messaging_amqp]\npre_settled = rpc-call\n")})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Rabbit.RabbitQoSPrefetchCount != 2 || !reflect.DeepEqual(cfg.AMQP.PreSettled, []string{"notify", "rpc-call"}) {
		t.Fatalf("prefetch %d pre_settled %v", cfg.Rabbit.RabbitQoSPrefetchCount, cfg.AMQP.PreSettled)
	}
}

func TestSyntaxErrors(t *testing.T) {
	for _, c := range []struct{ data, msg string }{
		{"[DEFAULT\nx = 1\n", "invalid section"},
		{"[DEFAULT]\njust words\n", "no '=' or ':'"},
		{"[DEFAULT]\n   indented\n", "continuation"},
		{"[DEFAULT]\n= value\n", "empty key"},
		{"[]\n", "invalid section"},
	} {
		_, err := Apply(drivers.DefaultConfig(), Source{Name: "s.conf", Data: []byte(c.data)})
		var se *SyntaxError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), c.msg) || !strings.HasPrefix(err.Error(), "s.conf:") {
			t.Errorf("%q: %v", c.data, err)
		}
	}
	if _, _, err := LoadFiles("testdata/missing.conf"); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestUnknownSectionsIgnored(t *testing.T) {
	ws, err := Apply(drivers.DefaultConfig(), Source{Name: "x.conf", Data: []byte("[oslo_messaging_kafka]\npool_size = 3\n[DEFAULT]\nunknown_nova_option = 1\n")})
	if err != nil || len(ws) != 0 {
		t.Fatalf("%v %v", ws, err)
	}
}

func FuzzApply(f *testing.F) {
	for _, s := range []string{
		"[DEFAULT]\ntransport_url = rabbit://\n",
		"[oslo_messaging_rabbit]\nssl = maybe\n",
		"[oslo_messaging_amqp]\npre_settled = notify\n  rpc-call\n",
		"[x\n", "a=b\n[DEFAULT]\n\tc\n", "[oslo_messaging_pika]\nssl_options = a:b,c\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := drivers.DefaultConfig()
		_, err := Apply(cfg, Source{Name: "fuzz.conf", Data: data})
		if err == nil {
			return
		}
		var ve *ValueError
		var se *SyntaxError
		if !errors.As(err, &ve) && !errors.As(err, &se) {
			t.Fatalf("error of unexpected type %T: %v", err, err)
		}
	})
}
