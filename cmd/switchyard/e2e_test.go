package main

// End-to-end tests: the command, with the drivers this binary imports,
// against a real RabbitMQ (SWITCHYARD_RABBIT_URL, see internal/realbroker).

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/cmd/switchyard/internal/cli"
	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/fake/routertest"
	"github.com/switchyard-dev/switchyard/internal/realbroker"
)

// rabbit is one test's place on the real RabbitMQ: a URL whose queues
// and exchanges are auto-delete, and an exchange and a topic no other test
// or run uses, so nothing the test declares outlives its last consumer.
type rabbit struct {
	url, exchange, topic string
	// plainURL is the broker's URL as given, for tests that declare
	// nothing a consumer would bind to.
	plainURL string
}

// newRabbit returns the test's place on the real RabbitMQ, or ends the
// test.
func newRabbit(t *testing.T) rabbit {
	t.Helper()
	if !slices.Contains(drivers.Schemes(), "rabbit") {
		realbroker.Unavailable(t, "the rabbit driver", "cmd/switchyard/drivers.go must import drivers/rabbit")
	}
	u, err := drivers.ParseURL(realbroker.RabbitURL(t))
	if err != nil {
		t.Fatal(err)
	}
	plain := u.Secret()
	u.Query["amqp_auto_delete"] = "true"
	return rabbit{url: u.Secret(), exchange: unique("switchyard-cli"), topic: unique("switchyard-cli"), plainURL: plain}
}

// args is a command line for the test's URL, exchange and topic.
func (r rabbit) args(command string, more ...string) []string {
	return append([]string{command, "--url", r.url, "--exchange", r.exchange, "--topic", r.topic}, more...)
}

// unique returns a name no earlier run used, so queues left behind by
// other runs cannot interfere.
func unique(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// outcome is one finished command.
type outcome struct {
	code           int
	stdout, stderr string
}

// execution is a command running in a goroutine.
type execution struct {
	cancel         context.CancelFunc
	stdout, stderr *syncBuffer
	done           chan struct{}
	code           int
}

// launch runs the command line in the background; the test's cleanup stops it.
func launch(t *testing.T, args ...string) *execution {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	e := &execution{cancel: cancel, stdout: newSyncBuffer(), stderr: newSyncBuffer(), done: make(chan struct{})}
	go func() {
		defer close(e.done)
		e.code = cli.Run(ctx, args, strings.NewReader(""), e.stdout, e.stderr)
	}()
	t.Cleanup(func() { e.stop(t) })
	return e
}

// stop interrupts the command and returns its outcome.
func (e *execution) stop(t *testing.T) outcome {
	t.Helper()
	e.cancel()
	return e.wait(t)
}

func (e *execution) wait(t *testing.T) outcome {
	t.Helper()
	timer := time.NewTimer(testTimeout)
	defer timer.Stop()
	select {
	case <-e.done:
	case <-timer.C:
		t.Fatalf("the command did not finish within %s; stderr %q", testTimeout, e.stderr.String())
	}
	return outcome{code: e.code, stdout: e.stdout.String(), stderr: e.stderr.String()}
}

// waitStderr waits until the command prints text on stderr.
func (e *execution) waitStderr(t *testing.T, text string) {
	t.Helper()
	e.waitIn(t, e.stderr, text)
}

// waitStdout waits until the command prints text on stdout.
func (e *execution) waitStdout(t *testing.T, text string) {
	t.Helper()
	e.waitIn(t, e.stdout, text)
}

func (e *execution) waitIn(t *testing.T, b *syncBuffer, text string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := b.waitFor(ctx, text, e.done); err != nil {
		t.Fatalf("%v; stdout %q, stderr %q", err, e.stdout.String(), e.stderr.String())
	}
}

// command runs the command line to its end.
func command(t *testing.T, args ...string) outcome {
	t.Helper()
	return launch(t, args...).wait(t)
}

// serve starts serve and waits until it listens.
func serve(t *testing.T, r rabbit, extra ...string) *execution {
	t.Helper()
	e := launch(t, r.args("serve", extra...)...)
	e.waitStderr(t, "switchyard: serving <Target")
	return e
}

func wantExit(t *testing.T, o outcome, code int) {
	t.Helper()
	if o.code != code {
		t.Fatalf("exit code %d, want %d; stdout %q, stderr %q", o.code, code, o.stdout, o.stderr)
	}
	if code != cli.ExitOK {
		errLines := 0
		for _, l := range strings.Split(strings.TrimSuffix(o.stderr, "\n"), "\n") {
			if !strings.HasPrefix(l, "switchyard: ") {
				t.Errorf("stderr line %q lacks the prefix", l)
			}
			if !strings.HasPrefix(l, "switchyard: warning: ") && !strings.HasPrefix(l, "switchyard: serving ") && !strings.HasPrefix(l, "switchyard: listening ") {
				errLines++
			}
		}
		if errLines != 1 {
			t.Errorf("stderr %q, want one error line", o.stderr)
		}
	}
}

func decodeLine(t *testing.T, line string) map[string]any {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(strings.NewReader(line))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("%q is not a JSON object: %v", line, err)
	}
	return m
}

