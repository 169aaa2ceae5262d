package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/cmd/switchyard/internal/clitest"
	"github.com/switchyard-dev/switchyard/drivers"
)

func TestHelpListsEveryCommand(t *testing.T) {
	r := runCLI(t, "", "--help")
	wantCode(t, r, ExitOK)
	for _, c := range []struct{ name, short string }{
		{"call", "Call an RPC method"},
		{"cast", "without waiting for a reply"},
		{"serve", "test RPC server"},
		{"notify", "Send one notification"},
		{"listen", "Print notifications"},
	} {
		if !regexp.MustCompile(`(?m)^  ` + c.name + ` +.*` + regexp.QuoteMeta(c.short)).MatchString(r.stdout) {
			t.Errorf("--help does not list %s with its description:\n%s", c.name, r.stdout)
		}
		sub := runCLI(t, "", c.name, "--help")
		wantCode(t, sub, ExitOK)
		if !strings.Contains(sub.stdout, "Examples:\n  switchyard "+c.name) {
			t.Errorf("%s --help has no example:\n%s", c.name, sub.stdout)
		}
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	b := clitest.New(t)
	url := b.URL("u", "p")
	missing := filepath.Join(t.TempDir(), "missing.conf")
	for _, tc := range []struct {
		name string
		args []string
		want string // in the error line
	}{
		{"no command", nil, "a command is required"},
		{"unknown command", []string{"cal"}, `did you mean "call"`},
		{"unknown flag", []string{"call", "--url", url, "--topic", "t", "--bogus", "echo"}, "unknown flag: --bogus"},
		{"bad duration", []string{"call", "--url", url, "--topic", "t", "--timeout", "soon", "echo"}, `invalid argument "soon"`},
		{"missing topic", []string{"call", "--url", url, "echo"}, `required flag(s) "topic" not set`},
		{"missing method", []string{"call", "--url", url, "--topic", "t"}, "expected 1 to 2 argument(s)"},
		{"too many arguments", []string{"call", "--url", url, "--topic", "t", "echo", "{}", "{}"}, "got 3"},
		{"empty method", []string{"call", "--url", url, "--topic", "t", ""}, "METHOD is empty"},
		{"invalid JSON args", []string{"call", "--url", url, "--topic", "t", "echo", "{nope"}, "JSON-ARGS is not valid JSON"},
		{"trailing JSON", []string{"call", "--url", url, "--topic", "t", "echo", "{} {}"}, "JSON-ARGS is not valid JSON"},
		{"JSON args not an object", []string{"cast", "--url", url, "--topic", "t", "echo", "[1, 2]"}, "JSON-ARGS must be a JSON object, not a list"},
		{"context not an object", []string{"call", "--url", url, "--topic", "t", "--context", `"x"`, "echo"}, "--context must be a JSON object"},
		{"negative timeout", []string{"call", "--url", url, "--topic", "t", "--timeout", "-1s", "echo"}, "--timeout must not be negative"},
		{"retry below -1", []string{"call", "--url", url, "--topic", "t", "--retry", "-2", "echo"}, "--retry must be -1"},
		{"cast has no call-monitor timeout", []string{"cast", "--url", url, "--topic", "t", "--call-monitor-timeout", "5s", "echo"}, "unknown flag: --call-monitor-timeout"},
		{"call has no fanout", []string{"call", "--url", url, "--topic", "t", "--fanout", "echo"}, "unknown flag: --fanout"},
		{"topic with a newline", []string{"call", "--url", url, "--topic", "a\nb", "echo"}, "invalid target"},
		{"bad URL syntax", []string{"call", "--url", "rabbit:/host", "--topic", "t", "echo"}, "invalid transport URL"},
		{"bad port", []string{"cast", "--url", "rabbit://h:99999/", "--topic", "t", "echo"}, "invalid port"},
		{"unknown scheme", []string{"call", "--url", "nosuch://h/", "--topic", "t", "echo"}, `no driver for scheme "nosuch"`},
		{"unknown URL option", []string{"call", "--url", url + "?bogus=1", "--topic", "t", "echo"}, `unknown option "bogus"`},
		{"empty URL", []string{"call", "--url", "", "--topic", "t", "echo"}, "--url is empty"},
		{"missing config file", []string{"--config-file", missing, "call", "--url", url, "--topic", "t", "echo"}, "read configuration"},
		{"serve takes no arguments", []string{"serve", "--url", url, "--topic", "t", "extra"}, "expected 0 argument(s)"},
		{"notify bad priority", []string{"notify", "--url", url, "--topic", "n", "--priority", "loud", "--event-type", "e", "{}"}, `priority "loud" is not one of`},
		{"notify bad version", []string{"notify", "--url", url, "--topic", "n", "--priority", "info", "--event-type", "e", "--version", "3.0", "{}"}, "--version must be 2.0 or 1.0"},
		{"notify missing payload", []string{"notify", "--url", url, "--topic", "n", "--priority", "info", "--event-type", "e"}, "expected 1 argument(s)"},
		{"notify missing event type", []string{"notify", "--url", url, "--topic", "n", "--priority", "info", "{}"}, `"event-type" not set`},
		{"notify invalid payload", []string{"notify", "--url", url, "--topic", "n", "--priority", "info", "--event-type", "e", "{"}, "JSON-PAYLOAD is not valid JSON"},
		{"listen bad priority", []string{"listen", "--url", url, "--topic", "n", "--priority", "info,loud"}, `--priority "loud"`},
		{"listen negative count", []string{"listen", "--url", url, "--topic", "n", "--count", "-1"}, "--count must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, "", tc.args...)
			wantCode(t, r, ExitUsage)
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr %q does not mention %q", r.stderr, tc.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
		})
	}
	if s := b.Stats(); len(s.Sent) != 0 || len(s.Notified) != 0 || s.Opens != 0 {
		t.Errorf("a usage error reached the backend: %+v", s)
	}
}

