package realbroker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// recorder is a TB that records how the test would have ended.
type recorder struct {
	skipped, failed string
	logs            []string
}

func (r *recorder) Helper()                      {}
func (r *recorder) Skip(args ...any)             { r.skipped = fmt.Sprint(args...) }
func (r *recorder) Fatal(args ...any)            { r.failed = fmt.Sprint(args...) }
func (r *recorder) Logf(format string, a ...any) { r.logs = append(r.logs, fmt.Sprintf(format, a...)) }

func fakeFinder(docker bool, containerURL string, containerErr error, env map[string]string) finder {
	return finder{
		dockerAnswers:  func(context.Context) bool { return docker },
		startContainer: func(context.Context) (string, error) { return containerURL, containerErr },
		getenv:         func(k string) string { return env[k] },
	}
}

func TestRabbitSwitch(t *testing.T) {
	env := map[string]string{EnvRabbitURL: "rabbit://guest:guest@127.0.0.1:5672/"}
	cases := []struct {
		name        string
		f           finder
		requireReal string
		wantURL     string
		wantSource  Source
		wantSkip    bool
		wantFail    bool
	}{
		{"docker answers", fakeFinder(true, "rabbit://guest:guest@localhost:32768/", nil, env), "", "rabbit://guest:guest@localhost:32768/", FromContainer, false, false},
		{"docker fails to start, env set", fakeFinder(true, "", errors.New("pull refused"), env), "", env[EnvRabbitURL], FromEnvironment, false, false},
		{"no docker, env set", fakeFinder(false, "", nil, env), "1", env[EnvRabbitURL], FromEnvironment, false, false},
		{"no docker, no env: skip", fakeFinder(false, "", nil, nil), "", "", "", true, false},
		{"no docker, no env, required: fail", fakeFinder(false, "", nil, nil), "1", "", "", false, true},
		{"required=true spelling", fakeFinder(false, "", nil, nil), "true", "", "", false, true},
		{"required=0 skips", fakeFinder(false, "", nil, nil), "0", "", "", true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(EnvRequireReal, c.requireReal)
			r := &recorder{}
			u, src := c.f.rabbit(r)
			if u != c.wantURL || src != c.wantSource {
				t.Errorf("got (%q, %q), want (%q, %q)", u, src, c.wantURL, c.wantSource)
			}
			if (r.skipped != "") != c.wantSkip {
				t.Errorf("skipped = %q, want skip %v", r.skipped, c.wantSkip)
			}
			if (r.failed != "") != c.wantFail {
				t.Errorf("failed = %q, want fail %v", r.failed, c.wantFail)
			}
			for _, msg := range []string{r.skipped, r.failed} {
				if msg != "" && !strings.Contains(msg, EnvRabbitURL) {
					t.Errorf("message %q does not say how to provide a broker", msg)
				}
			}
		})
	}
}

func TestUnavailableMessages(t *testing.T) {
	t.Setenv(EnvRequireReal, "")
	r := &recorder{}
	Unavailable(r, "python3-oslo.messaging", "apt-get install python3-oslo.messaging")
	if !strings.Contains(r.skipped, "apt-get install") || r.failed != "" {
		t.Fatalf("skip = %q, fail = %q", r.skipped, r.failed)
	}
	t.Setenv(EnvRequireReal, "1")
	r = &recorder{}
	Unavailable(r, "python3-oslo.messaging", "apt-get install python3-oslo.messaging")
	if !strings.Contains(r.failed, EnvRequireReal) || r.skipped != "" {
		t.Fatalf("skip = %q, fail = %q", r.skipped, r.failed)
	}
}

// TestRealRabbitReachable proves the real path end to end: whatever Rabbit
// returns must accept a TCP connection.
func TestRealRabbitReachable(t *testing.T) {
	u, src := Rabbit(t)
	t.Logf("RabbitMQ from %s: %s", src, u)
	if err := dial(u); err != nil {
		t.Fatalf("RabbitMQ at %s (%s) does not answer: %v", u, src, err)
	}
}

func TestStartProton(t *testing.T) {
	p, err := StartProton(0)
	if err != nil {
		Unavailable(t, "the proton example broker", err.Error())
		return
	}
	if err := dial(p.URL()); err != nil {
		t.Fatalf("proton broker at %s does not answer: %v", p.URL(), err)
	}
	p.Stop()
	if err := dial(p.URL()); err == nil {
		t.Fatal("the proton broker still answers after Stop")
	}
}
