package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	vault "github.com/jamditis/jawn-vault/clients/go/vault"
	"github.com/jamditis/jawn-vault/vaultd/backend"
	"github.com/jamditis/jawn-vault/vaultd/config"
	"github.com/jamditis/jawn-vault/vaultd/memstore"
	"github.com/jamditis/jawn-vault/vaultd/passstore"
	"github.com/jamditis/jawn-vault/vaultd/vpath"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// DevOptions configure RunDev.
type DevOptions struct {
	Socket string // "" = a socket in the temporary directory
	Memory bool   // use the in-memory store even when gpg is installed
	JSON   bool   // print one JSON line instead of export lines
	Stdout io.Writer
	Stderr io.Writer
	Logger *slog.Logger

	// CacheTTL overrides the cache lifetime when Set; 0 disables the cache
	// (vault-bench measures cache misses that way).
	CacheTTL config.Duration
}

// DevInfo is what RunDev prints with JSON.
type DevInfo struct {
	Socket   string `json:"socket"`
	Token    string `json:"token"`
	StateDir string `json:"state_dir"`
	Store    string `json:"store"`
	Backend  string `json:"backend"`
	// GnuPGHome is the generated key's GnuPG home ("" with the memory store).
	GnuPGHome string `json:"gnupghome"`
}

// devSecrets are the example entries of a dev vault. They are examples, not
// secrets: the vault and these values vanish when it stops.
var devSecrets = map[string]string{
	"claude/api/anthropic":          "sk-ant-dev-example-0000",
	"claude/tokens/telegram-bot":    "123456789:DEV-example-telegram-token",
	"claude/tokens/slack-bot":       "xoxb-dev-example",
	"claude/canvas/student-tracker": "canvas-dev-example",
	"claude/dashboard/db-url":       "postgres://dash:dev-example@localhost/dash",
}

// RunDev runs a throwaway vault in the foreground: ephemeral state in a
// temporary directory, a pass store with a freshly generated gpg key when
// gpg is installed (else the memory store), example secrets, and an admin
// token printed for the user. Everything is removed when ctx is done.
func RunDev(ctx context.Context, o DevOptions) error {
	tmp, err := os.MkdirTemp("", "jvdev")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	cfg := &config.Config{StateDir: filepath.Join(tmp, "state"), Socket: o.Socket, CacheTTL: o.CacheTTL}
	if cfg.Socket == "" {
		cfg.Socket = filepath.Join(tmp, "jawn-vault.sock")
	}
	var be backend.Backend
	if _, gpgErr := exec.LookPath("gpg"); gpgErr == nil && !o.Memory {
		gnupg := filepath.Join(tmp, "gnupg")
		defer killAgent(gnupg)
		store := filepath.Join(tmp, "store")
		if err := makeDevStore(ctx, gnupg, store); err != nil {
			return fmt.Errorf("dev store: %w", err)
		}
		cfg.Backend, cfg.Store, cfg.GnuPGHome = "pass", store, gnupg
		if err := cfg.Defaults(); err != nil {
			return err
		}
		st, err := passstore.Open(passstore.Options{Dir: store, GnuPGHome: gnupg, Timeout: cfg.GPGTimeout.Duration, Logger: o.Logger})
		if err != nil {
			return err
		}
		be = st
	} else {
		cfg.Backend = "memory"
		if err := cfg.Defaults(); err != nil {
			return err
		}
		be = memstore.New()
	}
	for p, v := range devSecrets {
		if err := be.Set(ctx, vpath.MustParse(p), []byte(v)); err != nil {
			return fmt.Errorf("seeding %s: %w", p, err)
		}
	}

	info := DevInfo{StateDir: cfg.StateDir, Store: cfg.Store, Backend: cfg.Backend, GnuPGHome: cfg.GnuPGHome}
	if cfg.Backend == "memory" {
		info.Store, info.GnuPGHome = "", ""
	}
	var readyErr error
	ready := func(sock string) {
		info.Socket = sock
		info.Token, readyErr = devToken(ctx, sock)
		if readyErr != nil {
			return
		}
		printDev(o, info)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	err = Run(runCtx, cfg, Options{Logger: o.Logger, Backend: be, Ready: func(sock string) {
		ready(sock)
		if readyErr != nil {
			cancel()
		}
	}})
	if readyErr != nil {
		return readyErr
	}
	return err
}

// devToken makes the admin token over the socket, as the local owner.
func devToken(ctx context.Context, sock string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := vault.Dial(ctx, vault.Options{Socket: sock})
	if err != nil {
		return "", err
	}
	defer c.Close()
	res, err := c.TokenCreate(ctx, wire.TokenCreateParams{Name: "dev-admin", Grants: []wire.GrantJSON{{Pattern: "**", Level: "admin"}}})
	if err != nil {
		return "", fmt.Errorf("creating the dev token: %w", err)
	}
	return res.Token, nil
}

func printDev(o DevOptions, info DevInfo) {
	if o.JSON {
		b, _ := json.Marshal(info)
		fmt.Fprintf(o.Stdout, "%s\n", b)
		return
	}
	kind := "an in-memory store"
	if info.Backend == "pass" {
		kind = "a pass store with a generated gpg key"
	}
	fmt.Fprintf(o.Stderr, "jawn-vault dev: a throwaway vault (%s); everything is deleted when it stops.\n\n", kind)
	fmt.Fprintf(o.Stdout, "export VAULT_SOCKET=%s\nexport VAULT_TOKEN=%s\n", shellQuote(info.Socket), info.Token)
	fmt.Fprintf(o.Stderr, "\nPaste the two lines above into another shell, then try:\n  vault-cli list claude/\n  vault-cli get claude/api/anthropic\nPress Ctrl-C to stop.\n")
}

func shellQuote(s string) string {
	if !strings.ContainsAny(s, " '\"$`\\!*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// makeDevStore generates a passphrase-less key in gnupg and initialises a
// store for it, as `pass init` would (a .gpg-id naming the key).
func makeDevStore(ctx context.Context, gnupg, store string) error {
	if err := os.MkdirAll(gnupg, 0o700); err != nil {
		return err
	}
	if err := os.MkdirAll(store, 0o700); err != nil {
		return err
	}
	gpg := func(args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, "gpg", append([]string{"--homedir", gnupg, "--batch", "--no-tty", "--quiet"}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("gpg %s: %v: %s", args[0], err, strings.TrimSpace(stderr.String()))
		}
		return out, nil
	}
	if _, err := gpg("--passphrase", "", "--pinentry-mode", "loopback", "--quick-gen-key", "Jawn Vault dev <dev@jawn-vault.invalid>", "ed25519", "sign", "never"); err != nil {
		return err
	}
	out, err := gpg("--list-secret-keys", "--with-colons")
	if err != nil {
		return err
	}
	fpr := ""
	for line := range strings.SplitSeq(string(out), "\n") {
		if f := strings.Split(line, ":"); len(f) > 9 && f[0] == "fpr" {
			fpr = f[9]
			break
		}
	}
	if fpr == "" {
		return errors.New("gpg generated no key")
	}
	if _, err := gpg("--passphrase", "", "--pinentry-mode", "loopback", "--quick-add-key", fpr, "cv25519", "encr", "never"); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(store, ".gpg-id"), []byte(fpr+"\n"), 0o600)
}

func killAgent(gnupg string) {
	_ = exec.Command("gpgconf", "--homedir", gnupg, "--kill", "all").Run()
}
