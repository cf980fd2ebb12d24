package migrate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// OutcomeNothing is the status of a unit --undo had no record of.
const OutcomeNothing = "not migrated, nothing to undo"

// Undo puts migrated units back as they were: it revokes each token first
// (so a failure there changes nothing), writes back any env file that
// --remove-env-files removed, removes the drop-in and the token file,
// restores the unit file byte for byte if it changed, and deletes the
// manifest. Values stay in the vault.
func (a *Applier) Undo(ctx context.Context, units []string) error {
	s := a.Opts.Scope
	var restored []string
	for _, name := range units {
		o := &Outcome{Unit: name}
		a.Outcomes = append(a.Outcomes, o)
		m, err := ReadManifest(s, a.Opts.StateDir, name)
		if err != nil {
			return err
		}
		if m == nil {
			o.Status = OutcomeNothing
			continue
		}
		o.TokenID = m.TokenID
		notes, err := a.undoUnit(ctx, m)
		o.Notes = notes
		if err != nil {
			o.Status = OutcomeFailed
			return fmt.Errorf("%s: %w", name, err)
		}
		o.Status = OutcomeRestored
		restored = append(restored, name)
	}
	if a.Systemd == nil || len(restored) == 0 {
		return nil
	}
	if err := a.Systemd.Reload(ctx); err != nil {
		return err
	}
	if a.Restart {
		for _, name := range restored {
			if err := a.Systemd.Restart(ctx, name); err != nil {
				return err
			}
		}
	}
	return nil
}

func (a *Applier) undoUnit(ctx context.Context, m *Manifest) ([]string, error) {
	s := a.Opts.Scope
	var notes []string
	revoke := m.TokenID
	if revoke == "" && m.Status == StatusApplying {
		revoke = m.TokenName // an interrupted run may have issued it
	}
	if revoke != "" {
		if _, err := a.Vault.TokenRevoke(ctx, revoke); err != nil && wire.CodeOf(err) != wire.CodeNotFound {
			return nil, fmt.Errorf("revoking the token %s: %w (nothing was changed)", m.TokenName, err)
		}
	}
	for _, f := range m.EnvFiles {
		if !f.Removed {
			continue
		}
		note, err := restoreEnvFile(ctx, s, f, a.Vault)
		if err != nil {
			return notes, err
		}
		if note != "" {
			notes = append(notes, note)
		}
	}
	b, err := os.ReadFile(s.Host(m.DropIn))
	switch {
	case err == nil && m.DropInSHA256 != "" && sha256Hex(b) != m.DropInSHA256:
		notes = append(notes, fmt.Sprintf("%s had been edited after the migration; it was removed anyway", m.DropIn))
		fallthrough
	case err == nil:
		if err := os.Remove(s.Host(m.DropIn)); err != nil {
			return notes, err
		}
	case !errors.Is(err, fs.ErrNotExist):
		return notes, err
	}
	dir := s.Host(stateDir(a.Opts.StateDir, m.Unit))
	orig, err := os.ReadFile(filepath.Join(dir, "unit.orig"))
	if err != nil {
		return notes, fmt.Errorf("the backup of the unit file: %w", err)
	}
	cur, err := os.ReadFile(s.Host(m.UnitFile))
	if err != nil || !bytes.Equal(cur, orig) {
		if sha256Hex(orig) != m.UnitSHA256 {
			return notes, fmt.Errorf("the backup %s does not match the manifest", filepath.Join(dir, "unit.orig"))
		}
		if err := WriteFileAtomic(s.Host(m.UnitFile), orig, os.FileMode(m.UnitMode)); err != nil {
			return notes, err
		}
		notes = append(notes, fmt.Sprintf("%s had changed since the migration; the original was written back", m.UnitFile))
	}
	if err := os.Remove(s.Host(m.TokenFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return notes, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return notes, err
	}
	removeDirs(s, m.CreatedDirs)
	return notes, nil
}