func TestRabbitCallEchoFailAndUnknown(t *testing.T) {
	r := newRabbit(t)
	srv := serve(t, r)

	o := command(t, r.args("call", "--context", `{"user_id": "alice"}`, "echo", `{"text": "h\u00e9llo", "n": 12345678901234567890, "list": [1, 2.5, null]}`)...)
	wantExit(t, o, cli.ExitOK)
	if want := `{"list":[1,2.5,null],"n":12345678901234567890,"text":"héllo"}` + "\n"; o.stdout != want {
		t.Errorf("echo replied %q, want %q", o.stdout, want)
	}

	o = command(t, r.args("call", "fail", `{"message": "it broke"}`)...)
	wantExit(t, o, cli.ExitRemote)
	if want := "remote error: ValueError (module builtins): it broke\n"; !strings.HasSuffix(o.stderr, want) {
		t.Errorf("fail: stderr %q, want suffix %q", o.stderr, want)
	}

	o = command(t, r.args("call", "frobnicate")...)
	wantExit(t, o, cli.ExitRemote)
	if want := "NoSuchMethod (module oslo_messaging.rpc.dispatcher): Endpoint does not support RPC method frobnicate\n"; !strings.HasSuffix(o.stderr, want) {
		t.Errorf("unknown method: stderr %q, want suffix %q", o.stderr, want)
	}

	res := srv.stop(t)
	wantExit(t, res, cli.ExitOK)
	lines := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("serve printed %q, want 3 lines", res.stdout)
	}
	first := decodeLine(t, lines[0])
	if first["method"] != "echo" || first["reply_to_call"] != true {
		t.Errorf("serve printed %v", first)
	}
	if c, _ := first["context"].(map[string]any); c["user_id"] != "alice" || !strings.HasPrefix(c["request_id"].(string), "req-") {
		t.Errorf("context %v", first["context"])
	}
	if a, _ := json.Marshal(first["args"]); string(a) != `{"list":[1,2.5,null],"n":12345678901234567890,"text":"héllo"}` {
		t.Errorf("args %s", a)
	}
}

func TestRabbitCallHeartbeats(t *testing.T) {
	r := newRabbit(t)
	srv := serve(t, r)
	// Without heartbeats every second the 2 s call-monitor timeout would
	// end this 3 s call.
	o := command(t, r.args("call", "--timeout", "20s", "--call-monitor-timeout", "2s", "sleep", `{"seconds": 3}`)...)
	wantExit(t, o, cli.ExitOK)
	if o.stdout != "null\n" {
		t.Errorf("sleep replied %q", o.stdout)
	}
	wantExit(t, srv.stop(t), cli.ExitOK)
}

func TestRabbitCallWithoutServerTimesOut(t *testing.T) {
	r := newRabbit(t)
	start := time.Now()
	// The default exchange: a unique one would stay behind, as an
	// auto-delete exchange goes away only after its last binding does.
	o := command(t, "call", "--url", r.plainURL, "--topic", r.topic, "--timeout", "1s", "echo")
	wantExit(t, o, cli.ExitTimeout)
	if d := time.Since(start); d < time.Second || d > 15*time.Second {
		t.Errorf("timed out after %s, want about 1s", d)
	}
}

