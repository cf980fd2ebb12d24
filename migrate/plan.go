package migrate

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jamditis/jawn-vault/inject"
)

// Options are the choices a plan is made with.
type Options struct {
	Scope          Scope
	Classifier     Classifier
	Paths          map[string]string // --path NAME=path
	Drop           map[string]bool   // --drop NAME: not passed on at all
	Template       string            // DefaultTemplate if ""
	SharedTemplate string            // DefaultSharedTemplate if ""
	Socket         string            // the daemon's socket, written into the drop-in
	VaultExec      string            // vault-exec's path on the target
	VaultUnit      string            // the daemon's unit, for After= and Wants=; "" for none
	SocketGroup    string            // SupplementaryGroups= for the socket's group; "" for none
	Wait           time.Duration     // vault-exec --wait in the drop-in
	StateDir       string            // target path of the manifests and backups
	CredentialsDir string            // target path of the token files
	// LookupUser resolves User= to a uid (in --root's etc/passwd, or the
	// host's).
	LookupUser func(name string) (int64, error)
	// Uid is the uid of the user manager, for --user units.
	Uid int64
}

// Plan is what vault-migrate will do to a set of units.
type Plan struct {
	Units   []*UnitPlan
	Imports []*Import // one per distinct path, sorted by path
}

// Import is one value to store in the vault.
type Import struct {
	Path  string
	Value []byte
	Users []string // "unit: NAME", sorted
	State string   // filled by Check: ImportNew, ImportSame, ImportConflict or ImportUnknown
}

// Import states.
const (
	ImportNew      = "new"
	ImportSame     = "already in the vault"
	ImportConflict = "in the vault with a DIFFERENT value"
	ImportUnknown  = "not checked (daemon not reachable)"
)

// UnitPlan is the plan for one unit.
type UnitPlan struct {
	Unit      *Unit
	Files     []*EnvFile
	Secrets   []Secret
	Plain     []Plain
	KeepEnv   []string // plain names and PassEnvironment=, for --keep-env
	Dropped   []string // variables left out with --drop
	TokenName string
	BindUID   *int64
	BindWhy   string
	TokenFile string // target path
	DropIn    []byte
	Notes     []string // what still needs a person
	Migrated  *Manifest
}

// Secret is a variable that moves into the vault.
type Secret struct {
	Name, Path, Why, From string
	value                 []byte
}

// Plain is a variable kept as Environment=.
type Plain struct {
	Name, Line, Why, From string
}

// Paths returns the unit's distinct secret paths, sorted: its grants.
func (up *UnitPlan) Paths() []string {
	var ps []string
	for _, s := range up.Secrets {
		if !slices.Contains(ps, s.Path) {
			ps = append(ps, s.Path)
		}
	}
	sort.Strings(ps)
	return ps
}

// MakePlan plans the migration of units. known maps values already in the
// vault from earlier migrations to their paths, so a value shared with a
// unit migrated before is reused rather than imported again.
func MakePlan(units []*Unit, known map[string]string, o Options) (*Plan, error) {
	p := &Plan{}
	for _, u := range units {
		up, err := planUnit(u, o)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", u.Name, err)
		}
		p.Units = append(p.Units, up)
	}
	if err := p.assignPaths(known, o); err != nil {
		return nil, err
	}
	for _, up := range p.Units {
		if up.Migrated == nil {
			up.DropIn = RenderDropIn(up, o)
		}
	}
	return p, nil
}

func planUnit(u *Unit, o Options) (*UnitPlan, error) {
	up := &UnitPlan{Unit: u, TokenName: TokenName(u.Name),
		TokenFile: filepath.Join(o.CredentialsDir, u.Name+".token")}
	m, err := ReadManifest(o.Scope, o.StateDir, u.Name)
	if err != nil {
		return nil, err
	}
	if m != nil && m.Status == StatusDone {
		up.Migrated = m
		return up, nil
	}
	if len(u.ExecStart) == 0 {
		return nil, fmt.Errorf("no ExecStart=: nothing to wrap with vault-exec")
	}
	for _, e := range u.ExecStart {
		if strings.Contains(e.Prefix, "@") {
			return nil, fmt.Errorf("%s: ExecStart= with the '@' prefix (its own argv[0]) cannot be wrapped", e.Where)
		}
	}
	if len(u.Overriders) > 0 {
		return nil, fmt.Errorf("the drop-in %s sorts after %s and sets ExecStart=, Environment=, EnvironmentFile= or LoadCredential=, so it would undo the migration: fold it into the unit first",
			strings.Join(u.Overriders, ", "), DropInName)
	}
	if slices.Contains(u.Credentials, inject.CredentialName) {
		return nil, fmt.Errorf("the unit already loads a credential named %s", inject.CredentialName)
	}
	vars, files, err := o.Scope.Collect(u)
	if err != nil {
		return nil, err
	}
	up.Files = files
	for _, v := range vars {
		if o.Drop[v.Name] {
			up.Dropped = append(up.Dropped, v.Name)
			continue
		}
		secret, why := o.Classifier.Classify(v.Name, v.Value)
		if !secret {
			line := v.Raw
			if line == "" {
				line = QuoteEnv(v.Name, v.Value)
			}
			up.Plain = append(up.Plain, Plain{Name: v.Name, Line: line, Why: why, From: v.From})
			up.KeepEnv = append(up.KeepEnv, v.Name)
			continue
		}
		val := v.Value
		if v.Raw != "" {
			if val, err = Unspecify(v.Value, u.Specifiers); err != nil {
				return nil, fmt.Errorf("%s: secret %s %v", v.From, v.Name, err)
			}
			up.Notes = append(up.Notes, fmt.Sprintf("the secret %s is written in the unit itself (%s): the drop-in keeps it out of the program's environment, but delete it from that file by hand", v.Name, v.From))
		}
		up.Secrets = append(up.Secrets, Secret{Name: v.Name, Why: why, From: v.From, value: []byte(val)})
	}
	for _, e := range u.ExecStart {
		if strings.Contains(e.Prefix, ":") {
			continue // no variable expansion on this line
		}
		for _, ref := range VarRefs(e.Command) {
			for _, s := range up.Secrets {
				if s.Name == ref {
					return nil, fmt.Errorf("%s: ExecStart= puts the secret $%s on the command line, where vault-exec cannot supply it (and every user can read it in /proc): make the program read it from the environment, or pass --plain %s", e.Where, ref, ref)
				}
			}
		}
	}
	for _, name := range u.PassEnv {
		if !slices.Contains(up.KeepEnv, name) && inject.ValidName(name) {
			up.KeepEnv = append(up.KeepEnv, name)
		}
	}
	sort.Strings(up.KeepEnv)
	for _, x := range u.OtherExec {
		up.Notes = append(up.Notes, fmt.Sprintf("%s no longer gets the variables of the EnvironmentFile=: if it needs a secret, wrap it with vault-exec too", x))
	}
	up.BindUID, up.BindWhy, err = bindUID(u, o)
	if err != nil {
		return nil, err
	}
	up.Notes = append(up.Notes, scanCode(o.Scope, u, files)...)
	return up, nil
}

