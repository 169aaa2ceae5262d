package amqp1

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	amqp "github.com/Azure/go-amqp"

	"github.com/switchyard-dev/switchyard/drivers"
)

// dialTimeout bounds one TCP connect plus the AMQP handshake to one host.
const dialTimeout = 10 * time.Second

// connection is one live AMQP connection with its session. Every link of
// the driver lives on it; when it fails, the next user dials a new one.
type connection struct {
	conn *amqp.Conn
	sess *amqp.Session
	gen  uint64
	host string
	addr addresser
	// spawn runs a goroutine that the driver's Close waits for; false
	// once the driver is closing.
	spawn func(func()) bool
	// stop ends when the driver closes.
	stop context.Context

	mu      sync.Mutex
	senders map[string]*senderLink
	reply   *replyLink // nil until the first call on this connection
}

// alive reports whether the connection has not failed or been closed.
func (c *connection) alive() bool {
	select {
	case <-c.conn.Done():
		return false
	default:
		return true
	}
}

// connector dials the URL's hosts and keeps the driver's one connection.
type connector struct {
	d     *Driver
	hosts []drivers.TransportHost
	vhost string
	tls   *tls.Config // nil without ssl

	dialing chan struct{} // one dial at a time
	mu      sync.Mutex
	cur     *connection
	gen     uint64
	next    int // host to try first
	closed  bool
}

func newConnector(d *Driver, u *drivers.TransportURL) (*connector, error) {
	c := &connector{d: d, hosts: u.Hosts, vhost: u.VirtualHost, dialing: make(chan struct{}, 1)}
	if len(c.hosts) == 0 {
		c.hosts = []drivers.TransportHost{{}}
	}
	c.next = rand.IntN(len(c.hosts)) // oslo starts at a random host
	for _, h := range c.hosts {
		if _, err := saslType(d.opts.SASLMechanisms, h.HasCredentials || h.Username != "", h.Username, h.Password); err != nil {
			return nil, err
		}
	}
	if d.opts.SSL {
		cfg, err := tlsConfig(d.opts)
		if err != nil {
			return nil, err
		}
		c.tls = cfg
	}
	return c, nil
}

