package amqp1_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/amqp1"
	"github.com/switchyard-dev/switchyard/internal/pyoslo"
	"github.com/switchyard-dev/switchyard/internal/realbroker"
)

// startPeer runs testdata/peer.py, which settles each message by its
// address, and returns its URL.
func startPeer(t *testing.T) (string, *pyoslo.Process) {
	t.Helper()
	port, err := realbroker.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	p := pyoslo.Start(t, readTestdata(t, "peer.py"), fmt.Sprintf("127.0.0.1:%d", port))
	if err := p.WaitFor("READY", 15*time.Second); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("amqp://127.0.0.1:%d/", port), p
}

// received reads the peer's "GOT <address> <n>" lines until quiet for
// 300 ms and counts those whose address contains topic.
func received(t *testing.T, p *pyoslo.Process, topic string) int {
	t.Helper()
	n := 0
	for {
		line, err := p.Line(300 * time.Millisecond)
		if err != nil {
			return n
		}
		if strings.HasPrefix(line, "GOT ") && strings.Contains(line, topic) {
			n++
		}
	}
}

// TestOutcomes: released and modified messages are sent again after
// link_retry_delay within retry, never twice once accepted; rejected,
// undeliverable and detached ones fail at once, a detach in mid-send as
// an unknown outcome that is not resent (WIRE.md §4.4, C14-C16).
func TestOutcomes(t *testing.T) {
	url, peer := startPeer(t)
	cfg := fastConfig()
	cfg.AMQP.PreSettled = nil // wait for every outcome
	d := open(t, url, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cast := func(topic string, o drivers.SendOptions) error {
		_, err := d.Send(ctx, drivers.Target{Topic: topic}, nil, drivers.Message{"method": "m"}, o)
		return err
	}
	for _, tc := range []struct {
		name      string
		retry     int
		ok        bool
		attempts  int
		ambiguous bool
	}{
		{"release-2", 2, true, 3, false},
		{"release-2", 1, false, 2, false},
		{"modify-1", 1, true, 2, false},
		{"undeliverable", -1, false, 1, false},
		{"reject", -1, false, 1, false},
		{"detach", -1, false, 1, true},
		{"accept", 0, true, 1, false},
	} {
		t.Run(fmt.Sprintf("%s retry %d", tc.name, tc.retry), func(t *testing.T) {
			topic := unique(tc.name)
			err := cast(topic, drivers.SendOptions{Retry: tc.retry})
			var de *drivers.DeliveryError
			switch {
			case tc.ok && err != nil:
				t.Fatalf("err = %v", err)
			case !tc.ok && (!errors.As(err, &de) || de.Attempts != tc.attempts || de.Ambiguous != tc.ambiguous):
				t.Fatalf("err = %#v (%v)", err, err)
			}
			if got := received(t, peer, topic); got != tc.attempts {
				t.Fatalf("the peer got %d copies, want %d", got, tc.attempts)
			}
		})
	}
	t.Run("refused address", func(t *testing.T) {
		start := time.Now()
		err := cast(unique("refuse"), drivers.SendOptions{})
		var de *drivers.DeliveryError
		if !errors.As(err, &de) || de.Attempts != 1 || time.Since(start) > time.Second {
			t.Fatalf("retry 0: %v after %v", err, time.Since(start))
		}
		if err := cast(unique("refuse"), drivers.SendOptions{Retry: 2}); !errors.As(err, &de) || de.Attempts != 3 {
			t.Fatalf("retry 2: %v", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		// Released forever: a cast with a timeout carries it as ttl and
		// ends in a timeout; without one, default_send_timeout ends it
		// in a delivery failure (§4.4).
		start := time.Now()
		err := cast(unique("release-1000"), drivers.SendOptions{Retry: -1, Timeout: 500 * time.Millisecond})
		if !errors.Is(err, drivers.ErrTimeout) || time.Since(start) > 1500*time.Millisecond {
			t.Fatalf("with timeout: %v after %v", err, time.Since(start))
		}
		cfg := fastConfig()
		cfg.AMQP.PreSettled = nil
		cfg.AMQP.DefaultSendTimeout = 500 * time.Millisecond
		cfg.AMQP.DefaultNotifyTimeout = 500 * time.Millisecond
		d2 := open(t, url, cfg)
		_, err = d2.Send(ctx, drivers.Target{Topic: unique("release-1000")}, nil, drivers.Message{"method": "m"}, drivers.SendOptions{Retry: -1})
		if !errors.Is(err, drivers.ErrDeliveryFailure) {
			t.Fatalf("without timeout: %v", err)
		}
		err = d2.SendNotification(ctx, drivers.Target{Topic: unique("release-1000") + ".info"}, nil, drivers.Message{}, "2.0", -1)
		if !errors.Is(err, drivers.ErrDeliveryFailure) {
			t.Fatalf("notification: %v", err)
		}
	})
	t.Run("no dynamic source", func(t *testing.T) {
		// RabbitMQ 3.10's plugin cannot give the reply link an address:
		// calls fail at once with a clear error; casts still work.
		start := time.Now()
		_, err := call(ctx, d, drivers.Target{Topic: unique("accept")}, "m", nil, drivers.SendOptions{Retry: -1, Timeout: 20 * time.Second})
		if !errors.Is(err, amqp1.ErrNoDynamicSource) || !errors.Is(err, drivers.ErrDeliveryFailure) || time.Since(start) > 2*time.Second {
			t.Fatalf("call: %v after %v", err, time.Since(start))
		}
		if err := cast(unique("accept"), drivers.SendOptions{}); err != nil {
			t.Fatalf("cast: %v", err)
		}
	})
}

// TestConnectionOpen: container_name, the Open properties oslo sends,
// idle_timeout, and the virtual host as Open hostname when pseudo_vhost
// is off.
func TestConnectionOpen(t *testing.T) {
	url, peer := startPeer(t)
	cfg := fastConfig()
	cfg.AMQP.ContainerName = "sy-container"
	cfg.AMQP.IdleTimeout = 7 * time.Second
	cfg.AMQP.PseudoVhost = false
	d := open(t, strings.TrimSuffix(url, "/")+"/vhost1", cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := d.Send(ctx, drivers.Target{Topic: unique("accept")}, nil, drivers.Message{"method": "m"}, drivers.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	var conn map[string]any
	for conn == nil {
		line, err := peer.Line(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if rest, ok := strings.CutPrefix(line, "CONN "); ok {
			conn = decodeLine(t, rest)
		}
	}
	props, _ := conn["properties"].(map[string]any)
	// Like proton (and so oslo), go-amqp advertises half its idle time-out.
	if conn["container"] != "sy-container" || conn["hostname"] != "vhost1" || conn["idle_timeout"] != json.Number("3.5") ||
		props["process"] == nil || props["pid"] == nil || props["node"] == nil {
		t.Fatalf("open: %v", conn)
	}
	// With pseudo_vhost (the default) the vhost goes into the addresses
	// instead, and the generated container id follows oslo's pattern.
	d2 := open(t, strings.TrimSuffix(url, "/")+"/vhost1", nil)
	topic := unique("accept")
	if _, err := d2.Send(ctx, drivers.Target{Topic: topic}, nil, drivers.Message{"method": "m"}, drivers.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	conn = nil
	var got string
	for got == "" {
		line, err := peer.Line(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if rest, ok := strings.CutPrefix(line, "CONN "); ok {
			conn = decodeLine(t, rest)
		}
		if strings.HasPrefix(line, "GOT ") && strings.Contains(line, topic) {
			got = line
		}
	}
	if c, _ := conn["container"].(string); !strings.HasPrefix(c, "openstack.org/om/container/") || conn["hostname"] == "vhost1" {
		t.Fatalf("open: %v", conn)
	}
	if !strings.HasPrefix(got, "GOT unicast.vhost1.openstack."+topic) {
		t.Fatalf("address with pseudo_vhost: %s", got)
	}
}

// TestRequeue: Requeue releases a notification and a peer that delivers
// released messages again hands it back; Acknowledge accepts it (C29,
// C30). The proton example broker drops released messages, so this runs
// against the test peer.
func TestRequeue(t *testing.T) {
	url, peer := startPeer(t)
	d := open(t, url, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := d.RequireFeatures(drivers.Features{Requeue: true}); err != nil {
		t.Fatal(err)
	}
	l, err := d.ListenForNotifications(ctx, []drivers.TargetPriority{{Target: drivers.Target{Topic: unique("requeue")}, Priority: "info"}}, "", drivers.Batch{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Cleanup()
	expectLine := func(want string) {
		t.Helper()
		for {
			line, err := peer.Line(5 * time.Second)
			if err != nil {
				t.Fatalf("waiting for %s: %v", want, err)
			}
			if line == want {
				return
			}
		}
	}
	for i, settle := range []func(drivers.IncomingMessage){drivers.IncomingMessage.Requeue, drivers.IncomingMessage.Acknowledge} {
		msgs, err := l.Poll(ctx)
		if err != nil || len(msgs) != 1 || msgs[0].Message()["message_id"] != "m-requeue" || msgs[0].Context()["request_id"] != "req-peer" {
			t.Fatalf("poll %d: %v %v", i, msgs, err)
		}
		settle(msgs[0])
		expectLine([]string{"RELEASED", "ACCEPTED"}[i])
	}
}
