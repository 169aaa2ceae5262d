package fault_test

import (
	"testing"

	"github.com/switchyard-dev/switchyard/fake/fault"
)

// TestAMQP10Kinds: the kinds added for AMQP 1.0 fakes are valid, not
// mutants, and only DetachLinks acts once.
func TestAMQP10Kinds(t *testing.T) {
	for _, k := range []fault.Kind{fault.DetachLinks, fault.WithholdCredit, fault.WithholdDispositions} {
		if !k.Valid() || k.Mutant() {
			t.Errorf("%s: valid %v, mutant %v", k, k.Valid(), k.Mutant())
		}
	}
	if !fault.DetachLinks.OneShot() || fault.WithholdCredit.OneShot() || fault.WithholdDispositions.OneShot() {
		t.Error("OneShot is wrong")
	}
	in := fault.New(1)
	in.MustEnable(fault.Fault{Kind: fault.DetachLinks})
	if len(in.Enabled()) != 0 {
		t.Error("DetachLinks stayed on")
	}
}
