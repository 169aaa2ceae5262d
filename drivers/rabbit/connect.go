package rabbit

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

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
)

// host is one broker location with its credentials.
type host struct {
	addr, user, pass string
}

// connParams are the connection settings a dialect takes from its options.
type connParams struct {
	loginMethod    string        // PLAIN, AMQPLAIN or EXTERNAL
	heartbeat      time.Duration // AMQP heartbeat; 0: the broker's
	channelMax     int           // 0: the client library's
	frameMax       int           // 0: the client library's
	dialTimeout    time.Duration // TCP connect timeout per host
	tcpUserTimeout time.Duration // TCP_USER_TIMEOUT; 0: the system's
	tls            *tls.Config   // nil: plain TCP
	shuffle        bool          // pick hosts at random instead of in turn
	// backoff is the pause before retry n (n ≥ 1) of a connection.
	backoff func(n int) time.Duration
}

// rabbitConnParams maps [oslo_messaging_rabbit] onto connParams.
func rabbitConnParams(u *drivers.TransportURL, o drivers.RabbitOptions) (connParams, error) {
	p := connParams{
		loginMethod: o.RabbitLoginMethod, heartbeat: o.HeartbeatTimeoutThreshold,
		dialTimeout: 5 * time.Second, shuffle: o.KombuFailoverStrategy == "shuffle",
		backoff: func(n int) time.Duration {
			d := o.RabbitRetryInterval + time.Duration(n-1)*o.RabbitRetryBackoff
			if o.RabbitIntervalMax > 0 && d > o.RabbitIntervalMax {
				d = o.RabbitIntervalMax
			}
			if o.KombuReconnectSplay > 0 {
				d += time.Duration(rand.Int64N(int64(o.KombuReconnectSplay)))
			}
			return d
		},
	}
	if o.SSL || u.Driver() == "rabbits" {
		t, err := tlsConfig(o)
		if err != nil {
			return p, err
		}
		p.tls = t
	}
	return p, nil
}

// connector dials the URL's hosts in failover order with the dialect's
// back-off.
type connector struct {
	hosts []host
	vhost string
	p     connParams
	name  string // connection_name prefix
	mu    sync.Mutex
	next  int
}

func newConnector(u *drivers.TransportURL, p connParams) (*connector, error) {
	c := &connector{p: p}
	for _, h := range u.Hosts {
		user, pass := h.Username, h.Password
		if user == "" && !h.HasCredentials {
			user, pass = "guest", "guest"
		}
		c.hosts = append(c.hosts, host{addr: h.Addr(drivers.DefaultPort), user: user, pass: pass})
	}
	if len(c.hosts) == 0 {
		c.hosts = []host{{addr: "localhost:5672", user: "guest", pass: "guest"}}
	}
	// oslo shuffles the host list once when there are several.
	if len(c.hosts) > 1 {
		rand.Shuffle(len(c.hosts), func(i, j int) { c.hosts[i], c.hosts[j] = c.hosts[j], c.hosts[i] })
	}
	c.vhost = u.VirtualHost
	if c.vhost == "" {
		c.vhost = "/"
	}
	switch p.loginMethod {
	case "PLAIN", "AMQPLAIN", "EXTERNAL":
	default:
		return nil, &drivers.NotImplementedError{Driver: u.Driver(), Feature: "login method " + p.loginMethod}
	}
	c.name = fmt.Sprintf("%s:%d:%s", filepath.Base(os.Args[0]), os.Getpid(), envelope.NewID())
	return c, nil
}

