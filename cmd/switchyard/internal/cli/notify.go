package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
)

type notifyFlags struct {
	topic, exchange      string
	priority, eventType  string
	publisherID, version string
	context              string
	retry                int
	timeout              time.Duration
}

func (a *app) notifyCommand() *cobra.Command {
	var o notifyFlags
	cmd := &cobra.Command{
		Use:   "notify JSON-PAYLOAD",
		Short: "Send one notification",
		Long: `notify sends one notification, as oslo.messaging's Notifier does, to the
topic "<--topic>.<priority in lower case>". JSON-PAYLOAD is any JSON value;
"-" reads it from stdin. --version 2.0 (messagingv2) sends the oslo
envelope, 1.0 (messaging) the bare message. Notifications are stored by
the backend until a listener takes them. Nothing is printed.

Without --url, a configured [oslo_messaging_notifications] transport_url
is used before [DEFAULT] transport_url; without --version, a configured
[oslo_messaging_notifications] driver of "messaging" selects 1.0; without
--retry, [oslo_messaging_notifications] retry applies (default -1).`,
		Example: `  switchyard notify --topic notifications --priority info --event-type compute.instance.create.end '{"instance_id": "abc"}'
  switchyard notify --topic notifications --priority error --event-type demo.failed --publisher-id demo.host1 --version 1.0 '"bare payload"'`,
		Args: argsRange(1, 1),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error { return a.runNotify(cmd, &o, args[0]) }),
	}
	fs := cmd.Flags()
	fs.StringVar(&o.topic, "topic", "", `notification topic, such as "notifications" (required)`)
	fs.StringVar(&o.exchange, "exchange", "", "exchange (default: [DEFAULT] control_exchange, openstack)")
	fs.StringVar(&o.priority, "priority", "", "priority: "+strings.ToLower(strings.Join(envelope.Priorities, ", "))+" (required)")
	fs.StringVar(&o.eventType, "event-type", "", `event type, such as "compute.instance.create.end" (required)`)
	fs.StringVar(&o.publisherID, "publisher-id", "", `publisher id (default "switchyard.<hostname>")`)
	fs.StringVar(&o.version, "version", "2.0", "message version: 2.0 (enveloped, messagingv2) or 1.0 (bare, messaging)")
	fs.StringVar(&o.context, "context", "", `request context as a JSON object (default {}); a "request_id" is added when absent`)
	fs.IntVar(&o.retry, "retry", -1, "re-send attempts after a connection failure: 0 none, N at most N, -1 unlimited")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "how long to wait for the backend to store the notification")
	for _, f := range []string{"topic", "priority", "event-type"} {
		_ = cmd.MarkFlagRequired(f)
	}
	return cmd
}

func (a *app) runNotify(cmd *cobra.Command, o *notifyFlags, payloadText string) error {
	if o.timeout <= 0 {
		return usageErrorf("--timeout must be positive")
	}
	if o.retry < -1 {
		return usageErrorf("--retry must be -1 (unlimited) or more")
	}
	payload, err := a.readJSON("JSON-PAYLOAD", payloadText)
	if err != nil {
		return err
	}
	if o.eventType == "" {
		return usageErrorf("--event-type is empty")
	}
	if err := checkPriority(o.priority); err != nil {
		return err
	}
	publisher := o.publisherID
	if publisher == "" {
		publisher = "switchyard." + hostname()
	}
	msg, err := envelope.NewNotification(publisher, o.eventType, o.priority, payload).Message()
	if err != nil {
		return &usageError{err: err}
	}
	mctx, err := a.requestContext(o.context)
	if err != nil {
		return err
	}
	target := drivers.Target{Exchange: o.exchange, Topic: o.topic + "." + strings.ToLower(o.priority)}
	if o.topic == "" {
		return usageErrorf("--topic is empty")
	}
	if err := target.ValidateSend(false); err != nil {
		return err
	}
	s, err := a.setup(cmd, true)
	if err != nil {
		return err
	}
	version := o.version
	if !cmd.Flags().Changed("version") {
		d := s.cfg.Notifications.Driver
		if slices.Contains(d, "messaging") && !slices.Contains(d, "messagingv2") {
			version = "1.0"
		}
	}
	if version != "2.0" && version != "1.0" {
		return usageErrorf("--version must be 2.0 or 1.0, not %q", version)
	}
	retry := o.retry
	if !cmd.Flags().Changed("retry") {
		retry = s.cfg.Notifications.Retry
	}

	limit := "--timeout " + o.timeout.String()
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	defer cancel()
	d, err := s.open(ctx)
	if err != nil {
		return a.deadlineError(ctx, err, "", limit)
	}
	defer a.closeDriver(d)
	what := fmt.Sprintf("notify %s to %s", o.eventType, target)
	if err := d.SendNotification(ctx, target, mctx, msg, version, retry); err != nil {
		return a.deadlineError(ctx, &opError{what: what, err: err}, what, limit)
	}
	return nil
}

type listenFlags struct {
	topic, exchange, pool string
	priorities            []string
	count                 int
	timeout               time.Duration
}

