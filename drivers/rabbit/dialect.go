package rabbit

import (
	"strconv"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
)

// route is where one message goes and what must exist first.
type route struct {
	exchange  exchangeDecl
	key       string
	mandatory bool
	// queue is declared and bound before the first publish (rabbit's
	// notifications), or after a return when declareOnReturn is set
	// (pika's notifications).
	queue           *queueDecl
	declareOnReturn bool
}

// sendKind tells the dialect which retry delay applies.
type sendKind int

const (
	sendRPC sendKind = iota
	sendNotification
	sendReply
)

// dialect is what differs between oslo's rabbit and pika drivers on one
// AMQP 0-9-1 broker: names, declarations and the message format. The
// connection, confirm, retry and listener machinery is shared.
type dialect interface {
	// scheme is the URL scheme, for messages.
	scheme() string

	requestRoute(t drivers.Target, retry int) route
	// encodeRequest builds a request or cast; timeout is the call's
	// remaining time (0 for a cast).
	encodeRequest(o envelope.Outgoing, timeout time.Duration) (amqp.Publishing, error)
	notificationRoute(t drivers.Target) route
	encodeNotification(msg drivers.Message, ctx drivers.Context, version string) (amqp.Publishing, error)

	replyQueue() queueDecl
	replyRoute(queue string) route
	encodeReply(r envelope.Reply) (amqp.Publishing, error)
	decodeReply(del amqp.Delivery, allowed []string) (*envelope.Reply, error)
	// missingReplyQueueRetry is how long a reply to a missing queue is
	// tried again (0: not at all).
	missingReplyQueueRetry() time.Duration

	rpcQueues(t drivers.Target) []queueDecl
	notificationQueues(tps []drivers.TargetPriority, pool string) []queueDecl
	decodeRequest(del amqp.Delivery) (*envelope.Incoming, error)
	prefetch(kind listenerKind) int

	// retryDelay is the pause before resend n (n ≥ 1).
	retryDelay(kind sendKind, n int) time.Duration
	// heartbeats reports whether call-monitor heartbeats exist.
	heartbeats() bool
}

// rabbitDialect is oslo.messaging's rabbit driver.
type rabbitDialect struct {
	topology
	conn *connector
}

func (r rabbitDialect) scheme() string { return "rabbit" }

func (r rabbitDialect) requestRoute(t drivers.Target, _ int) route {
	switch {
	case t.Fanout:
		return route{exchange: r.fanoutExchange(t.Topic)}
	case t.Server != "":
		return route{exchange: r.topicExchange(r.exchangeName(t)), key: t.Topic + "." + t.Server}
	}
	return route{exchange: r.topicExchange(r.exchangeName(t)), key: t.Topic}
}

func jsonPublishing(body []byte) amqp.Publishing {
	return amqp.Publishing{ContentType: "application/json", ContentEncoding: "utf-8", DeliveryMode: amqp.Persistent, Body: body}
}

func (r rabbitDialect) encodeRequest(o envelope.Outgoing, timeout time.Duration) (amqp.Publishing, error) {
	body, err := o.Encode(envelope.Version)
	if err != nil {
		return amqp.Publishing{}, err
	}
	p := jsonPublishing(body)
	if o.MsgID != "" && timeout > 0 {
		p.Expiration = expiration(timeout)
	}
	return p, nil
}

func (r rabbitDialect) notificationRoute(t drivers.Target) route {
	q := r.durableQueue(t.Topic, r.exchangeName(t), t.Topic)
	return route{exchange: q.exchange, key: t.Topic, queue: &q}
}

func (r rabbitDialect) encodeNotification(msg drivers.Message, ctx drivers.Context, version string) (amqp.Publishing, error) {
	body, err := envelope.Outgoing{Message: msg, Context: ctx}.Encode(version)
	if err != nil {
		return amqp.Publishing{}, err
	}
	return jsonPublishing(body), nil
}

func (r rabbitDialect) replyRoute(queue string) route {
	return route{key: queue, mandatory: true}
}

func (r rabbitDialect) encodeReply(rep envelope.Reply) (amqp.Publishing, error) {
	body, err := rep.Encode()
	if err != nil {
		return amqp.Publishing{}, err
	}
	return jsonPublishing(body), nil
}

func (r rabbitDialect) decodeReply(del amqp.Delivery, allowed []string) (*envelope.Reply, error) {
	return envelope.DecodeReply(del.Body, allowed)
}

func (r rabbitDialect) missingReplyQueueRetry() time.Duration {
	return r.o.KombuMissingConsumerRetryTimeout
}

func (r rabbitDialect) decodeRequest(del amqp.Delivery) (*envelope.Incoming, error) {
	return envelope.Decode(del.Body)
}

func (r rabbitDialect) prefetch(listenerKind) int { return r.o.RabbitQoSPrefetchCount }

func (r rabbitDialect) retryDelay(_ sendKind, n int) time.Duration { return r.conn.backoff(n) }

func (r rabbitDialect) heartbeats() bool { return true }

// expiration is the AMQP expiration property for a timeout, in whole
// milliseconds as oslo writes it.
func expiration(d time.Duration) string {
	return strconv.FormatInt(d.Milliseconds(), 10)
}
