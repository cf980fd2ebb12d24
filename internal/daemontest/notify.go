package daemontest

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"time"
)

// Signal sends sig to the running daemon and does not wait: SIGHUP makes
// it read Config again (see SetConfig), SIGTERM starts a shutdown that
// AwaitNotify("STOPPING=1") and Wait can follow.
func (d *Daemon) Signal(sig os.Signal) error {
	d.mu.Lock()
	cmd := d.cmd
	d.mu.Unlock()
	if cmd == nil {
		return errors.New("daemontest: the daemon is not running")
	}
	return cmd.Process.Signal(sig)
}

// AwaitNotify waits for the line state (READY=1 again after a reload,
// STOPPING=1) among the sd_notify messages the daemon sent after READY=1
// or after what earlier calls read, and returns the message it came in.
// Messages before it are read and dropped. t fails if it does not come
// within the deadline, or if the daemon was started by Dev (no
// NOTIFY_SOCKET) or has been stopped.
func (d *Daemon) AwaitNotify(state string) string {
	d.t.Helper()
	d.mu.Lock()
	ns := d.notify
	d.mu.Unlock()
	if ns == nil {
		d.t.Fatalf("daemontest: waiting for %s: the daemon has no notify socket (not started with Start, or stopped)", state)
	}
	buf := make([]byte, 4096)
	_ = ns.SetReadDeadline(time.Now().Add(readyTimeout))
	for {
		n, err := ns.Read(buf)
		if err != nil {
			d.t.Fatalf("daemontest: no %s from jawn-vault (running: %v): %v\n%s", state, d.Running(), err, d.Log())
		}
		msg := string(buf[:n])
		for line := range strings.SplitSeq(msg, "\n") {
			if line == state {
				return msg
			}
		}
	}
}

// Wait waits up to timeout for the daemon to exit by itself, e.g. after
// Signal(syscall.SIGTERM). It reports whether it exited, and if so the
// result of its wait (nil for exit status 0); a daemon still running is
// left running (Stop or Kill it, or let t's cleanup do so).
func (d *Daemon) Wait(timeout time.Duration) (exited bool, err error) {
	d.mu.Lock()
	cmd, done := d.cmd, d.exited
	d.mu.Unlock()
	if cmd == nil {
		return false, errors.New("daemontest: the daemon is not running")
	}
	select {
	case <-done:
	case <-time.After(timeout):
		return false, nil
	}
	d.mu.Lock()
	err = d.err
	d.cmd = nil
	d.mu.Unlock()
	d.closeNotify()
	return true, err
}

// closeNotify closes the notify socket of the last Start, if it is open.
func (d *Daemon) closeNotify() {
	d.mu.Lock()
	ns := d.notify
	d.notify = nil
	d.mu.Unlock()
	if ns != nil {
		ns.Close()
	}
}

// AddArgs appends daemon flags for the next Start (e.g. a setting to take
// effect on a restart); a running daemon is not affected.
func (d *Daemon) AddArgs(args ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.args = append(d.args, args...)
}

// KillGroup ends the daemon and every process in its group (gpg, git) with
// SIGKILL, as systemd does when a unit's main process dies; it does nothing
// if the daemon is not running. t fails unless the daemon was started with
// Options.OwnGroup: the group would otherwise be the test's own.
func (d *Daemon) KillGroup() {
	d.t.Helper()
	if !d.ownGroup {
		d.t.Fatal("daemontest: KillGroup needs Options.OwnGroup")
	}
	d.mu.Lock()
	cmd, exited := d.cmd, d.exited
	d.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-exited
	d.mu.Lock()
	d.cmd = nil
	d.mu.Unlock()
	d.closeNotify()
}
