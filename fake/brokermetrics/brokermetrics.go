// Package brokermetrics exports the counters of a fake broker
// (fake/broker) as Prometheus metrics, read from the broker at scrape time.
//
//	b, err := broker.Start(ctx, broker.Options{})
//	srv, err := brokermetrics.Listen("127.0.0.1:9419", brokermetrics.Handler(b))
//	defer srv.Close()
//
// Every metric name starts with switchyard_broker_. Broker-wide series:
// message counters (published, confirmed, publish-nacked, returned,
// delivered, acked, nacked, expired, dead-lettered), connections opened,
// and gauges for open connections, blocked connections, channels,
// consumers, queues and ready and unacknowledged messages. Per queue,
// labelled vhost and queue: ready and unacknowledged messages, consumers,
// and the queue's message counters. Per exchange, labelled vhost, exchange
// and type: publishes, routed and unroutable.
//
// Counters restart from zero when the broker restarts (Broker.Restart), which
// Prometheus's rate() treats as a counter reset.
package brokermetrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-dev/switchyard/fake/broker"
	"github.com/switchyard-dev/switchyard/internal/metricshttp"
)

const prefix = "switchyard_broker_"

// totalMetric is a broker-wide counter taken from broker.Totals.
type totalMetric struct {
	desc  *prometheus.Desc
	value func(broker.Totals) uint64
}

// queueMetric is a per-queue series taken from broker.QueueStats.
type queueMetric struct {
	desc      *prometheus.Desc
	valueType prometheus.ValueType
	value     func(broker.QueueStats) float64
}

// exchangeMetric is a per-exchange counter taken from broker.ExchangeStats.
type exchangeMetric struct {
	desc  *prometheus.Desc
	value func(broker.ExchangeStats) uint64
}

func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prefix+name, help, labels, nil)
}

var (
	totals = []totalMetric{
		{newDesc("connections_opened_total", "Connections that completed the AMQP handshake."),
			func(t broker.Totals) uint64 { return t.ConnectionsOpened }},
		{newDesc("messages_published_total", "Messages published to the broker (basic.publish received)."),
			func(t broker.Totals) uint64 { return t.Published }},
		{newDesc("messages_confirmed_total", "Publisher confirms (basic.ack) sent to publishers."),
			func(t broker.Totals) uint64 { return t.Confirmed }},
		{newDesc("messages_publish_nacked_total", "Publisher negative confirms (basic.nack) sent to publishers."),
			func(t broker.Totals) uint64 { return t.PublishNacked }},
		{newDesc("messages_returned_total", "Unroutable mandatory messages returned to publishers (basic.return)."),
			func(t broker.Totals) uint64 { return t.Returned }},
		{newDesc("messages_delivered_total", "Messages delivered to consumers or by basic.get, redeliveries included."),
			func(t broker.Totals) uint64 { return t.Delivered }},
		{newDesc("messages_acked_total", "Deliveries acknowledged by consumers."),
			func(t broker.Totals) uint64 { return t.Acked }},
		{newDesc("messages_nacked_total", "Deliveries nacked or rejected by consumers."),
			func(t broker.Totals) uint64 { return t.Nacked }},
		{newDesc("messages_expired_total", "Messages whose TTL ran out in a queue."),
			func(t broker.Totals) uint64 { return t.Expired }},
		{newDesc("messages_dead_lettered_total", "Messages sent on to a dead-letter exchange."),
			func(t broker.Totals) uint64 { return t.DeadLettered }},
	}

	connectionsDesc        = newDesc("connections", "Open connections.")
	connectionsBlockedDesc = newDesc("connections_blocked", "Open connections whose publishers are blocked by an injected fault.")
	channelsDesc           = newDesc("channels", "Open channels, over all connections.")
	consumersDesc          = newDesc("consumers", "Consumers, over all queues.")
	queuesDesc             = newDesc("queues", "Queues, over all virtual hosts.")
	readyDesc              = newDesc("messages_ready", "Messages waiting in queues, over all queues.")
	unackedDesc            = newDesc("messages_unacked", "Messages delivered and not yet settled, over all queues.")

	queueLabels = []string{"vhost", "queue"}
	gauge       = prometheus.GaugeValue
	counter     = prometheus.CounterValue
	queues      = []queueMetric{
		{newDesc("queue_messages_ready", "Messages waiting in the queue.", queueLabels...), gauge,
			func(q broker.QueueStats) float64 { return float64(q.Ready) }},
		{newDesc("queue_messages_unacked", "Messages delivered from the queue and not yet settled.", queueLabels...), gauge,
			func(q broker.QueueStats) float64 { return float64(q.Unacked) }},
		{newDesc("queue_consumers", "Consumers of the queue.", queueLabels...), gauge,
			func(q broker.QueueStats) float64 { return float64(q.Consumers) }},
		{newDesc("queue_messages_published_total", "Messages put in the queue: routed publishes and dead-lettered arrivals.", queueLabels...), counter,
			func(q broker.QueueStats) float64 { return float64(q.Enqueued) }},
		{newDesc("queue_messages_delivered_total", "Deliveries from the queue, basic.get and redeliveries included.", queueLabels...), counter,
			func(q broker.QueueStats) float64 { return float64(q.Delivered) }},
		{newDesc("queue_messages_redelivered_total", "Deliveries from the queue with the redelivered flag.", queueLabels...), counter,
			func(q broker.QueueStats) float64 { return float64(q.Redelivered) }},
		{newDesc("queue_messages_acked_total", "Deliveries from the queue acknowledged.", queueLabels...), counter,
			func(q broker.QueueStats) float64 { return float64(q.Acked) }},
		{newDesc("queue_messages_nacked_total", "Deliveries from the queue nacked or rejected.", queueLabels...), counter,
			func(q broker.QueueStats) float64 { return float64(q.Nacked) }},
		{newDesc("queue_messages_requeued_total", "Messages put back in the queue after a nack, reject, recover or close.", queueLabels...), counter,
			func(q broker.QueueStats) float64 { return float64(q.Requeued) }},
		{newDesc("queue_messages_expired_total", "Messages whose TTL ran out in the queue.", queueLabels...), counter,
			func(q broker.QueueStats) float64 { return float64(q.Expired) }},
		{newDesc("queue_messages_dead_lettered_total", "Messages sent from the queue to a dead-letter exchange.", queueLabels...), counter,
			func(q broker.QueueStats) float64 { return float64(q.DeadLettered) }},
		{newDesc("queue_messages_dropped_total", "Messages the queue dropped for max-length or overflow.", queueLabels...), counter,
			func(q broker.QueueStats) float64 { return float64(q.Dropped) }},
		{newDesc("queue_messages_purged_total", "Messages removed from the queue by queue.purge.", queueLabels...), counter,
			func(q broker.QueueStats) float64 { return float64(q.Purged) }},
	}

	exchangeLabels = []string{"vhost", "exchange", "type"}
	exchanges      = []exchangeMetric{
		{newDesc("exchange_messages_published_total", "Messages published to the exchange; the default exchange is exchange=\"\".", exchangeLabels...),
			func(e broker.ExchangeStats) uint64 { return e.PublishedIn }},
		{newDesc("exchange_messages_routed_total", "Messages published to the exchange that reached at least one queue.", exchangeLabels...),
			func(e broker.ExchangeStats) uint64 { return e.Routed }},
		{newDesc("exchange_messages_unroutable_total", "Messages published to the exchange that reached no queue.", exchangeLabels...),
			func(e broker.ExchangeStats) uint64 { return e.Unroutable }},
	}
)

