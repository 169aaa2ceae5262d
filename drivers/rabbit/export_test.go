package rabbit

import "github.com/switchyard-dev/switchyard/drivers"

// SetMaxMessageSize lowers the size limit of a rabbit driver, so tests need
// not build 128 MiB messages.
func SetMaxMessageSize(d drivers.Driver, n int) { d.(*Driver).maxSize = n }

// PoolStats reports a driver's send pool: connections dialed, closed on
// get as recycled or stale, closed on put as overflow, gets that timed
// out, and the connections open and idle now.
func PoolStats(d drivers.Driver) (dialed, recycled, stale, overflowClosed, timeouts, open, idle int) {
	ev, total, idleN := d.(*Driver).pool.stats()
	return ev.dialed, ev.recycled, ev.staled, ev.overflowClosed, ev.timeouts, total, idleN
}
