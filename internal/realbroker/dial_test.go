package realbroker

import (
	"net"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
)

func dial(raw string) error {
	u, err := drivers.ParseURL(raw)
	if err != nil {
		return err
	}
	addr := "localhost:5672"
	if len(u.Hosts) > 0 {
		addr = u.Hosts[0].Addr(drivers.DefaultPort)
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}