// Collector is a prometheus.Collector of one broker's counters. Each
// collection reads one consistent snapshot of them.
type Collector struct {
	b *broker.Broker
}

// NewCollector returns a Collector of b's counters.
func NewCollector(b *broker.Broker) *Collector {
	return &Collector{b: b}
}

// Describe sends the descriptors of every metric the Collector produces.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range totals {
		ch <- m.desc
	}
	for _, d := range []*prometheus.Desc{connectionsDesc, connectionsBlockedDesc, channelsDesc, consumersDesc, queuesDesc, readyDesc, unackedDesc} {
		ch <- d
	}
	for _, m := range queues {
		ch <- m.desc
	}
	for _, m := range exchanges {
		ch <- m.desc
	}
}

// Collect sends the current value of every metric.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.b.Stats()
	for _, m := range totals {
		ch <- prometheus.MustNewConstMetric(m.desc, counter, float64(m.value(s.Totals)))
	}
	var channels, blocked, consumers, ready, unacked int
	for _, cs := range s.Connections {
		channels += cs.Channels
		if cs.Blocked {
			blocked++
		}
	}
	for _, q := range s.Queues {
		consumers += q.Consumers
		ready += q.Ready
		unacked += q.Unacked
		for _, m := range queues {
			ch <- prometheus.MustNewConstMetric(m.desc, m.valueType, m.value(q), q.VHost, q.Name)
		}
	}
	for _, e := range s.Exchanges {
		for _, m := range exchanges {
			ch <- prometheus.MustNewConstMetric(m.desc, counter, float64(m.value(e)), e.VHost, e.Name, e.Type)
		}
	}
	for _, g := range []struct {
		desc *prometheus.Desc
		v    int
	}{
		{connectionsDesc, len(s.Connections)},
		{connectionsBlockedDesc, blocked},
		{channelsDesc, channels},
		{consumersDesc, consumers},
		{queuesDesc, len(s.Queues)},
		{readyDesc, ready},
		{unackedDesc, unacked},
	} {
		ch <- prometheus.MustNewConstMetric(g.desc, gauge, float64(g.v))
	}
}

// Handler returns an HTTP handler serving b's metrics, and those of the
// extra collectors, in the Prometheus exposition formats.
func Handler(b *broker.Broker, extra ...prometheus.Collector) http.Handler {
	return metricshttp.Handler(append([]prometheus.Collector{NewCollector(b)}, extra...)...)
}

// Server is an HTTP server for metrics started by Listen.
type Server = metricshttp.Server

// Listen serves h at /metrics on the TCP address addr (host:port; port 0
// picks a free one) until Close. It returns once the address accepts
// connections.
func Listen(addr string, h http.Handler) (*Server, error) { return metricshttp.Listen(addr, h) }
