package cli

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/cmd/switchyard/internal/clitest"
	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/drivers/envelope"
)

var uuid4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestNotifyTargetAndMessage(t *testing.T) {
	b := clitest.New(t)
	url := b.URL("u", "p")
	before := time.Now()
	r := runCLI(t, "", "notify", "--url", url, "--topic", "notifications", "--priority", "Error",
		"--event-type", "compute.instance.create.end", "--context", `{"user_id": "bob"}`, `{"instance_id": "abc", "n": 1.5}`)
	wantCode(t, r, ExitOK)
	if r.stdout != "" || r.stderr != "" {
		t.Errorf("notify printed stdout %q, stderr %q", r.stdout, r.stderr)
	}
	n := b.Stats().Notified
	if len(n) != 1 {
		t.Fatalf("%d notifications sent", len(n))
	}
	got := n[0]
	if got.Target != (drivers.Target{Topic: "notifications.error"}) || got.Version != "2.0" || got.Retry != -1 {
		t.Errorf("target %v, version %q, retry %d", got.Target, got.Version, got.Retry)
	}
	parsed, err := envelope.ParseNotification(got.Message)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Priority != "ERROR" || parsed.EventType != "compute.instance.create.end" || parsed.PublisherID != "switchyard."+hostname() {
		t.Errorf("notification %+v", parsed)
	}
	if !uuid4.MatchString(parsed.MessageID) {
		t.Errorf("message_id %q is not a uuid4", parsed.MessageID)
	}
	if parsed.Timestamp.Before(before.Add(-time.Second).UTC()) || parsed.Timestamp.After(time.Now().Add(time.Second)) {
		t.Errorf("timestamp %s is not now", parsed.Timestamp)
	}
	if p := fmt.Sprint(parsed.Payload); p != "map[instance_id:abc n:1.5]" {
		t.Errorf("payload %s", p)
	}
	if got.Context["user_id"] != "bob" || got.Context["request_id"] == nil {
		t.Errorf("context %v", got.Context)
	}

	r = runCLI(t, `"from stdin"`, "notify", "--url", url, "--topic", "n", "--exchange", "nova", "--priority", "info",
		"--event-type", "e", "--publisher-id", "demo.host1", "--version", "1.0", "--retry", "3", "-")
	wantCode(t, r, ExitOK)
	got = b.Stats().Notified[1]
	if got.Target != (drivers.Target{Exchange: "nova", Topic: "n.info"}) || got.Version != "1.0" || got.Retry != 3 {
		t.Errorf("target %v, version %q, retry %d", got.Target, got.Version, got.Retry)
	}
	if got.Message["publisher_id"] != "demo.host1" || got.Message["payload"] != "from stdin" || got.Message["priority"] != "INFO" {
		t.Errorf("message %v", got.Message)
	}
}

func TestNotifyOptionsFromConfig(t *testing.T) {
	b := clitest.New(t)
	rpc := clitest.New(t)
	conf := writeConfig(t, fmt.Sprintf(`[DEFAULT]
transport_url = %s

[oslo_messaging_notifications]
driver = messaging
transport_url = %s
retry = 5
`, rpc.URL("u", "p"), b.URL("u", "p")))
	wantCode(t, runCLI(t, "", "--config-file", conf, "notify", "--topic", "n", "--priority", "warn", "--event-type", "e", "null"), ExitOK)
	n := b.Stats().Notified
	if len(n) != 1 || n[0].Version != "1.0" || n[0].Retry != 5 {
		t.Fatalf("notifications %+v, want one of version 1.0 with retry 5 on the notification transport", n)
	}
	if len(rpc.Stats().Notified) != 0 {
		t.Error("the notification went to [DEFAULT] transport_url")
	}
	// Flags win over the file.
	wantCode(t, runCLI(t, "", "--config-file", conf, "notify", "--topic", "n", "--priority", "warn", "--event-type", "e", "--version", "2.0", "--retry", "0", "null"), ExitOK)
	if n := b.Stats().Notified[1]; n.Version != "2.0" || n.Retry != 0 {
		t.Errorf("version %q retry %d", n.Version, n.Retry)
	}
}