// failing returns a backend whose every send fails with err.
func failing(t *testing.T, err error) *clitest.Backend {
	b := clitest.New(t)
	b.Respond = func(context.Context, clitest.Sent) (any, error) { return nil, err }
	b.NotifyErr = err
	return b
}

func TestExitCodes(t *testing.T) {
	remote := &drivers.RemoteError{Class: "ValueError", Module: "builtins", Message: "bad value\nsecond line", Args: []any{"bad value"}}
	for _, tc := range []struct {
		name string
		err  error
		code int
		want []string
	}{
		{"timeout", &drivers.TimeoutError{Op: "reply to call on topic t"}, ExitTimeout, []string{"messaging timeout"}},
		{"remote error", remote, ExitRemote, []string{"ValueError", "builtins", "bad value second line"}},
		{"wrapped remote error", fmt.Errorf("call: %w", remote), ExitRemote, []string{"bad value"}},
		{"delivery failure", &drivers.DeliveryError{Address: "openstack/t", Attempts: 3, Err: errors.New("connection reset")}, ExitDelivery, []string{"message delivery failure", "connection reset"}},
		{"undeliverable", &drivers.DeliveryError{Address: "openstack/t", Undeliverable: true}, ExitDelivery, []string{"message undeliverable"}},
		{"auth", &drivers.AuthError{Host: "h:5672", User: "u"}, ExitAuth, []string{"authentication failed"}},
		{"delivery failure caused by auth", &drivers.DeliveryError{Err: &drivers.AuthError{Host: "h:5672", User: "u"}}, ExitAuth, []string{"authentication failed"}},
		{"closed", drivers.ErrClosed, ExitFailure, []string{"driver closed"}},
		{"anything else", errors.New("disk on fire"), ExitFailure, []string{"disk on fire"}},
		{"not implemented", &drivers.NotImplementedError{Driver: "x", Feature: "y"}, ExitFailure, []string{"not implemented"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := failing(t, tc.err)
			url := b.URL("u", "p")
			runs := map[string]result{
				"call":   runCLI(t, "", "call", "--url", url, "--topic", "t", "m"),
				"cast":   runCLI(t, "", "cast", "--url", url, "--topic", "t", "m"),
				"notify": runCLI(t, "", "notify", "--url", url, "--topic", "n", "--priority", "info", "--event-type", "e", "{}"),
			}
			for cmd, r := range runs {
				if tc.name == "remote error" && cmd == "notify" {
					continue // notifications have no remote errors
				}
				wantCode(t, r, tc.code)
				for _, w := range tc.want {
					if !strings.Contains(r.stderr, w) {
						t.Errorf("%s: stderr %q does not mention %q", cmd, r.stderr, w)
					}
				}
			}
		})
	}
}

