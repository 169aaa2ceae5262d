package rabbit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
)

// The pika:// dialect is oslo.messaging's Pika driver (removed in 6.0.0),
// read from its last release. It shares this package's connection,
// confirm, retry and listener machinery and differs in names and format:
//
//   - three direct exchanges, auto-delete: default_rpc_exchange
//     ("${control_exchange}_rpc"), rpc_reply_exchange
//     ("${control_exchange}_rpc_reply") and default_notification_exchange
//     ("${control_exchange}_notification"); a target's exchange replaces
//     the RPC or notification one;
//   - RPC queues "no_ack.<topic>[.<server>]" and "with_ack.<topic>[.<server>]"
//     (a send picks no_ack when its retry is 0; those queues are consumed
//     without acknowledgements), per-worker fanout queues
//     "<ack>.<topic>.<server>.worker.<hex>" bound with
//     "<ack>.<topic>.all_workers", all non-durable with x-expires =
//     rpc_queue_expiration;
//   - the reply queue "reply.<project>.<prog>.<hex>" on the reply exchange;
//     Switchyard names the project "switchyard" and the program after
//     argv[0];
//   - notification queues "<topic>.<priority>" (or the pool's name),
//     durable when notification_persistence is set, declared when a publish
//     comes back unroutable, then the publish is retried;
//   - RPC sends are mandatory only when SendOptions.Mandatory asks, as in
//     the rabbit dialect (Pika made every send mandatory), so a cast no
//     queue takes is dropped, not failed (C17); notifications stay
//     mandatory, which is how their queue gets declared;
//   - failures carry the exception's args and kwargs as "a" and "k" beside
//     Pika's "c", "m", "s" and "t" (Pika's receivers ignore them), so a
//     Go caller sees them (C10);
//   - failures from builtins are rebuilt (Rebuilt set) as oslo's other
//     drivers do, where Pika rebuilt only allowed_remote_exmods;
//   - a listener without a server also gets a worker queue, so fanout
//     reaches it (C03); Pika's RPC servers always had a server;
//   - messages: JSON with the context as "_$_<key>" keys and no envelope,
//     properties content_type, headers {"version": "1.0"}, message_id (the
//     unique id), correlation_id and reply_to for calls, expiration for
//     calls, delivery mode 1 (2 for persistent notifications); replies
//     {"s": result} or {"e": {"c": class, "m": module, "s": message,
//     "t": traceback}}.
//
// Options follow the Pika deployment guide's defaults where the last
// release's code differs: pool_max_size 10 (code: 30) and
// heartbeat_interval 1 (code: 3). Differences from that driver:
// default_serializer_type msgpack is not implemented (json only); the
// Pika driver knew no call-monitor heartbeats, so CallMonitorTimeout is
// ignored; heartbeat_interval 0 cannot switch heartbeats off through
// amqp091-go (the broker's interval applies); there is one pool, always
// with publisher confirms, where Pika kept a second one without.

const (
	pikaVersionHeader = "version"
	pikaVersion       = "1.0"
	pikaContextPrefix = "_$_"
)

func init() {
	drivers.Register(drivers.Registration{Scheme: "pika", Group: "oslo_messaging_pika", Open: OpenPika})
}

// OpenPika returns a pika:// driver; see Open.
func OpenPika(_ context.Context, u *drivers.TransportURL, cfg *drivers.Config) (drivers.Driver, error) {
	if cfg == nil {
		cfg = drivers.DefaultConfig()
	}
	if strings.Contains(cfg.Pika.DefaultRPCExchange+cfg.Pika.RPCReplyExchange+cfg.Pika.DefaultNotificationExchange, "$") {
		// Not yet expanded (drivers.Open expands; a direct call may not).
		var err error
		if cfg, err = cfg.Expand(); err != nil {
			return nil, err
		}
	}
	o := cfg.Pika
	if o.DefaultSerializerType != "json" {
		return nil, &drivers.NotImplementedError{Driver: "pika", Feature: "default_serializer_type " + o.DefaultSerializerType}
	}
	params, err := pikaConnParams(o)
	if err != nil {
		return nil, err
	}
	conn, err := newConnector(u, params)
	if err != nil {
		return nil, err
	}
	dia := &pikaDialect{o: o, conn: conn, prog: filepath.Base(os.Args[0])}
	d := newDriver(cfg, conn, dia, poolLimits{
		maxIdle: o.PoolMaxSize, maxTotal: o.PoolMaxSize + o.PoolMaxOverflow,
		wait: o.PoolTimeout, recycle: o.PoolRecycle, stale: o.PoolStale,
	})
	d.replyRetry = o.RPCReplyRetryAttempts
	d.replyTimeout = cfg.Default.RPCResponseTimeout
	return d, nil
}

