package amqp1_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
)

// testPKI is a CA with a server and a client certificate, written as PEM
// files.
type testPKI struct {
	caFile, clientCert, clientKey string
	server                        tls.Certificate
	pool                          *x509.CertPool
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "switchyard test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p := &testPKI{pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	write := func(name, typ string, der []byte) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	p.caFile = write("ca.pem", "CERTIFICATE", caDER)
	leaf := func(serial int64, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "localhost"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	sDER, sKey := leaf(2, x509.ExtKeyUsageServerAuth)
	p.server = tls.Certificate{Certificate: [][]byte{sDER}, PrivateKey: sKey}
	cDER, cKey := leaf(3, x509.ExtKeyUsageClientAuth)
	p.clientCert = write("client.pem", "CERTIFICATE", cDER)
	kDER, _ := x509.MarshalECPrivateKey(cKey)
	p.clientKey = write("client.key", "EC PRIVATE KEY", kDER)
	return p
}

// tlsProxy terminates TLS (requiring a client certificate from the CA)
// and forwards to backend; it stops with the test.
func tlsProxy(t *testing.T, p *testPKI, backend string) string {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{p.server},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.pool, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			track(c)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				b, err := net.Dial("tcp", backend)
				if err != nil {
					return
				}
				track(b)
				defer b.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(b, c); done <- struct{}{} }()
				go func() { _, _ = io.Copy(c, b); done <- struct{}{} }()
				<-done
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "amqp://" + l.Addr().String() + "/"
}

// TestTLS: ssl, ssl_ca_file, ssl_cert_file and ssl_key_file, through a
// TLS proxy in front of the proton broker.
func TestTLS(t *testing.T) {
	url := brokerURL(t)
	p := newPKI(t)
	proxied := tlsProxy(t, p, strings.TrimSuffix(strings.TrimPrefix(url, "amqp://"), "/"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := fastConfig()
	cfg.AMQP.SSL = true
	cfg.AMQP.SSLCAFile, cfg.AMQP.SSLCertFile, cfg.AMQP.SSLKeyFile = p.caFile, p.clientCert, p.clientKey
	d := open(t, proxied, cfg)
	topic := unique("sy_tls")
	server(t, d, drivers.Target{Topic: topic, Server: "s"})
	if got, err := call(ctx, d, drivers.Target{Topic: topic}, "echo", map[string]any{"value": "over TLS"}, drivers.SendOptions{}); err != nil || got != "over TLS" {
		t.Fatalf("call over TLS: %v %v", got, err)
	}

	for name, mutate := range map[string]func(c *drivers.Config){
		"no client certificate": func(c *drivers.Config) { c.AMQP.SSLCertFile, c.AMQP.SSLKeyFile = "", "" },
		"system roots only":     func(c *drivers.Config) { c.AMQP.SSLCAFile = "" },
		"plain TCP to TLS":      func(c *drivers.Config) { c.AMQP.SSL = false },
	} {
		t.Run(name, func(t *testing.T) {
			c := fastConfig()
			c.AMQP = cfg.AMQP
			mutate(c)
			d := open(t, proxied, c)
			start := time.Now()
			sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
			defer scancel()
			_, err := d.Send(sctx, drivers.Target{Topic: topic}, nil, drivers.Message{"method": "m"}, drivers.SendOptions{})
			if !errors.Is(err, drivers.ErrDeliveryFailure) || time.Since(start) > 3*time.Second {
				t.Fatalf("err = %v after %v", err, time.Since(start))
			}
		})
	}
	bad := fastConfig()
	bad.AMQP.SSL, bad.AMQP.SSLCAFile = true, filepath.Join(t.TempDir(), "missing.pem")
	if _, err := drivers.Open(ctx, proxied, bad); err == nil || !strings.Contains(err.Error(), "ssl_ca_file") {
		t.Fatalf("missing CA file: %v", err)
	}
	bad.AMQP.SSLCAFile, bad.AMQP.SSLCertFile, bad.AMQP.SSLKeyPassword = p.caFile, p.clientCert, "secret"
	if _, err := drivers.Open(ctx, proxied, bad); err == nil || !strings.Contains(err.Error(), "ssl_key_password") {
		t.Fatalf("ssl_key_password: %v", err)
	}
}
