package brokermetrics_test

import (
	"context"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"

	"github.com/switchyard-dev/switchyard/fake/broker"
	"github.com/switchyard-dev/switchyard/fake/brokermetrics"
	"github.com/switchyard-dev/switchyard/fake/brokertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testTimeout = 20 * time.Second

// families is one parsed scrape.
type families map[string]*dto.MetricFamily

// scrape fetches url and parses the Prometheus text format it returns.
func scrape(t *testing.T, url string) families {
	t.Helper()
	client := &http.Client{Timeout: testTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %q", url, resp.Status, body)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		t.Fatalf("Content-Type %q, want text/plain", resp.Header.Get("Content-Type"))
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// value returns the value of the series of metric name whose labels are
// the pairs given (name, value, name, value, ...), failing the test when
// there is no such series or the metric is not of type typ.
func (f families) value(t *testing.T, name string, typ dto.MetricType, labels ...string) float64 {
	t.Helper()
	fam, ok := f[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	if fam.GetType() != typ {
		t.Fatalf("%s is a %s, want %s", name, fam.GetType(), typ)
	}
	if fam.GetHelp() == "" {
		t.Fatalf("%s has no HELP text", name)
	}
	for _, m := range fam.GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		if len(got) != len(labels)/2 {
			continue
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			if v, ok := got[labels[i]]; !ok || v != labels[i+1] {
				match = false
			}
		}
		if !match {
			continue
		}
		if typ == dto.MetricType_COUNTER {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func counter(t *testing.T, f families, name string, want float64, labels ...string) {
	t.Helper()
	if got := f.value(t, name, dto.MetricType_COUNTER, labels...); got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

func gauge(t *testing.T, f families, name string, want float64, labels ...string) {
	t.Helper()
	if got := f.value(t, name, dto.MetricType_GAUGE, labels...); got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

// TestMetricsFollowTraffic drives known traffic through the broker with
// amqp091-go and checks that the scraped metrics count exactly that.
func TestMetricsFollowTraffic(t *testing.T) {
	b := brokertest.New(t)
	srv := httptest.NewServer(brokermetrics.Handler(b))
	defer srv.Close()

	before := scrape(t, srv.URL)
	counter(t, before, "switchyard_broker_messages_published_total", 0)
	gauge(t, before, "switchyard_broker_connections", 0)
	gauge(t, before, "switchyard_broker_queues", 0)

	conn, err := amqp.Dial(b.AMQPURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"work", "idle"} {
		if _, err := ch.QueueDeclare(q, false, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ch.Consume("idle", "c1", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 10))
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for range 5 {
		if err := ch.PublishWithContext(ctx, "", "work", false, false, amqp.Publishing{Body: []byte("hello")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ch.PublishWithContext(ctx, "", "nowhere", true, false, amqp.Publishing{Body: []byte("lost")}); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		select {
		case c := <-confirms:
			if !c.Ack {
				t.Fatalf("publish %d was nacked", c.DeliveryTag)
			}
		case <-ctx.Done():
			t.Fatalf("only %d of 6 confirms arrived", i)
		}
	}
	select {
	case <-returns:
	case <-ctx.Done():
		t.Fatal("the unroutable mandatory message was not returned")
	}
	var got []amqp.Delivery
	for range 3 {
		d, ok, err := ch.Get("work", false)
		if err != nil || !ok {
			t.Fatalf("basic.get: ok %v, err %v", ok, err)
		}
		got = append(got, d)
	}
	for _, d := range got[:2] {
		if err := d.Ack(false); err != nil {
			t.Fatal(err)
		}
	}
	// basic.ack has no reply; a synchronous method on the same channel
	// returns only after the broker has handled the acks before it.
	if _, err := ch.QueueDeclarePassive("work", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}

	f := scrape(t, srv.URL)
	counter(t, f, "switchyard_broker_connections_opened_total", 1)
	counter(t, f, "switchyard_broker_messages_published_total", 6)
	counter(t, f, "switchyard_broker_messages_confirmed_total", 6)
	counter(t, f, "switchyard_broker_messages_publish_nacked_total", 0)
	counter(t, f, "switchyard_broker_messages_returned_total", 1)
	counter(t, f, "switchyard_broker_messages_delivered_total", 3)
	counter(t, f, "switchyard_broker_messages_acked_total", 2)
	counter(t, f, "switchyard_broker_messages_nacked_total", 0)
	gauge(t, f, "switchyard_broker_connections", 1)
	gauge(t, f, "switchyard_broker_connections_blocked", 0)
	gauge(t, f, "switchyard_broker_channels", 1)
	gauge(t, f, "switchyard_broker_consumers", 1)
	gauge(t, f, "switchyard_broker_queues", 2)
	gauge(t, f, "switchyard_broker_messages_ready", 2)
	gauge(t, f, "switchyard_broker_messages_unacked", 1)

	work := []string{"vhost", "/", "queue", "work"}
	gauge(t, f, "switchyard_broker_queue_messages_ready", 2, work...)
	gauge(t, f, "switchyard_broker_queue_messages_unacked", 1, work...)
	gauge(t, f, "switchyard_broker_queue_consumers", 0, work...)
	counter(t, f, "switchyard_broker_queue_messages_published_total", 5, work...)
	counter(t, f, "switchyard_broker_queue_messages_delivered_total", 3, work...)
	counter(t, f, "switchyard_broker_queue_messages_acked_total", 2, work...)
	idle := []string{"vhost", "/", "queue", "idle"}
	gauge(t, f, "switchyard_broker_queue_consumers", 1, idle...)
	counter(t, f, "switchyard_broker_queue_messages_published_total", 0, idle...)

	def := []string{"vhost", "/", "exchange", "", "type", "direct"}
	counter(t, f, "switchyard_broker_exchange_messages_published_total", 6, def...)
	counter(t, f, "switchyard_broker_exchange_messages_routed_total", 5, def...)
	counter(t, f, "switchyard_broker_exchange_messages_unroutable_total", 1, def...)

	// Requeue the unacknowledged message: it is ready again and counted.
	if err := got[2].Nack(false, true); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclarePassive("work", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	f = scrape(t, srv.URL)
	gauge(t, f, "switchyard_broker_queue_messages_ready", 3, work...)
	gauge(t, f, "switchyard_broker_queue_messages_unacked", 0, work...)
	counter(t, f, "switchyard_broker_queue_messages_nacked_total", 1, work...)
	counter(t, f, "switchyard_broker_queue_messages_requeued_total", 1, work...)
	counter(t, f, "switchyard_broker_messages_nacked_total", 1)

	// The broker counts a connection as closed once it has answered
	// connection.close; amqp091-go's Close waits for that answer.
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	f = scrape(t, srv.URL)
	gauge(t, f, "switchyard_broker_connections", 0)
	gauge(t, f, "switchyard_broker_channels", 0)
	gauge(t, f, "switchyard_broker_consumers", 0)
	counter(t, f, "switchyard_broker_connections_opened_total", 1)
}

// TestMetricsLint checks names, types and HELP texts against Prometheus's
// conventions, with a queue and exchange present so that every metric is
// produced.
func TestMetricsLint(t *testing.T) {
	b := brokertest.New(t)
	conn, err := amqp.Dial(b.AMQPURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare("q", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	// A pedantic registry also checks that Collect sends only what
	// Describe announced.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(brokermetrics.NewCollector(b))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "switchyard_broker_") || mf.GetHelp() == "" || len(mf.GetMetric()) == 0 {
			t.Errorf("metric %s: want the switchyard_broker_ prefix, HELP text and a series", mf.GetName())
		}
		names[mf.GetName()] = true
	}
	for _, name := range []string{"switchyard_broker_queue_messages_ready", "switchyard_broker_exchange_messages_routed_total", "switchyard_broker_messages_confirmed_total"} {
		if !names[name] {
			t.Errorf("no series of %s", name)
		}
	}
	if len(names) != 33 {
		t.Errorf("%d metrics, want 33", len(names))
	}
}

// TestListen serves metrics on a loopback port, scrapes them and stops.
func TestListen(t *testing.T) {
	b := brokertest.New(t, func(o *broker.Options) { o.EventLogSize = -1 })
	srv, err := brokermetrics.Listen("127.0.0.1:0", brokermetrics.Handler(b, collectors.NewGoCollector()))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(srv.Addr(), "127.0.0.1:") || srv.URL() != "http://"+srv.Addr()+"/metrics" {
		t.Fatalf("Addr %q, URL %q", srv.Addr(), srv.URL())
	}
	f := scrape(t, srv.URL())
	gauge(t, f, "switchyard_broker_connections", 0)
	if _, ok := f["go_goroutines"]; !ok {
		t.Error("the extra Go collector's metrics are missing")
	}

	client := &http.Client{Timeout: testTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/", http.StatusNotFound},
		{http.MethodGet, "/metricsx", http.StatusNotFound},
		{http.MethodPost, "/metrics", http.StatusMethodNotAllowed},
	} {
		req, _ := http.NewRequest(tc.method, "http://"+srv.Addr()+tc.path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.want)
		}
	}

	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if resp, err := client.Get(srv.URL()); err == nil {
		resp.Body.Close()
		t.Fatal("the server still answers after Close")
	}
}

func TestListenBusyAddress(t *testing.T) {
	b := brokertest.New(t)
	first, err := brokermetrics.Listen("127.0.0.1:0", brokermetrics.Handler(b))
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if s, err := brokermetrics.Listen(first.Addr(), brokermetrics.Handler(b)); err == nil {
		s.Close()
		t.Fatal("Listen on a busy address succeeded")
	}
}