func (a *app) listenCommand() *cobra.Command {
	var o listenFlags
	cmd := &cobra.Command{
		Use:   "listen",
		Short: "Print notifications as JSON lines",
		Long: `listen subscribes to "<--topic>.<priority>" for each --priority, as an
oslo.messaging notification listener does, and prints each notification as
one JSON line {"priority", "event_type", "publisher_id", "payload",
"message_id", "timestamp", "context"} on stdout, acknowledging it.

With --count N it exits 0 after N notifications; with --timeout it stops
after that long, exiting 3 when --count notifications have not arrived by
then, 0 otherwise. Without either it runs until SIGINT or SIGTERM.
Listeners with the same --pool share the notifications; each pool, and
each listener without one, gets its own copy.`,
		Example: `  switchyard listen --topic notifications
  switchyard listen --topic notifications --priority info --priority error --count 1 --timeout 30s
  switchyard listen --topic notifications --pool audit --exchange nova`,
		Args: argsRange(0, 0),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error { return a.runListen(cmd, &o) }),
	}
	fs := cmd.Flags()
	fs.StringVar(&o.topic, "topic", "", `notification topic, such as "notifications" (required)`)
	fs.StringSliceVar(&o.priorities, "priority", []string{"info"}, "priority to listen to (repeatable or comma-separated): "+strings.ToLower(strings.Join(envelope.Priorities, ", ")))
	fs.StringVar(&o.exchange, "exchange", "", "exchange (default: [DEFAULT] control_exchange, openstack)")
	fs.StringVar(&o.pool, "pool", "", "listener pool name: listeners of one pool share the notifications")
	fs.IntVar(&o.count, "count", 0, "exit after this many notifications (0: no limit)")
	fs.DurationVar(&o.timeout, "timeout", 0, "stop after this long (0: no limit); with --count, exit 3 if fewer arrived")
	_ = cmd.MarkFlagRequired("topic")
	return cmd
}

// subscriptions turns --priority values into the listener's subscriptions.
func (o *listenFlags) subscriptions() ([]drivers.TargetPriority, error) {
	var tps []drivers.TargetPriority
	seen := map[string]bool{}
	for _, p := range o.priorities {
		p = strings.ToLower(strings.TrimSpace(p))
		if err := checkPriority(p); err != nil {
			return nil, err
		}
		if seen[p] {
			continue
		}
		seen[p] = true
		tp := drivers.TargetPriority{Target: drivers.Target{Exchange: o.exchange, Topic: o.topic}, Priority: p}
		if err := tp.Target.ValidateListen(); err != nil {
			return nil, err
		}
		tps = append(tps, tp)
	}
	if len(tps) == 0 {
		return nil, usageErrorf("--priority is empty")
	}
	return tps, nil
}

// checkPriority accepts oslo's notification priorities, in any case.
func checkPriority(p string) error {
	if !slices.Contains(envelope.Priorities, strings.ToUpper(p)) {
		return usageErrorf("--priority %q is not one of %s", p, strings.ToLower(strings.Join(envelope.Priorities, ", ")))
	}
	return nil
}

// notificationLine is what listen prints for each notification.
type notificationLine struct {
	Priority    any             `json:"priority"`
	EventType   any             `json:"event_type"`
	PublisherID any             `json:"publisher_id"`
	Payload     any             `json:"payload"`
	MessageID   any             `json:"message_id"`
	Timestamp   any             `json:"timestamp"`
	Context     drivers.Context `json:"context"`
}

func (a *app) runListen(cmd *cobra.Command, o *listenFlags) error {
	switch {
	case o.count < 0:
		return usageErrorf("--count must not be negative")
	case o.timeout < 0:
		return usageErrorf("--timeout must not be negative")
	}
	tps, err := o.subscriptions()
	if err != nil {
		return err
	}
	s, err := a.setup(cmd, true)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	startCtx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	d, err := s.open(startCtx)
	if err != nil {
		return a.deadlineError(startCtx, err, "", "the start-up time limit")
	}
	defer a.closeDriver(d)
	var addrs []string
	for _, tp := range tps {
		addrs = append(addrs, tp.Address())
	}
	what := "listen for notifications on " + strings.Join(addrs, ", ")
	l, err := d.ListenForNotifications(startCtx, tps, o.pool, drivers.Batch{Size: 1})
	cancel()
	if err != nil {
		return a.deadlineError(startCtx, &opError{what: what, err: err}, what, "the start-up time limit")
	}
	defer a.stopListener(l)
	a.linef("listening for notifications on %s at %s", strings.Join(addrs, ", "), s.url)

	received := 0
	for o.count == 0 || received < o.count {
		msgs, err := l.Poll(ctx)
		if err != nil {
			switch {
			case cmd.Context().Err() != nil:
				return nil // interrupted: a normal way to stop
			case errors.Is(ctx.Err(), context.DeadlineExceeded):
				if o.count == 0 {
					return nil
				}
				return &opError{what: what, err: &drivers.TimeoutError{
					Op:     fmt.Sprintf("%d of %d notification(s) received", received, o.count),
					Reason: "--timeout " + o.timeout.String() + " passed",
				}}
			}
			return &opError{what: what, err: err}
		}
		for _, m := range msgs {
			if o.count > 0 && received == o.count {
				// Not acknowledged: the backend keeps it for another listener.
				continue
			}
			a.printNotification(m)
			m.Acknowledge()
			received++
		}
	}
	return nil
}

func (a *app) printNotification(m drivers.IncomingMessage) {
	msg := m.Message()
	mctx := m.Context()
	if mctx == nil {
		mctx = drivers.Context{}
	}
	line := notificationLine{
		Priority: msg["priority"], EventType: msg["event_type"], PublisherID: msg["publisher_id"],
		Payload: msg["payload"], MessageID: msg["message_id"], Timestamp: msg["timestamp"],
		Context: mctx,
	}
	if err := writeJSONLine(a.stdout, line); err != nil {
		a.warnf("print a notification: %v", err)
	}
}
