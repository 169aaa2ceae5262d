package rabbit

import (
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
)

// exchangeDecl is an exchange as oslo declares it.
type exchangeDecl struct {
	name, kind          string
	durable, autoDelete bool
}

// queueDecl is a queue as oslo declares it, with the routing keys that bind
// it to its exchange.
type queueDecl struct {
	name                string
	durable, autoDelete bool
	args                amqp.Table
	exchange            exchangeDecl
	keys                []string
	noAck               bool // consumed without acknowledgements (pika's no_ack queues)
}

// topology computes names and arguments from the options, as oslo 14's
// impl_rabbit does.
type topology struct {
	o               drivers.RabbitOptions
	controlExchange string
}

func (t topology) exchangeName(target drivers.Target) string {
	if target.Exchange != "" {
		return target.Exchange
	}
	return t.controlExchange
}

// topicExchange is the RPC and notification exchange.
func (t topology) topicExchange(name string) exchangeDecl {
	return exchangeDecl{name: name, kind: "topic",
		durable: t.o.AMQPDurableQueues || t.o.RabbitQuorumQueue, autoDelete: t.o.AMQPAutoDelete}
}

// fanoutExchange is "<topic>_fanout"; the target's exchange plays no part.
func (t topology) fanoutExchange(topic string) exchangeDecl {
	return exchangeDecl{name: topic + "_fanout", kind: "fanout",
		durable: t.o.RabbitTransientQuorumQueue, autoDelete: true}
}

// queueArgs is oslo's _get_queue_arguments.
func queueArgs(ha, quorum bool, o drivers.RabbitOptions, ttlMillis int64) amqp.Table {
	args := amqp.Table{}
	if ha {
		args["x-ha-policy"] = "all"
	}
	if quorum {
		args["x-queue-type"] = "quorum"
		if o.RabbitQuorumDeliveryLimit > 0 {
			args["x-delivery-limit"] = int64(o.RabbitQuorumDeliveryLimit)
		}
		if o.RabbitQuorumMaxMemoryLength > 0 {
			args["x-max-in-memory-length"] = int64(o.RabbitQuorumMaxMemoryLength)
		}
		if o.RabbitQuorumMaxMemoryBytes > 0 {
			args["x-max-in-memory-bytes"] = int64(o.RabbitQuorumMaxMemoryBytes)
		}
	}
	if ttlMillis > 0 {
		args["x-expires"] = ttlMillis
	}
	return args
}

func (t topology) transientTTL() int64 { return t.o.RabbitTransientQueuesTTL.Milliseconds() }

// durableQueue is a queue of the topic exchange: "<topic>", "<topic>.<server>",
// "<topic>.<priority>" or a pool's.
func (t topology) durableQueue(name, exchange string, keys ...string) queueDecl {
	return queueDecl{
		name: name, durable: t.o.AMQPDurableQueues || t.o.RabbitQuorumQueue, autoDelete: t.o.AMQPAutoDelete,
		args:     queueArgs(t.o.RabbitHAQueues, t.o.RabbitQuorumQueue, t.o, 0),
		exchange: t.topicExchange(exchange), keys: keys,
	}
}

// fanoutQueue is a listener's own "<topic>_fanout_<hex>".
func (t topology) fanoutQueue(topic string) queueDecl {
	return queueDecl{
		name: topic + "_fanout_" + envelope.NewID(), durable: t.o.RabbitTransientQuorumQueue,
		args:     queueArgs(false, t.o.RabbitTransientQuorumQueue, t.o, t.transientTTL()),
		exchange: t.fanoutExchange(topic), keys: []string{topic},
	}
}

// replyQueue is the driver's "reply_<hex>", on the default exchange.
func (t topology) replyQueue() queueDecl {
	return queueDecl{
		name: "reply_" + envelope.NewID(), durable: t.o.RabbitTransientQuorumQueue,
		args: queueArgs(false, t.o.RabbitTransientQuorumQueue, t.o, t.transientTTL()),
	}
}

// rpcQueues are what an RPC server consumes (C01-C03).
func (t topology) rpcQueues(target drivers.Target) []queueDecl {
	ex := t.exchangeName(target)
	qs := []queueDecl{t.durableQueue(target.Topic, ex, target.Topic)}
	if target.Server != "" {
		name := target.Topic + "." + target.Server
		qs = append(qs, t.durableQueue(name, ex, name))
	}
	return append(qs, t.fanoutQueue(target.Topic))
}

// notificationQueues are what a notification listener consumes: one queue
// per "<topic>.<priority>", or one queue named after the pool bound to all
// of them (C22, C25).
func (t topology) notificationQueues(tps []drivers.TargetPriority, pool string) []queueDecl {
	if pool != "" {
		var qs []queueDecl
		byExchange := map[string]int{}
		for _, tp := range tps {
			ex := t.exchangeName(tp.Target)
			i, ok := byExchange[ex]
			if !ok {
				i = len(qs)
				byExchange[ex] = i
				qs = append(qs, t.durableQueue(pool, ex))
			}
			qs[i].keys = append(qs[i].keys, tp.Address())
		}
		return qs
	}
	var qs []queueDecl
	for _, tp := range tps {
		addr := tp.Address()
		qs = append(qs, t.durableQueue(addr, t.exchangeName(tp.Target), addr))
	}
	return qs
}

func declareExchange(ch *amqp.Channel, e exchangeDecl) error {
	if e.name == "" {
		return nil // the default exchange
	}
	return ch.ExchangeDeclare(e.name, e.kind, e.durable, e.autoDelete, false, false, nil)
}

// declareQueue declares the queue, its exchange and its bindings.
func declareQueue(ch *amqp.Channel, q queueDecl) error {
	if err := declareExchange(ch, q.exchange); err != nil {
		return err
	}
	if _, err := ch.QueueDeclare(q.name, q.durable, q.autoDelete, false, false, q.args); err != nil {
		return err
	}
	for _, k := range q.keys {
		if err := ch.QueueBind(q.name, k, q.exchange.name, false, nil); err != nil {
			return err
		}
	}
	return nil
}
