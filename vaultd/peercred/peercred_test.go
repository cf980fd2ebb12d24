package peercred_test

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/jamditis/jawn-vault/vaultd/peercred"
)

func TestGetOverRealSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := net.Dial("unix", sock)
		if err == nil {
			defer c.Close()
			buf := make([]byte, 1)
			_, _ = c.Read(buf)
		}
	}()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cred, err := peercred.Get(conn)
	if err != nil {
		t.Fatal(err)
	}
	if cred.UID != uint32(os.Getuid()) || cred.GID != uint32(os.Getgid()) || cred.PID != int32(os.Getpid()) {
		t.Fatalf("cred = %+v, want uid %d gid %d pid %d", cred, os.Getuid(), os.Getgid(), os.Getpid())
	}
	if exe, _ := os.Executable(); peercred.Exe(cred.PID) != exe {
		t.Fatalf("Exe = %q, want %q", peercred.Exe(cred.PID), exe)
	}
}

func TestGetRefusesOtherConnections(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := peercred.Get(a); err == nil {
		t.Fatal("credentials of a pipe accepted")
	}
}

func TestUnitFromCgroup(t *testing.T) {
	for in, want := range map[string]string{
		"0::/system.slice/notify.service\n":                                        "notify.service",
		"0::/user.slice/user-1000.slice/user@1000.service/app.slice/bot.service\n": "bot.service",
		"0::/user.slice/user-1000.slice/session-2.scope\n":                         "session-2.scope",
		"12:pids:/x\n1:name=systemd:/system.slice/cron.service\n":                  "cron.service",
		"0::/\n": "",
		"":       "",
	} {
		if got := peercred.UnitFromCgroup(in); got != want {
			t.Errorf("UnitFromCgroup(%q) = %q, want %q", in, got, want)
		}
	}
}
