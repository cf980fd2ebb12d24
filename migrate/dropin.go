package migrate

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/jamditis/jawn-vault/inject"
)

// RenderDropIn writes the drop-in for a planned unit:
//
//	[Unit]       After= and Wants= on the vault's unit, for ordering;
//	[Service]    EnvironmentFile= and Environment= reset, the plain
//	             variables set again, SupplementaryGroups= for the socket's
//	             group (with --socket-group), the token handed over with
//	             LoadCredential=, and ExecStart= reset and set again to the
//	             same command wrapped with vault-exec.
//
// The output depends on the plan alone, so running vault-migrate again
// writes the same bytes.
func RenderDropIn(up *UnitPlan, o Options) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Written by vault-migrate. The unit's secrets now come from jawn-vault\n")
	fmt.Fprintf(&b, "# through vault-exec; the unit file itself is unchanged.\n")
	fmt.Fprintf(&b, "# Undo with: vault-migrate --undo %s\n", up.Unit.Name)
	if o.VaultUnit != "" {
		fmt.Fprintf(&b, "\n[Unit]\nAfter=%s\nWants=%s\n", o.VaultUnit, o.VaultUnit)
	}
	b.WriteString("\n[Service]\nEnvironmentFile=\nEnvironment=\n")
	for _, p := range up.Plain {
		fmt.Fprintf(&b, "Environment=%s\n", p.Line)
	}
	if o.SocketGroup != "" {
		fmt.Fprintf(&b, "SupplementaryGroups=%s\n", o.SocketGroup)
	}
	fmt.Fprintf(&b, "LoadCredential=%s:%s\n", inject.CredentialName, up.TokenFile)
	b.WriteString("ExecStart=\n")
	args := vaultExecArgs(up, o)
	for _, e := range up.Unit.ExecStart {
		fmt.Fprintf(&b, "ExecStart=%s%s -- %s\n", e.Prefix, args, e.Command)
	}
	return b.Bytes()
}

// vaultExecArgs is the vault-exec part of the new ExecStart= lines.
func vaultExecArgs(up *UnitPlan, o Options) string {
	args := []string{QuoteArg(o.VaultExec), "--socket", QuoteArg(o.Socket)}
	if o.Wait > 0 {
		args = append(args, "--wait", o.Wait.String())
	}
	for _, k := range up.KeepEnv {
		args = append(args, "--keep-env", k)
	}
	for _, s := range up.Secrets {
		args = append(args, "--map", QuoteArg(s.Name+"="+s.Path))
	}
	return strings.Join(args, " ")
}
