package amqp1_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/amqp1"
	"github.com/switchyard-dev/switchyard/internal/realbroker"
)

// deadURL is a URL on which nothing listens.
func deadURL(t *testing.T) string {
	t.Helper()
	p, err := realbroker.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("amqp://127.0.0.1:%d/", p)
}

// TestBadInput: every kind of bad input gives a typed error promptly and
// leaves the driver usable (C19).
func TestBadInput(t *testing.T) {
	url := brokerURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	t.Run("malformed URL", func(t *testing.T) {
		_, err := drivers.Open(ctx, "amqp://guest:secret@host:port/", nil)
		var ue *drivers.URLError
		if !errors.As(err, &ue) || strings.Contains(err.Error(), "secret") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("unknown query option", func(t *testing.T) {
		if _, err := drivers.Open(ctx, url+"?amqp_bogus=1", nil); !errors.Is(err, drivers.ErrUnknownOption) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("query option applies", func(t *testing.T) {
		d := open(t, url+"?addressing_mode=routable", nil)
		if _, err := d.Send(ctx, drivers.Target{Topic: unique("sy_q")}, nil, drivers.Message{"method": "m"}, drivers.SendOptions{}); err != nil {
			t.Fatal(err)
		}
		if m := amqp1.CurrentMode(d); m != amqp1.Routable {
			t.Fatalf("mode %q", m)
		}
	})
	t.Run("unreachable host", func(t *testing.T) {
		d := open(t, deadURL(t), nil)
		for _, o := range []drivers.SendOptions{{}, {WaitForReply: true, Timeout: 10 * time.Second}} {
			start := time.Now()
			_, err := d.Send(ctx, drivers.Target{Topic: "x"}, nil, drivers.Message{"method": "m"}, o)
			var de *drivers.DeliveryError
			if !errors.As(err, &de) || !errors.Is(err, drivers.ErrDeliveryFailure) || de.Attempts != 1 || time.Since(start) > time.Second {
				t.Fatalf("retry 0 (%+v): %v after %v", o, err, time.Since(start))
			}
		}
		start := time.Now()
		_, err := d.Send(ctx, drivers.Target{Topic: "x"}, nil, drivers.Message{"method": "m"}, drivers.SendOptions{Retry: 2})
		var de *drivers.DeliveryError
		if !errors.As(err, &de) || de.Attempts != 3 || time.Since(start) > 2*time.Second {
			t.Fatalf("retry 2: %v after %v", err, time.Since(start))
		}
		err = d.SendNotification(ctx, drivers.Target{Topic: "x.info"}, nil, drivers.Message{}, "2.0", 0)
		if !errors.Is(err, drivers.ErrDeliveryFailure) {
			t.Fatalf("notification: %v", err)
		}
		lctx, lcancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer lcancel()
		start = time.Now()
		if _, err := d.Listen(lctx, drivers.Target{Topic: "x"}, drivers.Batch{}); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 1500*time.Millisecond {
			t.Fatalf("listen: %v after %v", err, time.Since(start))
		}
	})
	t.Run("failover to the next host", func(t *testing.T) {
		live := strings.TrimSuffix(strings.TrimPrefix(url, "amqp://"), "/")
		dead := strings.TrimSuffix(strings.TrimPrefix(deadURL(t), "amqp://"), "/")
		for range 4 { // the first host is picked at random
			d := open(t, "amqp://"+dead+","+live+"/", nil)
			topic := unique("sy_failover")
			server(t, d, drivers.Target{Topic: topic, Server: "s"})
			if got, err := call(ctx, d, drivers.Target{Topic: topic}, "echo", map[string]any{"value": 1}, drivers.SendOptions{}); err != nil || got == nil {
				t.Fatalf("call: %v %v", got, err)
			}
			d.Close()
		}
	})
	t.Run("credentials the peer refuses", func(t *testing.T) {
		// The proton example broker offers only ANONYMOUS, so PLAIN with
		// the URL's credentials is refused during SASL: an *AuthError at
		// once, never retried, even with unlimited retry. (It cannot be
		// made to check a password; a peer that checks one refuses in the
		// SASL outcome, which maps to the same error.)
		d := open(t, strings.Replace(url, "amqp://", "amqp://user:wrong@", 1), nil)
		start := time.Now()
		_, err := d.Send(ctx, drivers.Target{Topic: "x"}, nil, drivers.Message{"method": "m"}, drivers.SendOptions{Retry: -1})
		var ae *drivers.AuthError
		if !errors.As(err, &ae) || ae.User != "user" || strings.Contains(err.Error(), "wrong") || time.Since(start) > time.Second {
			t.Fatalf("cast: %v after %v", err, time.Since(start))
		}
		_, err = d.Send(ctx, drivers.Target{Topic: "x"}, nil, drivers.Message{"method": "m"}, drivers.SendOptions{WaitForReply: true, Timeout: 10 * time.Second})
		if !errors.As(err, &ae) || time.Since(start) > 2*time.Second {
			t.Fatalf("call: %v after %v", err, time.Since(start))
		}
		if _, err := d.Listen(ctx, drivers.Target{Topic: "x"}, drivers.Batch{}); !errors.As(err, &ae) {
			t.Fatalf("listen: %v", err)
		}
		cfg := fastConfig()
		cfg.AMQP.SASLDefaultRealm = "realm"
		d = open(t, strings.Replace(url, "amqp://", "amqp://user:wrong@", 1), cfg)
		_, err = d.Send(ctx, drivers.Target{Topic: "x"}, nil, drivers.Message{"method": "m"}, drivers.SendOptions{})
		if !errors.As(err, &ae) || ae.User != "user@realm" {
			t.Fatalf("sasl_default_realm: %v", err)
		}
		cfg = fastConfig()
		cfg.AMQP.SASLMechanisms = "PLAIN"
		if _, err = drivers.Open(ctx, url, cfg); err == nil || !strings.Contains(err.Error(), "sasl_mechanisms") {
			t.Fatalf("sasl_mechanisms=PLAIN without credentials: %v", err)
		}
	})
	d := open(t, url, nil)
	t.Run("empty topic and fanout call", func(t *testing.T) {
		for _, err := range []error{
			func() error {
				_, err := d.Send(ctx, drivers.Target{}, nil, drivers.Message{"method": "m"}, drivers.SendOptions{})
				return err
			}(),
			func() error {
				_, err := d.Send(ctx, drivers.Target{Topic: "t", Fanout: true}, nil, drivers.Message{"method": "m"}, drivers.SendOptions{WaitForReply: true})
				return err
			}(),
			d.SendNotification(ctx, drivers.Target{}, nil, drivers.Message{}, "2.0", 0),
			func() error { _, err := d.Listen(ctx, drivers.Target{}, drivers.Batch{}); return err }(),
			func() error {
				_, err := d.ListenForNotifications(ctx, []drivers.TargetPriority{{Target: drivers.Target{}, Priority: "info"}}, "", drivers.Batch{})
				return err
			}(),
			func() error { _, err := d.ListenForNotifications(ctx, nil, "", drivers.Batch{}); return err }(),
		} {
			if !errors.Is(err, drivers.ErrInvalidTarget) {
				t.Errorf("err = %v", err)
			}
		}
	})
	t.Run("oversized message", func(t *testing.T) {
		amqp1.SetMaxMessageSize(d, 1024)
		defer amqp1.SetMaxMessageSize(d, amqp1.MaxMessageSize)
		big := strings.Repeat("x", 2048)
		_, err := d.Send(ctx, drivers.Target{Topic: "t"}, nil, drivers.Message{"method": "m", "args": map[string]any{"b": big}}, drivers.SendOptions{})
		if !errors.Is(err, drivers.ErrMessageTooLarge) {
			t.Fatalf("cast: %v", err)
		}
		if err := d.SendNotification(ctx, drivers.Target{Topic: "t.info"}, nil, drivers.Message{"payload": big}, "2.0", 0); !errors.Is(err, drivers.ErrMessageTooLarge) {
			t.Fatalf("notification: %v", err)
		}
	})
	t.Run("unsupported envelope version", func(t *testing.T) {
		if err := d.SendNotification(ctx, drivers.Target{Topic: "t.info"}, nil, drivers.Message{}, "3.0", 0); !errors.Is(err, drivers.ErrUnsupportedVersion) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("still usable", func(t *testing.T) {
		topic := unique("sy_usable")
		server(t, d, drivers.Target{Topic: topic, Server: "s"})
		if got, err := call(ctx, d, drivers.Target{Topic: topic}, "echo", map[string]any{"value": "ok"}, drivers.SendOptions{}); err != nil || got != "ok" {
			t.Fatalf("call: %v %v", got, err)
		}
	})
}

// TestContextCancel: a cancelled call, cast wait or listen returns the
// context's error promptly and leaves nothing behind (C34; goleak checks
// the goroutines when the binary ends).
func TestContextCancel(t *testing.T) {
	d := open(t, brokerURL(t), nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	_, err := call(ctx, d, drivers.Target{Topic: unique("sy_nobody")}, "m", nil, drivers.SendOptions{Timeout: 20 * time.Second})
	if !errors.Is(err, context.Canceled) || time.Since(start) > time.Second {
		t.Fatalf("call: %v after %v", err, time.Since(start))
	}
	dead, dcancel := context.WithCancel(context.Background())
	dcancel()
	if _, err := d.Listen(dead, drivers.Target{Topic: unique("sy_c")}, drivers.Batch{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("listen: %v", err)
	}
	if _, err := d.Send(dead, drivers.Target{Topic: "t"}, nil, drivers.Message{"method": "m"}, drivers.SendOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cast: %v", err)
	}
	l, err := d.Listen(context.Background(), drivers.Target{Topic: unique("sy_c")}, drivers.Batch{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Cleanup()
	pctx, pcancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer pcancel()
	if _, err := l.Poll(pctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("poll: %v", err)
	}
}

// TestReconnect: after the broker goes away and comes back on the same
// port, the listener attaches again and calls work (C18).
func TestReconnect(t *testing.T) {
	b := startBroker(t)
	d := open(t, b.URL(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topic := unique("sy_reconnect")
	server(t, d, drivers.Target{Topic: topic, Server: "s"})
	if _, err := call(ctx, d, drivers.Target{Topic: topic}, "echo", map[string]any{"value": 1}, drivers.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	b.Stop()
	b2, err := launch(b.Port)
	if err != nil {
		t.Fatalf("restart the broker: %v", err)
	}
	t.Cleanup(b2.Stop)
	got, err := call(ctx, d, drivers.Target{Topic: topic}, "echo", map[string]any{"value": 2}, drivers.SendOptions{Retry: -1, Timeout: 20 * time.Second})
	if err != nil || got == nil {
		t.Fatalf("call after the restart: %v %v", got, err)
	}
}

// TestNoResendOfUnknownOutcome: a message written whose acknowledgement
// never comes because the connection dies is not resent, even with
// unlimited retry: the error says the outcome is unknown (C16).
func TestNoResendOfUnknownOutcome(t *testing.T) {
	b := startBroker(t)
	cfg := fastConfig()
	cfg.AMQP.PreSettled = nil // casts wait for the broker's outcome
	d := open(t, b.URL(), cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := unique("sy_ambiguous")
	if _, err := d.Send(ctx, drivers.Target{Topic: topic}, nil, drivers.Message{"method": "warm"}, drivers.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := b.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := d.Send(ctx, drivers.Target{Topic: topic}, nil, drivers.Message{"method": "m"}, drivers.SendOptions{Retry: -1})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("send returned while the broker was stopped: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	b.Stop() // SIGKILL: the connection resets
	select {
	case err := <-done:
		var de *drivers.DeliveryError
		if !errors.As(err, &de) || !de.Ambiguous || de.Attempts != 1 {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("send did not end after the connection died")
	}
}

// TestCloseDuringListen: a Listen still trying to connect when the driver
// closes returns ErrClosed at once (C33).
func TestCloseDuringListen(t *testing.T) {
	d, err := drivers.Open(context.Background(), deadURL(t), fastConfig())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := d.Listen(context.Background(), drivers.Target{Topic: "t"}, drivers.Batch{})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("listen returned before close: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	start := time.Now()
	d.Close()
	select {
	case err := <-done:
		if !errors.Is(err, drivers.ErrClosed) || time.Since(start) > time.Second {
			t.Fatalf("listen: %v after %v", err, time.Since(start))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("listen still blocked after close")
	}
}
