package drivers

import (
	"context"
	"time"
)

// SendOptions are the arguments of oslo's send() besides target, context and
// message.
type SendOptions struct {
	// WaitForReply makes Send a call: it blocks until the reply arrives and
	// returns it (C06). Otherwise Send is a cast (C09).
	WaitForReply bool
	// Timeout bounds a call; zero means [DEFAULT] rpc_response_timeout.
	// On expiry the call fails with ErrTimeout (C08).
	Timeout time.Duration
	// CallMonitorTimeout, when positive, fails a call whose server sends no
	// heartbeat or reply for that long (C12). oslo ignores values below 2 s
	// on the server side.
	CallMonitorTimeout time.Duration
	// Retry is the number of re-send attempts after a connection failure:
	// 0 none, N at most N, -1 unlimited (C14, C15). Retrying never
	// duplicates a message (C16).
	Retry int
	// Mandatory asks the broker to return a message no queue can take, which
	// fails the send with ErrUndeliverable (oslo's at_least_once, C17).
	Mandatory bool
}

// Batch is how a listener groups messages for Poll (C27): at most Size
// messages, returned once Size are available or Timeout has passed since the
// first one arrived. Size < 1 is treated as 1; Timeout 0 returns whatever is
// available as soon as one message is.
type Batch struct {
	Size    int
	Timeout time.Duration
}

// Features are optional capabilities a caller may require.
type Features struct {
	// Requeue: IncomingMessage.Requeue returns the message to the backend
	// for redelivery (C30).
	Requeue bool
}

// Driver is the transport driver, oslo.messaging's BaseDriver. All methods
// are safe for concurrent use.
type Driver interface {
	// Send sends msg to target (C01-C04). As a call (o.WaitForReply) it
	// blocks until the reply and returns it, or fails with ErrTimeout (C08,
	// C12, C13), a *RemoteError (C10), ErrDeliveryFailure (C14, C15) or
	// ErrUndeliverable (C17); the reply is delivered at most once (C07,
	// C11). As a cast it returns once the backend has taken the message
	// (C09, C20, C21) and the reply is nil. It honours ctx (C34).
	Send(ctx context.Context, target Target, mctx Context, msg Message, o SendOptions) (any, error)

	// SendNotification sends a notification to target, whose topic already
	// carries the priority ("<topic>.<priority>", C22). Versions below "2.0"
	// send the bare message, "2.0" the envelope (C26). It returns once the
	// backend has stored the message (C20, C23) and honours retry as Send
	// does (C14-C16).
	SendNotification(ctx context.Context, target Target, mctx Context, msg Message, version string, retry int) error

	// Listen subscribes to (exchange, topic), to (exchange, topic, server)
	// when a server is set, and to the topic's fanout (C01-C03). It returns
	// once the subscriptions are in place (C05).
	Listen(ctx context.Context, target Target, b Batch) (Listener, error)

	// ListenForNotifications subscribes to "<topic>.<priority>" for each
	// pair; only exchange and topic count (C22). A non-empty pool makes the
	// listeners of that pool share one copy (C25); a driver that cannot pool
	// returns ErrNotImplemented.
	ListenForNotifications(ctx context.Context, tps []TargetPriority, pool string, b Batch) (Listener, error)

	// RequireFeatures returns ErrNotImplemented if any requested feature is
	// unsupported (C30).
	RequireFeatures(f Features) error

	// Close releases every connection and goroutine of the driver and
	// blocks until they are gone; later calls return ErrClosed (C33).
	Close() error
}

// Listener is a poll-style subscription, oslo's PollStyleListener.
type Listener interface {
	// Poll blocks until a batch is ready as the listener's Batch says
	// (C27), ctx ends (returning ctx.Err(), C34) or the listener is stopped
	// (returning ErrClosed, C28). It never returns an empty batch with a
	// nil error.
	Poll(ctx context.Context) ([]IncomingMessage, error)
	// Stop ends the subscription: blocked and later Polls return promptly
	// (C28). Unacknowledged messages go back to the backend where it
	// stores messages (C29).
	Stop()
	// Cleanup blocks until every connection and goroutine of the listener
	// is released (C28).
	Cleanup()
}

// IncomingMessage is one received message.
type IncomingMessage interface {
	// Context is the request context that came with the message.
	Context() Context
	// Message is the application message.
	Message() Message
	// Acknowledge tells the backend the message was processed; it is never
	// redelivered afterwards (C29). It logs failures and never returns one.
	Acknowledge()
	// Requeue returns the message for redelivery, possibly to another
	// listener (C30); only where RequireFeatures(Features{Requeue: true})
	// succeeds.
	Requeue()
}

// RPCIncomingMessage is a received RPC request that expects a reply.
type RPCIncomingMessage interface {
	IncomingMessage
	// Reply sends the result, or the failure when failure is non-nil, back
	// to the caller at most once (C06, C10, C11). A *RemoteError failure
	// keeps its class, module and arguments; any other error is sent with
	// its Go type as the class. It blocks until the reply is handed to the
	// backend, logs failures and never returns one.
	Reply(ctx context.Context, result any, failure error)
	// Heartbeat tells the caller the call is still running, restarting its
	// call-monitor timer (C12).
	Heartbeat(ctx context.Context)
	// CallMonitorTimeout is the caller's call-monitor timeout, zero when
	// the caller set none; the server heartbeats every half of it.
	CallMonitorTimeout() time.Duration
}