func tlsConfig(o drivers.RabbitOptions) (*tls.Config, error) {
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	switch strings.ToLower(strings.ReplaceAll(o.SSLVersion, "_", "")) {
	case "", "tlsv1.2", "tlsv12":
	case "tlsv1.3", "tlsv13":
		t.MinVersion = tls.VersionTLS13
	case "tlsv1", "tlsv1.1", "tlsv11", "tlsv10":
		t.MinVersion = tls.VersionTLS10 // allowed by the option; Go refuses below 1.2 by default
	default:
		return nil, fmt.Errorf("rabbit: ssl_version %q is not a TLS version (use TLSv1_2 or TLSv1_3)", o.SSLVersion)
	}
	if o.SSLCertFile != "" || o.SSLKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(o.SSLCertFile, o.SSLKeyFile)
		if err != nil {
			return nil, fmt.Errorf("rabbit: ssl_cert_file/ssl_key_file: %w", err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	if o.SSLCAFile != "" {
		pem, err := os.ReadFile(o.SSLCAFile)
		if err != nil {
			return nil, fmt.Errorf("rabbit: ssl_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("rabbit: ssl_ca_file %s holds no PEM certificate", o.SSLCAFile)
		}
		t.RootCAs = pool
	}
	if !o.SSLEnforceHostnameVerification {
		// As oslo: the chain is checked against the CA, the host name is not.
		roots := t.RootCAs
		t.InsecureSkipVerify = true
		t.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("rabbit: broker sent no certificate")
			}
			certs := make([]*x509.Certificate, len(raw))
			for i, r := range raw {
				c, err := x509.ParseCertificate(r)
				if err != nil {
					return err
				}
				certs[i] = c
			}
			inter := x509.NewCertPool()
			for _, c := range certs[1:] {
				inter.AddCert(c)
			}
			_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
			return err
		}
	}
	return t, nil
}

// pickHost returns the next host in failover order.
func (c *connector) pickHost() host {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.p.shuffle {
		return c.hosts[rand.IntN(len(c.hosts))]
	}
	h := c.hosts[c.next%len(c.hosts)]
	c.next++
	return h
}

// dialOnce tries every host once, in failover order.
func (c *connector) dialOnce(ctx context.Context, purpose string) (*amqp.Connection, error) {
	var last error
	for range c.hosts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h := c.pickHost()
		conn, err := c.dialHost(ctx, h, purpose)
		if err == nil {
			return conn, nil
		}
		var ae *drivers.AuthError
		if errors.As(err, &ae) {
			return nil, err
		}
		last = err
	}
	return nil, last
}

func (c *connector) dialHost(ctx context.Context, h host, purpose string) (*amqp.Connection, error) {
	var auth amqp.Authentication
	switch c.p.loginMethod {
	case "PLAIN":
		auth = &amqp.PlainAuth{Username: h.user, Password: h.pass}
	case "EXTERNAL":
		auth = &amqp.ExternalAuth{}
	default:
		auth = &amqp.AMQPlainAuth{Username: h.user, Password: h.pass}
	}
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(c.name + ":" + purpose)
	props["product"] = "switchyard"
	props["capabilities"] = amqp.Table{
		"authentication_failure_close": true,
		"connection.blocked":           true,
		"consumer_cancel_notify":       true,
		"publisher_confirms":           true,
		"basic.nack":                   true,
		"exchange_exchange_bindings":   true,
	}
	scheme := "amqp"
	if c.p.tls != nil {
		scheme = "amqps"
	}
	wait := c.p.dialTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
		wait = max(time.Until(dl), time.Millisecond)
	}
	cfg := amqp.Config{
		SASL:            []amqp.Authentication{auth},
		Vhost:           c.vhost,
		Heartbeat:       c.p.heartbeat,
		ChannelMax:      uint16(min(max(c.p.channelMax, 0), 65535)),
		FrameSize:       c.p.frameMax,
		TLSClientConfig: c.p.tls,
		Properties:      props,
		Locale:          "en_US",
		Dial: func(network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: wait, Control: c.p.socketControl}
			conn, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// The handshake must not outlive the dial budget either.
			if err := conn.SetDeadline(time.Now().Add(wait + 5*time.Second)); err != nil {
				conn.Close()
				return nil, err
			}
			return conn, nil
		},
	}
	conn, err := amqp.DialConfig(scheme+"://"+h.addr+"/", cfg)
	if err != nil {
		var ae *amqp.Error
		if errors.As(err, &ae) && ae.Code == amqp.AccessRefused {
			return nil, &drivers.AuthError{Host: h.addr, User: h.user, Err: err}
		}
		return nil, fmt.Errorf("connect to %s: %w", h.addr, err)
	}
	return conn, nil
}

// backoff is the pause before connection retry n (n ≥ 1).
func (c *connector) backoff(n int) time.Duration { return c.p.backoff(n) }

// sleepCtx waits d or until ctx or stop ends, reporting whether d passed.
func sleepCtx(ctx context.Context, stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-stop:
		return false
	}
}
