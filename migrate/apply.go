package migrate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// Vault is what vault-migrate needs of the daemon; *vault.Client has it.
type Vault interface {
	Get(ctx context.Context, path string) ([]byte, error)
	Set(ctx context.Context, path string, value []byte) error
	TokenCreate(ctx context.Context, p wire.TokenCreateParams) (wire.TokenCreateResult, error)
	TokenRevoke(ctx context.Context, nameOrID string) (wire.TokenRevokeResult, error)
	TokenList(ctx context.Context) ([]wire.TokenInfo, error)
}

// ErrConflict is returned when a path already holds a different value.
var ErrConflict = errors.New("conflicting value in the vault")

// ErrInUse is returned when a drop-in or a token name that vault-migrate
// needs is already taken by something it did not make.
var ErrInUse = errors.New("already in use")

// ErrPreflight wraps failures to prepare the directories vault-migrate
// writes to, found before anything was imported.
var ErrPreflight = errors.New("cannot write")

// Check fills in each import's State by reading its path. With a nil
// vault (a dry run without a daemon) every state is ImportUnknown.
func (p *Plan) Check(ctx context.Context, v Vault) error {
	for _, im := range p.Imports {
		if v == nil {
			im.State = ImportUnknown
			continue
		}
		got, err := v.Get(ctx, im.Path)
		switch {
		case wire.CodeOf(err) == wire.CodeNotFound:
			im.State = ImportNew
		case err != nil:
			return fmt.Errorf("reading %s: %w", im.Path, err)
		case string(got) == string(im.Value):
			im.State = ImportSame
		default:
			im.State = ImportConflict
		}
		clear(got)
	}
	return nil
}

// Outcome is what happened to one unit.
type Outcome struct {
	Unit    string
	Status  string // StatusMigrated, StatusUnchanged, ...
	TokenID string
	Notes   []string
}

// Outcome statuses.
const (
	OutcomeMigrated  = "migrated"
	OutcomeUnchanged = "already migrated, unchanged"
	OutcomeFailed    = "left as it was"
	OutcomeRestored  = "restored"
)

// Applier carries out a plan.
type Applier struct {
	Opts     Options
	Vault    Vault
	Systemd  Systemd // nil: no daemon-reload (--root, --no-reload)
	Restart  bool
	Imported []string // paths this run stored in the vault
	Outcomes []*Outcome
}

// applied records what was done to one unit, to roll it back.
type applied struct {
	up        *UnitPlan
	m         *Manifest
	created   []string // target dirs created, to remove if empty
	tokenID   string
	tokenFile bool
	dropIn    bool
}

// Apply migrates every unit of the plan that is not migrated yet. On any
// failure, every unit this run touched is put back as it was; values
// already imported stay in the vault (they are the same values the unit's
// files still hold) and are listed in Imported.
func (a *Applier) Apply(ctx context.Context, p *Plan) error {
	var pending []*UnitPlan
	for _, up := range p.Units {
		if up.Migrated != nil {
			a.Outcomes = append(a.Outcomes, &Outcome{Unit: up.Unit.Name, Status: OutcomeUnchanged,
				TokenID: up.Migrated.TokenID, Notes: a.verify(ctx, up)})
			continue
		}
		pending = append(pending, up)
	}
	if len(pending) == 0 {
		return nil
	}
	var done []*applied
	fail := func(err error) error {
		for i := len(done) - 1; i >= 0; i-- {
			a.rollback(ctx, done[i])
		}
		for _, up := range pending {
			a.Outcomes = append(a.Outcomes, &Outcome{Unit: up.Unit.Name, Status: OutcomeFailed})
		}
		return err
	}
	for _, up := range pending {
		ap, err := a.preflight(ctx, up)
		if ap != nil {
			done = append(done, ap)
		}
		if err != nil {
			return fail(err)
		}
	}
	if err := a.importAll(ctx, p); err != nil {
		return fail(err)
	}
	for _, ap := range done {
		if err := a.applyUnit(ctx, ap); err != nil {
			return fail(fmt.Errorf("%s: %w", ap.up.Unit.Name, err))
		}
	}
	if a.Systemd != nil {
		if err := a.Systemd.Reload(ctx); err != nil {
			err = fail(err)
			_ = a.Systemd.Reload(ctx)
			return err
		}
	}
	var restartErr error
	for _, ap := range done {
		o := &Outcome{Unit: ap.up.Unit.Name, Status: OutcomeMigrated, TokenID: ap.tokenID}
		a.Outcomes = append(a.Outcomes, o)
		if !a.Restart || a.Systemd == nil {
			continue
		}
		if err := a.Systemd.Restart(ctx, ap.up.Unit.Name); err != nil {
			// Put this unit back and start it the old way.
			a.rollback(ctx, ap)
			_ = a.Systemd.Reload(ctx)
			if rerr := a.Systemd.Restart(ctx, ap.up.Unit.Name); rerr != nil {
				err = fmt.Errorf("%w; and after putting it back: %v", err, rerr)
			}
			o.Status = OutcomeFailed
			restartErr = errors.Join(restartErr, fmt.Errorf("%s: %w", ap.up.Unit.Name, err))
		}
	}
	return restartErr
}

