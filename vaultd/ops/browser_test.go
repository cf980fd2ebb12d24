package ops_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBrowserRender renders the page in headless Chromium: the DOM the
// browser built must still show the facts, and a phone-sized screenshot is
// kept for a person to look at. Without chromium the test is skipped.
func TestBrowserRender(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed; on Debian: sudo apt-get install chromium")
	}
	f := newFixture(t)
	f.get(t, "/", http.StatusOK) // the fixture's own checks, once
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync"}
	run := func(extra ...string) []byte {
		t.Helper()
		c, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		args := append(append(append([]string{}, base...), "--user-data-dir="+t.TempDir()), extra...)
		cmd := exec.CommandContext(c, chromium, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("chromium %v: %v\n%s", extra, err, stderr.String())
		}
		return out
	}

	dom := string(run("--dump-dom", f.srv.URL+"/"))
	for _, want := range []string{"Jawn Vault", "dev-admin", "reader-app", "limited-app", f.path, "DENIED"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered DOM lacks %q", want)
		}
	}
	for _, s := range f.secrets {
		if strings.Contains(dom, s) {
			t.Fatal("the rendered DOM holds a secret or token")
		}
	}

	// make test keeps the screenshot as an artifact in out/artifacts.
	dir := os.Getenv("TEST_ARTIFACTS_DIR")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "status-page.png")
	run("--screenshot="+shot, "--window-size=420,900", f.srv.URL+"/")
	b, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("the screenshot is not a PNG (%d bytes)", len(b))
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(b))
}
