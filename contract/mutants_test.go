package contract_test

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/contract"
	"github.com/switchyard-dev/switchyard/fake/brokertest"
	"github.com/switchyard-dev/switchyard/fake/fault"
)

// brokerMutants are the fake broker's wrong modes and the clauses that
// must catch each. README.md lists the same table.
var brokerMutants = []struct {
	kind    fault.Kind
	catches []contract.Clause
}{
	// Confirmed, never stored: sends succeed and nothing arrives.
	{fault.LoseAcknowledged, []contract.Clause{"C17", "C20"}},
	// Stored twice: listeners see a message twice.
	{fault.DuplicateDelivery, []contract.Clause{"C25", "C29"}},
	// Confirmed before routing, then dropped.
	{fault.EarlyAck, []contract.Clause{"C17", "C20"}},
	// Deliveries go past the prefetch count.
	{fault.IgnorePrefetch, []contract.Clause{"C31"}},
	// Consecutive messages swap places.
	{fault.Reorder, []contract.Clause{"C32"}},
}

// envMutantsAll, set to 1, runs every clause against each mutant and logs
// which ones fail, to find what catches a new mutant.
const envMutantsAll = "SWITCHYARD_MUTANTS_ALL"

// envMutantsOnly names the one mutant to check (such as "reorder").
const envMutantsOnly = "SWITCHYARD_MUTANTS_ONLY"

// TestMutants runs the rabbit driver's clauses against each wrong mode of
// the fake broker and requires each mutant to be caught by the clauses it
// violates: a mutant that survives means the suite cannot see that
// failure.
func TestMutants(t *testing.T) {
	if testing.Short() {
		t.Skip("mutation check skipped in -short mode")
	}
	all := os.Getenv(envMutantsAll) == "1"
	only := os.Getenv(envMutantsOnly)
	for _, m := range brokerMutants {
		if only != "" && string(m.kind) != only {
			continue
		}
		t.Run(string(m.kind), func(t *testing.T) {
			b := brokertest.New(t)
			b.Faults().MustEnable(fault.Fault{Kind: m.kind})
			h := fakeBrokerHarnessOn(t, b, "rabbit")
			h.Name = "rabbit-" + string(m.kind)
			h.Properties = m.catches
			h.Wait = 2 * time.Second
			h.Python = nil
			if all {
				rep := contract.Run(t, h)
				var failed []string
				for _, ci := range contract.Clauses {
					if r := rep.Clause(ci.Clause); r != nil && r.Status == contract.Fail {
						failed = append(failed, string(ci.Clause))
					}
				}
				t.Logf("%s is caught by %s", m.kind, strings.Join(failed, ", "))
				return
			}
			h.ExpectFail = map[contract.Clause]bool{}
			var tags []string
			for _, c := range m.catches {
				h.ExpectFail[c] = true
				tags = append(tags, "@"+string(c))
			}
			h.Tags = strings.Join(tags, ",")
			rep := contract.Run(t, h)
			for _, c := range slices.Sorted(slices.Values(m.catches)) {
				if r := rep.Clause(c); r != nil {
					t.Logf("%s: %s %s (%s)", m.kind, c, r.Status, r.Detail)
				}
			}
		})
	}
}
