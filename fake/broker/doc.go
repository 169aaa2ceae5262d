// Package broker is Switchyard's fake AMQP 0-9-1 broker: a real server on a
// loopback port that behaves like RabbitMQ 3.10 for everything oslo-style
// drivers and ordinary AMQP clients use, starts in milliseconds inside a
// test, records what happens and injects faults on demand. It can also
// serve AMQP 1.0 on the same queues, as qpidd would.
//
//	b, err := broker.Start(ctx, broker.Options{})
//	defer b.Close()
//	conn, err := amqp091.Dial(b.AMQPURL())       // any AMQP 0-9-1 client
//	d, err := drivers.Open(ctx, b.URL(), cfg)     // Switchyard's rabbit driver
//
// In tests, brokertest.New(t) starts one and closes it at cleanup.
//
// # What it implements
//
// Connections: protocol header check, PLAIN and AMQPLAIN logins against
// Options.Users, tuning of channel_max, frame_max and heartbeat (heartbeats
// both ways; two missed intervals close the connection), virtual hosts,
// connection.blocked, update-secret. Exchanges: direct, fanout, topic and
// headers, the default exchange and amq.* predeclared, exchange-to-exchange
// bindings, alternate exchanges, internal and auto-delete exchanges.
// Queues: server-named, durable, exclusive and auto-delete queues,
// x-expires, x-message-ttl and per-message expiration, x-max-length and
// x-max-length-bytes with drop-head or reject-publish overflow, dead-letter
// exchanges and routing keys with RabbitMQ's x-death headers, x-queue-type
// (a quorum queue behaves as a durable classic one). Basic: qos with
// RabbitMQ's per-consumer and global prefetch, consume, cancel (also sent by
// the broker when a queue goes away), get, ack, nack, reject, recover,
// publish with mandatory returns, publisher confirms batched with multiple
// set, and transactions.
//
// Reply codes, their scope (channel or connection) and reply texts follow
// RabbitMQ 3.10; the package's protocol suite runs every case against both
// this broker and a real RabbitMQ. Where RabbitMQ ignores malformed input
// (a body longer than its header declared, a server-only method from a
// client), this broker closes the connection with the matching error.
//
// # AMQP 1.0
//
// With Options.AMQP1Addr the broker also listens for AMQP 1.0 (AMQP1URL
// gives an amqp:// URL for Switchyard's amqp1 driver and go-amqp) on the
// same virtual hosts, queues and exchanges, like qpidd: it announces
// product qpid-cpp, so oslo.messaging picks legacy addressing. A link's
// address names an existing queue or exchange, or else a queue created on
// demand; addresses matching AMQP1Options.TopicPatterns (by default
// broadcast and oslo's routable multicast prefixes) are topics, a fanout
// exchange where each receiving link gets its own subscription queue. A
// dynamic source or target gets a temporary queue that goes with its link;
// an anonymous link routes by each message's "to". Messages are accepted
// once stored, with or without a consumer. Deliveries follow link credit
// and drain; accepted removes a message, released requeues it, modified
// requeues it (counting a failed delivery) unless undeliverable-here,
// rejected drops or dead-letters it, and unsettled deliveries return to
// the queue when their link or connection goes. AMQP 1.0 messages reach
// AMQP 1.0 consumers byte for byte and AMQP 0-9-1 consumers with their
// properties mapped; the reverse works too. Each AMQP 1.0 connection takes
// part in events, counters and faults as an AMQP 0-9-1 connection would:
// a forced close is amqp:connection:forced, a closed channel a link
// detached with amqp:link:detach-forced, blocked publishers get no credit.
// The router's link faults, detach-links and withhold-credit, apply to
// AMQP 1.0 links as well.
//
// # Observing
//
// Events, Subscribe and SubscribeAll give a log of what happened to every
// message and connection (published, routed, confirmed, returned,
// delivered, acknowledged, requeued, expired, dead-lettered, dropped,
// connections opened and closed with a reason). Stats, Queue, QueueDepth
// and Connections give counters.
//
// # Faults
//
// The broker consults a fault.Consulter (by default its own
// *fault.Injector, see Faults) wherever a fault can act: it can close
// connections and channels, refuse connections, withhold, delay or nack
// publisher confirms, pause deliveries, block publishers, stop
// heartbeats, drop a publisher's connection when its next publish arrives,
// after storing it or after confirming it, and run the mutants of the contract suite (lose an
// acknowledged message, deliver one twice, confirm before routing, ignore
// prefetch). Restart simulates a broker restart.
//
// # Durability
//
// Without Options.Dir everything is in memory and Restart forgets it. With
// it, durable exchanges, queues and bindings and persistent messages on
// durable queues are appended to a log in that directory before they are
// confirmed, and come back after Restart or a new Start on the directory.
//
// # Design
//
// Each connection has a reader goroutine, which handles frames, and a
// writer goroutine, which encodes queued frames into one buffered writer
// and flushes when it runs out of work. Confirms for a burst of publishes
// are sent together as one basic.ack with multiple set. Timed work (TTLs,
// x-expires) runs on one scheduler goroutine. No goroutine is started per
// message. All broker state is guarded by one lock; the codec in
// fake/internal/amqp091 never allocates more than a peer actually sent.
package broker