// preflight makes sure every directory this unit needs exists and can be
// written, before any value is imported.
func (a *Applier) preflight(ctx context.Context, up *UnitPlan) (*applied, error) {
	s := a.Opts.Scope
	ap := &applied{up: up}
	prev, err := ReadManifest(s, a.Opts.StateDir, up.Unit.Name)
	if err != nil {
		return nil, err
	}
	interrupted := prev != nil && prev.Status == StatusApplying
	if _, err := os.Lstat(s.Host(up.Unit.DropInPath())); err == nil && interrupted && prev.DropIn == up.Unit.DropInPath() {
		// Written by an interrupted run of ours and never recorded as done.
		if err := os.Remove(s.Host(up.Unit.DropInPath())); err != nil {
			return nil, err
		}
	} else if err == nil {
		return nil, fmt.Errorf("%w: %s: %s exists but no migration of this unit is recorded: move it away first", ErrInUse, up.Unit.Name, s.Host(up.Unit.DropInPath()))
	}
	// Listing tokens needs a global admin. A narrower admin token cannot
	// see the list; token.create still refuses a name already in use.
	tokens, err := a.Vault.TokenList(ctx)
	if err != nil && wire.CodeOf(err) != wire.CodePermissionDenied {
		return nil, fmt.Errorf("listing tokens: %w", err)
	}
	for _, t := range tokens {
		if t.Name != up.TokenName {
			continue
		}
		if !interrupted || prev.TokenName != t.Name {
			return nil, fmt.Errorf("%w: %s: a token named %s exists that vault-migrate did not issue: revoke it first (vault-cli token revoke %s)", ErrInUse, up.Unit.Name, t.Name, t.Name)
		}
		// Left by an interrupted run of ours: that token's file was never
		// handed to the unit, so it can go.
		if _, err := a.Vault.TokenRevoke(ctx, t.ID); err != nil {
			return nil, fmt.Errorf("revoking the token left by an interrupted run: %w", err)
		}
	}
	for _, d := range []struct {
		dir  string
		mode os.FileMode
	}{
		{up.Unit.DropInDir, 0o755},
		{filepath.Dir(up.TokenFile), 0o700},
		{stateDir(a.Opts.StateDir, up.Unit.Name), 0o700},
	} {
		made, err := mkdirAllRecord(s, d.dir, d.mode)
		ap.created = append(ap.created, made...)
		if err == nil {
			err = probe(s.Host(d.dir))
		}
		if err != nil {
			return ap, fmt.Errorf("%w: %v", ErrPreflight, err)
		}
	}
	return ap, nil
}

