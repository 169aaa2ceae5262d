// Package amqp10conn is a server-side AMQP 1.0 connection engine: it runs
// one accepted connection through the protocol headers, SASL (ANONYMOUS
// and PLAIN), open negotiation, sessions with transfer windows and links
// with credit, and reports what the peer does to a Handler. The fake
// router and the fake broker's AMQP 1.0 listener build on it; the engine
// itself keeps no messages and makes no routing decisions.
//
// # Threads and locks
//
// Run reads and processes frames on the caller's goroutine and writes on
// a goroutine of its own. Handler methods are called on the reading
// goroutine, one at a time, with no engine lock held, so a handler may
// call any method of any Conn, Link, Incoming or Outgoing, including
// those of the connection it is called for. Those methods are safe for
// concurrent use; they only queue frames and never block on the network.
//
// # Errors and their scope
//
// A protocol error closes only what it concerns: a link error (a transfer
// beyond credit, a message over max-message-size, a bad delivery tag)
// detaches the link, a session error (a frame for an unattached handle,
// an attach on a handle in use, a window violation) ends the session, and
// anything else (undecodable or oversized frames, begin on a channel in
// use, frames on a channel without a session) closes the connection. The
// engine never allocates on the strength of a size or count the peer
// claims: frames larger than the max-frame-size it announced are refused
// before their body is read, and message buffers grow with the bytes that
// actually arrive, up to the configured maximum message size.
package amqp10conn