func pikaConnParams(o drivers.PikaOptions) (connParams, error) {
	p := connParams{
		loginMethod: "PLAIN", heartbeat: o.HeartbeatInterval,
		channelMax: o.ChannelMax, frameMax: o.FrameMax,
		dialTimeout: o.SocketTimeout, tcpUserTimeout: o.TCPUserTimeout,
		backoff: func(int) time.Duration { return o.HostConnectionReconnectDelay },
	}
	if p.dialTimeout <= 0 {
		p.dialTimeout = 5 * time.Second
	}
	if o.SSL {
		t, err := pikaTLS(o.SSLOptions)
		if err != nil {
			return p, err
		}
		p.tls = t
	}
	return p, nil
}

// pikaTLS maps ssl_options (Python's ssl.wrap_socket arguments) onto TLS:
// ca_certs, certfile, keyfile and cert_reqs (0: no verification).
func pikaTLS(opts map[string]string) (*tls.Config, error) {
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	for k := range opts {
		switch k {
		case "ca_certs", "certfile", "keyfile", "cert_reqs", "server_hostname":
		default:
			return nil, fmt.Errorf("pika: ssl_options key %q is not supported (use ca_certs, certfile, keyfile, cert_reqs, server_hostname)", k)
		}
	}
	if ca := opts["ca_certs"]; ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("pika: ssl_options ca_certs: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("pika: ssl_options ca_certs %s holds no PEM certificate", ca)
		}
		t.RootCAs = pool
	}
	if opts["certfile"] != "" || opts["keyfile"] != "" {
		cert, err := tls.LoadX509KeyPair(opts["certfile"], opts["keyfile"])
		if err != nil {
			return nil, fmt.Errorf("pika: ssl_options certfile/keyfile: %w", err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	t.ServerName = opts["server_hostname"]
	if opts["cert_reqs"] == "0" {
		t.InsecureSkipVerify = true
	}
	return t, nil
}

// pikaDialect is the Pika driver's names and format.
type pikaDialect struct {
	o    drivers.PikaOptions
	conn *connector
	prog string
}

func (p *pikaDialect) scheme() string { return "pika" }

func (p *pikaDialect) exchange(name string, durable bool) exchangeDecl {
	return exchangeDecl{name: name, kind: "direct", durable: durable, autoDelete: true}
}

func (p *pikaDialect) rpcExchange(t drivers.Target) exchangeDecl {
	name := t.Exchange
	if name == "" {
		name = p.o.DefaultRPCExchange
	}
	return p.exchange(name, false)
}

func (p *pikaDialect) notificationExchange(t drivers.Target) exchangeDecl {
	name := t.Exchange
	if name == "" {
		name = p.o.DefaultNotificationExchange
	}
	return p.exchange(name, p.o.NotificationPersistence)
}

// rpcQueueName is the Pika driver's get_rpc_queue_name.
func rpcQueueName(topic, server string, noAck bool) string {
	parts := []string{"with_ack", topic}
	if noAck {
		parts[0] = "no_ack"
	}
	if server != "" {
		parts = append(parts, server)
	}
	return strings.Join(parts, ".")
}

func (p *pikaDialect) requestRoute(t drivers.Target, retry int) route {
	noAck := retry == 0
	if t.Fanout {
		return route{exchange: p.rpcExchange(t), key: rpcQueueName(t.Topic, "all_workers", noAck)}
	}
	return route{exchange: p.rpcExchange(t), key: rpcQueueName(t.Topic, t.Server, noAck)}
}

// encode writes a Pika message: the application keys, then the context
// as "_$_" keys, as Python's json.dumps writes them.
func (p *pikaDialect) encode(msg drivers.Message, ctx drivers.Context, uid string) (amqp.Publishing, error) {
	obj, err := envelope.AppObject(msg)
	if err != nil {
		return amqp.Publishing{}, err
	}
	keys := make([]string, 0, len(ctx))
	for k := range ctx {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		obj.Set(pikaContextPrefix+k, ctx[k])
	}
	body, err := envelope.MarshalJSON(obj)
	if err != nil {
		return amqp.Publishing{}, err
	}
	if uid == "" {
		uid = envelope.NewID()
	}
	return amqp.Publishing{
		ContentType: "application/json", Headers: amqp.Table{pikaVersionHeader: pikaVersion},
		MessageId: uid, DeliveryMode: amqp.Transient, Body: body,
	}, nil
}

func (p *pikaDialect) encodeRequest(o envelope.Outgoing, timeout time.Duration) (amqp.Publishing, error) {
	pub, err := p.encode(o.Message, o.Context, o.UniqueID)
	if err != nil {
		return pub, err
	}
	if o.MsgID != "" {
		pub.CorrelationId, pub.ReplyTo = o.MsgID, o.ReplyQueue
		if timeout > 0 {
			pub.Expiration = expiration(timeout)
		}
	}
	return pub, nil
}

func (p *pikaDialect) notificationRoute(t drivers.Target) route {
	q := queueDecl{name: t.Topic, durable: p.o.NotificationPersistence, exchange: p.notificationExchange(t), keys: []string{t.Topic}}
	return route{exchange: q.exchange, key: t.Topic, mandatory: true, queue: &q, declareOnReturn: true}
}

// encodeNotification ignores the version: the Pika driver never used the
// envelope.
func (p *pikaDialect) encodeNotification(msg drivers.Message, ctx drivers.Context, _ string) (amqp.Publishing, error) {
	pub, err := p.encode(msg, ctx, "")
	if err == nil && p.o.NotificationPersistence {
		pub.DeliveryMode = amqp.Persistent
	}
	return pub, err
}

func (p *pikaDialect) replyQueue() queueDecl {
	name := fmt.Sprintf("reply.switchyard.%s.%s", p.prog, envelope.NewID())
	return queueDecl{name: name, args: p.expires(), exchange: p.exchange(p.o.RPCReplyExchange, false), keys: []string{name}}
}

func (p *pikaDialect) expires() amqp.Table {
	if ms := p.o.RPCQueueExpiration.Milliseconds(); ms > 0 {
		return amqp.Table{"x-expires": ms}
	}
	return amqp.Table{}
}

func (p *pikaDialect) replyRoute(queue string) route {
	return route{exchange: p.exchange(p.o.RPCReplyExchange, false), key: queue, mandatory: true}
}

func (p *pikaDialect) encodeReply(r envelope.Reply) (amqp.Publishing, error) {
	var msg drivers.Message
	if r.Failure != nil {
		tb := r.Failure.Traceback
		if tb == nil {
			tb = []string{}
		}
		args, kwargs := r.Failure.Args, r.Failure.Kwargs
		if args == nil {
			args = []any{}
		}
		if kwargs == nil {
			kwargs = map[string]any{}
		}
		msg = drivers.Message{"e": &envelope.Object{Keys: []string{"c", "m", "s", "t", "a", "k"}, Values: map[string]any{
			"c": r.Failure.Class, "m": r.Failure.Module, "s": r.Failure.Message, "t": tb, "a": args, "k": kwargs}}}
	} else {
		msg = drivers.Message{"s": r.Result}
	}
	body, err := envelope.MarshalJSON(map[string]any(msg))
	if err != nil {
		return amqp.Publishing{}, err
	}
	return amqp.Publishing{
		ContentType: "application/json", Headers: amqp.Table{pikaVersionHeader: pikaVersion},
		MessageId: envelope.NewID(), CorrelationId: r.MsgID, DeliveryMode: amqp.Transient, Body: body,
	}, nil
}

// decodeBody checks the version header and content type and reads the
// JSON object.
func (p *pikaDialect) decodeBody(del amqp.Delivery) (map[string]any, error) {
	if v, ok := del.Headers[pikaVersionHeader]; ok {
		s, _ := v.(string)
		if !pikaCompatible(s) {
			return nil, fmt.Errorf("%w: pika message version %v (Switchyard speaks %s)", drivers.ErrUnsupportedVersion, v, pikaVersion)
		}
	}
	if del.ContentType != "application/json" {
		return nil, fmt.Errorf("pika message content type %q is not supported (application/json only)", del.ContentType)
	}
	v, err := envelope.UnmarshalJSON(del.Body)
	if err != nil {
		return nil, fmt.Errorf("pika message body is not JSON: %w", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("pika message body is not a JSON object")
	}
	return m, nil
}

// pikaCompatible is the Pika driver's check: the message's major version
// is 1 and its minor at least ours.
func pikaCompatible(v string) bool {
	major, minor, ok := strings.Cut(v, ".")
	if !ok {
		minor = "0"
	}
	ma, err1 := strconv.Atoi(major)
	mi, err2 := strconv.Atoi(strings.SplitN(minor, ".", 2)[0])
	return err1 == nil && err2 == nil && ma == 1 && mi >= 0
}

func (p *pikaDialect) decodeReply(del amqp.Delivery, allowed []string) (*envelope.Reply, error) {
	m, err := p.decodeBody(del)
	if err != nil {
		return nil, err
	}
	r := &envelope.Reply{Result: m["s"], Ending: true, EndingPresent: true, MsgID: del.CorrelationId, UniqueID: del.MessageId}
	if e, ok := m["e"].(map[string]any); ok {
		re := &drivers.RemoteError{Kwargs: map[string]any{}}
		re.Class, _ = e["c"].(string)
		re.Module, _ = e["m"].(string)
		re.Message, _ = e["s"].(string)
		if a, ok := e["a"].([]any); ok {
			re.Args = a
		}
		if k, ok := e["k"].(map[string]any); ok {
			re.Kwargs = k
		}
		if tb, ok := e["t"].([]any); ok {
			for _, l := range tb {
				if s, ok := l.(string); ok {
					re.Traceback = append(re.Traceback, s)
				}
			}
		}
		// As oslo's other drivers: builtins (and its Python 2 name) are
		// always allowed; the Pika driver itself rebuilt only the listed
		// modules.
		if re.Module == "exceptions" {
			re.Module = "builtins"
		}
		re.Rebuilt = re.Module == "builtins" || slices.Contains(allowed, re.Module)
		r.Result, r.Failure = nil, re
	}
	return r, nil
}

func (p *pikaDialect) missingReplyQueueRetry() time.Duration { return 0 }

func (p *pikaDialect) rpcQueues(t drivers.Target) []queueDecl {
	ex := p.rpcExchange(t)
	var qs []queueDecl
	add := func(name, key string, noAck bool) {
		qs = append(qs, queueDecl{name: name, args: p.expires(), exchange: ex, keys: []string{key}, noAck: noAck})
	}
	for _, noAck := range []bool{true, false} {
		q := rpcQueueName(t.Topic, "", noAck)
		add(q, q, noAck)
		sq := rpcQueueName(t.Topic, t.Server, noAck)
		if t.Server != "" {
			add(sq, sq, noAck)
		}
		// Pika gave only servers a worker queue; a listener without a
		// server gets one too, so fanout reaches every listener (C03).
		add(sq+".worker."+envelope.NewID(), rpcQueueName(t.Topic, "all_workers", noAck), noAck)
	}
	return qs
}

func (p *pikaDialect) notificationQueues(tps []drivers.TargetPriority, pool string) []queueDecl {
	var qs []queueDecl
	for _, tp := range tps {
		key := tp.Address()
		name := key
		if pool != "" {
			name = pool
		}
		qs = append(qs, queueDecl{name: name, durable: p.o.NotificationPersistence, args: amqp.Table{},
			exchange: p.notificationExchange(tp.Target), keys: []string{key}})
	}
	return qs
}

func (p *pikaDialect) decodeRequest(del amqp.Delivery) (*envelope.Incoming, error) {
	m, err := p.decodeBody(del)
	if err != nil {
		return nil, err
	}
	in := &envelope.Incoming{Message: drivers.Message{}, Context: drivers.Context{},
		MsgID: del.CorrelationId, ReplyQueue: del.ReplyTo, UniqueID: del.MessageId}
	for k, v := range m {
		if c, ok := strings.CutPrefix(k, pikaContextPrefix); ok {
			in.Context[c] = v
		} else {
			in.Message[k] = v
		}
	}
	return in, nil
}

func (p *pikaDialect) prefetch(kind listenerKind) int {
	if kind == notifyListener {
		return p.o.NotificationListenerPrefetch
	}
	return p.o.RPCListenerPrefetchCount
}

func (p *pikaDialect) retryDelay(kind sendKind, _ int) time.Duration {
	switch kind {
	case sendNotification:
		return p.o.NotificationRetryDelay
	case sendReply:
		return p.o.RPCReplyRetryDelay
	}
	return p.o.RPCRetryDelay
}

func (p *pikaDialect) heartbeats() bool { return false }
