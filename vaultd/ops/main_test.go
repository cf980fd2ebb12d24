package ops_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	vault "github.com/jamditis/jawn-vault/clients/go/vault"
)

var daemonBin string // the jawn-vault binary under test

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	daemonBin = os.Getenv("JAWN_VAULT_BIN")
	if daemonBin == "" {
		tmp, err := os.MkdirTemp("", "jvops")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(tmp)
		daemonBin = filepath.Join(tmp, "jawn-vault")
		out, err := exec.Command("go", "build", "-o", daemonBin, "github.com/jamditis/jawn-vault/cmd/jawn-vault").CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "building jawn-vault: %v\n%s", err, out)
			return 1
		}
	}
	return m.Run()
}

// devVault is a running `jawn-vault dev --json --memory`.
type devVault struct {
	Socket string `json:"socket"`
	Token  string `json:"token"`
}

// startDev runs the dev daemon and waits for its JSON line, which it
// prints only once it serves: no sleeping.
func startDev(t *testing.T) *devVault {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "v.sock")
	cmd := exec.Command(daemonBin, "dev", "--json", "--memory", "--socket", sock)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Error("dev daemon did not stop on SIGINT")
		}
	})
	line, err := bufio.NewReader(out).ReadBytes('\n')
	if err != nil {
		t.Fatalf("no JSON line from jawn-vault dev: %v", err)
	}
	var d devVault
	if err := json.Unmarshal(line, &d); err != nil || d.Socket == "" || d.Token == "" {
		t.Fatalf("jawn-vault dev printed %q: %v", line, err)
	}
	return &d
}

func (d *devVault) client(t *testing.T, token string) *vault.Client {
	t.Helper()
	c, err := vault.Dial(ctx(t), vault.Options{Socket: d.Socket, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func randomHex(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
