package reliability

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// gpgWrapper is a shell script in front of the real gpg. It records every
// call (its arguments only: values travel on stdin) and, while a marker
// file exists, sleeps before encrypting ("slow-encrypt"), holds a decrypt
// until a "release" file appears ("hold-decrypt"), or hangs while
// decrypting with a grandchild holding gpg's pipes ("hang-decrypt").
type gpgWrapper struct {
	dir  string
	path string
}

func newGPGWrapper(t *testing.T) *gpgWrapper {
	t.Helper()
	dir, err := os.MkdirTemp("", "jvw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	w := &gpgWrapper{dir: dir, path: filepath.Join(dir, "gpg")}
	script := `#!/bin/sh
d='` + dir + `'
echo "$$ $*" >> "$d/calls"
case " $* " in
*" --encrypt "*)
	if [ -e "$d/slow-encrypt" ]; then
		sleep 20 &
		echo $! >> "$d/sleepers"
		echo $$ > "$d/encrypt-started"
		wait
	fi ;;
*" --decrypt "*)
	if [ -e "$d/hold-decrypt" ]; then
		echo $$ >> "$d/decrypt-held"
		i=0
		while [ ! -e "$d/release" ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done
	fi
	if [ -e "$d/hang-decrypt" ]; then
		sleep 20 &
		echo $! >> "$d/sleepers"
		echo $$ > "$d/decrypt-started"
		wait
	fi ;;
esac
exec '` + realGPG + `' "$@"
`
	if err := os.WriteFile(w.path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.killSleepers)
	return w
}

// config is the config-file line that makes the daemon use the wrapper.
func (w *gpgWrapper) config() string { return fmt.Sprintf("gpg = %q\n", w.path) }

// calls returns the recorded calls.
func (w *gpgWrapper) calls() []string {
	b, _ := os.ReadFile(filepath.Join(w.dir, "calls"))
	var out []string
	for l := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

func (w *gpgWrapper) set(marker string, on bool) {
	p := filepath.Join(w.dir, marker)
	if on {
		_ = os.WriteFile(p, nil, 0o644)
	} else {
		_ = os.Remove(p)
	}
}

// killSleepers ends the sleep processes the wrapper started (by pid).
func (w *gpgWrapper) killSleepers() {
	b, _ := os.ReadFile(filepath.Join(w.dir, "sleepers"))
	for f := range strings.FieldsSeq(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	_ = os.Remove(filepath.Join(w.dir, "sleepers"))
}

// countCalls counts the recorded gpg calls whose arguments contain op.
func countCalls(w *gpgWrapper, op string) int {
	n := 0
	for _, c := range w.calls() {
		if strings.Contains(c, op) {
			n++
		}
	}
	return n
}

// awaitKeyCheck lets the daemon's background key check (an encrypt and a
// decrypt of a random probe, run once after READY) finish, so that tests
// counting or holding gpg runs see only their own. A daemon without such a
// check costs a two-second wait.
func (d *daemon) awaitKeyCheck(w *gpgWrapper) {
	d.t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for countCalls(w, "--decrypt") == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	awaitNoChildren(d.t, d.PID(), 15*time.Second)
}
