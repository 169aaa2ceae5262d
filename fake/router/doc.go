// Package router is Switchyard's fake AMQP 1.0 router: a real server on a
// loopback port that routes messages between clients the way qpid-dispatch
// (qdrouterd) does for oslo.messaging's amqp:// driver, holds no messages,
// records what happens and injects faults on demand.
//
//	r, err := router.Start(ctx, router.Options{})
//	defer r.Close()
//	d, err := drivers.Open(ctx, r.URL(), cfg) // Switchyard's amqp1 driver
//
// In tests, routertest.New(t) starts one and closes it at cleanup.
//
// # Routing
//
// Each address takes its distribution from the longest matching prefix in
// Options.Addresses (DefaultAddresses by default, the configuration the
// oslo.messaging AMQP 1.0 guide gives qdrouterd): closest, balanced (the
// consumer with the fewest unsettled deliveries) or multicast. A receiving
// link with a dynamic source gets a router-assigned address with closest
// distribution. A sending link without a target address routes each
// message by its "to" property.
//
// Credit flows from consumers to senders: a sending link is topped up
// with credit for its address (up to Options.Credit) only while consumers
// with credit exist; credit already granted is never taken back (a sender
// may have used it), so a message can arrive when no consumer has credit:
// it then waits on a consumer's link until that consumer grants credit
// (at most Options.Credit copies per link, as qpid-dispatch keeps
// undelivered messages on an outgoing link). The router stores nothing for
// addresses without consumers.
//
// Settlement is end to end: an unsettled delivery is forwarded unsettled
// and the sender gets the consumer's outcome; with no consumer it is
// released at once (a presettled one is dropped); a multicast delivery is
// rejected if any copy was rejected, else accepted if any was accepted,
// else modified if any was, else released; a copy whose consumer detaches
// unsettled counts as modified (delivery-failed), one still waiting for
// credit as released.
//
// # Mesh
//
// Routers can be linked (Connect, or Mesh for a full mesh): a router
// subscribes at each peer for the addresses its own clients consume from,
// so a message sent to any router reaches consumers on all of them, once
// per router for multicast, with the sender getting the far consumer's
// outcome. Closest prefers the sending router's own consumers. Dynamic
// addresses carry the router's container-id, so meshed routers need
// distinct ones. This is a model of qpid-dispatch's mesh for tests, not
// its inter-router protocol.
//
// # Faults
//
// The router consults a fault.Consulter with Point.Queue set to the
// address and Point.Connection to the client's container-id:
// CloseConnections (close amqp:connection:forced), RefuseConnections,
// DetachLinks (amqp:link:detach-forced), WithholdCredit,
// WithholdDispositions, ReleaseDeliveries and ModifyDeliveries (a sender's
// delivery answered released, or modified with delivery-failed, instead of
// routed), StopHeartbeats (no keepalive frames) and the EarlyAck mutant, which settles senders' deliveries as accepted before any
// consumer has them. Two more mutants: with LoseAcknowledged the router
// settles a sender's delivery as accepted and forwards the message to no
// one (the event log records it as dropped); with DuplicateDelivery it
// forwards each message twice, the sender getting one outcome once both
// copies are settled.
//
// A Partition fault, with Point.Connection set to a peer router's
// container-id, cuts a mesh link without closing it: the router forwards
// nothing to that peer's subscriptions and grants senders no credit on
// their account, so a message for an address consumed only there is
// released (or waits for credit); copies waiting for the peer's credit are
// released. Disabling the fault heals the link. It acts on messages sent
// to the router that has it; for a partition both ways, enable it on both
// routers. The router consults it whenever it weighs a peer's
// subscription, so a Probability, Skip or Limit counts those
// consultations, not messages.
//
// # Metrics
//
// Package fake/routermetrics exports Stats as Prometheus metrics.
package router