// TokenName is the name of a unit's token: the unit's name, with any byte
// a token name cannot hold replaced by '_'.
func TokenName(unit string) string {
	b := []byte(unit)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '@' || c == '-') {
			b[i] = '_'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

// bindUID says which peer uid the unit's token is bound to.
func bindUID(u *Unit, o Options) (*int64, string, error) {
	switch {
	case u.DynamicUser:
		return nil, "not bound: DynamicUser=yes picks the uid at start", nil
	case u.User != "":
		uid, err := o.LookupUser(u.User)
		if err != nil {
			return nil, "", fmt.Errorf("User=%s: %w", u.User, err)
		}
		return &uid, fmt.Sprintf("User=%s", u.User), nil
	case o.Scope.User:
		uid := o.Uid
		return &uid, "the user manager's uid", nil
	}
	var root int64
	return &root, "runs as root (no User=)", nil
}

// assignPaths gives every secret its path: a --path override, else the
// path of the same value from an earlier migration, else the shared
// template when several units hold the value, else the unit template. One
// value is imported once per path, and one path never gets two values.
func (p *Plan) assignPaths(known map[string]string, o Options) error {
	tmpl, shared := o.Template, o.SharedTemplate
	if tmpl == "" {
		tmpl = DefaultTemplate
	}
	if shared == "" {
		shared = DefaultSharedTemplate
	}
	type holder struct {
		up *UnitPlan
		i  int
	}
	groups := map[string][]holder{} // value -> holders, in unit then name order
	var order []string
	for _, up := range p.Units {
		for i, s := range up.Secrets {
			v := string(s.value)
			if _, ok := groups[v]; !ok {
				order = append(order, v)
			}
			groups[v] = append(groups[v], holder{up, i})
		}
	}
	imports := map[string]*Import{}
	for _, v := range order {
		hs := groups[v]
		units := map[string]bool{}
		for _, h := range hs {
			units[h.up.Unit.Name] = true
		}
		first := hs[0].up.Secrets[hs[0].i]
		var groupPath string
		var err error
		switch {
		case known[v] != "":
			groupPath = known[v]
		case len(units) > 1:
			groupPath, err = ExpandTemplate(shared, hs[0].up.Unit.Name, first.Name)
		default:
			groupPath, err = ExpandTemplate(tmpl, hs[0].up.Unit.Name, first.Name)
		}
		if err != nil {
			return err
		}
		for _, h := range hs {
			s := &h.up.Secrets[h.i]
			s.Path = groupPath
			if over, ok := o.Paths[s.Name]; ok {
				s.Path = over
			}
			im := imports[s.Path]
			if im == nil {
				im = &Import{Path: s.Path, Value: s.value}
				imports[s.Path] = im
			} else if string(im.Value) != v {
				return fmt.Errorf("%s would hold two different values (%s and %s: %s); give one of them its own --path",
					s.Path, im.Users[0], h.up.Unit.Name, s.Name)
			}
			im.Users = append(im.Users, h.up.Unit.Name+": "+s.Name)
		}
	}
	for _, im := range imports {
		sort.Strings(im.Users)
		p.Imports = append(p.Imports, im)
	}
	sort.Slice(p.Imports, func(i, j int) bool { return p.Imports[i].Path < p.Imports[j].Path })
	return nil
}

// Shared lists the other units that get the same path as s.
func (p *Plan) Shared(up *UnitPlan, path string) []string {
	var out []string
	for _, other := range p.Units {
		if other != up && slices.Contains(other.Paths(), path) {
			out = append(out, other.Unit.Name)
		}
	}
	return out
}
