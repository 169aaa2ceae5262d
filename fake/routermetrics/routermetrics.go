// Package routermetrics exports the counters of a fake AMQP 1.0 router
// (fake/router) as Prometheus metrics, read from the router at scrape time.
//
//	r, err := router.Start(ctx, router.Options{})
//	srv, err := routermetrics.Listen("127.0.0.1:9420", routermetrics.Handler(r))
//	defer srv.Close()
//
// Every metric name starts with switchyard_router_. Router-wide series:
// connections opened, links attached, message counters (received,
// forwarded, accepted, rejected, released, modified, released for want of
// a consumer, dropped), and gauges for open connections, attached links,
// addresses, consumers and producers. Per address, labelled address and
// distribution: consumers, producers, the credit its consumers have given
// the router, and the address's received, forwarded, settled and released
// counters.
//
// The router keeps an address's counters only while links are attached to
// it: when the last one detaches its series go away, and they start again
// from zero when a link attaches anew, which Prometheus's rate() treats as
// a counter reset.
package routermetrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-dev/switchyard/fake/router"
	"github.com/switchyard-dev/switchyard/internal/metricshttp"
)

const prefix = "switchyard_router_"

// totalMetric is a router-wide counter taken from router.Totals.
type totalMetric struct {
	desc  *prometheus.Desc
	value func(router.Totals) uint64
}

// addressMetric is a per-address series taken from router.AddressStats.
type addressMetric struct {
	desc      *prometheus.Desc
	valueType prometheus.ValueType
	value     func(router.AddressStats) float64
}

func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prefix+name, help, labels, nil)
}

var (
	gauge   = prometheus.GaugeValue
	counter = prometheus.CounterValue

	totals = []totalMetric{
		{newDesc("connections_opened_total", "Client connections that completed the AMQP open."),
			func(t router.Totals) uint64 { return t.ConnectionsOpened }},
		{newDesc("links_attached_total", "Links attached by clients."),
			func(t router.Totals) uint64 { return t.LinksAttached }},
		{newDesc("messages_received_total", "Complete deliveries received from senders."),
			func(t router.Totals) uint64 { return t.Received }},
		{newDesc("messages_forwarded_total", "Copies of messages sent to consumers."),
			func(t router.Totals) uint64 { return t.Forwarded }},
		{newDesc("messages_accepted_total", "Senders' deliveries settled as accepted."),
			func(t router.Totals) uint64 { return t.Accepted }},
		{newDesc("messages_rejected_total", "Senders' deliveries settled as rejected."),
			func(t router.Totals) uint64 { return t.Rejected }},
		{newDesc("messages_released_total", "Senders' deliveries settled as released, with or without a consumer."),
			func(t router.Totals) uint64 { return t.Released }},
		{newDesc("messages_modified_total", "Senders' deliveries settled as modified."),
			func(t router.Totals) uint64 { return t.Modified }},
		{newDesc("messages_released_no_consumer_total", "Senders' deliveries released because no consumer had credit."),
			func(t router.Totals) uint64 { return t.ReleasedNoConsumer }},
		{newDesc("messages_dropped_total", "Presettled deliveries no consumer took, and messages dropped by mutants."),
			func(t router.Totals) uint64 { return t.Dropped }},
	}

	connectionsDesc = newDesc("connections", "Open client connections, peer routers' included.")
	linksDesc       = newDesc("links", "Links attached now, over all connections.")
	addressesDesc   = newDesc("addresses", "Addresses with attached links.")
	consumersDesc   = newDesc("consumers", "Receiving links attached now, over all addresses.")
	producersDesc   = newDesc("producers", "Sending links with an address attached now, over all addresses.")

	addressLabels = []string{"address", "distribution"}
	addresses     = []addressMetric{
		{newDesc("address_consumers", "Receiving links attached to the address.", addressLabels...), gauge,
			func(a router.AddressStats) float64 { return float64(a.Consumers) }},
		{newDesc("address_producers", "Sending links attached to the address.", addressLabels...), gauge,
			func(a router.AddressStats) float64 { return float64(a.Producers) }},
		{newDesc("address_credit", "Credit the address's consumers have given the router.", addressLabels...), gauge,
			func(a router.AddressStats) float64 { return float64(a.Credit) }},
		{newDesc("address_messages_received_total", "Deliveries received from senders for the address.", addressLabels...), counter,
			func(a router.AddressStats) float64 { return float64(a.Received) }},
		{newDesc("address_messages_forwarded_total", "Copies sent to the address's consumers.", addressLabels...), counter,
			func(a router.AddressStats) float64 { return float64(a.Forwarded) }},
		{newDesc("address_messages_settled_total", "Senders' deliveries to the address given an outcome.", addressLabels...), counter,
			func(a router.AddressStats) float64 { return float64(a.Settled) }},
		{newDesc("address_messages_released_total", "Deliveries to the address released for want of a consumer.", addressLabels...), counter,
			func(a router.AddressStats) float64 { return float64(a.Released) }},
	}
)

// Collector is a prometheus.Collector of one router's counters. Each
// collection reads one consistent snapshot of them.
type Collector struct {
	r *router.Router
}

// NewCollector returns a Collector of r's counters.
func NewCollector(r *router.Router) *Collector {
	return &Collector{r: r}
}

// Describe sends the descriptors of every metric the Collector produces.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range totals {
		ch <- m.desc
	}
	for _, d := range []*prometheus.Desc{connectionsDesc, linksDesc, addressesDesc, consumersDesc, producersDesc} {
		ch <- d
	}
	for _, m := range addresses {
		ch <- m.desc
	}
}

// Collect sends the current value of every metric.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.r.Stats()
	for _, m := range totals {
		ch <- prometheus.MustNewConstMetric(m.desc, counter, float64(m.value(s.Totals)))
	}
	var links, consumers, producers int
	for _, cs := range s.Connections {
		links += cs.Links
	}
	for _, a := range s.Addresses {
		consumers += a.Consumers
		producers += a.Producers
		for _, m := range addresses {
			ch <- prometheus.MustNewConstMetric(m.desc, m.valueType, m.value(a), a.Address, string(a.Distribution))
		}
	}
	for _, g := range []struct {
		desc *prometheus.Desc
		v    int
	}{
		{connectionsDesc, len(s.Connections)},
		{linksDesc, links},
		{addressesDesc, len(s.Addresses)},
		{consumersDesc, consumers},
		{producersDesc, producers},
	} {
		ch <- prometheus.MustNewConstMetric(g.desc, gauge, float64(g.v))
	}
}

// Handler returns an HTTP handler serving r's metrics, and those of the
// extra collectors, in the Prometheus exposition formats.
func Handler(r *router.Router, extra ...prometheus.Collector) http.Handler {
	return metricshttp.Handler(append([]prometheus.Collector{NewCollector(r)}, extra...)...)
}

// Server is an HTTP server for metrics started by Listen.
type Server = metricshttp.Server

// Listen serves h at /metrics on the TCP address addr (host:port; port 0
// picks a free one) until Close. It returns once the address accepts
// connections.
func Listen(addr string, h http.Handler) (*Server, error) { return metricshttp.Listen(addr, h) }
