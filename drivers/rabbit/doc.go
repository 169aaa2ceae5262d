// Package rabbit is Switchyard's AMQP 0-9-1 driver, built on
// github.com/rabbitmq/amqp091-go, with two dialects: rabbit:// declares the
// topology and writes the messages that Python oslo.messaging 14's rabbit
// driver does, so Go and Python services on one RabbitMQ call and notify
// each other; pika:// speaks oslo's former Pika driver (see pika.go). Both
// share the connection, confirm, retry and listener machinery.
//
// Import it for its side effect of registering the schemes:
//
//	import _ "github.com/switchyard-dev/switchyard/drivers/rabbit"
//	d, err := drivers.Open(ctx, "rabbit://guest:guest@127.0.0.1:5672/", cfg)
//
// # Topology
//
// RPC requests go to the topic exchange named by the target's exchange or
// [DEFAULT] control_exchange, with queues "<topic>" and "<topic>.<server>";
// fanout goes to the fanout exchange "<topic>_fanout", where each listener
// has its own queue "<topic>_fanout_<hex>" with x-expires. Each driver has
// one reply queue "reply_<hex>" on the default exchange. A notification
// publisher declares and binds "<topic>.<priority>" before its first
// publish, so notifications wait for a listener; a pool's queue is named
// after the pool. Durability, auto-delete, HA and quorum arguments follow
// the [oslo_messaging_rabbit] options exactly as oslo computes them, so a
// Go and a Python service declaring the same queue agree.
//
// # Connections and recovery
//
// amqp091-go 1.16 has an experimental automatic recovery (Config.Recovery)
// that reconnects and replays topology and consumers. The driver does not
// use it: the API is marked experimental, and the driver must know when a
// connection was replaced, to drop deliveries it buffered from the dead
// one and to refuse to resend a publish whose confirm was lost (see below),
// which a transparent replay would hide. It runs its own recovery instead:
// every listener and the reply consumer own a
// connection and a loop that reconnects across the URL's hosts
// (kombu_failover_strategy) with oslo's back-off (rabbit_retry_interval,
// rabbit_retry_backoff, rabbit_interval_max), re-declares its topology and
// consumes again (C18). Sends use a pool of connections, each with one
// channel in confirm mode (rpc_conn_pool_size, conn_pool_min_size,
// conn_pool_ttl). Wrong credentials end the attempt at once with an
// *drivers.AuthError; they are never retried.
//
// A rabbit:// send has a pool connection to itself only while it declares
// and writes its message; it then gives the connection back and waits for
// its own confirm, so concurrent sends share a few connections and the
// broker confirms them together (oslo's pool, like pika's, holds the
// connection until the confirm; pika:// keeps that, since its pool_timeout
// and pool_max_overflow are defined by it). With 16 callers on RabbitMQ
// this takes 16 connections instead of 30 and raises the call rate by
// about 40 % (see BENCHMARKS.md). A mandatory send remembers what it wrote until its
// confirm, and a basic.return is given to the waiting send with the same
// exchange, routing key and body; at most 64 mandatory sends wait on one
// connection, so that the returns amqp091-go hands over never fill their
// channel and stall the connection's reader.
//
// # Retry without duplicates
//
// Every send waits for the publisher confirm. A send is retried (within
// retry, C14-C15) only when the broker certainly does not have the message:
// the connection could not be made, the publish was refused before it was
// written, or the broker nacked it. When the connection fails after the
// message was written and before its confirm, the outcome is unknown: the
// driver does not publish it again and fails the send with a
// *drivers.DeliveryError whose Ambiguous field is set. So the driver never
// publishes one logical message twice (C16). Receivers also drop repeated
// _unique_id values (a window of recent ids per listener), which covers a
// broker redelivering a message whose acknowledgement was lost.
//
// # Replies
//
// Replies and call-monitor heartbeats are published mandatory to the
// caller's reply queue; a NO_ROUTE return is retried every 0.25 s for
// kombu_missing_consumer_retry_timeout, after which the queue is
// remembered as gone for 60 s. The caller drops repeated replies by
// _unique_id (oslo does not) and replies for calls it no longer waits for.
//
// # Differences from oslo.messaging on the wire
//
// amqp091-go leaves out an empty headers table where kombu sends {};
// receivers treat both alike. Heartbeats cannot be switched off with
// heartbeat_timeout_threshold = 0: amqp091-go then takes the broker's.
package rabbit
