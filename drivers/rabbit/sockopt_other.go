//go:build !linux

package rabbit

import "syscall"

// socketControl ignores tcp_user_timeout where TCP_USER_TIMEOUT does not
// exist.
func (p connParams) socketControl(_, _ string, _ syscall.RawConn) error { return nil }
