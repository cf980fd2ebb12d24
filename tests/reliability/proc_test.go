package reliability

// Probes of the daemon process through /proc: memory, CPU time,
// descriptors, children. They read what any root process can see; the
// daemon is non-dumpable, so some of them need CAP_SYS_PTRACE (root has it).

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// procStatusKB reads a "Name:   123 kB" field of /proc/pid/status.
func procStatusKB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if name, rest, ok := strings.Cut(line, ":"); ok && name == field {
			f := strings.Fields(rest)
			v, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// cpuTicks is the process's user plus system time in clock ticks (1/100 s
// on Linux: USER_HZ).
func cpuTicks(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The command name is in parentheses and may contain spaces.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return utime + stime
}

// fdCount is the number of open file descriptors of pid.
func fdCount(t *testing.T, pid int) int {
	t.Helper()
	es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// childStates returns the state letter of every child process of pid.
func childStates(pid int) map[int]string {
	out := map[int]string{}
	es, _ := os.ReadDir("/proc")
	for _, e := range es {
		cpid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if ppid, _ := strconv.Atoi(f[1]); ppid == pid {
			out[cpid] = f[0]
		}
	}
	return out
}

// zombies lists the children of pid in state Z.
func zombies(pid int) []int {
	var z []int
	for c, st := range childStates(pid) {
		if st == "Z" {
			z = append(z, c)
		}
	}
	return z
}

// awaitNoChildren waits until pid has no children left (gpg and git runs
// finished and reaped) and fails if a zombie outlives the deadline.
func awaitNoChildren(t *testing.T, pid int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ch := childStates(pid)
		if len(ch) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("children of the daemon still there after %s: %v (Z = zombie)", within, ch)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// awaitFile waits for a file to exist.
func awaitFile(t *testing.T, path string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within %s", path, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// awaitLog waits for a substring in the daemon's output.
func (d *daemon) awaitLog(substr string, within time.Duration) {
	d.t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(d.Log(), substr) {
		if time.Now().After(deadline) {
			d.t.Fatalf("the daemon never logged %q within %s\n%s", substr, within, tail(d.Log(), 3000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
