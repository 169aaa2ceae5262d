// Package realbroker finds real backends and reference peers for tests: a
// RabbitMQ from testcontainers-go when a Docker engine answers, otherwise a
// URL from the environment, otherwise a skip that says how to provide one.
// Under SWITCHYARD_REQUIRE_REAL=1 (set in CI) that skip is a failure, so
// real-backend runs cannot silently vanish.
package realbroker

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tcrabbit "github.com/testcontainers/testcontainers-go/modules/rabbitmq"
)

// Environment variables read by this package.
const (
	// EnvRabbitURL names a running RabbitMQ as a rabbit:// (or amqp://) URL.
	EnvRabbitURL = "SWITCHYARD_RABBIT_URL"
	// EnvAMQP1URL names a running AMQP 1.0 peer as an amqp:// URL.
	EnvAMQP1URL = "SWITCHYARD_AMQP1_URL"
	// EnvRequireReal turns every "not available" skip into a failure when
	// set to 1 (or true).
	EnvRequireReal = "SWITCHYARD_REQUIRE_REAL"
)

// RabbitImage is the container image started when a Docker engine answers.
const RabbitImage = "rabbitmq:3.13-management-alpine"

// TB is the part of testing.TB this package uses, so its decisions can be
// tested with a recorder.
type TB interface {
	Helper()
	Skip(args ...any)
	Fatal(args ...any)
	Logf(format string, args ...any)
}

// RequireReal reports whether SWITCHYARD_REQUIRE_REAL asks for real
// backends.
func RequireReal() bool {
	v := strings.ToLower(strings.TrimSpace(os.Getenv(EnvRequireReal)))
	return v == "1" || v == "true" || v == "yes"
}

// Unavailable ends the test because what is missing: a skip explaining how
// to provide it, or a failure when SWITCHYARD_REQUIRE_REAL is set.
func Unavailable(t TB, what, how string) {
	t.Helper()
	msg := fmt.Sprintf("%s is not available: %s", what, how)
	if RequireReal() {
		t.Fatal(msg + " (" + EnvRequireReal + "=1 makes this a failure)")
		return
	}
	t.Skip(msg)
}

// Source says where a real backend came from.
type Source string

// Sources of a backend URL.
const (
	FromContainer   Source = "testcontainers"
	FromEnvironment Source = "environment"
)

// finder holds what Rabbit consults, replaceable in tests.
type finder struct {
	dockerAnswers  func(ctx context.Context) bool
	startContainer func(ctx context.Context) (string, error)
	getenv         func(string) string
}

var defaultFinder = finder{
	dockerAnswers:  dockerAnswers,
	startContainer: startRabbitContainer,
	getenv:         os.Getenv,
}

// Rabbit returns the URL of a real RabbitMQ (rabbit:// scheme) and where it
// came from, or ends the test through Unavailable.
func Rabbit(t TB) (string, Source) {
	t.Helper()
	return defaultFinder.rabbit(t)
}

// RabbitURL is Rabbit without the source.
func RabbitURL(t TB) string {
	t.Helper()
	u, _ := Rabbit(t)
	return u
}

// AMQP1URL returns the URL of a real AMQP 1.0 peer from SWITCHYARD_AMQP1_URL,
// or ends the test through Unavailable.
func AMQP1URL(t TB) string {
	t.Helper()
	if u := os.Getenv(EnvAMQP1URL); u != "" {
		return u
	}
	Unavailable(t, "a real AMQP 1.0 peer", "set "+EnvAMQP1URL+"=amqp://host:port (for example the proton example broker: python3 /usr/share/proton/examples/python/broker.py -a 127.0.0.1:5673)")
	return ""
}

func (f finder) rabbit(t TB) (string, Source) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if f.dockerAnswers(ctx) {
		u, err := f.startContainer(ctx)
		if err == nil {
			return u, FromContainer
		}
		t.Logf("Docker engine answered but the RabbitMQ container did not start: %v; trying %s", err, EnvRabbitURL)
	}
	if u := f.getenv(EnvRabbitURL); u != "" {
		return u, FromEnvironment
	}
	Unavailable(t, "a real RabbitMQ", "no Docker engine answered and "+EnvRabbitURL+" is unset; start one (apt-get install rabbitmq-server && rabbitmq-server -detached) and set "+EnvRabbitURL+"=rabbit://guest:guest@127.0.0.1:5672/")
	return "", ""
}

// dockerAnswers reports whether a Docker engine responds to a health check.
// The Docker client panics in some misconfigurations; that counts as "no".
func dockerAnswers(ctx context.Context) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return false
	}
	defer cli.Close()
	_, err = cli.Ping(ctx)
	return err == nil
}

var container struct {
	once sync.Once
	url  string
	err  error
}

// startRabbitContainer starts one RabbitMQ container per test process;
// testcontainers' reaper removes it when the process ends.
func startRabbitContainer(ctx context.Context) (string, error) {
	container.once.Do(func() {
		c, err := tcrabbit.Run(ctx, RabbitImage)
		if err != nil {
			container.err = err
			return
		}
		u, err := c.AmqpURL(ctx)
		if err != nil {
			container.err = err
			return
		}
		container.url = "rabbit" + strings.TrimPrefix(u, "amqp")
	})
	return container.url, container.err
}
