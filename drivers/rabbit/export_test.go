package rabbit

import "github.com/switchyard-dev/switchyard/drivers"

// SetMaxMessageSize lowers the size limit of a rabbit driver, so tests need
// not build 128 MiB messages.
func SetMaxMessageSize(d drivers.Driver, n int) { d.(*Driver).maxSize = n }