// probe checks that a file can be created in dir.
func probe(dir string) error {
	f, err := os.CreateTemp(dir, ".vault-migrate-probe*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

// importAll stores every new value, reading each one back before going on.
func (a *Applier) importAll(ctx context.Context, p *Plan) error {
	if err := p.Check(ctx, a.Vault); err != nil {
		return err
	}
	for _, im := range p.Imports {
		if im.State == ImportConflict {
			return fmt.Errorf("%w: %s already holds a different value (wanted by %v); choose another path with --path NAME=path",
				ErrConflict, im.Path, im.Users)
		}
	}
	for _, im := range p.Imports {
		if im.State != ImportNew {
			continue
		}
		if err := a.Vault.Set(ctx, im.Path, im.Value); err != nil {
			return fmt.Errorf("importing %s: %w", im.Path, err)
		}
		a.Imported = append(a.Imported, im.Path)
		got, err := a.Vault.Get(ctx, im.Path)
		same := err == nil && string(got) == string(im.Value)
		clear(got)
		if err != nil {
			return fmt.Errorf("reading back %s: %w", im.Path, err)
		}
		if !same {
			return fmt.Errorf("%s reads back different from what was imported; the unit was left alone", im.Path)
		}
	}
	return nil
}

// applyUnit backs the unit up, issues its token, writes the token file and
// the drop-in, and records it all in the manifest.
func (a *Applier) applyUnit(ctx context.Context, ap *applied) error {
	s, up := a.Opts.Scope, ap.up
	unitHost := s.Host(up.Unit.File)
	orig, err := os.ReadFile(unitHost)
	if err != nil {
		return err
	}
	st, err := os.Stat(unitHost)
	if err != nil {
		return err
	}
	dir := s.Host(stateDir(a.Opts.StateDir, up.Unit.Name))
	if err := WriteFileAtomic(filepath.Join(dir, "unit.orig"), orig, 0o600); err != nil {
		return err
	}
	m := &Manifest{Version: 1, Unit: up.Unit.Name, Status: StatusApplying, Time: time.Now().UTC().Truncate(time.Second),
		UnitFile: up.Unit.File, UnitSHA256: sha256Hex(orig), UnitMode: uint32(st.Mode().Perm()),
		DropIn: up.Unit.DropInPath(), CreatedDirs: ap.created, TokenName: up.TokenName, TokenFile: up.TokenFile}
	for _, sec := range up.Secrets {
		m.Secrets = append(m.Secrets, ManifestSecret{Name: sec.Name, Path: sec.Path})
		if slices.Contains(a.Imported, sec.Path) && !slices.Contains(m.Imported, sec.Path) {
			m.Imported = append(m.Imported, sec.Path)
		}
	}
	for _, p := range up.Plain {
		m.Plain = append(m.Plain, p.Name)
	}
	for _, f := range up.Files {
		m.EnvFiles = append(m.EnvFiles, ManifestEnv{Path: f.Ref.Path, Optional: f.Ref.Optional, Exists: f.Exists, SHA256: f.SHA256})
	}
	ap.m = m
	if err := m.Write(s, a.Opts.StateDir); err != nil {
		return err
	}

	grants := make([]wire.GrantJSON, 0, len(up.Secrets))
	for _, p := range up.Paths() {
		grants = append(grants, wire.GrantJSON{Pattern: p, Level: "read"})
	}
	res, err := a.Vault.TokenCreate(ctx, wire.TokenCreateParams{Name: up.TokenName, Grants: grants, BindUID: up.BindUID})
	if err != nil {
		return fmt.Errorf("issuing the token: %w", err)
	}
	ap.tokenID = res.ID
	tok := []byte(res.Token + "\n")
	err = WriteFileAtomic(s.Host(up.TokenFile), tok, 0o400)
	clear(tok)
	if err != nil {
		return fmt.Errorf("writing the token file: %w", err)
	}
	ap.tokenFile = true
	if err := WriteFileAtomic(s.Host(up.Unit.DropInPath()), up.DropIn, 0o644); err != nil {
		return fmt.Errorf("writing the drop-in: %w", err)
	}
	ap.dropIn = true
	m.Status, m.TokenID, m.DropInSHA256 = StatusDone, res.ID, sha256Hex(up.DropIn)
	return m.Write(s, a.Opts.StateDir)
}

// rollback undoes applyUnit and preflight for one unit, as far as they got.
func (a *Applier) rollback(ctx context.Context, ap *applied) {
	s := a.Opts.Scope
	if ap.dropIn {
		os.Remove(s.Host(ap.up.Unit.DropInPath()))
	}
	if ap.tokenFile {
		os.Remove(s.Host(ap.up.TokenFile))
	}
	if ap.tokenID != "" {
		// If this fails the manifest is left saying "applying", and the
		// next run revokes the token by name before issuing a new one.
		if _, err := a.Vault.TokenRevoke(ctx, ap.tokenID); err != nil && wire.CodeOf(err) != wire.CodeNotFound {
			if ap.m != nil && ap.m.Status != StatusApplying {
				ap.m.Status = StatusApplying
				_ = ap.m.Write(s, a.Opts.StateDir)
			}
			return
		}
	}
	os.RemoveAll(s.Host(stateDir(a.Opts.StateDir, ap.up.Unit.Name)))
	removeDirs(s, ap.created)
}

// verify checks an already migrated unit against its manifest and says
// what a person should look at.
func (a *Applier) verify(ctx context.Context, up *UnitPlan) []string {
	s, m := a.Opts.Scope, up.Migrated
	var notes []string
	b, err := os.ReadFile(s.Host(m.DropIn))
	switch {
	case err != nil:
		notes = append(notes, fmt.Sprintf("the drop-in %s is gone: run vault-migrate --undo %s, then migrate again", m.DropIn, m.Unit))
	case sha256Hex(b) != m.DropInSHA256:
		notes = append(notes, fmt.Sprintf("the drop-in %s was edited after the migration: vault-migrate leaves it alone", m.DropIn))
	}
	if _, err := os.Stat(s.Host(m.TokenFile)); err != nil {
		notes = append(notes, fmt.Sprintf("the token file %s is gone: run vault-migrate --undo %s, then migrate again", m.TokenFile, m.Unit))
	}
	for _, f := range m.EnvFiles {
		if f.Removed || !f.Exists {
			continue
		}
		b, err := os.ReadFile(s.Host(f.Path))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil && sha256Hex(b) != f.SHA256 {
			notes = append(notes, fmt.Sprintf("%s changed after the migration; its new values are not in the vault: run vault-migrate --undo %s, then migrate again", f.Path, m.Unit))
		}
		clear(b)
	}
	if a.Vault != nil && m.TokenID != "" {
		if tokens, err := a.Vault.TokenList(ctx); err == nil && !slices.ContainsFunc(tokens, func(t wire.TokenInfo) bool { return t.ID == m.TokenID }) {
			notes = append(notes, fmt.Sprintf("the token %s (%s) is no longer live: run vault-migrate --undo %s, then migrate again", m.TokenName, m.TokenID, m.Unit))
		}
	}
	return notes
}
