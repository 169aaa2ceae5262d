// Package amqp1 is Switchyard's AMQP 1.0 driver, scheme amqp://, built on
// github.com/Azure/go-amqp. It writes and reads what Python
// oslo.messaging 14's amqp driver (the last release that has one) does, so
// Go and Python services on one AMQP 1.0 router or broker call and notify
// each other. Its options are the [oslo_messaging_amqp] group.
//
// Import it for its side effect of registering the scheme:
//
//	import _ "github.com/switchyard-dev/switchyard/drivers/amqp1"
//	d, err := drivers.Open(ctx, "amqp://127.0.0.1:5672/", cfg)
//
// # Addressing
//
// addressing_mode dynamic (the default) reads the peer's Open properties:
// a peer whose "product" is absent or "qpid-cpp" gets legacy addresses,
// any other peer (qpid-dispatch-router) routable ones (ResolveMode).
// Legacy addresses are dot-joined, "unicast.<exchange>.<topic>",
// "exclusive.<exchange>.<topic>.<server>" and
// "broadcast.<exchange>.<topic>.all"; routable ones are
// "openstack.org/om/rpc/{anycast,unicast,multicast}/<exchange>/<topic>[/<server>]"
// and "openstack.org/om/notify/anycast/<exchange>/<topic>.<priority>".
// Every prefix is an option; with pseudo_vhost the URL's virtual host is
// put into each address, otherwise it is sent as the Open hostname. A send
// goes to the multicast address when fanout is set, to the unicast one
// when a server is, else to the anycast one; an RPC server subscribes to
// all three (C01-C03). The addressing mode is decided per connection, so
// a failover to a different kind of peer changes it.
//
// # One connection, many links
//
// As oslo, a driver keeps one connection (one session) to one host of the
// URL, chosen at random first and then round-robin on failure, with
// connection_retry_interval multiplied by connection_retry_backoff up to
// connection_retry_interval_max between attempts (C18). Sends use one
// sender link per address, attached on first use and detached after
// default_sender_link_timeout unused. Each listener has one receiver link
// per address with rpc_server_credit or notify_server_credit, and a loop
// that attaches its links again after link_retry_delay (or the connection
// back-off) when a link or the connection fails. Calls share one reply
// link per connection, a receiver whose source is dynamic so the peer
// assigns its address; no call is sent before it is attached. A peer that
// cannot give a dynamic source (RabbitMQ's AMQP 1.0 plugin before 4.0)
// fails calls with a delivery failure wrapping ErrNoDynamicSource, at once
// when it refuses the link and after 10 s when it never answers the
// attach; casts and notifications still work there. The connection is dialed lazily by the
// first send or listen; wrong credentials end that attempt with an
// *drivers.AuthError and are never retried.
//
// # Messages
//
// There are no application properties and no envelope for RPC: the body
// is an AMQP value holding a string of JSON, {"request": <message>,
// "context": <context>, "call_monitor_timeout": n} for requests (the last
// key only when set), {"response": <result>} or {"failure": "<serialized
// exception>"} for replies. Notifications of version 2.0 carry the
// {"oslo.version", "oslo.message"} envelope as their "request". A call has
// a uuid4-hex message-id, reply-to the reply link's address and the
// timeout as ttl; a reply has correlation-id the request's message-id; a
// call-monitor heartbeat is a message with no body, that correlation-id
// and the caller's monitor timeout as ttl, sent pre-settled and never
// retried (C12).
//
// # Delivery
//
// Message kinds listed in pre_settled (by default rpc-cast and rpc-reply)
// are sent pre-settled: the send returns once the message is written.
// Others wait for the peer's outcome: accepted is success; released, or
// modified without delivery-failed and undeliverable-here, means the peer
// did not pass the message on, so it is sent again after link_retry_delay
// while the retry budget lasts; any other outcome is a delivery failure
// (C14, C15). A send is bounded by the call's timeout, or by
// default_send_timeout, default_notify_timeout or default_reply_timeout
// (with default_reply_retry); when that deadline passes the error is a
// timeout if the message carried a ttl and a delivery failure otherwise.
// A message is only sent again when the peer certainly does not have it:
// the connection or link could not be made, the transfer was not written,
// or the peer released it. When the connection fails after the transfer
// was written and before its outcome, the driver does not resend it and
// returns a *drivers.DeliveryError with Ambiguous set, so retrying never
// duplicates a message (C16).
//
// # Receiving
//
// RPC requests are accepted when Poll returns them, before dispatch, as
// oslo does (at most once, C29). Notifications are accepted by
// Acknowledge; Requeue releases them, which a broker delivers again (C30;
// the proton example broker drops released messages instead). Unsettled
// messages count against the link credit, so notify_server_credit is the
// listener's prefetch (C31). Heartbeat sends nothing when the caller set
// no call-monitor timeout: an unmonitored oslo caller would take the null
// body for its reply. A reply
// for no waiting call is refused with modified (delivery-failed,
// undeliverable-here), as oslo does. Notification pools are not
// implemented, as in oslo's driver (C25).
//
// # Differences from oslo.messaging
//
// drivers.SendOptions.Mandatory has no AMQP 1.0 counterpart and is
// ignored: a message no consumer can take comes back as an outcome. The
// trace option has no effect. The driver does not send
// absolute-expiry-time: oslo computes it from
// the monotonic clock, which means nothing to the peer. ssl_key_password
// (an encrypted private key) is not supported. sasl_config_dir and
// sasl_config_name, which configure Cyrus SASL, have no effect: the driver
// speaks PLAIN and ANONYMOUS itself, limited by sasl_mechanisms. Messages
// larger than MaxMessageSize, or than the peer's max-message-size, fail
// with drivers.ErrMessageTooLarge before they are sent.
package amqp1
