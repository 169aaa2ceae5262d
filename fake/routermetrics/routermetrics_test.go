package routermetrics_test

import (
	"context"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/switchyard-dev/switchyard/fake/router"
	"github.com/switchyard-dev/switchyard/fake/routermetrics"
	"github.com/switchyard-dev/switchyard/fake/routertest"
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
// exactly the pairs given (name, value, ...), failing the test when there
// is no such series or the metric is not of type typ.
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

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func dial(t *testing.T, r *router.Router) *amqp.Session {
	t.Helper()
	conn, err := amqp.Dial(ctxT(t), r.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	sess, err := conn.NewSession(ctxT(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	return sess
}

// send sends msg and returns the outcome the router gave it.
func send(t *testing.T, s *amqp.Sender, msg *amqp.Message) <-chan amqp.DeliveryState {
	out := make(chan amqp.DeliveryState, 1)
	ctx := ctxT(t)
	go func() {
		defer close(out)
		rc, err := s.SendWithReceipt(ctx, msg, nil)
		if err != nil {
			return
		}
		if st, err := rc.Wait(ctx); err == nil {
			out <- st
		}
	}()
	return out
}

// traffic drives known traffic through r: three messages to "work",
// consumed there (two accepted, one rejected), and one sent with no
// consumer, released.
func traffic(t *testing.T, r *router.Router) {
	t.Helper()
	ctx := ctxT(t)
	sess := dial(t, r)
	rcv, err := sess.NewReceiver(ctx, "work", &amqp.ReceiverOptions{Credit: 10})
	if err != nil {
		t.Fatal(err)
	}
	snd, err := sess.NewSender(ctx, "work", nil)
	if err != nil {
		t.Fatal(err)
	}
	var results []<-chan amqp.DeliveryState
	for range 3 {
		results = append(results, send(t, snd, amqp.NewMessage([]byte("hello"))))
	}
	for i := range 3 {
		m, err := rcv.Receive(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			err = rcv.AcceptMessage(ctx, m)
		} else {
			err = rcv.RejectMessage(ctx, m, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for i, res := range results {
		if st := <-res; st == nil {
			t.Fatalf("send %d got no outcome", i)
		}
	}
	anon, err := sess.NewSender(ctx, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	to := "nobody"
	msg := amqp.NewMessage([]byte("lost"))
	msg.Properties = &amqp.MessageProperties{To: &to}
	if _, ok := (<-send(t, anon, msg)).(*amqp.StateReleased); !ok {
		t.Fatal("a message with no consumer was not released")
	}
}

// TestMetricsFollowTraffic drives known traffic through the router with
// go-amqp and checks that the scraped metrics count exactly that.
func TestMetricsFollowTraffic(t *testing.T) {
	r := routertest.New(t)
	srv := httptest.NewServer(routermetrics.Handler(r))
	defer srv.Close()

	before := scrape(t, srv.URL)
	counter(t, before, "switchyard_router_messages_received_total", 0)
	gauge(t, before, "switchyard_router_connections", 0)
	gauge(t, before, "switchyard_router_addresses", 0)

	traffic(t, r)
	f := scrape(t, srv.URL)
	counter(t, f, "switchyard_router_connections_opened_total", 1)
	counter(t, f, "switchyard_router_links_attached_total", 3)
	counter(t, f, "switchyard_router_messages_received_total", 4)
	counter(t, f, "switchyard_router_messages_forwarded_total", 3)
	counter(t, f, "switchyard_router_messages_accepted_total", 2)
	counter(t, f, "switchyard_router_messages_rejected_total", 1)
	counter(t, f, "switchyard_router_messages_released_total", 1)
	counter(t, f, "switchyard_router_messages_modified_total", 0)
	counter(t, f, "switchyard_router_messages_released_no_consumer_total", 1)
	counter(t, f, "switchyard_router_messages_dropped_total", 0)
	gauge(t, f, "switchyard_router_connections", 1)
	gauge(t, f, "switchyard_router_links", 3)
	gauge(t, f, "switchyard_router_addresses", 1)
	gauge(t, f, "switchyard_router_consumers", 1)
	gauge(t, f, "switchyard_router_producers", 1)

	work := []string{"address", "work", "distribution", string(router.Balanced)}
	gauge(t, f, "switchyard_router_address_consumers", 1, work...)
	gauge(t, f, "switchyard_router_address_producers", 1, work...)
	if got := f.value(t, "switchyard_router_address_credit", dto.MetricType_GAUGE, work...); got < 1 || got > 10 {
		t.Errorf("credit %v, want between 1 and 10", got)
	}
	counter(t, f, "switchyard_router_address_messages_received_total", 3, work...)
	counter(t, f, "switchyard_router_address_messages_forwarded_total", 3, work...)
	counter(t, f, "switchyard_router_address_messages_settled_total", 3, work...)
	counter(t, f, "switchyard_router_address_messages_released_total", 0, work...)
}

// TestMetricsLint checks names, types and HELP texts against Prometheus's
// conventions, with an address present so that every metric is produced.
func TestMetricsLint(t *testing.T) {
	r := routertest.New(t)
	traffic(t, r)
	// A pedantic registry also checks that Collect sends only what
	// Describe announced.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(routermetrics.NewCollector(r))
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
		if !strings.HasPrefix(mf.GetName(), "switchyard_router_") || mf.GetHelp() == "" || len(mf.GetMetric()) == 0 {
			t.Errorf("metric %s: want the switchyard_router_ prefix, HELP text and a series", mf.GetName())
		}
		names[mf.GetName()] = true
	}
	if len(names) != 22 {
		t.Errorf("%d metrics, want 22", len(names))
	}
}

// TestListen serves metrics on a loopback port, scrapes them and stops.
func TestListen(t *testing.T) {
	r := routertest.New(t)
	srv, err := routermetrics.Listen("127.0.0.1:0", routermetrics.Handler(r, collectors.NewGoCollector()))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(srv.Addr(), "127.0.0.1:") || srv.URL() != "http://"+srv.Addr()+"/metrics" {
		t.Fatalf("Addr %q, URL %q", srv.Addr(), srv.URL())
	}
	f := scrape(t, srv.URL())
	gauge(t, f, "switchyard_router_connections", 0)
	if _, ok := f["go_goroutines"]; !ok {
		t.Error("the extra Go collector's metrics are missing")
	}
	client := &http.Client{Timeout: testTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	req, _ := http.NewRequest(http.MethodPost, srv.URL(), nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: %d", resp.StatusCode)
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
	busy, err := routermetrics.Listen("127.0.0.1:0", routermetrics.Handler(r))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if s, err := routermetrics.Listen(busy.Addr(), routermetrics.Handler(r)); err == nil {
		s.Close()
		t.Fatal("Listen on a busy address succeeded")
	}
}
