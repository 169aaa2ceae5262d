package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchyard-dev/switchyard/internal/chaos/report"
	"github.com/switchyard-dev/switchyard/internal/chaos/scenario"
	"github.com/switchyard-dev/switchyard/internal/realbroker"
	"github.com/switchyard-dev/switchyard/scenarios"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// shortRun is the workload duration of the tests' runs of the shipped
// scenarios; their fault timelines shrink to match.
const shortRun = "3s"

type outcome struct {
	code           int
	stdout, stderr string
}

func chaos(t *testing.T, args ...string) outcome {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := Run(ctx, args, &out, &errb)
	return outcome{code, out.String(), errb.String()}
}

func readReport(t *testing.T, dir, name string) *report.Report {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r report.Report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	html, err := os.ReadFile(filepath.Join(dir, name, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(html, []byte("<h2>Verdict</h2>")) || !bytes.Contains(html, []byte("echarts.init")) {
		t.Errorf("%s: report.html lacks the verdict table or the charts", name)
	}
	return &r
}

// TestShippedScenariosHold runs every shipped scenario that is expected to
// pass, shortened, against the embedded broker: every invariant must hold.
func TestShippedScenariosHold(t *testing.T) {
	for _, file := range scenarios.Names() {
		data, _ := scenarios.Read(file)
		s, err := scenario.Parse(file, data)
		if err != nil {
			t.Fatal(err)
		}
		if s.ExpectFail {
			continue
		}
		t.Run(s.Name, func(t *testing.T) {
			// At most GOMAXPROCS of these run at once (go test -parallel).
			t.Parallel()
			dir := t.TempDir()
			o := chaos(t, "run", "--quiet", "--duration", shortRun, "--report-dir", dir, s.Name)
			if o.code != ExitHolds {
				t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", o.code, o.stdout, o.stderr)
			}
			if !strings.Contains(o.stdout, "INVARIANT") || !strings.Contains(o.stdout, "every invariant holds") {
				t.Errorf("no verdict table:\n%s", o.stdout)
			}
			r := readReport(t, dir, s.Name)
			if !r.Holds || r.Counts.Sends == 0 || r.Counts.Processed == 0 || r.Counts.Lost != 0 || r.Counts.Unexpected != 0 {
				t.Errorf("report: holds %v, counts %+v", r.Holds, r.Counts)
			}
			if len(r.Faults) != len(s.Faults) {
				t.Errorf("%d fault windows, want %d", len(r.Faults), len(s.Faults))
			}
			for _, f := range r.Faults {
				if f.Applied == 0 || len(f.Errors) > 0 {
					t.Errorf("fault %s was not applied cleanly: %+v", f.Kind, f)
				}
			}
			switch n := s.Backend.RouterCount(); {
			case n > 0 && (r.Router == nil || len(r.Router.Totals) != n || r.Router.Events["received"] == 0 || r.Broker != nil):
				t.Errorf("want the events of %d routers and no broker: router %+v, broker %+v", n, r.Router, r.Broker)
			case n == 0 && (r.Broker == nil || r.Broker.Events["publish"] == 0):
				t.Errorf("no broker events observed: %+v", r.Broker)
			}
		})
	}
}

// TestMutantFails runs the lose-acknowledged mutant: the checker must see
// acknowledged messages lost and the command exit 1.
func TestMutantFails(t *testing.T) {
	dir := t.TempDir()
	o := chaos(t, "run", "--quiet", "--duration", shortRun, "--report-dir", dir, "mutant-lose-acknowledged")
	if o.code != ExitFails {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", o.code, o.stdout, o.stderr)
	}
	if !strings.Contains(o.stdout, "FAILED: lost (as this scenario expects)") {
		t.Errorf("verdict line missing:\n%s", o.stdout)
	}
	r := readReport(t, dir, "mutant-lose-acknowledged")
	if r.Holds || r.Counts.Lost == 0 || len(r.Counts.LostIDs) == 0 {
		t.Errorf("mutant run: holds %v, lost %d", r.Holds, r.Counts.Lost)
	}
	if r.Broker.Events["dropped"] == 0 {
		t.Errorf("the broker logged no dropped message: %v", r.Broker.Events)
	}
}

const tiny = `name: tiny
duration: 1s
drain: 5s
workload:
  - {kind: call, rate: 30, concurrency: 2, servers: {count: 2}}
  - {kind: notify, rate: 30, listeners: {count: 1, pools: [p, q]}}
faults:
  - {at: 300ms, kind: close-connections, target: rpc-server}
invariants:
  # The kill may lose acknowledgements in flight (see the shipped
  # connection-kill-during-calls); these tests are about other things.
  duplicated: any
`

// TestSameSeedSameSchedule runs one scenario twice with one seed and once
// with another: the schedules' digests tell.
func TestSameSeedSameSchedule(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tiny.yaml")
	if err := os.WriteFile(file, []byte(tiny), 0o644); err != nil {
		t.Fatal(err)
	}
	digest := func(seed string) (string, int) {
		rd := filepath.Join(dir, "seed"+seed)
		o := chaos(t, "run", "--quiet", "--seed", seed, "--report-dir", rd, file)
		if o.code != ExitHolds {
			t.Fatalf("exit %d\n%s\n%s", o.code, o.stdout, o.stderr)
		}
		r := readReport(t, rd, "tiny")
		if r.Seed == 0 {
			t.Fatalf("seed not reported")
		}
		return r.Schedule, r.Planned
	}
	a, na := digest("5")
	b, nb := digest("5")
	c, _ := digest("6")
	if a != b || na != nb {
		t.Errorf("seed 5 gave schedules %s (%d sends) and %s (%d sends)", a, na, b, nb)
	}
	if a == c {
		t.Errorf("seeds 5 and 6 gave the same schedule %s", a)
	}
}

// TestInvalidInput: bad scenario files and flags exit 2 with file:line:
// field errors, and nothing runs.
func TestInvalidInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: bad\nworkload:\n  - kind: calls\n    rate: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	staging := filepath.Join(dir, "staging.yaml")
	if err := os.WriteFile(staging, []byte("name: st\nworkload:\n  - {kind: cast, rate: 1}\nfaults:\n  - {at: 0s, kind: restart}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"validate bad file", []string{"validate", bad}, bad + ":3: workload[0].kind: must be one of call, cast, fanout, notify"},
		{"run bad file", []string{"run", "--quiet", "--report-dir", dir, bad}, bad + ":3: workload[0].kind:"},
		{"missing file", []string{"validate", filepath.Join(dir, "none.yaml")}, "no such file"},
		{"no file", []string{"run"}, "run needs at least one scenario FILE"},
		{"bad flag", []string{"run", "--sead", "3", bad}, "unknown flag: --sead"},
		{"bad url", []string{"run", "--quiet", "--url", "amqp://h:5672", "--report-dir", dir, staging}, "--url: driver rabbit needs a rabbit:// or pika:// URL, got scheme \"amqp\""},
		{"broker fault against url", []string{"run", "--quiet", "--url", "rabbit://guest:guest@127.0.0.1:1/", "--report-dir", dir, staging}, staging + ":5: faults[0].kind: restart needs the embedded broker"},
		{"list with args", []string{"list", "x"}, "list takes no arguments"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := chaos(t, tc.args...)
			if o.code != ExitInvalid {
				t.Errorf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", o.code, o.stdout, o.stderr)
			}
			if !strings.Contains(o.stderr, tc.want) {
				t.Errorf("stderr\n%s\nlacks %q", o.stderr, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "st")); err == nil {
		t.Error("a report was written for a run that should not have started")
	}
}

func TestValidateAndList(t *testing.T) {
	var files []string
	for _, n := range scenarios.Names() {
		files = append(files, filepath.Join("..", "..", "..", "scenarios", n))
	}
	o := chaos(t, append([]string{"validate"}, files...)...)
	if o.code != ExitHolds || strings.Count(o.stdout, ": ok: ") != len(files) {
		t.Errorf("validate shipped: exit %d\n%s\n%s", o.code, o.stdout, o.stderr)
	}
	o = chaos(t, "list")
	if o.code != ExitHolds {
		t.Fatalf("list: exit %d: %s", o.code, o.stderr)
	}
	for _, n := range scenarios.Names() {
		if !strings.Contains(o.stdout, strings.TrimSuffix(n, ".yaml")+" ") {
			t.Errorf("list lacks %s:\n%s", n, o.stdout)
		}
	}
	if !strings.Contains(o.stdout, "[expected to fail]") {
		t.Errorf("list does not mark the mutant:\n%s", o.stdout)
	}
}

// TestStagingThroughProxy runs the network scenario against a real
// RabbitMQ through the in-process toxiproxy proxy.
func TestStagingThroughProxy(t *testing.T) {
	url := realbroker.RabbitURL(t)
	dir := t.TempDir()
	o := chaos(t, "run", "--quiet", "--url", url, "--duration", "4s", "--report-dir", dir, "network-latency-and-resets")
	if o.code != ExitHolds {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", o.code, o.stdout, o.stderr)
	}
	r := readReport(t, dir, "network-latency-and-resets")
	if r.Backend == "embedded" || r.Broker != nil {
		t.Errorf("backend %q, broker %v: not the staging run", r.Backend, r.Broker)
	}
	if r.Counts.Processed == 0 || r.Counts.Lost != 0 {
		t.Errorf("counts %+v", r.Counts)
	}
	for _, f := range r.Faults {
		if f.Applied == 0 || len(f.Errors) > 0 {
			t.Errorf("fault %s not applied cleanly: %+v", f.Kind, f)
		}
	}
}

// TestPikaDriver runs a small scenario with the pika:// dialect of the
// rabbit package.
func TestPikaDriver(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tiny.yaml")
	if err := os.WriteFile(file, []byte(strings.Replace(tiny, "duration: 1s", "duration: 1s\ndriver: pika", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	o := chaos(t, "run", "--quiet", "--report-dir", dir, file)
	if o.code != ExitHolds || !strings.Contains(o.stdout, "pika driver") {
		t.Fatalf("exit %d\n%s\n%s", o.code, o.stdout, o.stderr)
	}
	r := readReport(t, dir, "tiny")
	if r.Driver != "pika" || r.Counts.Processed == 0 {
		t.Errorf("driver %q, counts %+v", r.Driver, r.Counts)
	}
}

// tinyAMQP1 runs the amqp1 driver against the embedded broker's AMQP 1.0
// listener, with a fault the broker applies to AMQP 1.0 links.
const tinyAMQP1 = `name: tiny-amqp1
duration: 1s
drain: 5s
driver: amqp1
backend: embedded-broker
options:
  link_retry_delay: 1
workload:
  - {kind: call, rate: 30, concurrency: 2, timeout: 3s, servers: {count: 2}}
  - {kind: notify, rate: 30, listeners: {count: 1}}
faults:
  - {at: 300ms, kind: detach-links, target: rpc-server}
invariants:
  recovered: any
`

// TestAMQP1OnBroker runs the amqp1 driver against the embedded broker.
func TestAMQP1OnBroker(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tiny-amqp1.yaml")
	if err := os.WriteFile(file, []byte(tinyAMQP1), 0o644); err != nil {
		t.Fatal(err)
	}
	o := chaos(t, "run", "--quiet", "--report-dir", dir, file)
	if o.code != ExitHolds || !strings.Contains(o.stdout, "embedded broker, amqp1 driver") {
		t.Fatalf("exit %d\n%s\n%s", o.code, o.stdout, o.stderr)
	}
	r := readReport(t, dir, "tiny-amqp1")
	if r.Driver != "amqp1" || r.Counts.Processed == 0 || r.Broker == nil || r.Router != nil {
		t.Errorf("driver %q, counts %+v, broker %v, router %v", r.Driver, r.Counts, r.Broker, r.Router)
	}
	if len(r.Faults) != 1 || r.Faults[0].Acted == 0 {
		t.Errorf("detach-links acted on nothing: %+v", r.Faults)
	}
}
