package vaulttest

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"

	vault "github.com/jamditis/jawn-vault/clients/go/vault"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// ScriptSetup prepares a testscript script: $SOCK is a short socket path
// for vaultd, $SHM a private directory on tmpfs, $TEST_PID the test
// process's PID (the parent of every command a script runs).
func ScriptSetup(env *testscript.Env) error {
	sock, rm, err := SocketPath()
	if err != nil {
		return err
	}
	env.Defer(rm)
	shm, err := os.MkdirTemp("/dev/shm", "jvts")
	if err != nil {
		return err
	}
	env.Defer(func() { os.RemoveAll(shm) })
	env.Setenv("SOCK", sock)
	env.Setenv("SHM", shm)
	env.Setenv("TEST_PID", strconv.Itoa(os.Getpid()))
	return nil
}

// ScriptCmds are testscript commands that drive a dev vault:
//
//	vaultd                          start a dev vault on $SOCK; sets VAULT_SOCKET
//	vault-set PATH VALUE            store a value, as the local owner
//	vault-get PATH                  print a value to stdout ("! vault-get" expects not_found)
//	vault-token VAR NAME PATTERN[:LEVEL]...
//	                                issue a token (read unless LEVEL); it goes in
//	                                $VAR and in the file $WORK/VAR
//	vault-revoke NAME               revoke a token
//	vault-tokens                    print the live tokens' names, one a line
func ScriptCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"vaultd":       cmdVaultd,
		"vault-set":    cmdVaultSet,
		"vault-get":    cmdVaultGet,
		"vault-token":  cmdVaultToken,
		"vault-revoke": cmdVaultRevoke,
		"vault-tokens": cmdVaultTokens,
	}
}

func cmdVaultd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: vaultd")
	}
	d, err := StartDev(ts.Getenv("SOCK"))
	ts.Check(err)
	ts.Defer(func() { ts.Check(d.Stop()) })
	ts.Setenv("VAULT_SOCKET", d.Socket)
}

// owner runs fn with a client connected as the local owner.
func owner(ts *testscript.TestScript, fn func(context.Context, *vault.Client) error) {
	ctx := context.Background()
	c, err := vault.Dial(ctx, vault.Options{Socket: ts.Getenv("VAULT_SOCKET")})
	ts.Check(err)
	defer c.Close()
	ts.Check(fn(ctx, c))
}

func cmdVaultSet(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: vault-set PATH VALUE")
	}
	owner(ts, func(ctx context.Context, c *vault.Client) error { return c.Set(ctx, args[0], []byte(args[1])) })
}

func cmdVaultGet(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: vault-get PATH")
	}
	owner(ts, func(ctx context.Context, c *vault.Client) error {
		v, err := c.Get(ctx, args[0])
		switch {
		case neg && wire.CodeOf(err) == wire.CodeNotFound:
			return nil
		case neg && err == nil:
			return fmt.Errorf("%s exists", args[0])
		case err != nil:
			return err
		}
		_, err = fmt.Fprintf(ts.Stdout(), "%s\n", v)
		return err
	})
}

func cmdVaultToken(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: vault-token VAR NAME PATTERN[:LEVEL]...")
	}
	p := wire.TokenCreateParams{Name: args[1]}
	for _, g := range args[2:] {
		pattern, level, ok := strings.Cut(g, ":")
		if !ok {
			level = "read"
		}
		p.Grants = append(p.Grants, wire.GrantJSON{Pattern: pattern, Level: level})
	}
	owner(ts, func(ctx context.Context, c *vault.Client) error {
		res, err := c.TokenCreate(ctx, p)
		if err != nil {
			return err
		}
		ts.Setenv(args[0], res.Token)
		return os.WriteFile(ts.MkAbs(args[0]), []byte(res.Token+"\n"), 0o600)
	})
}

func cmdVaultRevoke(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: vault-revoke NAME")
	}
	owner(ts, func(ctx context.Context, c *vault.Client) error {
		_, err := c.TokenRevoke(ctx, args[0])
		return err
	})
}

func cmdVaultTokens(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: vault-tokens")
	}
	owner(ts, func(ctx context.Context, c *vault.Client) error {
		toks, err := c.TokenList(ctx)
		if err != nil {
			return err
		}
		var names []string
		for _, t := range toks {
			names = append(names, t.Name)
		}
		slices.Sort(names)
		for _, n := range names {
			fmt.Fprintln(ts.Stdout(), n)
		}
		return nil
	})
}
