package cli

import (
	"context"
	"strings"
	"testing"
	"time"

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
