// Package features holds the driver contract's scenarios: one Gherkin file
// per area (addressing, RPC, retry, acknowledgement, notifications,
// listeners, lifecycle), each scenario tagged with the CONTRACT.md clauses
// it checks (@C01 ... @C35). They are written for OpenStack engineers and
// run by the contract package against every driver and backend.
package features

import "embed"

// FS holds the feature files, so the suite finds them from any working
// directory.
//
//go:embed *.feature
var FS embed.FS
