package scenarios_test

import (
	"testing"

	"github.com/switchyard-dev/switchyard/internal/chaos/scenario"
	"github.com/switchyard-dev/switchyard/scenarios"
)

// TestShippedScenariosValidate parses every shipped scenario.
func TestShippedScenariosValidate(t *testing.T) {
	names := scenarios.Names()
	if len(names) < 9 {
		t.Fatalf("%d shipped scenarios, want at least 9: %v", len(names), names)
	}
	mutants := 0
	for _, name := range names {
		data, err := scenarios.Read(name)
		if err != nil {
			t.Fatal(err)
		}
		s, err := scenario.Parse(name, data)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if s.Name+".yaml" != name {
			t.Errorf("%s: name %q does not match the file name", name, s.Name)
		}
		if s.Description == "" {
			t.Errorf("%s: no description for chaos list", name)
		}
		if s.ExpectFail {
			mutants++
		}
	}
	if mutants == 0 {
		t.Error("no shipped scenario is expected to fail: nothing shows the checker can fail")
	}
	if _, err := scenarios.Read("no-such-scenario"); err == nil {
		t.Error("Read of a missing scenario succeeded")
	}
}
