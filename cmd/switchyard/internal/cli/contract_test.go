package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/switchyard-dev/switchyard/drivers/rabbit"
	"github.com/switchyard-dev/switchyard/fake/brokertest"
	"github.com/switchyard-dev/switchyard/fake/fault"
)

func TestContractCommand(t *testing.T) {
	b := brokertest.New(t)
	dir := t.TempDir()
	r := runCLI(t, "", "contract", "--url", b.URL(), "--clauses", "c01,C09", "--report", dir, "--quiet")
	wantCode(t, r, ExitOK)
	for _, want := range []string{"C01     a listener gets its exchange and topic only", "pass 2, fail 0"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, "rabbit_"+strings.ReplaceAll(b.Addr(), ":", "_")+".json"))
	if err != nil {
		entries, _ := os.ReadDir(dir)
		t.Fatalf("no JSON report (%v); the directory holds %v", err, entries)
	}
	var rep struct{ Totals map[string]int }
	if err := json.Unmarshal(data, &rep); err != nil || rep.Totals["pass"] != 2 {
		t.Fatalf("report totals %v (%v), want 2 passes", rep.Totals, err)
	}
}

// TestContractCommandFails runs the command against a fake broker that
// loses what it confirms: the command must report the failing clause and
// exit 1.
func TestContractCommandFails(t *testing.T) {
	b := brokertest.New(t)
	b.Faults().MustEnable(fault.Fault{Kind: fault.LoseAcknowledged})
	r := runCLI(t, "", "contract", "--url", b.URL(), "--clauses", "C09", "--report", t.TempDir(), "--quiet")
	wantCode(t, r, ExitFailure)
	if !strings.Contains(r.stdout, "C09") || !strings.Contains(r.stdout, "fail (") {
		t.Errorf("stdout does not show C09 failing:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "1 of 35 clauses failed") {
		t.Errorf("stderr: %q", r.stderr)
	}
}

func TestContractCommandBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"contract", "--url", "rabbit://127.0.0.1:1/", "--clauses", "C99"},
		{"contract", "--url", "rabbit://127.0.0.1:1/", "--clauses", ","},
		{"contract", "--url", "nosuch://127.0.0.1:1/"},
		{"contract", "--url", "rabbit://127.0.0.1:1/", "--kind", "mesh"},
		{"contract", "extra"},
	} {
		wantCode(t, runCLI(t, "", args...), ExitUsage)
	}
}