func TestNotifyThenListen(t *testing.T) {
	b := clitest.New(t)
	url := b.URL("u", "p")
	wantCode(t, runCLI(t, "", "notify", "--url", url, "--topic", "n", "--priority", "info", "--event-type", "first", `{"i": 1}`), ExitOK)
	wantCode(t, runCLI(t, "", "notify", "--url", url, "--topic", "n", "--priority", "error", "--event-type", "second", `{"i": 2}`), ExitOK)
	wantCode(t, runCLI(t, "", "notify", "--url", url, "--topic", "n", "--priority", "debug", "--event-type", "ignored", `{}`), ExitOK)

	r := runCLI(t, "", "listen", "--url", url, "--topic", "n", "--priority", "info", "--priority", "error,INFO", "--pool", "p1", "--count", "2", "--timeout", "10s")
	wantCode(t, r, ExitOK)
	if want := "switchyard: listening for notifications on n.info, n.error at clitest://u:****@" + b.Name + "/\n"; r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
	got := lines(r.stdout)
	if len(got) != 2 {
		t.Fatalf("listen printed %q, want 2 lines", r.stdout)
	}
	var events []string
	for _, l := range got {
		if !strings.HasPrefix(l, `{"priority":`) {
			t.Errorf("line %q does not start with the priority", l)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		if len(m) != 7 {
			t.Errorf("line %q has %d fields, want 7", l, len(m))
		}
		for _, k := range []string{"priority", "event_type", "publisher_id", "payload", "message_id", "timestamp", "context"} {
			if m[k] == nil {
				t.Errorf("line %q has no %s", l, k)
			}
		}
		events = append(events, fmt.Sprint(m["priority"], " ", m["event_type"], " ", m["payload"]))
	}
	if e := strings.Join(events, "; "); e != "INFO first map[i:1]; ERROR second map[i:2]" {
		t.Errorf("received %s", e)
	}
	s := b.Stats()
	if s.Acks != 2 || s.Stops != 1 || s.Cleanups != 1 || s.Opens != s.Closes {
		t.Errorf("stats %+v", s)
	}
	sub := s.Subscriptions[0]
	if sub.Pool != "p1" || len(sub.Targets) != 2 || sub.Targets[0].Address() != "n.info" || sub.Targets[1].Address() != "n.error" || sub.Batch.Size != 1 {
		t.Errorf("subscription %+v", sub)
	}
}

func TestListenTimeout(t *testing.T) {
	b := clitest.New(t)
	url := b.URL("u", "p")
	r := runCLI(t, "", "listen", "--url", url, "--topic", "n", "--count", "1", "--timeout", "100ms")
	wantCode(t, r, ExitTimeout)
	if !strings.Contains(r.stderr, "0 of 1 notification(s) received") {
		t.Errorf("stderr %q", r.stderr)
	}

	// Without --count, --timeout just ends the listening.
	wantCode(t, runCLI(t, "", "notify", "--url", url, "--topic", "n", "--priority", "info", "--event-type", "e", "{}"), ExitOK)
	r = runCLI(t, "", "listen", "--url", url, "--topic", "n", "--timeout", "100ms")
	wantCode(t, r, ExitOK)
	if len(lines(r.stdout)) != 1 {
		t.Errorf("stdout %q, want one notification", r.stdout)
	}
	if s := b.Stats(); s.Opens != s.Closes || s.ActiveNotifyListen != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestListenUntilInterrupted(t *testing.T) {
	b := clitest.New(t)
	url := b.URL("u", "p")
	bg := start(t, "listen", "--url", url, "--topic", "n", "--priority", "audit")
	waitFor(t, b, "listen to subscribe", func(s clitest.Stats) bool { return s.ActiveNotifyListen == 1 })
	wantCode(t, runCLI(t, "", "notify", "--url", url, "--topic", "n", "--priority", "audit", "--event-type", "e", "{}"), ExitOK)
	waitFor(t, b, "the notification to be acknowledged", func(s clitest.Stats) bool { return s.Acks == 1 })
	r := bg.stop(t)
	wantCode(t, r, ExitOK)
	if len(lines(r.stdout)) != 1 {
		t.Errorf("stdout %q", r.stdout)
	}
}

// TestNotifyURL checks that --notify-url carries notify and listen to
// their own backend while RPC commands keep --url (hybrid messaging).
func TestNotifyURL(t *testing.T) {
	rpc, notes := clitest.New(t), clitest.New(t)
	base := []string{"--url", rpc.URL("u", "p"), "--notify-url", notes.URL("u", "p")}
	wantCode(t, runCLI(t, "", append(base, "notify", "--topic", "n", "--priority", "info", "--event-type", "e", "null")...), ExitOK)
	if len(notes.Stats().Notified) != 1 || len(rpc.Stats().Notified) != 0 {
		t.Fatalf("notifications: %d on the notification backend, %d on the RPC one; want 1 and 0",
			len(notes.Stats().Notified), len(rpc.Stats().Notified))
	}
	wantCode(t, runCLI(t, "", append(base, "cast", "--topic", "c", "m")...), ExitOK)
	if len(rpc.Stats().Sent) != 1 || len(notes.Stats().Sent) != 0 {
		t.Fatalf("casts: %d on the RPC backend, %d on the notification one; want 1 and 0", len(rpc.Stats().Sent), len(notes.Stats().Sent))
	}
	wantCode(t, runCLI(t, "", "--notify-url", " ", "notify", "--topic", "n", "--event-type", "e", "null"), ExitUsage)
}
