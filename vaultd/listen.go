package vaultd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
)

// Listen returns the daemon's listener: the socket systemd passed in
// (socket activation), or a new socket at path created with no permission
// window. A stale socket left by a dead daemon is replaced; a live daemon's
// socket is never taken over.
func Listen(path string, mode os.FileMode, group string) (net.Listener, bool, error) {
	// activation.Listeners checks LISTEN_PID and unsets LISTEN_* so that
	// nothing we start inherits them.
	lns, err := activation.Listeners()
	if err != nil {
		return nil, false, fmt.Errorf("socket activation: %w", err)
	}
	for _, ln := range lns {
		if ln == nil {
			continue
		}
		if _, ok := ln.(*net.UnixListener); ok {
			return ln, true, nil
		}
		_ = ln.Close()
	}
	if len(lns) > 0 {
		return nil, false, errors.New("socket activation: systemd passed no Unix stream socket")
	}

	gid := -1
	if group != "" {
		g, err := lookupGroup(group)
		if err != nil {
			return nil, false, err
		}
		gid = g
	}
	if err := makeSocketDir(filepath.Dir(path), gid); err != nil {
		return nil, false, err
	}
	if err := clearStale(path); err != nil {
		return nil, false, err
	}
	// The umask makes the socket's mode right from the moment it exists;
	// chmod after bind would leave a window.
	old := syscall.Umask(int(^mode & 0o777))
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, false, fmt.Errorf("listen on %s: %w", path, err)
	}
	if gid >= 0 {
		if err := os.Chown(path, -1, gid); err != nil {
			ln.Close()
			return nil, false, fmt.Errorf("socket group: %w", err)
		}
	}
	return ln, false, nil
}

// makeSocketDir creates the socket's directory if it is missing: private,
// or traversable by the socket's group when there is one.
func makeSocketDir(dir string, gid int) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	mode := os.FileMode(0o700)
	if gid >= 0 {
		mode = 0o710
	}
	if err := os.MkdirAll(dir, mode); err != nil {
		return fmt.Errorf("socket directory: %w", err)
	}
	if gid >= 0 {
		if err := os.Chown(dir, -1, gid); err != nil {
			return fmt.Errorf("socket directory group: %w", err)
		}
		return os.Chmod(dir, mode) // MkdirAll's mode is filtered by the umask
	}
	return nil
}

// ErrInUse means another daemon answers on the socket.
var ErrInUse = errors.New("another jawn-vault is already serving on this socket")

func clearStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	if fi.Mode().Type() != os.ModeSocket {
		return fmt.Errorf("socket: %s exists and is not a socket; refusing to replace it", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("%w: %s", ErrInUse, path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("socket %s: %w", path, err)
	}
	// Nobody listens: a dead daemon's socket.
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("removing stale socket: %w", err)
	}
	return nil
}

func lookupGroup(name string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil {
		return n, nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return 0, fmt.Errorf("socket_group %q: %w", name, err)
	}
	return strconv.Atoi(g.Gid)
}
