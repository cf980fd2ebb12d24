package migrate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// DefaultBackupPrefix is where --remove-env-files keeps the bytes of each
// removed file, inside the vault, so that --undo can write it back exactly
// without a plaintext copy on disk.
const DefaultBackupPrefix = "jawn-vault/env-backups"

// backupPath is the vault path holding the bytes of the env file at target.
func backupPath(prefix, target string) string {
	return prefix + "/" + sha256Hex([]byte(target))[:16]
}

// Removal is what --remove-env-files did.
type Removal struct {
	Removed  []string // env files overwritten and unlinked
	Warnings []string // files kept, and why
}

// RemoveEnvFiles overwrites and unlinks the EnvironmentFile=s of the
// migrated units, after storing their bytes in the vault. A file another
// unit still reads (one not migrated) is kept, with a warning naming that
// unit: removing it would break that unit and lose the values only it
// uses. A file that changed since the migration is kept too.
func RemoveEnvFiles(ctx context.Context, s Scope, stateRoot, prefix string, units []string, v Vault) (*Removal, error) {
	r := &Removal{}
	var readers map[string][]string
	for _, name := range units {
		m, err := ReadManifest(s, stateRoot, name)
		if err != nil {
			return r, err
		}
		if m == nil || m.Status != StatusDone {
			r.Warnings = append(r.Warnings, fmt.Sprintf("%s is not migrated: its env files are kept", name))
			continue
		}
		for _, f := range m.EnvFiles {
			if !f.Exists || f.Removed || slices.Contains(r.Removed, f.Path) {
				continue
			}
			if readers == nil {
				readers = s.envReaders(stateRoot)
			}
			if others := readers[f.Path]; len(others) > 0 {
				r.Warnings = append(r.Warnings, fmt.Sprintf("kept %s: %s still read(s) it; migrate them too, then run --remove-env-files again",
					f.Path, strings.Join(others, ", ")))
				continue
			}
			ok, err := removeEnvFile(ctx, s, stateRoot, prefix, f, v)
			if err != nil {
				return r, fmt.Errorf("%s: %w", f.Path, err)
			}
			if ok {
				r.Removed = append(r.Removed, f.Path)
			} else {
				r.Warnings = append(r.Warnings, fmt.Sprintf("kept %s: it changed after the migration (or is gone); run --undo %s and migrate again", f.Path, name))
			}
		}
	}
	return r, nil
}

// removeEnvFile backs one file up into the vault, overwrites it with
// zeros, unlinks it, and records that in every manifest that lists it.
func removeEnvFile(ctx context.Context, s Scope, stateRoot, prefix string, f ManifestEnv, v Vault) (bool, error) {
	host := s.Host(f.Path)
	b, err := os.ReadFile(host)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer clear(b)
	if sha256Hex(b) != f.SHA256 {
		return false, nil
	}
	st, err := os.Stat(host)
	if err != nil {
		return false, err
	}
	bp := backupPath(prefix, f.Path)
	if err := v.Set(ctx, bp, b); err != nil {
		return false, fmt.Errorf("backing it up into the vault at %s: %w", bp, err)
	}
	got, err := v.Get(ctx, bp)
	if err != nil || string(got) != string(b) {
		clear(got)
		return false, fmt.Errorf("the backup at %s does not read back the same (%v); the file was kept", bp, err)
	}
	clear(got)
	rec := f
	rec.Removed, rec.Backup, rec.Mode = true, bp, uint32(st.Mode().Perm())
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		rec.UID, rec.GID = int(sys.Uid), int(sys.Gid)
	}
	// Record first: a crash after this leaves a manifest that --undo can
	// act on (it writes the file back if it is missing).
	if err := markRemoved(s, stateRoot, rec); err != nil {
		return false, err
	}
	if err := shred(host, len(b)); err != nil {
		return false, err
	}
	return true, nil
}

// shred overwrites the file with zeros, syncs it, and unlinks it. On file
// systems that copy on write or journal data this does not guarantee the
// old blocks are gone; it is still better than a plain unlink.
func shred(name string, size int) error {
	fh, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = fh.Write(make([]byte, size))
	if err == nil {
		err = fh.Sync()
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Remove(name)
}

// markRemoved records a removed env file in every manifest that lists it.
func markRemoved(s Scope, stateRoot string, rec ManifestEnv) error {
	ents, err := os.ReadDir(s.Host(stateRoot))
	if err != nil {
		return err
	}
	for _, e := range ents {
		m, err := ReadManifest(s, stateRoot, e.Name())
		if err != nil || m == nil {
			continue
		}
		changed := false
		for i := range m.EnvFiles {
			if m.EnvFiles[i].Path == rec.Path && !m.EnvFiles[i].Removed {
				m.EnvFiles[i] = rec
				m.EnvFiles[i].Optional = m.EnvFiles[i].Optional || rec.Optional
				changed = true
			}
		}
		if changed {
			if err := m.Write(s, stateRoot); err != nil {
				return err
			}
		}
	}
	return nil
}

// envReaders maps each env file to the units that still read it: units in
// the search paths whose EnvironmentFile= lists it and that are not
// migrated (a migrated unit's drop-in resets EnvironmentFile=).
func (s Scope) envReaders(stateRoot string) map[string][]string {
	out := map[string][]string{}
	seen := map[string]bool{}
	for _, dir := range s.SearchPaths() {
		ents, _ := os.ReadDir(s.Host(dir))
		for _, e := range ents {
			name := e.Name()
			if filepath.Ext(name) != ".service" || strings.Contains(name, "@") || seen[name] {
				continue
			}
			seen[name] = true
			if m, _ := ReadManifest(s, stateRoot, name); m != nil && m.Status == StatusDone {
				continue
			}
			u, err := s.Find(name)
			if err != nil {
				continue
			}
			for _, f := range u.EnvFiles {
				if !slices.Contains(out[f.Path], name) {
					out[f.Path] = append(out[f.Path], name)
				}
			}
		}
	}
	return out
}

// restoreEnvFile writes a removed env file back from its vault backup.
func restoreEnvFile(ctx context.Context, s Scope, f ManifestEnv, v Vault) (string, error) {
	host := s.Host(f.Path)
	if _, err := os.Lstat(host); err == nil {
		return fmt.Sprintf("%s exists again; it was left as it is", f.Path), nil
	}
	b, err := v.Get(ctx, f.Backup)
	if err != nil {
		if wire.CodeOf(err) == wire.CodeNotFound {
			return "", fmt.Errorf("the backup of %s at %s is gone from the vault", f.Path, f.Backup)
		}
		return "", fmt.Errorf("reading the backup of %s: %w", f.Path, err)
	}
	defer clear(b)
	if sha256Hex(b) != f.SHA256 {
		return "", fmt.Errorf("the backup of %s at %s does not match the file as it was", f.Path, f.Backup)
	}
	if err := WriteFileAtomic(host, b, os.FileMode(f.Mode)); err != nil {
		return "", err
	}
	if err := os.Lchown(host, f.UID, f.GID); err != nil {
		return "", err
	}
	return "", nil
}