func TestRabbitWrongPassword(t *testing.T) {
	u, err := drivers.ParseURL(newRabbit(t).plainURL)
	if err != nil {
		t.Fatal(err)
	}
	wrong := unique("wrong-password")
	for i := range u.Hosts {
		u.Hosts[i].Password = wrong
		u.Hosts[i].HasCredentials = true
		if u.Hosts[i].Username == "" {
			u.Hosts[i].Username = "guest"
		}
	}
	// RabbitMQ answers a refused login after about 3 s; run them together.
	var runs []*execution
	cmds := [][]string{
		{"call", "--topic", "t", "--timeout", "20s", "echo"},
		{"cast", "--topic", "t", "echo"},
		{"notify", "--topic", "t", "--priority", "info", "--event-type", "e", "{}"},
		{"serve", "--topic", "t"},
		{"listen", "--topic", "t", "--count", "1"},
	}
	for _, args := range cmds {
		runs = append(runs, launch(t, append([]string{"--url", u.Secret()}, args...)...))
	}
	for i, e := range runs {
		o := e.wait(t)
		wantExit(t, o, cli.ExitAuth)
		if strings.Contains(o.stdout+o.stderr, wrong) {
			t.Errorf("%s printed the password: %q", cmds[i][0], o.stderr)
		}
		if !strings.Contains(o.stderr, "authentication failed") {
			t.Errorf("%s: stderr %q", cmds[i][0], o.stderr)
		}
	}
}

