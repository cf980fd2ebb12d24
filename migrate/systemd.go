package migrate

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// LookupUser returns a function resolving a User= value to a uid: a number
// is taken as it is; a name is looked up in root's etc/passwd when root is
// not "", else on the host.
func LookupUser(root string) func(string) (int64, error) {
	return func(name string) (int64, error) {
		if uid, err := strconv.ParseInt(name, 10, 64); err == nil && uid >= 0 {
			return uid, nil
		}
		if root == "" {
			u, err := user.Lookup(name)
			if err != nil {
				return 0, err
			}
			return strconv.ParseInt(u.Uid, 10, 64)
		}
		passwd := filepath.Join(root, "etc/passwd")
		b, err := os.ReadFile(passwd)
		if err != nil {
			return 0, err
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			f := strings.Split(sc.Text(), ":")
			if len(f) >= 3 && f[0] == name {
				return strconv.ParseInt(f[2], 10, 64)
			}
		}
		return 0, fmt.Errorf("no user %q in %s", name, passwd)
	}
}

// Systemd is the service manager, as vault-migrate needs it.
type Systemd interface {
	// Reload makes the manager read the unit files again.
	Reload(ctx context.Context) error
	// Restart restarts a unit and reports an error unless it is active
	// once the restart job has finished.
	Restart(ctx context.Context, unit string) error
}

// Systemctl drives systemd through the systemctl command. (go-systemd's
// D-Bus API would need github.com/godbus/dbus, which this module does not
// require.)
type Systemctl struct {
	User bool // talk to the user's manager (systemctl --user)
}

func (s Systemctl) run(ctx context.Context, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if s.User {
		args = append([]string{"--user"}, args...)
	}
	cmd := exec.CommandContext(ctx, "systemctl", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("systemctl %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// Reload runs systemctl daemon-reload.
func (s Systemctl) Reload(ctx context.Context) error {
	_, err := s.run(ctx, "daemon-reload")
	return err
}

// Restart runs systemctl restart, which waits for the job, then checks
// the unit's ActiveState. A service that fails a moment after it started
// is not caught here; the summary says to check the journal.
func (s Systemctl) Restart(ctx context.Context, unit string) error {
	if _, err := s.run(ctx, "restart", unit); err != nil {
		return err
	}
	out, err := s.run(ctx, "show", "--property=ActiveState,SubState", unit)
	if err != nil {
		return err
	}
	state := string(bytes.TrimSpace(out))
	if !strings.Contains(state, "ActiveState=active") {
		return fmt.Errorf("%s did not come up (%s); see journalctl -u %s", unit, strings.ReplaceAll(state, "\n", ", "), unit)
	}
	return nil
}
