package ops_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jamditis/jawn-vault/vaultd/ops"
)

func TestListenRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0", "[::]:0", "example.com:80"} {
		ln, err := ops.Listen(addr)
		if err == nil {
			ln.Close()
			t.Errorf("Listen(%q) accepted a non-loopback address", addr)
		} else if !errors.Is(err, ops.ErrNotLoopback) {
			t.Errorf("Listen(%q): %v, want ErrNotLoopback", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0", "localhost:0"} {
		ln, err := ops.Listen(addr)
		if err != nil {
			if strings.Contains(addr, "::1") {
				continue // no IPv6 loopback here
			}
			t.Errorf("Listen(%q): %v", addr, err)
			continue
		}
		if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
			t.Errorf("Listen(%q) bound %v", addr, ip)
		}
		ln.Close()
	}
}

// TestServeOnUnixSocket runs Serve as the subcommand does, with the token
// in a file, on a Unix socket that only the owner may open.
func TestServeOnUnixSocket(t *testing.T) {
	dev := startDev(t)
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokFile, []byte(dev.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "status.sock")
	c, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- ops.Serve(c, ops.ServeOptions{Listen: sock, Socket: dev.Socket, TokenFile: tokFile,
			Getenv: func(string) string { return "" }, Ready: func(a string) { ready <- a }})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	}
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("status socket mode %v, want owner only", perm)
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	resp, err := hc.Get("http://status/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "\njawnvault_up 1\n") {
		t.Errorf("metrics over the Unix socket:\n%s", b)
	}
	if strings.Contains(string(b), dev.Token) {
		t.Fatal("metrics leak the token")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve after cancel: %v", err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("status socket left behind: %v", err)
	}
}

func TestTokenSource(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if _, err := ops.TokenSource("", env(nil)); err == nil {
		t.Error("no token anywhere: want an error")
	}
	got, err := ops.TokenSource("", env(map[string]string{"VAULT_TOKEN": "jv_env"}))
	if err != nil {
		t.Fatal(err)
	}
	if tok, _ := got(); tok != "jv_env" {
		t.Errorf("token %q from $VAULT_TOKEN", tok)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "jawn-vault-token"), []byte(" jv_cred\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err = ops.TokenSource("", env(map[string]string{"CREDENTIALS_DIRECTORY": dir}))
	if err != nil {
		t.Fatal(err)
	}
	if tok, _ := got(); tok != "jv_cred" {
		t.Errorf("token %q from the credentials directory", tok)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	if _, err := ops.TokenSource(empty, env(map[string]string{"VAULT_TOKEN": "jv_env"})); err == nil {
		t.Error("an empty token file: want an error, not a fallback")
	}
}
