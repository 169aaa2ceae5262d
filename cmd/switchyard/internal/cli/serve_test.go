package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/cmd/switchyard/internal/clitest"
	"github.com/switchyard-dev/switchyard/drivers"
)

// parseRequestLines decodes serve's stdout, checking every line's shape.
func parseRequestLines(t *testing.T, stdout string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range lines(stdout) {
		var m map[string]any
		d := json.NewDecoder(strings.NewReader(l))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			t.Fatalf("serve printed a line that is not JSON: %q: %v", l, err)
		}
		for _, k := range []string{"time", "method", "args", "context", "reply_to_call"} {
			if _, ok := m[k]; !ok {
				t.Errorf("line %q has no %q", l, k)
			}
		}
		if len(m) != 5 {
			t.Errorf("line %q has %d fields, want 5", l, len(m))
		}
		ts, _ := m["time"].(string)
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
			t.Errorf("time %q is not RFC 3339: %v", ts, err)
		}
		if !strings.HasPrefix(l, `{"time":`) {
			t.Errorf("line %q does not start with the time", l)
		}
		out = append(out, m)
	}
	return out
}

func TestServeMethods(t *testing.T) {
	b := clitest.New(t)
	url := b.URL("u", "p")
	bg := startServe(t, b, "--topic", "demo", "--server", "host1")

	r := runCLI(t, "", "call", "--url", url, "--topic", "demo", "--context", `{"user_id": "alice"}`, "echo", `{"text": "hi", "n": 12345678901234567890}`)
	wantCode(t, r, ExitOK)
	if want := `{"n":12345678901234567890,"text":"hi"}` + "\n"; r.stdout != want {
		t.Errorf("echo replied %q, want %q", r.stdout, want)
	}

	r = runCLI(t, "", "call", "--url", url, "--topic", "demo", "--server", "host1", "echo")
	wantCode(t, r, ExitOK)
	if r.stdout != "{}\n" {
		t.Errorf("echo without args replied %q", r.stdout)
	}

	r = runCLI(t, "", "call", "--url", url, "--topic", "demo", "fail", `{"message": "it broke"}`)
	wantCode(t, r, ExitRemote)
	if want := "remote error: ValueError (module builtins): it broke\n"; !strings.HasSuffix(r.stderr, want) {
		t.Errorf("fail: stderr %q, want suffix %q", r.stderr, want)
	}

	r = runCLI(t, "", "call", "--url", url, "--topic", "demo", "frobnicate")
	wantCode(t, r, ExitRemote)
	if want := "remote error: NoSuchMethod (module oslo_messaging.rpc.dispatcher): Endpoint does not support RPC method frobnicate\n"; !strings.HasSuffix(r.stderr, want) {
		t.Errorf("unknown method: stderr %q, want suffix %q", r.stderr, want)
	}

	r = runCLI(t, "", "call", "--url", url, "--topic", "demo", "sleep", `{"seconds": "long"}`)
	wantCode(t, r, ExitRemote)
	if !strings.Contains(r.stderr, "ValueError (module builtins): seconds must be a number") {
		t.Errorf("sleep with bad seconds: stderr %q", r.stderr)
	}

	wantCode(t, runCLI(t, "", "cast", "--url", url, "--topic", "demo", "echo", `{"cast": true}`), ExitOK)
	waitFor(t, b, "the cast to be acknowledged", func(s clitest.Stats) bool { return s.Acks == 6 })

	res := bg.stop(t)
	wantCode(t, res, ExitOK)
	if want := "switchyard: serving <Target topic=demo, server=host1> on clitest://u:****@" + b.Name + "/ (methods: echo, fail, sleep)\n"; res.stderr != want {
		t.Errorf("serve stderr %q, want %q", res.stderr, want)
	}
	got := parseRequestLines(t, res.stdout)
	if len(got) != 6 {
		t.Fatalf("serve printed %d lines, want 6:\n%s", len(got), res.stdout)
	}
	wantMethods := []string{"echo", "echo", "fail", "frobnicate", "sleep", "echo"}
	for i, m := range got {
		if m["method"] != wantMethods[i] {
			t.Errorf("line %d: method %v, want %s", i, m["method"], wantMethods[i])
		}
		if call := i < 5; m["reply_to_call"] != call {
			t.Errorf("line %d: reply_to_call %v, want %v", i, m["reply_to_call"], call)
		}
		if _, ok := m["context"].(map[string]any)["request_id"]; !ok {
			t.Errorf("line %d: context %v has no request_id", i, m["context"])
		}
	}
	if got[0]["context"].(map[string]any)["user_id"] != "alice" {
		t.Errorf("context %v", got[0]["context"])
	}
	if a, _ := json.Marshal(got[0]["args"]); string(a) != `{"n":12345678901234567890,"text":"hi"}` {
		t.Errorf("args printed as %s", a)
	}
	if a, _ := json.Marshal(got[5]["args"]); string(a) != `{"cast":true}` {
		t.Errorf("cast args printed as %s", a)
	}

	s := b.Stats()
	if s.Stops != 1 || s.Cleanups != 1 || s.Closes != s.Opens || s.ActiveRPCListeners != 0 {
		t.Errorf("serve did not shut down cleanly: %+v", s)
	}
	if len(s.RPCListens) != 1 || s.RPCListens[0] != (drivers.Target{Topic: "demo", Server: "host1"}) || s.RPCBatches[0] != (drivers.Batch{Size: 1}) {
		t.Errorf("listened on %v with %v", s.RPCListens, s.RPCBatches)
	}
	if s.Replies != 5 {
		t.Errorf("%d replies, want 5", s.Replies)
	}
}