// tlsConfig builds the TLS settings from the ssl_* options.
func tlsConfig(o drivers.AMQPOptions) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.SSLCAFile != "" {
		pem, err := os.ReadFile(o.SSLCAFile)
		if err != nil {
			return nil, fmt.Errorf("amqp1: ssl_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("amqp1: ssl_ca_file %s holds no PEM certificate", o.SSLCAFile)
		}
		cfg.RootCAs = pool
	}
	if o.SSLCertFile != "" {
		if o.SSLKeyPassword != "" {
			return nil, errors.New("amqp1: ssl_key_password is not supported: give ssl_key_file an unencrypted key")
		}
		keyFile := o.SSLKeyFile
		if keyFile == "" {
			keyFile = o.SSLCertFile
		}
		cert, err := tls.LoadX509KeyPair(o.SSLCertFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("amqp1: ssl_cert_file/ssl_key_file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// backoff is the delay before connection attempt n+1 (n ≥ 1):
// connection_retry_interval multiplied by connection_retry_backoff per
// failed attempt, capped at connection_retry_interval_max.
func (c *connector) backoff(n int) time.Duration {
	o := c.d.opts
	delay := o.ConnectionRetryInterval
	factor := int64(o.ConnectionRetryBackoff / time.Second)
	for i := 1; i < n && delay < o.ConnectionRetryIntervalMax; i++ {
		delay *= time.Duration(max(factor, 1))
	}
	return min(delay, o.ConnectionRetryIntervalMax)
}

// get returns the live connection, dialing once through the host list
// (starting with the host after the last one that failed) when there is
// none. Errors: drivers.ErrClosed, an *drivers.AuthError (never worth a
// retry) or the last host's error.
func (c *connector) get(ctx context.Context) (*connection, error) {
	if cur, err := c.current(); cur != nil || err != nil {
		return cur, err
	}
	select {
	case c.dialing <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.dialing }()
	if cur, err := c.current(); cur != nil || err != nil {
		return cur, err
	}
	var last error
	for range c.hosts {
		c.mu.Lock()
		h := c.hosts[c.next%len(c.hosts)]
		c.mu.Unlock()
		conn, err := c.dial(ctx, h)
		if err == nil {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.closed {
				_ = conn.conn.Close()
				return nil, drivers.ErrClosed
			}
			c.cur = conn
			return conn, nil
		}
		last = err
		var ae *drivers.AuthError
		if errors.As(err, &ae) || ctx.Err() != nil {
			break
		}
		c.mu.Lock()
		c.next++
		c.mu.Unlock()
	}
	if ctx.Err() != nil {
		return nil, errors.Join(ctx.Err(), last)
	}
	return nil, last
}

// current returns the live connection, nil if there is none, or ErrClosed.
func (c *connector) current() (*connection, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, drivers.ErrClosed
	}
	if c.cur != nil && !c.cur.alive() {
		c.d.log.Warn("connection lost", "host", c.cur.host, "error", c.cur.conn.Err())
		c.cur = nil
		c.next++ // fail over to the next host
	}
	return c.cur, nil
}

// drop closes conn if it is still the current connection: a link on it
// failed in a way that shows the connection is unusable.
func (c *connector) drop(conn *connection) {
	c.mu.Lock()
	if c.cur == conn {
		c.cur = nil
	}
	c.mu.Unlock()
	_ = conn.conn.Close()
}

// wait blocks for d or until ctx ends; it reports whether d passed.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// getRetry is get repeated with the connection back-off until it succeeds,
// the credentials are refused, or ctx ends. onFail, when set, sees each
// failure.
func (c *connector) getRetry(ctx context.Context, onFail func(error)) (*connection, error) {
	for n := 1; ; n++ {
		conn, err := c.get(ctx)
		if err == nil {
			return conn, nil
		}
		var ae *drivers.AuthError
		if errors.As(err, &ae) || errors.Is(err, drivers.ErrClosed) || ctx.Err() != nil {
			return nil, err
		}
		if onFail != nil {
			onFail(err)
		}
		delay := c.backoff(n)
		c.d.log.Info("connection failed; retrying", "error", err, "in", delay)
		if !wait(ctx, delay) {
			return nil, errors.Join(ctx.Err(), err)
		}
	}
}

// close closes the current connection; later gets return ErrClosed.
func (c *connector) close() {
	c.mu.Lock()
	c.closed = true
	cur := c.cur
	c.cur = nil
	c.mu.Unlock()
	if cur != nil {
		_ = cur.conn.Close()
	}
}

// dial opens one connection to h: TCP (and TLS), SASL, Open and a session.
func (c *connector) dial(ctx context.Context, h drivers.TransportHost) (*connection, error) {
	o := c.d.opts
	addr := h.Addr(drivers.DefaultPort)
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	var nd net.Dialer
	nc, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if c.tls != nil {
		cfg := c.tls.Clone()
		cfg.ServerName = h.Hostname
		if o.SSLVerifyVhost && c.vhost != "" {
			cfg.ServerName = c.vhost
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
		}
		nc = tc
	}
	user := h.Username
	if user != "" && o.SASLDefaultRealm != "" && !strings.Contains(user, "@") {
		user += "@" + o.SASLDefaultRealm
	}
	sasl, err := saslType(o.SASLMechanisms, h.HasCredentials || user != "", user, h.Password)
	if err != nil {
		_ = nc.Close()
		return nil, err
	}
	idle := o.IdleTimeout
	if idle <= 0 {
		idle = -1 // oslo's 0: no idle time-out is advertised
	}
	opts := &amqp.ConnOptions{
		ContainerID: c.d.containerID,
		IdleTimeout: idle,
		SASLType:    sasl,
		Properties:  map[string]any{"process": processName(), "pid": int32(os.Getpid()), "node": hostname()},
	}
	if !o.PseudoVhost && c.vhost != "" {
		opts.HostName = c.vhost
	}
	conn, err := amqp.NewConn(ctx, nc, opts)
	if err != nil {
		if isAuthFailure(err) {
			return nil, &drivers.AuthError{Host: addr, User: user, Err: err}
		}
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("begin session on %s: %w", addr, err)
	}
	c.mu.Lock()
	c.gen++
	gen := c.gen
	c.mu.Unlock()
	mode := ResolveMode(o.AddressingMode, conn.Properties())
	c.d.log.Info("connected", "host", addr, "addressing", string(mode))
	return &connection{
		conn: conn, sess: sess, gen: gen, host: addr,
		addr:    newAddresser(mode, o, c.d.cfg.Default.ControlExchange, c.vhost),
		senders: map[string]*senderLink{},
		spawn:   c.d.goLoop,
		stop:    c.d.stopCtx,
	}, nil
}

// isAuthFailure reports whether go-amqp's error is a SASL refusal.
func isAuthFailure(err error) bool {
	s := err.Error()
	return strings.Contains(s, "SASL") && strings.Contains(s, "auth failed") ||
		strings.Contains(s, "no supported auth mechanism")
}

// saslType picks the mechanism: PLAIN with the URL's credentials,
// otherwise ANONYMOUS, limited to sasl_mechanisms when that is set.
func saslType(mechs string, creds bool, user, pass string) (amqp.SASLType, error) {
	allowed := strings.Fields(strings.ToUpper(mechs))
	ok := func(m string) bool {
		if len(allowed) == 0 {
			return true
		}
		for _, a := range allowed {
			if a == m {
				return true
			}
		}
		return false
	}
	if creds && ok("PLAIN") {
		return amqp.SASLTypePlain(user, pass), nil
	}
	if ok("ANONYMOUS") {
		return amqp.SASLTypeAnonymous(), nil
	}
	return nil, fmt.Errorf("amqp1: sasl_mechanisms %q allows neither PLAIN (with URL credentials) nor ANONYMOUS, the mechanisms this driver speaks", mechs)
}

func processName() string {
	return filepath.Base(os.Args[0])
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	return h
}
