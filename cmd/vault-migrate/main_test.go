package main

import (
	"os"
	"path/filepath"
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
	testscript.Main(cleanupM{m}, map[string]func(){"vault-migrate": main})
}

// TestScripts runs testdata/*.txtar. Each script starts with the fixture
// tree of testdata/migrate/root copied to $WORK/root (files in the script
// are added to it), and $VAULT_EXEC naming a vault-exec on the host.
func TestScripts(t *testing.T) {
	vaultExec, err := vaulttest.Build(vaulttest.Module + "/cmd/vault-exec")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata",
		Setup: func(env *testscript.Env) error {
			if err := vaulttest.ScriptSetup(env); err != nil {
				return err
			}
			env.Setenv("VAULT_EXEC", vaultExec)
			return os.CopyFS(filepath.Join(env.WorkDir, "root"), os.DirFS("../../testdata/migrate/root"))
		},
		Cmds: vaulttest.ScriptCmds(),
	})
}
