//go:build linux

package rabbit

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// socketControl sets TCP_USER_TIMEOUT on a new socket when configured
// (pika's tcp_user_timeout).
func (p connParams) socketControl(_, _ string, rc syscall.RawConn) error {
	if p.tcpUserTimeout <= 0 {
		return nil
	}
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(p.tcpUserTimeout.Milliseconds()))
	})
	if err != nil {
		return err
	}
	return serr
}
