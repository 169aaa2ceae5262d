package broker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
	"github.com/switchyard-dev/switchyard/internal/pyoslo"
	"github.com/switchyard-dev/switchyard/internal/rpctest"
)

// TestAMQP1PythonNotifierPythonListener: Python oslo.messaging 14 on both
// sides of a notification through the broker's AMQP 1.0 port (legacy
// addressing), for each of oslo's messaging notifier drivers; the
// notification is sent before the listener subscribes, and kept.
func TestAMQP1PythonNotifierPythonListener(t *testing.T) {
	pyoslo.Require(t)
	b := newA1Broker(t)
	for _, driver := range []string{"messaging", "messagingv2"} {
		t.Run(driver, func(t *testing.T) {
			topic := rpctest.Unique("pynotify")
			snd := pyoslo.Start(t, pyoslo.NotifyScript, "send", b.AMQP1URL(), topic, driver, `{"n": 1}`)
			if err := snd.WaitFor("SENT", 30*time.Second); err != nil {
				t.Fatal(err)
			}
			lis := pyoslo.Start(t, pyoslo.NotifyScript, "listen", b.AMQP1URL(), topic, "-", "1")
			if err := lis.WaitFor("READY", 30*time.Second); err != nil {
				t.Fatal(err)
			}
			line, err := lis.Line(30 * time.Second)
			if err != nil {
				t.Fatalf("the Python listener printed nothing: %v; stderr %s", err, lis.Stderr())
			}
			if !strings.Contains(line, `"event_type": "py.event"`) || !strings.Contains(line, `"publisher_id": "py.host"`) {
				t.Fatalf("the Python listener got %s", line)
			}
		})
	}
}

// TestAMQP1GoNotifierPythonListener: Switchyard's amqp1 driver notifies
// (1.0 bare and 2.0 enveloped) through the broker's AMQP 1.0 port and
// Python oslo.messaging 14 listens.
func TestAMQP1GoNotifierPythonListener(t *testing.T) {
	pyoslo.Require(t)
	b := newA1Broker(t)
	d, err := drivers.Open(context.Background(), b.AMQP1URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, version := range []string{"1.0", "2.0"} {
		t.Run(version, func(t *testing.T) {
			topic := rpctest.Unique("gonotify")
			n, _ := envelope.NewNotification("go.host", "go.event", "info", map[string]any{"v": version}).Message()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := d.SendNotification(ctx, drivers.Target{Topic: topic + ".info"}, drivers.Context{"request_id": "req-go"}, n, version, 0); err != nil {
				t.Fatal(err)
			}
			lis := pyoslo.Start(t, pyoslo.NotifyScript, "listen", b.AMQP1URL(), topic, "-", "1")
			line, err := lis.Line(30 * time.Second) // READY
			if err == nil && line == "READY" {
				line, err = lis.Line(30 * time.Second)
			}
			if err != nil {
				t.Fatalf("the Python listener printed nothing: %v; stderr %s", err, lis.Stderr())
			}
			if !strings.Contains(line, `"event_type": "go.event"`) || !strings.Contains(line, `"publisher_id": "go.host"`) {
				t.Fatalf("the Python listener got %s", line)
			}
		})
	}
}
