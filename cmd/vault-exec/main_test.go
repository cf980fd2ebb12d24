package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/jamditis/jawn-vault/inject/vaulttest"
)

// cleanupM removes the binaries vaulttest built once the tests have run.
type cleanupM struct{ m *testing.M }

func (c cleanupM) Run() int {
	defer vaulttest.Cleanup()
	return c.m.Run()
}

func TestMain(m *testing.M) {
	testscript.Main(cleanupM{m}, map[string]func(){
		"vault-exec":    main,
		"show-env":      showEnv,
		"show-fds":      showFDs,
		"expect-status": expectStatus,
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:   "testdata",
		Setup: vaulttest.ScriptSetup,
		Cmds:  vaulttest.ScriptCmds(),
	})
}

// showEnv is the program vault-exec runs in the scripts. It prints its
// arguments, its environment sorted (PATH elided, it differs per machine),
// what each *_FILE variable points at, and whether its parent is the test
// process (so vault-exec exec'd rather than forked).
func showEnv() {
	for _, a := range os.Args[1:] {
		fmt.Printf("arg %s\n", a)
	}
	env := os.Environ()
	slices.Sort(env)
	rd := os.Getenv("RUNTIME_DIRECTORY")
	for _, kv := range env {
		name, val, _ := strings.Cut(kv, "=")
		switch {
		case name == "PATH":
			fmt.Println("PATH=...")
		case strings.HasSuffix(name, "_FILE"):
			fmt.Printf("%s=%s\n", name, describeFile(val, rd))
		default:
			fmt.Println(kv)
		}
	}
	if os.Getenv("TEST_PID") != "" {
		parent := "other"
		if strconv.Itoa(os.Getppid()) == os.Getenv("TEST_PID") {
			parent = "test"
		}
		fmt.Printf("parent: %s\n", parent)
	}
}

// showFDs prints this process's open descriptors and what they point at.
// A script compares its output when run directly and through vault-exec:
// any difference is a descriptor vault-exec let through. (The list is not
// just 0 1 2: the Go runtime opens a few of its own, and the test may
// inherit some from whatever started it.)
func showFDs() {
	fmt.Printf("fds: %s\n", openFDs())
}

func describeFile(p, rd string) string {
	st, err := os.Stat(p)
	if err != nil {
		return fmt.Sprintf("%s (%v)", p, err)
	}
	dst, _ := os.Stat(filepath.Dir(p))
	b, _ := os.ReadFile(p)
	where := p
	if rd != "" && filepath.Dir(filepath.Dir(p)) == rd && strings.HasPrefix(filepath.Base(filepath.Dir(p)), "vault-exec.") {
		where = "(RUNTIME_DIRECTORY)/vault-exec.*/" + filepath.Base(p)
	}
	return fmt.Sprintf("%s mode %o dir %o content %q", where, st.Mode().Perm(), dst.Mode().Perm(), b)
}

// openFDs lists this process's descriptors, leaving out the one used to
// read the list.
func openFDs() string {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err.Error()
	}
	var fds []int
	for _, e := range ents {
		target, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if strings.HasPrefix(target, "/proc/") && strings.HasSuffix(target, "/fd") {
			continue
		}
		n, _ := strconv.Atoi(e.Name())
		fds = append(fds, n)
	}
	slices.Sort(fds)
	var s []string
	for _, n := range fds {
		target, _ := os.Readlink(filepath.Join("/proc/self/fd", strconv.Itoa(n)))
		if n <= 2 { // stdio: pipes that testscript makes anew for each command
			s = append(s, strconv.Itoa(n))
		} else {
			s = append(s, fmt.Sprintf("%d(%s)", n, target))
		}
	}
	return strings.Join(s, " ")
}

// expectStatus runs a command and exits 0 if and only if it exits with the
// status given: expect-status N program [args...]. Its output passes
// through, so scripts can check it.
func expectStatus() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: expect-status N program [args...]")
		os.Exit(2)
	}
	want, _ := strconv.Atoi(os.Args[1])
	cmd := exec.Command(os.Args[2], os.Args[3:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	got := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			fmt.Fprintf(os.Stderr, "expect-status: %v\n", err)
			os.Exit(2)
		}
		got = ee.ExitCode()
	}
	if got != want {
		fmt.Fprintf(os.Stderr, "expect-status: exit status %d, want %d\n", got, want)
		os.Exit(1)
	}
	os.Exit(0)
}

// TestInheritedDescriptors checks that descriptors systemd passes on
// purpose (socket activation: LISTEN_FDS, fd 3 onwards) reach the program,
// with LISTEN_PID still right because the PID does not change.
func TestInheritedDescriptors(t *testing.T) {
	bin, err := vaulttest.Build(vaulttest.Module + "/cmd/vault-exec")
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// As systemd does, LISTEN_PID names the process that receives the
	// descriptors: the shell sets it to its own PID and execs vault-exec,
	// which execs the program, all in one process.
	cmd := exec.Command("/bin/sh", "-c",
		`LISTEN_PID=$$ exec "$0" sh -c 'test "$LISTEN_PID" = $$ && echo "fd 3 of pid $$" >&3'`, bin)
	cmd.ExtraFiles = []*os.File{w}
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LISTEN_FDS=1"}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	got, _ := io.ReadAll(r)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("vault-exec: %v", err)
	}
	if want := fmt.Sprintf("fd 3 of pid %d\n", cmd.Process.Pid); string(got) != want {
		t.Fatalf("read %q from the inherited descriptor, want %q", got, want)
	}
}
