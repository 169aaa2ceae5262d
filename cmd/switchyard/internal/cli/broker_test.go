package cli

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	amqp1 "github.com/Azure/go-amqp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
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
	conn := dialBroker(t, "amqp://nova:s3cret@"+addr+"/nova")
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

// dialBroker connects to a broker command started in the background,
// waiting for it to listen.
func dialBroker(t *testing.T, url string) *amqp.Connection {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		conn, err := amqp.Dial(url)
		if err == nil {
			return conn
		}
		if time.Now().After(deadline) {
			t.Fatalf("the broker did not accept a connection: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling the port with a deadline
	}
}

// scrapeMetrics fetches and parses the Prometheus metrics at url, waiting
// for the server to listen.
func scrapeMetrics(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	client := &http.Client{Timeout: testTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(testTimeout)
	for {
		resp, err := client.Get(url)
		if err != nil {
			if time.Now().After(deadline) {
				t.Fatalf("no metrics at %s: %v", url, err)
			}
			time.Sleep(20 * time.Millisecond) // polling the port with a deadline
			continue
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", url, resp.Status)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return fams
	}
}

// metricValue returns the value of the series of name with the label
// pairs given, or fails the test.
func metricValue(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	for _, m := range fams[name].GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		match := len(got)*2 == len(labels)
		for i := 0; i+1 < len(labels); i += 2 {
			match = match && got[labels[i]] == labels[i+1]
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

// TestBrokerCommandMetrics runs the broker with --metrics-listen, publishes
// to it and reads the publishes back from its Prometheus metrics.
func TestBrokerCommandMetrics(t *testing.T) {
	addr, maddr := freeAddr(t), freeAddr(t)
	bg := start(t, "broker", "--listen", addr, "--metrics-listen", maddr)
	conn := dialBroker(t, "amqp://guest:guest@"+addr+"/")
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare("q", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for range 3 {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", "q", false, false, amqp.Publishing{Body: []byte("m")})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := dc.WaitContext(ctx); !ok || err != nil {
			t.Fatalf("confirm: %v %v", ok, err)
		}
	}
	url := "http://" + maddr + "/metrics"
	fams := scrapeMetrics(t, url)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"switchyard_broker_messages_published_total", nil, 3},
		{"switchyard_broker_messages_confirmed_total", nil, 3},
		{"switchyard_broker_connections", nil, 1},
		{"switchyard_broker_channels", nil, 1},
		{"switchyard_broker_queue_messages_ready", []string{"vhost", "/", "queue", "q"}, 3},
		{"switchyard_broker_queue_messages_published_total", []string{"vhost", "/", "queue", "q"}, 3},
	} {
		if got := metricValue(t, fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
	conn.Close()
	r := bg.stop(t)
	wantCode(t, r, ExitOK)
	if !strings.Contains(r.stderr, "broker metrics on "+url+"\n") {
		t.Fatalf("stderr %q does not give the metrics URL", r.stderr)
	}
	client := &http.Client{Timeout: testTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := client.Get(url); err == nil {
		resp.Body.Close()
		t.Fatal("metrics are still served after the broker stopped")
	}
}

// TestBrokerCommandAMQP1 runs the broker with --amqp1-listen: a message
// sent over AMQP 1.0 is consumed over AMQP 0-9-1 from the same queue.
func TestBrokerCommandAMQP1(t *testing.T) {
	addr, a1addr := freeAddr(t), freeAddr(t)
	bg := start(t, "broker", "--listen", addr, "--amqp1-listen", a1addr, "--user", "nova:s3cret")
	conn := dialBroker(t, "amqp://nova:s3cret@"+addr+"/")
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c1, err := amqp1.Dial(ctx, "amqp://"+a1addr, &amqp1.ConnOptions{SASLType: amqp1.SASLTypePlain("nova", "s3cret")})
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	if p := c1.Properties()["product"]; p != "qpid-cpp" {
		t.Fatalf("product %v", p)
	}
	s, err := c1.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	snd, err := s.NewSender(ctx, "unicast.openstack.cli", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := snd.Send(ctx, amqp1.NewMessage([]byte("over 1.0")), nil); err != nil {
		t.Fatal(err)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	d, ok, err := ch.Get("unicast.openstack.cli", true)
	if err != nil || !ok || string(d.Body) != "over 1.0" {
		t.Fatalf("get: %v %v %q", ok, err, d.Body)
	}
	c1.Close()
	conn.Close()
	r := bg.stop(t)
	wantCode(t, r, ExitOK)
	if !strings.Contains(r.stderr, "broker listening for AMQP 1.0 on "+a1addr+" (amqp://nova:****@"+a1addr+"/)") || strings.Contains(r.stderr, "s3cret") {
		t.Fatalf("stderr %q", r.stderr)
	}
	// A busy AMQP 1.0 address fails the command.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r = runCLI(t, "", "broker", "--listen", freeAddr(t), "--amqp1-listen", l.Addr().String())
	wantCode(t, r, ExitFailure)
	wantOneErrorLine(t, r.stderr)
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

	// A busy metrics address fails the command and stops the broker it
	// had started, so its port is free again.
	addr := freeAddr(t)
	r = runCLI(t, "", "broker", "--listen", addr, "--metrics-listen", busy)
	wantCode(t, r, ExitFailure)
	if !strings.Contains(r.stderr, "serve metrics on "+busy) {
		t.Fatalf("stderr %q", r.stderr)
	}
	l2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the broker's port is still taken: %v", err)
	}
	l2.Close()
}