func TestServeSleepHeartbeats(t *testing.T) {
	b := clitest.New(t)
	url := b.URL("u", "p")
	bg := startServe(t, b, "--topic", "t")
	// Half of a 2 s call-monitor timeout is 1 s: heartbeats at 1 s and 2 s,
	// and without them the caller would give up at 2 s.
	start := time.Now()
	r := runCLI(t, "", "call", "--url", url, "--topic", "t", "--call-monitor-timeout", "2s", "sleep", `{"seconds": 2.5}`)
	wantCode(t, r, ExitOK)
	if elapsed := time.Since(start); elapsed < 2500*time.Millisecond {
		t.Errorf("sleep 2.5 returned after %s", elapsed)
	}
	if r.stdout != "null\n" {
		t.Errorf("sleep replied %q", r.stdout)
	}
	if hb := b.Stats().Heartbeats; hb != 2 {
		t.Errorf("%d heartbeats, want 2", hb)
	}

	// No call-monitor timeout, no heartbeats.
	r = runCLI(t, "", "call", "--url", url, "--topic", "t", "sleep", `{"seconds": 0.05}`)
	wantCode(t, r, ExitOK)
	if hb := b.Stats().Heartbeats; hb != 2 {
		t.Errorf("%d heartbeats after a call without a call-monitor timeout, want still 2", hb)
	}
	wantCode(t, bg.stop(t), ExitOK)
}

func TestHeartbeatInterval(t *testing.T) {
	for cmt, want := range map[time.Duration]time.Duration{
		500 * time.Millisecond: time.Second,
		2 * time.Second:        time.Second,
		3 * time.Second:        1500 * time.Millisecond,
		10 * time.Second:       5 * time.Second,
	} {
		if got := heartbeatInterval(cmt); got != want {
			t.Errorf("heartbeatInterval(%s) = %s, want %s", cmt, got, want)
		}
	}
}

