package router_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
	_ "github.com/switchyard-dev/switchyard/drivers/amqp1"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
	"github.com/switchyard-dev/switchyard/fake/routertest"
	"github.com/switchyard-dev/switchyard/internal/pyoslo"
	"github.com/switchyard-dev/switchyard/internal/rpctest"
)

// TestPythonNotifierPythonListener: Python oslo.messaging 14 on both sides
// of a notification through the router (routable addressing), for each of
// oslo's messaging notifier drivers. A router holds nothing, so the
// listener subscribes first.
func TestPythonNotifierPythonListener(t *testing.T) {
	pyoslo.Require(t)
	r := routertest.New(t)
	for _, driver := range []string{"messaging", "messagingv2"} {
		t.Run(driver, func(t *testing.T) {
			topic := rpctest.Unique("pynotify")
			lis := pyoslo.Start(t, pyoslo.NotifyScript, "listen", r.URL(), topic, "-", "1")
			if err := lis.WaitFor("READY", 30*time.Second); err != nil {
				t.Fatal(err)
			}
			waitCredit(t, r, "openstack.org/om/notify/anycast/openstack/"+topic+".info")
			snd := pyoslo.Start(t, pyoslo.NotifyScript, "send", r.URL(), topic, driver, `{"n": 1}`)
			if err := snd.WaitFor("SENT", 30*time.Second); err != nil {
				t.Fatal(err)
			}
			line, err := lis.Line(30 * time.Second)
			if err != nil {
				t.Fatalf("the Python listener printed nothing: %v; stderr %s", err, lis.Stderr())
			}
			m := pyLine(t, line)
			if m["event_type"] != "py.event" || m["publisher_id"] != "py.host" {
				t.Fatalf("the Python listener got %v", m)
			}
		})
	}
}

// TestGoNotifierPythonListener: Switchyard's amqp1 driver notifies (1.0
// bare and 2.0 enveloped) and Python oslo.messaging 14 listens, through
// the router.
func TestGoNotifierPythonListener(t *testing.T) {
	pyoslo.Require(t)
	r := routertest.New(t)
	d, err := drivers.Open(context.Background(), r.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, version := range []string{"1.0", "2.0"} {
		t.Run(version, func(t *testing.T) {
			topic := rpctest.Unique("gonotify")
			lis := pyoslo.Start(t, pyoslo.NotifyScript, "listen", r.URL(), topic, "-", "1")
			if err := lis.WaitFor("READY", 30*time.Second); err != nil {
				t.Fatal(err)
			}
			waitCredit(t, r, "openstack.org/om/notify/anycast/openstack/"+topic+".info")
			n, _ := envelope.NewNotification("go.host", "go.event", "info", map[string]any{"v": version}).Message()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := d.SendNotification(ctx, drivers.Target{Topic: topic + ".info"}, drivers.Context{"request_id": "req-go"}, n, version, 0); err != nil {
				t.Fatal(err)
			}
			line, err := lis.Line(30 * time.Second)
			if err != nil {
				t.Fatalf("the Python listener printed nothing: %v; stderr %s", err, lis.Stderr())
			}
			m := pyLine(t, line)
			if m["event_type"] != "go.event" || m["publisher_id"] != "go.host" {
				t.Fatalf("the Python listener got %v", m)
			}
		})
	}
}