func TestRemoteErrorLine(t *testing.T) {
	b := failing(t, &drivers.RemoteError{Class: "NoSuchMethod", Module: "oslo_messaging.rpc.dispatcher", Message: "Endpoint does not support RPC method m"})
	r := runCLI(t, "", "call", "--url", b.URL("u", "p"), "--topic", "t", "m")
	wantCode(t, r, ExitRemote)
	want := "switchyard: call m to <Target topic=t>: remote error: NoSuchMethod (module oslo_messaging.rpc.dispatcher): Endpoint does not support RPC method m\n"
	if r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
}

func TestAuthErrorOnOpen(t *testing.T) {
	b := clitest.New(t)
	b.Password = "right"
	for _, args := range [][]string{
		{"call", "--topic", "t", "m"},
		{"cast", "--topic", "t", "m"},
		{"serve", "--topic", "t"},
		{"notify", "--topic", "n", "--priority", "info", "--event-type", "e", "{}"},
		{"listen", "--topic", "n", "--count", "1"},
	} {
		r := runCLI(t, "", append([]string{"--url", b.URL("u", "wrong-pass")}, args...)...)
		wantCode(t, r, ExitAuth)
		if !strings.Contains(r.stderr, "authentication failed") || strings.Contains(r.stderr, "wrong-pass") {
			t.Errorf("%s: stderr %q", args[0], r.stderr)
		}
	}
}

func TestCommandDeadlineIsATimeout(t *testing.T) {
	b := clitest.New(t)
	b.Respond = func(ctx context.Context, _ clitest.Sent) (any, error) {
		<-ctx.Done() // a driver that ignores SendOptions.Timeout
		return nil, ctx.Err()
	}
	url := b.URL("u", "p")
	r := runCLI(t, "", "cast", "--url", url, "--topic", "t", "--timeout", "50ms", "m")
	wantCode(t, r, ExitTimeout)
	if !strings.Contains(r.stderr, "not done within --timeout 50ms") {
		t.Errorf("stderr %q", r.stderr)
	}
	r = runCLI(t, "", "call", "--url", url, "--topic", "t", "--timeout", "50ms", "m")
	wantCode(t, r, ExitTimeout)
}

func TestCallWithoutServerTimesOut(t *testing.T) {
	b := clitest.New(t)
	r := runCLI(t, "", "call", "--url", b.URL("u", "p"), "--topic", "nobody", "--timeout", "100ms", "echo")
	wantCode(t, r, ExitTimeout)
}

