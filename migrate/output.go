package migrate

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// printPlan prints what --yes would do. It names variables and paths,
// never a secret's value (plain values appear in the drop-in, as they will
// in the unit).
func printPlan(w io.Writer, p *Plan, o Options) {
	for i, up := range p.Units {
		if i > 0 {
			fmt.Fprintln(w)
		}
		u := up.Unit
		fmt.Fprintf(w, "%s (%s)\n", u.Name, u.File)
		if m := up.Migrated; m != nil {
			fmt.Fprintf(w, "  already migrated on %s (token %s, %s): nothing to do\n", m.Time.Format("2006-01-02 15:04 MST"), m.TokenName, m.TokenID)
			continue
		}
		for _, f := range up.Files {
			opt := ""
			if f.Ref.Optional {
				opt = "-"
			}
			if f.Exists {
				fmt.Fprintf(w, "  reads      EnvironmentFile=%s%s (%d variables)\n", opt, f.Ref.Path, len(f.Vars))
			} else {
				fmt.Fprintf(w, "  skips      EnvironmentFile=%s%s (missing, optional)\n", opt, f.Ref.Path)
			}
		}
		for _, s := range up.Secrets {
			extra := ""
			if shared := p.Shared(up, s.Path); len(shared) > 0 {
				extra = "; also granted to " + strings.Join(shared, ", ")
			}
			fmt.Fprintf(w, "  secret     %s -> %s (%s%s)\n", s.Name, s.Path, s.Why, extra)
		}
		for _, pl := range up.Plain {
			fmt.Fprintf(w, "  plain      %s (%s): kept as Environment=\n", pl.Name, pl.Why)
		}
		for _, d := range up.Dropped {
			fmt.Fprintf(w, "  dropped    %s (--drop): no longer passed to the unit\n", d)
		}
		fmt.Fprintf(w, "  token      %s: read on %d path(s), %s\n", up.TokenName, len(up.Paths()), bindText(up))
		fmt.Fprintf(w, "  token file %s (0400, handed over with LoadCredential=)\n", up.TokenFile)
		fmt.Fprintf(w, "  drop-in    %s (new):\n", u.DropInPath())
		for line := range strings.SplitSeq(strings.TrimSuffix(string(up.DropIn), "\n"), "\n") {
			fmt.Fprintf(w, "    + %s\n", line)
		}
		if len(up.Notes) > 0 {
			fmt.Fprintln(w, "  needs a person:")
			for _, n := range up.Notes {
				fmt.Fprintf(w, "    - %s\n", n)
			}
		}
	}
	if len(p.Imports) > 0 {
		fmt.Fprintln(w, "\nImports")
		for _, im := range p.Imports {
			fmt.Fprintf(w, "  %s: %s (%s)\n", im.Path, im.State, strings.Join(im.Users, ", "))
		}
	}
	if _, err := os.Stat(o.Scope.Host(o.VaultExec)); err != nil {
		fmt.Fprintf(w, "\nNeeds a person: vault-exec is not at %s: install it there or pass --vault-exec\n", o.VaultExec)
	}
}

func bindText(up *UnitPlan) string {
	if up.BindUID == nil {
		return up.BindWhy
	}
	return fmt.Sprintf("bound to uid %d (%s)", *up.BindUID, up.BindWhy)
}

// printSummary says what went where after --yes.
func printSummary(w io.Writer, p *Plan, a *Applier, r *Removal, c *cli) {
	o := a.Opts
	fmt.Fprintln(w, "Summary")
	var people []string
	for _, oc := range a.Outcomes {
		up := p.unit(oc.Unit)
		fmt.Fprintf(w, "  %s: %s\n", oc.Unit, oc.Status)
		for _, n := range oc.Notes {
			people = append(people, oc.Unit+": "+n)
		}
		if oc.Status != OutcomeMigrated || up == nil {
			continue
		}
		for _, s := range up.Secrets {
			fmt.Fprintf(w, "    secret     %s -> %s\n", s.Name, s.Path)
		}
		for _, pl := range up.Plain {
			fmt.Fprintf(w, "    plain      %s (Environment=)\n", pl.Name)
		}
		fmt.Fprintf(w, "    token      %s (%s), read-only on %d path(s), %s\n", up.TokenName, oc.TokenID, len(up.Paths()), bindText(up))
		fmt.Fprintf(w, "    token file %s\n", up.TokenFile)
		fmt.Fprintf(w, "    drop-in    %s\n", up.Unit.DropInPath())
		fmt.Fprintf(w, "    backup     %s/\n", stateDir(o.StateDir, up.Unit.Name))
		for _, n := range up.Notes {
			people = append(people, oc.Unit+": "+n)
		}
		for _, f := range up.Files {
			if f.Exists && (r == nil || !slices.Contains(r.Removed, f.Ref.Path)) {
				people = append(people, fmt.Sprintf("%s: %s still holds the secrets in plaintext; once the service runs well, remove it with --remove-env-files", oc.Unit, f.Ref.Path))
			}
		}
	}
	if len(a.Imported) > 0 {
		fmt.Fprintf(w, "  imported into the vault: %s\n", strings.Join(a.Imported, ", "))
	}
	if r != nil {
		for _, f := range r.Removed {
			fmt.Fprintf(w, "  removed    %s (overwritten, then unlinked; its bytes are in the vault for --undo)\n", f)
		}
		people = append(people, r.Warnings...)
	}
	migrated := slices.ContainsFunc(a.Outcomes, func(oc *Outcome) bool { return oc.Status == OutcomeMigrated })
	if migrated && a.Systemd == nil {
		people = append(people, "systemd was not reloaded (--root or --no-reload): on the machine, run systemctl daemon-reload and restart the units")
	} else if migrated && !c.restart {
		people = append(people, "the running services still have the old environment: restart them (or run again with --restart)")
	}
	if _, err := os.Stat(o.Scope.Host(o.VaultExec)); err != nil && migrated {
		people = append(people, fmt.Sprintf("vault-exec is not at %s: install it there before the units restart", o.VaultExec))
	}
	if len(people) > 0 {
		fmt.Fprintln(w, "Needs a person:")
		for _, n := range people {
			fmt.Fprintf(w, "  - %s\n", n)
		}
	}
}

func (p *Plan) unit(name string) *UnitPlan {
	for _, up := range p.Units {
		if up.Unit.Name == name {
			return up
		}
	}
	return nil
}

// printUndo says what --undo did.
func printUndo(w io.Writer, a *Applier) {
	var b bytes.Buffer
	fmt.Fprintln(&b, "Summary")
	for _, oc := range a.Outcomes {
		fmt.Fprintf(&b, "  %s: %s\n", oc.Unit, oc.Status)
		if oc.Status == OutcomeRestored && oc.TokenID != "" {
			fmt.Fprintf(&b, "    token %s revoked\n", oc.TokenID)
		}
		for _, n := range oc.Notes {
			fmt.Fprintf(&b, "    note: %s\n", n)
		}
	}
	if slices.ContainsFunc(a.Outcomes, func(oc *Outcome) bool { return oc.Status == OutcomeRestored }) {
		fmt.Fprintln(&b, "  the imported values stay in the vault; remove them with vault-cli rm PATH if nothing else uses them")
		if a.Systemd == nil {
			fmt.Fprintln(&b, "  systemd was not reloaded (--root or --no-reload): on the machine, run systemctl daemon-reload and restart the units")
		}
	}
	w.Write(b.Bytes())
}
