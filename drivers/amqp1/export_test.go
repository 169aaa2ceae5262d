package amqp1

import "github.com/switchyard-dev/switchyard/drivers"

// SetMaxMessageSize lowers the size limit of an amqp1 driver, so tests need
// not build 64 MiB messages.
func SetMaxMessageSize(d drivers.Driver, n int) { d.(*Driver).maxSize = n }

// SenderLinks counts the sender links cached on the driver's connection.
func SenderLinks(d drivers.Driver) int {
	conn, _ := d.(*Driver).conn.current()
	if conn == nil {
		return 0
	}
	conn.mu.Lock()
	defer conn.mu.Unlock()
	return len(conn.senders)
}

// CurrentMode returns the addressing mode of the driver's current connection, ""
// when it has none.
func CurrentMode(d drivers.Driver) Mode {
	conn, _ := d.(*Driver).conn.current()
	if conn == nil {
		return ""
	}
	return conn.addr.mode
}
