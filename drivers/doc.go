// Package drivers is Switchyard's driver API: the Go shape of oslo.messaging's
// BaseDriver, its listeners and incoming messages, the typed errors every
// driver returns, transport URLs, the oslo option groups and the registry
// that opens a driver by URL scheme.
//
// The numbered clauses cited in doc comments (C01-C35) are those of the
// driver contract, CONTRACT.md; the contract suite checks each of them for
// every driver and backend.
package drivers
