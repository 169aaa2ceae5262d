package features

import (
	"io/fs"
	"slices"
	"testing"
)

// TestEmbeddedFeatures: the feature files of every area are embedded.
func TestEmbeddedFeatures(t *testing.T) {
	names, err := fs.Glob(FS, "*.feature")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"addressing.feature", "rpc.feature", "retry.feature", "acknowledgement.feature", "notifications.feature", "listeners.feature", "lifecycle.feature"} {
		if !slices.Contains(names, want) {
			t.Errorf("%s is not embedded (have %v)", want, names)
		}
	}
}