func TestSeconds(t *testing.T) {
	for _, tc := range []struct {
		args any
		want time.Duration
		err  bool
	}{
		{map[string]any{"seconds": json.Number("1.5")}, 1500 * time.Millisecond, false},
		{map[string]any{"seconds": 2.0}, 2 * time.Second, false},
		{map[string]any{"seconds": 3}, 3 * time.Second, false},
		{map[string]any{"seconds": json.Number("-1")}, 0, true},
		{map[string]any{"seconds": json.Number("1e300")}, 0, true},
		{map[string]any{"seconds": "1"}, 0, true},
		{map[string]any{}, 0, true},
		{[]any{1}, 0, true},
	} {
		got, err := seconds(tc.args)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("seconds(%v) = %s, %v", tc.args, got, err)
		}
	}
}

func TestServeShutdownDuringSleep(t *testing.T) {
	b := clitest.New(t)
	url := b.URL("u", "p")
	bg := startServe(t, b, "--topic", "t")
	caller := start(t, "call", "--url", url, "--topic", "t", "--timeout", "60s", "sleep", `{"seconds": 60}`)
	waitFor(t, b, "the sleep request to arrive", func(s clitest.Stats) bool { return s.Acks == 1 })
	began := time.Now()
	res := bg.stop(t)
	wantCode(t, res, ExitOK)
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("serve took %s to stop during a sleep", d)
	}
	r := caller.wait(t)
	wantCode(t, r, ExitRemote)
	if !strings.Contains(r.stderr, "RuntimeError (module builtins): switchyard serve is shutting down") {
		t.Errorf("caller stderr %q", r.stderr)
	}
}

func TestServeCastsDeliveredAsRPC(t *testing.T) {
	b := clitest.New(t)
	b.CastsAsRPC = true
	url := b.URL("u", "p")
	bg := startServe(t, b, "--topic", "t")
	wantCode(t, runCLI(t, "", "cast", "--url", url, "--topic", "t", "fail"), ExitOK)
	wantCode(t, runCLI(t, "", "cast", "--url", url, "--topic", "t", "sleep", `{"seconds": 0}`), ExitOK)
	waitFor(t, b, "both casts to be acknowledged", func(s clitest.Stats) bool { return s.Acks == 2 })
	res := bg.stop(t)
	wantCode(t, res, ExitOK)
	for i, m := range parseRequestLines(t, res.stdout) {
		if m["reply_to_call"] != false {
			t.Errorf("cast %d printed reply_to_call %v", i, m["reply_to_call"])
		}
	}
	if s := b.Stats(); s.Replies != 0 {
		t.Errorf("%d replies to casts", s.Replies)
	}
}

func TestCastFanoutReachesEveryServer(t *testing.T) {
	b := clitest.New(t)
	url := b.URL("u", "p")
	one := startServe(t, b, "--topic", "t", "--server", "one")
	two := startServe(t, b, "--topic", "t", "--server", "two")
	wantCode(t, runCLI(t, "", "cast", "--url", url, "--topic", "t", "--fanout", "echo", `{"to": "all"}`), ExitOK)
	waitFor(t, b, "both servers to receive the fanout", func(s clitest.Stats) bool { return s.Acks == 2 })
	for _, bg := range []*background{one, two} {
		res := bg.stop(t)
		wantCode(t, res, ExitOK)
		got := parseRequestLines(t, res.stdout)
		if len(got) != 1 || got[0]["method"] != "echo" || got[0]["reply_to_call"] != false {
			t.Errorf("server printed %q", res.stdout)
		}
	}
}

func TestServeListenerFailure(t *testing.T) {
	b := clitest.New(t)
	bg := start(t, "serve", "--url", b.URL("u", "p"), "--topic", "t", "--exchange", "x")
	s := waitFor(t, b, "serve to listen", func(s clitest.Stats) bool { return s.ActiveRPCListeners == 1 })
	if s.RPCListens[0].Exchange != "x" {
		t.Errorf("listened on %v", s.RPCListens[0])
	}
	// Stopping the listener under serve, as a dying connection would,
	// ends serve with an error.
	b.StopListeners()
	res := bg.wait(t)
	wantCode(t, res, ExitFailure)
	if !strings.Contains(res.stderr, "receive requests: driver closed") {
		t.Errorf("stderr %q", res.stderr)
	}
}
