package cli

import (
	"net"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestBrokerCommand runs the fake broker as a server, talks AMQP 0-9-1 to
// it as the configured user, and stops it.
func TestBrokerCommand(t *testing.T) {
	addr := freeAddr(t)
	bg := start(t, "broker", "--listen", addr, "--user", "nova:s3cret", "--vhost", "nova")
	var conn *amqp.Connection
	deadline := time.Now().Add(testTimeout)
	for {
		var err error
		conn, err = amqp.Dial("amqp://nova:s3cret@" + addr + "/nova")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the broker did not accept a connection: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling the port with a deadline
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare("q", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := amqp.Dial("amqp://guest:guest@" + addr + "/"); err == nil {
		t.Fatal("guest was let in although only nova was configured")
	}
	conn.Close()
	r := bg.stop(t)
	wantCode(t, r, ExitOK)
	if !strings.Contains(r.stderr, "broker listening on "+addr) || strings.Contains(r.stderr, "s3cret") || !strings.Contains(r.stderr, "broker stopped") {
		t.Fatalf("stderr %q", r.stderr)
	}
}

func TestBrokerCommandBadInput(t *testing.T) {
	wantCode(t, runCLI(t, "", "broker", "--user", "nopassword"), ExitUsage)
	busy := freeAddr(t)
	l, err := net.Listen("tcp", busy)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r := runCLI(t, "", "broker", "--listen", busy)
	wantCode(t, r, ExitFailure)
	wantOneErrorLine(t, r.stderr)
}
