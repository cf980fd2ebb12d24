// Package peercred reads the credentials of the process at the other end of
// a Unix socket (SO_PEERCRED) and, for the audit log, what /proc says about
// it.
//
// Credentials fail closed: any connection that is not a Unix socket, or
// whose credentials cannot be read, is an error, never "unknown". The uid
// and gid are what the kernel recorded at connect time and are fit to
// authorise on. The pid is recorded for the audit only: pids are reused,
// and the process may have exec'd since it connected, so the executable
// and unit read from /proc are descriptive, never authoritative.
package peercred

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Cred is a peer's identity.
type Cred struct {
	PID int32
	UID uint32
	GID uint32
}

// ErrNotUnix is returned for connections that are not Unix sockets.
var ErrNotUnix = errors.New("peer credentials: not a Unix socket connection")

// Get returns the peer credentials of conn.
func Get(conn net.Conn) (Cred, error) {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return Cred{}, ErrNotUnix
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return Cred{}, fmt.Errorf("peer credentials: %w", err)
	}
	var ucred *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		ucred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Cred{}, fmt.Errorf("peer credentials: %w", err)
	}
	if serr != nil {
		return Cred{}, fmt.Errorf("peer credentials: %w", serr)
	}
	return Cred{PID: ucred.Pid, UID: ucred.Uid, GID: ucred.Gid}, nil
}

// Exe returns the executable of pid. Reading another user's
// /proc/<pid>/exe needs ptrace rights, so for such processes it falls back
// to the command name in parentheses, "(python3)", which any process may
// read. It returns "" if the process has exited.
func Exe(pid int32) string {
	if pid <= 0 {
		return ""
	}
	dir := "/proc/" + strconv.Itoa(int(pid))
	if exe, err := os.Readlink(dir + "/exe"); err == nil {
		return exe
	}
	if comm, err := os.ReadFile(dir + "/comm"); err == nil && len(comm) > 1 {
		return "(" + strings.TrimSpace(string(comm)) + ")"
	}
	return ""
}

// Unit returns the systemd unit that pid belongs to ("notify.service",
// "session-2.scope"), or "" if there is none or it cannot be read.
func Unit(pid int32) string {
	if pid <= 0 {
		return ""
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/cgroup")
	if err != nil {
		return ""
	}
	return UnitFromCgroup(string(data))
}

// UnitFromCgroup extracts the innermost unit name from the contents of a
// /proc/<pid>/cgroup file.
func UnitFromCgroup(cgroup string) string {
	for line := range strings.SplitSeq(cgroup, "\n") {
		// cgroup v2: "0::/system.slice/notify.service"; v1 lines carry a
		// controller name, and name=systemd is the one with units.
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || (parts[1] != "" && parts[1] != "name=systemd") {
			continue
		}
		segs := strings.Split(parts[2], "/")
		for i := len(segs) - 1; i >= 0; i-- {
			s := segs[i]
			if strings.HasSuffix(s, ".service") || strings.HasSuffix(s, ".scope") {
				return s
			}
		}
	}
	return ""
}