func TestInterruptedCallExits1(t *testing.T) {
	b := clitest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	b.Respond = func(ctx context.Context, _ clitest.Sent) (any, error) {
		cancel() // as SIGINT would
		<-ctx.Done()
		return nil, ctx.Err()
	}
	r := runCtx(ctx, "", "call", "--url", b.URL("u", "p"), "--topic", "t", "m")
	wantCode(t, r, ExitFailure)
	if !strings.Contains(r.stderr, "interrupted") {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestNoPasswordInAnyOutput(t *testing.T) {
	const secret = "pa55-s3cret-word"
	b := clitest.New(t)
	b.Respond = func(_ context.Context, s clitest.Sent) (any, error) {
		// A careless driver quoting its URL in an error.
		return nil, fmt.Errorf("connection to clitest://u:%s@%s/ lost", secret, b.Name)
	}
	b.NotifyErr = fmt.Errorf("broker said no to u:%s", secret)
	url := b.URL("u", secret)
	runs := []result{
		runCLI(t, "", "call", "--url", url, "--topic", "t", "m"),
		runCLI(t, "", "cast", "--url", url, "--topic", "t", "m"),
		runCLI(t, "", "notify", "--url", url, "--topic", "n", "--priority", "info", "--event-type", "e", "{}"),
		runCLI(t, "", "listen", "--url", url, "--topic", "n", "--count", "1", "--timeout", "10ms"),
		runCLI(t, "", "call", "--url", "clitest://u:"+secret+"@h:bad/", "--topic", "t", "m"),
		runCLI(t, "", "call", "--url", "nosuch://u:"+secret+"@h/", "--topic", "t", "m"),
		runCLI(t, "", "call", "--url", url, "--bogus"),
	}
	wrong := clitest.New(t)
	wrong.Password = "other"
	runs = append(runs, runCLI(t, "", "call", "--url", wrong.URL("u", secret), "--topic", "t", "m"))
	bg := startServe(t, b, "--url", url, "--topic", "t")
	runs = append(runs, bg.stop(t))
	for i, r := range runs {
		if strings.Contains(r.stdout+r.stderr, secret) {
			t.Errorf("run %d printed the password: stdout %q, stderr %q", i, r.stdout, r.stderr)
		}
		if r.code == ExitOK && i < len(runs)-1 {
			t.Errorf("run %d succeeded: %+v", i, r)
		}
	}
	if !strings.Contains(runs[0].stderr, "clitest://u:****@") {
		t.Errorf("the password is not masked in %q", runs[0].stderr)
	}
}

func TestCallRequest(t *testing.T) {
	b := clitest.New(t)
	b.Respond = func(context.Context, clitest.Sent) (any, error) {
		return map[string]any{"z": 1, "a": "<&>", "n": []any{nil, true}}, nil
	}
	url := b.URL("u", "p")
	r := runCLI(t, "", "call", "--url", url, "--topic", "compute", "--server", "host1", "--exchange", "nova",
		"--version", "6.1", "--namespace", "baseapi", "--timeout", "9s", "--call-monitor-timeout", "4s", "--retry", "2",
		"get_info", `{"id": "abc", "big": 12345678901234567890}`)
	wantCode(t, r, ExitOK)
	if want := `{"a":"<&>","n":[null,true],"z":1}` + "\n"; r.stdout != want {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
	if r.stderr != "" {
		t.Errorf("stderr %q", r.stderr)
	}
	s := b.Stats()
	if len(s.Sent) != 1 {
		t.Fatalf("sent %d messages", len(s.Sent))
	}
	sent := s.Sent[0]
	wantTarget := drivers.Target{Exchange: "nova", Topic: "compute", Server: "host1", Namespace: "baseapi", Version: "6.1"}
	if sent.Target != wantTarget {
		t.Errorf("target %v, want %v", sent.Target, wantTarget)
	}
	msg := fmt.Sprint(sent.Message)
	if want := "map[args:map[big:12345678901234567890 id:abc] method:get_info namespace:baseapi version:6.1]"; msg != want {
		t.Errorf("message %s, want %s", msg, want)
	}
	o := sent.Options
	if !o.WaitForReply || o.Retry != 2 || o.CallMonitorTimeout != 4*time.Second || o.Timeout <= 8*time.Second || o.Timeout > 9*time.Second || o.Mandatory {
		t.Errorf("options %+v", o)
	}
	rid, _ := sent.Context["request_id"].(string)
	if !regexp.MustCompile(`^req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(rid) || len(sent.Context) != 1 {
		t.Errorf("context %v, want only a generated request_id", sent.Context)
	}
}

func TestCastRequest(t *testing.T) {
	b := clitest.New(t)
	url := b.URL("u", "p")
	r := runCLI(t, `{"k": [1, 2.5]}`, "cast", "--url", url, "--topic", "t", "--fanout", "--mandatory",
		"--context", `{"request_id": "req-given", "user_id": "alice"}`, "m", "-")
	wantCode(t, r, ExitOK)
	if r.stdout != "" || r.stderr != "" {
		t.Errorf("cast printed stdout %q, stderr %q", r.stdout, r.stderr)
	}
	sent := b.Stats().Sent[0]
	if sent.Target != (drivers.Target{Topic: "t", Fanout: true}) {
		t.Errorf("target %v", sent.Target)
	}
	if got := fmt.Sprint(sent.Message); got != "map[args:map[k:[1 2.5]] method:m]" {
		t.Errorf("message %s", got)
	}
	if got := fmt.Sprint(sent.Context); got != "map[request_id:req-given user_id:alice]" {
		t.Errorf("context %s", got)
	}
	if o := sent.Options; o.WaitForReply || !o.Mandatory || o.Retry != -1 || o.Timeout != 0 {
		t.Errorf("options %+v", o)
	}
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "nova.conf")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigFile(t *testing.T) {
	b := clitest.New(t)
	b.Respond = func(context.Context, clitest.Sent) (any, error) { return "ok", nil }
	conf := writeConfig(t, fmt.Sprintf(`[DEFAULT]
transport_url = %s
rpc_response_timeout = 7
control_exchange = nova

[oslo_messaging_rabbit]
heartbeat_timeout_treshold = 3
`, b.URL("u", "conf-secret")))
	r := runCLI(t, "", "--config-file", conf, "call", "--topic", "t", "--timeout", "0", "m")
	wantCode(t, r, ExitOK)
	if r.stdout != "\"ok\"\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	if !regexp.MustCompile(`^switchyard: warning: .*nova.conf:\d+: unknown option "heartbeat_timeout_treshold" in \[oslo_messaging_rabbit\]`).MatchString(r.stderr) || len(lines(r.stderr)) != 1 {
		t.Errorf("stderr %q, want one warning line", r.stderr)
	}
	if got := b.Stats().Sent[0].Options.Timeout; got <= 6*time.Second || got > 7*time.Second {
		t.Errorf("timeout %s, want [DEFAULT] rpc_response_timeout 7s", got)
	}

	badURL := writeConfig(t, "[DEFAULT]\ntransport_url = clitest://u:conf-secret@h:port/\n")
	r = runCLI(t, "", "--config-file", badURL, "call", "--topic", "t", "m")
	wantCode(t, r, ExitUsage)
	if !strings.Contains(r.stderr, "switchyard: parse [DEFAULT] transport_url: invalid transport URL") || strings.Contains(r.stderr, "conf-secret") {
		t.Errorf("stderr %q", r.stderr)
	}

	bad := writeConfig(t, "[DEFAULT]\nrpc_response_timeout = soon\n")
	r = runCLI(t, "", "--config-file", bad, "call", "--url", b.URL("u", "p"), "--topic", "t", "m")
	wantCode(t, r, ExitUsage)
	if !strings.Contains(r.stderr, "rpc_response_timeout") {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestAllowedRemoteExmods(t *testing.T) {
	b := clitest.New(t)
	b.Respond = func(context.Context, clitest.Sent) (any, error) { return nil, nil }
	url := b.URL("u", "p")
	wantCode(t, runCLI(t, "", "--allowed-remote-exmods", "nova.exception,glance.common", "--allowed-remote-exmods", "x", "call", "--url", url, "--topic", "t", "m"), ExitOK)
	wantCode(t, runCLI(t, "", "call", "--url", url, "--topic", "t", "m"), ExitOK)
	got := fmt.Sprint(b.Stats().AllowedRemoteExmods)
	if want := "[[nova.exception glance.common x] []]"; got != want {
		t.Errorf("allowed remote exmods per open %s, want %s", got, want)
	}
}

func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"a\nb":             "a b",
		"a\r\n  b\n\n":     "a b",
		"tab\there\x00!":   "tab here !",
		"plain message":    "plain message",
		"\n\nDid you?\n\t": "Did you?",
	} {
		if got := oneLine(in); got != want {
			t.Errorf("oneLine(%q) = %q, want %q", in, got, want)
		}
	}
}
