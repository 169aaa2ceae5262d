package amqp1

import (
	"reflect"
	"testing"

	"github.com/switchyard-dev/switchyard/drivers"
)

func TestResolveMode(t *testing.T) {
	for _, tc := range []struct {
		configured string
		props      map[string]any
		want       Mode
	}{
		{"dynamic", nil, Legacy}, // no product: oslo assumes qpid-cpp
		{"dynamic", map[string]any{"product": "qpid-cpp"}, Legacy},
		{"dynamic", map[string]any{"product": "qpid-dispatch-router"}, Routable},
		{"dynamic", map[string]any{"product": "RabbitMQ"}, Routable},
		{"dynamic", map[string]any{"product": []byte("qpid-cpp")}, Legacy},
		{"dynamic", map[string]any{"product": 7}, Routable},
		{"dynamic", map[string]any{"version": "1.0"}, Legacy},
		{"legacy", map[string]any{"product": "qpid-dispatch-router"}, Legacy},
		{"routable", nil, Routable},
	} {
		if got := ResolveMode(tc.configured, tc.props); got != tc.want {
			t.Errorf("ResolveMode(%q, %v) = %q, want %q", tc.configured, tc.props, got, tc.want)
		}
	}
}

// TestAddresses checks the addresses against the captures of oslo 14 and
// the option rules of WIRE.md §4.1.
func TestAddresses(t *testing.T) {
	def := drivers.DefaultConfig().AMQP
	topic := drivers.Target{Topic: "cap_topic"}
	server := drivers.Target{Topic: "cap_topic", Server: "host1"}
	fanout := drivers.Target{Topic: "cap_topic", Fanout: true}
	info := drivers.TargetPriority{Target: drivers.Target{Topic: "cap_notifications"}, Priority: "INFO"}
	// A listener honours the target's exchange as the notifier does, so
	// both meet on one address (oslo's listener discards it; its notifier
	// never sets one).
	novaInfo := drivers.TargetPriority{Target: drivers.Target{Topic: "n", Exchange: "nova"}, Priority: "info"}

	legacy := newAddresser(Legacy, def, "", "")
	routable := newAddresser(Routable, def, "", "")
	for _, tc := range []struct{ got, want string }{
		{legacy.resolve(topic, serviceRPC), "unicast.openstack.cap_topic"},
		{legacy.resolve(server, serviceRPC), "exclusive.openstack.cap_topic.host1"},
		{legacy.resolve(fanout, serviceRPC), "broadcast.openstack.cap_topic.all"},
		{legacy.resolve(drivers.Target{Topic: "t", Server: "s", Fanout: true}, serviceRPC), "broadcast.openstack.t.all"},
		{legacy.notifyAddress(info), "unicast.openstack.cap_notifications.info"},
		{routable.resolve(topic, serviceRPC), "openstack.org/om/rpc/anycast/openstack/cap_topic"},
		{routable.resolve(server, serviceRPC), "openstack.org/om/rpc/unicast/openstack/cap_topic/host1"},
		{routable.resolve(fanout, serviceRPC), "openstack.org/om/rpc/multicast/openstack/cap_topic"},
		{routable.notifyAddress(info), "openstack.org/om/notify/anycast/openstack/cap_notifications.info"},
		{routable.resolve(drivers.Target{Topic: "n.info", Exchange: "nova"}, serviceNotify), "openstack.org/om/notify/anycast/nova/n.info"},
		{routable.notifyAddress(novaInfo), "openstack.org/om/notify/anycast/nova/n.info"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	if got, want := legacy.serverAddresses(server), []string{"exclusive.openstack.cap_topic.host1", "broadcast.openstack.cap_topic.all", "unicast.openstack.cap_topic"}; !reflect.DeepEqual(got, want) {
		t.Errorf("legacy server addresses %v, want %v", got, want)
	}
	if got, want := routable.serverAddresses(topic), []string{"openstack.org/om/rpc/multicast/openstack/cap_topic", "openstack.org/om/rpc/anycast/openstack/cap_topic"}; !reflect.DeepEqual(got, want) {
		t.Errorf("routable server addresses without a server %v, want %v", got, want)
	}

	// pseudo_vhost puts the vhost into every address; without it, none.
	if got := newAddresser(Legacy, def, "", "vh").resolve(server, serviceRPC); got != "exclusive.vh.openstack.cap_topic.host1" {
		t.Errorf("legacy vhost: %q", got)
	}
	if got := newAddresser(Routable, def, "", "vh").resolve(server, serviceRPC); got != "openstack.org/om/rpc/unicast/vh/openstack/cap_topic/host1" {
		t.Errorf("routable vhost: %q", got)
	}
	noPseudo := def
	noPseudo.PseudoVhost = false
	if got := newAddresser(Routable, noPseudo, "", "vh").resolve(topic, serviceRPC); got != "openstack.org/om/rpc/anycast/openstack/cap_topic" {
		t.Errorf("pseudo_vhost=false: %q", got)
	}

	// Exchange precedence: target → default_{rpc,notification}_exchange →
	// control_exchange (routable); target → control_exchange (legacy).
	o := def
	o.DefaultRPCExchange, o.DefaultNotificationExchange = "rpcx", "notifx"
	r := newAddresser(Routable, o, "ctl", "")
	l := newAddresser(Legacy, o, "ctl", "")
	for _, tc := range []struct{ got, want string }{
		{r.resolve(topic, serviceRPC), "openstack.org/om/rpc/anycast/rpcx/cap_topic"},
		{r.resolve(drivers.Target{Topic: "t", Exchange: "mine"}, serviceRPC), "openstack.org/om/rpc/anycast/mine/t"},
		{r.notifyAddress(info), "openstack.org/om/notify/anycast/notifx/cap_notifications.info"},
		{newAddresser(Routable, def, "ctl", "").resolve(topic, serviceRPC), "openstack.org/om/rpc/anycast/ctl/cap_topic"},
		{l.resolve(topic, serviceRPC), "unicast.ctl.cap_topic"},
		{l.resolve(drivers.Target{Topic: "t", Exchange: "mine"}, serviceRPC), "unicast.mine.t"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}

	// Every prefix option.
	p := def
	p.ServerRequestPrefix, p.BroadcastPrefix, p.GroupRequestPrefix = "srv", "bc", "grp"
	p.RPCAddressPrefix, p.NotifyAddressPrefix = "ex.com/rpc", "ex.com/note"
	p.MulticastAddress, p.UnicastAddress, p.AnycastAddress = "mc", "uc", "ac"
	lp, rp := newAddresser(Legacy, p, "", ""), newAddresser(Routable, p, "", "")
	for _, tc := range []struct{ got, want string }{
		{lp.resolve(server, serviceRPC), "srv.openstack.cap_topic.host1"},
		{lp.resolve(fanout, serviceRPC), "bc.openstack.cap_topic.all"},
		{lp.resolve(topic, serviceRPC), "grp.openstack.cap_topic"},
		{rp.resolve(server, serviceRPC), "ex.com/rpc/uc/openstack/cap_topic/host1"},
		{rp.resolve(fanout, serviceRPC), "ex.com/rpc/mc/openstack/cap_topic"},
		{rp.resolve(topic, serviceRPC), "ex.com/rpc/ac/openstack/cap_topic"},
		{rp.notifyAddress(info), "ex.com/note/ac/openstack/cap_notifications.info"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
