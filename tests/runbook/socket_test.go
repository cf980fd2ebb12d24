package runbook

import (
	"strconv"
	"strings"
	"testing"

	"github.com/jamditis/jawn-vault/internal/daemontest"
	"github.com/jamditis/jawn-vault/internal/testpass"
)

// TestSocketInUse drills "The daemon will not start", socket in use:
// another jawn-vault (a user service next to the system one) serves on the
// socket path. The daemon refuses to take the socket over and says so; the
// runbook's ss names the other process; once it is stopped the daemon
// starts and it is this daemon, with its own store, that answers.
func TestSocketInUse(t *testing.T) {
	requireTool(t, "ss", "iproute2")
	d := daemontest.New(t, bins, daemontest.Options{})
	testpass.PassInsert(t, d.GnuPGHome, d.Store, "svc/whose", []byte("mine"))
	other := daemontest.New(t, bins, daemontest.Options{Socket: d.Socket})
	testpass.PassInsert(t, other.GnuPGHome, other.Store, "svc/whose", []byte("the other daemon's"))
	other.Start()

	err := d.TryStart()
	ee, ok := err.(*daemontest.ExitError)
	if !ok {
		t.Fatalf("the daemon started on a socket another daemon serves (%v)", err)
	}
	if ee.Code == 0 || !strings.Contains(ee.Output, "another jawn-vault is already serving on this socket") || !strings.Contains(ee.Output, "hint:") {
		t.Errorf("start on a socket in use: status %d, want the runbook's message and a hint:\n%s", ee.Code, ee.Output)
	}
	if !other.Running() {
		t.Fatal("the other daemon died: its socket was taken over")
	}
	if v, err := other.Owner().Get(tctx(t), "svc/whose"); err != nil || string(v) != "the other daemon's" {
		t.Fatalf("the other daemon no longer answers on its socket: %q %v", v, err)
	}

	// Doctor cannot tell: the other daemon answers it (the runbook says so).
	if r := d.Doctor(); r.Status("daemon") != "ok" {
		t.Errorf("doctor with another daemon on the socket: daemon %q, want ok (the other answers)\n%s", r.Status("daemon"), r.Result)
	}

	b := blocks(t, "The daemon will not start")
	dr := newDrill(t, d, "/run/jawn-vault/jawn-vault.sock", d.Socket)
	const ss = "ss -xlp | grep -F /run/jawn-vault/jawn-vault.sock"
	dr.on["systemctl --user stop jawn-vault"] = other.Stop
	dr.on["sudo systemctl start jawn-vault"] = d.Start
	pid := other.PID()
	dr.run(lockedBlock(t, b, ss))
	if out := dr.result(ss).Stdout; !strings.Contains(out, "pid="+strconv.Itoa(pid)+",") {
		t.Errorf("%s does not name the other daemon (pid %d):\n%s", ss, pid, out)
	}
	dr.run(startBlock(t, b))

	if v, err := d.Owner().Get(tctx(t), "svc/whose"); err != nil || string(v) != "mine" {
		t.Errorf("after the other daemon stopped: %q %v, want this daemon's value", v, err)
	}
	doctorOK(t, d.Doctor(), "daemon", "socket")
}
