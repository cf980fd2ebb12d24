package migrate

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Manifest statuses.
const (
	StatusApplying = "applying" // written before the token is made: a crash leaves a trace
	StatusDone     = "done"
)

// Manifest records what vault-migrate did to one unit, so that a second
// run changes nothing and --undo can put everything back. It lives in
// <state-dir>/<unit>/manifest.json next to unit.orig, the unit file's bytes
// as they were. It holds no value and no token.
type Manifest struct {
	Version      int              `json:"version"`
	Unit         string           `json:"unit"`
	Status       string           `json:"status"`
	Time         time.Time        `json:"time"`
	UnitFile     string           `json:"unit_file"`
	UnitSHA256   string           `json:"unit_sha256"`
	UnitMode     uint32           `json:"unit_mode"`
	DropIn       string           `json:"drop_in"`
	DropInSHA256 string           `json:"drop_in_sha256,omitempty"`
	CreatedDirs  []string         `json:"created_dirs,omitempty"`
	TokenName    string           `json:"token_name"`
	TokenID      string           `json:"token_id,omitempty"`
	TokenFile    string           `json:"token_file"`
	Secrets      []ManifestSecret `json:"secrets"`
	Plain        []string         `json:"plain"`
	Imported     []string         `json:"imported,omitempty"`
	EnvFiles     []ManifestEnv    `json:"env_files"`
}

// ManifestSecret is one variable that moved into the vault.
type ManifestSecret struct {
	Name string `json:"name"`
	Path string `json:"path"`
}

// ManifestEnv is one EnvironmentFile= the unit read.
type ManifestEnv struct {
	Path     string `json:"path"`
	Optional bool   `json:"optional,omitempty"`
	Exists   bool   `json:"exists"`
	SHA256   string `json:"sha256,omitempty"`
	// Set by --remove-env-files: the file is gone, and its bytes are in the
	// vault at Backup so that --undo can write it back exactly.
	Removed bool   `json:"removed,omitempty"`
	Backup  string `json:"backup,omitempty"`
	Mode    uint32 `json:"mode,omitempty"`
	UID     int    `json:"uid,omitempty"`
	GID     int    `json:"gid,omitempty"`
}

// stateDir is the target directory of one unit's manifest and backups.
func stateDir(stateRoot, unit string) string { return filepath.Join(stateRoot, unit) }

// ReadManifest returns the unit's manifest, or nil if it has none.
func ReadManifest(s Scope, stateRoot, unit string) (*Manifest, error) {
	b, err := os.ReadFile(s.Host(filepath.Join(stateDir(stateRoot, unit), "manifest.json")))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	m := &Manifest{}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(m); err != nil {
		return nil, fmt.Errorf("%s: manifest: %w", unit, err)
	}
	if m.Version != 1 || m.Unit != unit {
		return nil, fmt.Errorf("%s: manifest of version %d for %q: not one this vault-migrate wrote", unit, m.Version, m.Unit)
	}
	return m, nil
}

// Write stores the manifest atomically.
func (m *Manifest) Write(s Scope, stateRoot string) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	dir := s.Host(stateDir(stateRoot, m.Unit))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, "manifest.json"), append(b, '\n'), 0o600)
}

// WriteFileAtomic writes data to a temporary file in name's directory,
// syncs it, and renames it over name, so that name holds either the old
// bytes or the new ones, never a part.
func WriteFileAtomic(name string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(name)
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		return err
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// sha256Hex returns the hex SHA-256 of b.
func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// mkdirAllRecord creates dir (a host path) and its missing parents with
// mode, and returns the target paths of the directories it created, the
// deepest last, so that they can be removed again.
func mkdirAllRecord(s Scope, target string, mode os.FileMode) ([]string, error) {
	var missing []string
	for d := target; ; d = filepath.Dir(d) {
		if _, err := os.Stat(s.Host(d)); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		missing = append([]string{d}, missing...)
		if d == "/" || d == "." {
			break
		}
	}
	var made []string
	for _, d := range missing {
		if err := os.Mkdir(s.Host(d), mode); err != nil {
			removeDirs(s, made)
			return nil, err
		}
		made = append(made, d)
	}
	return made, nil
}

// removeDirs removes the directories (target paths) if they are empty,
// deepest first.
func removeDirs(s Scope, dirs []string) {
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Remove(s.Host(dirs[i])) // fails, as it should, when not empty
	}
}
