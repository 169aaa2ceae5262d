package proxy

import (
	"bufio"
	"context"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// echo starts a line echo server and returns its address and a stop
// function that waits for it.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	conns := make(chan net.Conn, 16)
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
			go func() {
				s := bufio.NewScanner(c)
				for s.Scan() {
					if _, err := c.Write(append(s.Bytes(), '\n')); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		close(conns)
		for c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func roundTrip(t *testing.T, addr string) (time.Duration, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(3 * time.Second)); err != nil {
		return 0, err
	}
	start := time.Now()
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return 0, err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return 0, err
	}
	if line != "ping\n" {
		t.Fatalf("echo returned %q", line)
	}
	return time.Since(start), nil
}

func TestProxyToxicsAndDown(t *testing.T) {
	p, err := Start(echo(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := roundTrip(t, p.Addr()); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	if err := p.AddToxic("slow", "latency", "downstream", 0, map[string]int64{"latency": 150}); err != nil {
		t.Fatal(err)
	}
	d, err := roundTrip(t, p.Addr())
	if err != nil || d < 150*time.Millisecond {
		t.Errorf("with 150 ms latency: %s, %v", d, err)
	}
	if err := p.AddToxic("slow", "latency", "downstream", 0, nil); err == nil {
		t.Error("a second toxic of the same name was accepted")
	}
	if err := p.AddToxic("x", "no-such-toxic", "downstream", 0, nil); err == nil {
		t.Error("an unknown toxic was accepted")
	}
	if err := p.RemoveToxic(context.Background(), "slow"); err != nil {
		t.Fatal(err)
	}
	addr := p.Addr()
	p.Down()
	if _, err := roundTrip(t, addr); err == nil {
		t.Error("the proxy still answers while down")
	}
	if err := p.Up(); err != nil {
		t.Fatal(err)
	}
	if p.Addr() != addr {
		t.Errorf("the proxy came back on %s, not %s", p.Addr(), addr)
	}
	if _, err := roundTrip(t, addr); err != nil {
		t.Errorf("after up: %v", err)
	}
}
