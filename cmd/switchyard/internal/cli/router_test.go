package cli

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/switchyard-dev/switchyard/drivers"
	_ "github.com/switchyard-dev/switchyard/drivers/amqp1"
)

// TestRouterCommandMesh runs two router commands linked to each other and
// calls, through the first, an RPC server attached to the second.
func TestRouterCommandMesh(t *testing.T) {
	a1, a2 := freeAddr(t), freeAddr(t)
	r1 := start(t, "router", "--listen", a1, "--container-id", "r1", "--peer", a2)
	r2 := start(t, "router", "--listen", a2, "--container-id", "r2", "--peer", a1)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	cfg := drivers.DefaultConfig()
	cfg.AMQP.ConnectionRetryInterval = 50 * time.Millisecond
	srv, err := drivers.Open(ctx, "amqp://"+a2+"/", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	target := drivers.Target{Topic: "mesh", Server: "s2"}
	l, err := srv.Listen(ctx, target, drivers.Batch{Size: 1})
	if err != nil {
		t.Fatalf("listening on the second router: %v", err)
	}
	defer l.Cleanup()
	go func() {
		for {
			msgs, err := l.Poll(ctx)
			if err != nil {
				return
			}
			for _, m := range msgs {
				m.Acknowledge()
				if rm, ok := m.(drivers.RPCIncomingMessage); ok {
					rm.Reply(ctx, "pong from r2", nil)
				}
			}
		}
	}()
	cli, err := drivers.Open(ctx, "amqp://"+a1+"/", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	// The routers link within a second or so of each other's start: call
	// until the mesh carries the call, with a deadline.
	var reply any
	for deadline := time.Now().Add(testTimeout / 2); ; {
		reply, err = cli.Send(ctx, target, nil, drivers.Message{"method": "ping"},
			drivers.SendOptions{WaitForReply: true, Timeout: time.Second, Retry: 0})
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || reply != "pong from r2" {
		t.Fatalf("call through the mesh = %v, %v", reply, err)
	}
	for _, bg := range []*background{r1, r2} {
		r := bg.stop(t)
		wantCode(t, r, ExitOK)
		if !strings.Contains(r.stderr, "router listening on ") || !strings.Contains(r.stderr, "router linked to peer ") || !strings.Contains(r.stderr, "router stopped") {
			t.Errorf("stderr %q", r.stderr)
		}
	}
}

func TestRouterCommandBadFlags(t *testing.T) {
	wantCode(t, runCLI(t, "", "router", "--user", "nopassword"), ExitUsage)
	wantCode(t, runCLI(t, "", "router", "--peer", "nocolon"), ExitUsage)
}

// TestRouterCommandMetrics runs the router with --metrics-listen, sends a
// message through it and reads the traffic back from its Prometheus
// metrics.
func TestRouterCommandMetrics(t *testing.T) {
	addr, maddr := freeAddr(t), freeAddr(t)
	bg := start(t, "router", "--listen", addr, "--metrics-listen", maddr)
	url := "http://" + maddr + "/metrics"
	// The metrics server starts after the router, so once it answers the
	// router accepts connections.
	fams := scrapeMetrics(t, url)
	if v := metricValue(t, fams, "switchyard_router_messages_received_total"); v != 0 {
		t.Fatalf("received %v before any traffic", v)
	}

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	conn, err := amqp.Dial(ctx, "amqp://"+addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	rcv, err := sess.NewReceiver(ctx, "metered", nil)
	if err != nil {
		t.Fatal(err)
	}
	snd, err := sess.NewSender(ctx, "metered", nil)
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan error, 1)
	go func() { sent <- snd.Send(ctx, amqp.NewMessage([]byte("counted")), nil) }()
	m, err := rcv.Receive(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := rcv.AcceptMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatalf("send: %v", err)
	}

	fams = scrapeMetrics(t, url)
	for name, want := range map[string]float64{
		"switchyard_router_messages_received_total":  1,
		"switchyard_router_messages_forwarded_total": 1,
		"switchyard_router_messages_accepted_total":  1,
		"switchyard_router_connections":              1,
		"switchyard_router_links":                    2,
	} {
		if got := metricValue(t, fams, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	metered := []string{"address", "metered", "distribution", "balanced"}
	if got := metricValue(t, fams, "switchyard_router_address_messages_settled_total", metered...); got != 1 {
		t.Errorf("settled on metered = %v, want 1", got)
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
	conn.Close()

	r := bg.stop(t)
	wantCode(t, r, ExitOK)
	if !strings.Contains(r.stderr, "router metrics on "+url+"\n") {
		t.Fatalf("stderr %q does not give the metrics URL", r.stderr)
	}
	client := &http.Client{Timeout: testTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := client.Get(url); err == nil {
		resp.Body.Close()
		t.Fatal("metrics are still served after the router stopped")
	}
}

// TestRouterCommandMetricsBusy: a busy metrics address fails the command
// and stops the router it had started, so its port is free again.
func TestRouterCommandMetricsBusy(t *testing.T) {
	busy := freeAddr(t)
	l, err := net.Listen("tcp", busy)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := freeAddr(t)
	r := runCLI(t, "", "router", "--listen", addr, "--metrics-listen", busy)
	wantCode(t, r, ExitFailure)
	if !strings.Contains(r.stderr, "serve metrics on "+busy) {
		t.Fatalf("stderr %q", r.stderr)
	}
	l2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the router's port is still taken: %v", err)
	}
	l2.Close()
}
