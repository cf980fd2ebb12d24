package runbook

import (
	"strings"
	"testing"
	"time"

	"github.com/jamditis/jawn-vault/internal/daemontest"
	"github.com/jamditis/jawn-vault/internal/testpass"
)

// warmConfig is the config line startKeyChecked needs: the daemon
// decrypts svc/warm at start.
const warmConfig = `warm = ["svc/warm"]` + "\n"

// startKeyChecked starts a daemon made with warmConfig and waits until its
// check of the store's key at start is over, so that a failure the test
// then creates does not race it: the daemon proves the key in the
// background after READY (and again on each status call) and decrypts the
// warm-up list right after: svc/warm in the cache, or a log line that it
// could not be read, says the start-up check is over.
func startKeyChecked(t *testing.T, d *daemontest.Daemon) {
	t.Helper()
	testpass.PassInsert(t, d.GnuPGHome, d.Store, "svc/warm", []byte("w"))
	d.Start()
	c := d.Owner()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := c.Status(tctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if st.Cache.Entries > 0 || strings.Contains(d.Log(), "warm: could not read") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not finish its start-up key check and warm-up:\n%s", d.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