func TestRabbitNotifyThenListen(t *testing.T) {
	r := newRabbit(t)
	for _, version := range []string{"2.0", "1.0"} {
		o := command(t, r.args("notify", "--priority", "warn", "--event-type", "demo.v"+version,
			"--publisher-id", "demo.host1", "--version", version, "--context", `{"user_id": "bob"}`, `{"version": "`+version+`"}`)...)
		wantExit(t, o, cli.ExitOK)
	}
	o := command(t, r.args("listen", "--priority", "warn", "--count", "2", "--timeout", "30s")...)
	wantExit(t, o, cli.ExitOK)
	lines := strings.Split(strings.TrimSuffix(o.stdout, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("listen printed %q, want 2 lines", o.stdout)
	}
	for i, version := range []string{"2.0", "1.0"} {
		m := decodeLine(t, lines[i])
		if m["priority"] != "WARN" || m["event_type"] != "demo.v"+version || m["publisher_id"] != "demo.host1" {
			t.Errorf("notification %d: %v", i, m)
		}
		if p, _ := m["payload"].(map[string]any); p["version"] != version {
			t.Errorf("notification %d payload %v", i, m["payload"])
		}
		if c, _ := m["context"].(map[string]any); c["user_id"] != "bob" {
			t.Errorf("notification %d context %v", i, m["context"])
		}
		if id, _ := m["message_id"].(string); len(id) != 36 {
			t.Errorf("notification %d message_id %v", i, m["message_id"])
		}
		if ts, _ := m["timestamp"].(string); !strings.HasPrefix(ts, time.Now().UTC().Format("2006-01-02")) && !strings.HasPrefix(ts, time.Now().UTC().Add(-time.Hour).Format("2006-01-02")) {
			t.Errorf("notification %d timestamp %v", i, m["timestamp"])
		}
	}

	// Nothing more is waiting: --count 1 times out.
	o = command(t, r.args("listen", "--priority", "warn", "--count", "1", "--timeout", "1s")...)
	wantExit(t, o, cli.ExitTimeout)
}

func TestRabbitCastFanout(t *testing.T) {
	r := newRabbit(t)
	one := serve(t, r, "--server", "one")
	two := serve(t, r, "--server", "two")
	o := command(t, r.args("cast", "--fanout", "echo", `{"to": "all"}`)...)
	wantExit(t, o, cli.ExitOK)
	for _, srv := range []*execution{one, two} {
		srv.waitStdout(t, `"args":{"to":"all"}`)
	}
	for _, srv := range []*execution{one, two} {
		res := srv.stop(t)
		wantExit(t, res, cli.ExitOK)
		lines := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n")
		if len(lines) != 1 {
			t.Fatalf("a server printed %q, want one line", res.stdout)
		}
		if m := decodeLine(t, lines[0]); m["method"] != "echo" {
			t.Errorf("a server printed %v", m)
		} else if m["reply_to_call"] != false {
			t.Errorf("a cast printed reply_to_call %v", m["reply_to_call"])
		}
	}
}

func TestRabbitCastToOneServer(t *testing.T) {
	r := newRabbit(t)
	one := serve(t, r, "--server", "one")
	two := serve(t, r, "--server", "two")
	wantExit(t, command(t, r.args("cast", "--server", "two", "echo", `{"to": "two"}`)...), cli.ExitOK)
	two.waitStdout(t, `"args":{"to":"two"}`)
	// A call to one after the cast to two: once its reply is back, one has
	// seen everything sent to it.
	wantExit(t, command(t, r.args("call", "--server", "one", "echo")...), cli.ExitOK)
	if res := one.stop(t); strings.Count(res.stdout, "\n") != 1 || strings.Contains(res.stdout, `"to":"two"`) {
		t.Errorf("server one printed %q", res.stdout)
	}
	wantExit(t, two.stop(t), cli.ExitOK)
}

func TestRabbitServeProcessStopsOnSignal(t *testing.T) {
	r := newRabbit(t)
	p := startProcess(t, r.args("serve")...)
	p.waitLine(t, "switchyard: serving ")
	wantExit(t, command(t, r.args("call", "echo", `{"x": 1}`)...), cli.ExitOK)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, stderr := p.wait(t)
	if code != cli.ExitOK {
		t.Errorf("exit code %d, stderr %q", code, stderr)
	}
	if !strings.Contains(p.stdout.String(), `"method":"echo"`) {
		t.Errorf("stdout %q", p.stdout.String())
	}
}

// TestPikaCommands runs the commands with a pika:// URL: the Pika dialect
// of the AMQP 0-9-1 driver.
func TestPikaCommands(t *testing.T) {
	r := newRabbit(t)
	u, err := drivers.ParseURL(r.plainURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Scheme = "pika"
	r.url = u.Secret()
	srv := serve(t, r, "--server", "p1")
	o := command(t, r.args("call", "echo", `{"dialect": "pika"}`)...)
	wantExit(t, o, cli.ExitOK)
	if o.stdout != `{"dialect":"pika"}`+"\n" {
		t.Errorf("echo replied %q", o.stdout)
	}
	o = command(t, r.args("cast", "--fanout", "echo", `{"to": "all"}`)...)
	wantExit(t, o, cli.ExitOK)
	srv.waitStdout(t, `"args":{"to":"all"}`)
	wantExit(t, srv.stop(t), cli.ExitOK)

	o = command(t, r.args("notify", "--priority", "info", "--event-type", "pika.demo", `{"n": 1}`)...)
	wantExit(t, o, cli.ExitOK)
	o = command(t, r.args("listen", "--priority", "info", "--count", "1", "--timeout", "30s")...)
	wantExit(t, o, cli.ExitOK)
	if m := decodeLine(t, strings.TrimSpace(o.stdout)); m["event_type"] != "pika.demo" {
		t.Errorf("listen printed %v", m)
	}
}

// TestAMQP1Commands runs the commands with an amqp:// URL against
// Switchyard's fake AMQP 1.0 router: call, fanout cast, and a notification
// to a listener already subscribed (a router holds no messages).
func TestAMQP1Commands(t *testing.T) {
	rt := routertest.New(t)
	r := rabbit{url: rt.URL(), exchange: unique("switchyard-cli"), topic: unique("switchyard-cli")}
	srv := serve(t, r, "--server", "a1")
	o := command(t, r.args("call", "echo", `{"driver": "amqp1"}`)...)
	wantExit(t, o, cli.ExitOK)
	if o.stdout != `{"driver":"amqp1"}`+"\n" {
		t.Errorf("echo replied %q", o.stdout)
	}
	wantExit(t, command(t, r.args("call", "--server", "a1", "fail")...), cli.ExitRemote)
	wantExit(t, command(t, r.args("cast", "--fanout", "echo", `{"to": "all"}`)...), cli.ExitOK)
	srv.waitStdout(t, `"args":{"to":"all"}`)
	wantExit(t, srv.stop(t), cli.ExitOK)

	lis := launch(t, r.args("listen", "--priority", "info", "--count", "1", "--timeout", "30s")...)
	lis.waitStderr(t, "switchyard: listening ")
	wantExit(t, command(t, r.args("notify", "--priority", "info", "--event-type", "amqp1.demo", `{"n": 1}`)...), cli.ExitOK)
	res := lis.wait(t)
	wantExit(t, res, cli.ExitOK)
	if m := decodeLine(t, strings.TrimSpace(res.stdout)); m["event_type"] != "amqp1.demo" {
		t.Errorf("listen printed %v", m)
	}
}
