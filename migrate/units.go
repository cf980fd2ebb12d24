package migrate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// DropInName is the name of the drop-in vault-migrate writes.
const DropInName = "jawn-vault.conf"

// ErrUnitNotFound is returned when no unit file has the name asked for.
var ErrUnitNotFound = errors.New("unit not found")

// Scope says which units vault-migrate works on and where the files are.
// Paths in Unit, Plan and Manifest are target paths: as systemd on the
// machine sees them. Host turns one into the path vault-migrate opens,
// which differs only under --root.
type Scope struct {
	Root       string // "" for the live system, else like systemctl --root
	User       bool   // per-user units instead of system units
	Home       string // the user's home (user scope), a target path
	ConfigHome string // $XDG_CONFIG_HOME, default Home/.config
	DataHome   string // $XDG_DATA_HOME, default Home/.local/share
	StateHome  string // $XDG_STATE_HOME, default Home/.local/state
}

// Host maps a target path to the path to open.
func (s Scope) Host(target string) string {
	if s.Root == "" {
		return target
	}
	return filepath.Join(s.Root, target)
}

// Target maps a host path back to a target path ("" if outside Root).
func (s Scope) Target(host string) string {
	if s.Root == "" {
		return host
	}
	rel, err := filepath.Rel(s.Root, host)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return ""
	}
	return "/" + rel
}

// SearchPaths lists the unit directories in systemd's order of precedence
// (the first one holding a name wins), as target paths.
func (s Scope) SearchPaths() []string {
	if s.User {
		return []string{
			filepath.Join(s.ConfigHome, "systemd/user"), "/etc/systemd/user", "/run/systemd/user",
			filepath.Join(s.DataHome, "systemd/user"), "/usr/local/lib/systemd/user", "/usr/lib/systemd/user",
		}
	}
	return []string{"/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
		"/usr/lib/systemd/system", "/lib/systemd/system"}
}

// AdminDir is where the administrator's own units and drop-ins go.
func (s Scope) AdminDir() string { return s.SearchPaths()[0] }

// Unit is a service unit as systemd would load it: its file, the drop-ins
// that apply, and the settings vault-migrate cares about, merged in order.
type Unit struct {
	Name      string   // houseofjawn-bot.service
	File      string   // the unit file
	DropInDir string   // where vault-migrate's drop-in goes
	DropIns   []string // the other drop-ins, in the order systemd applies them

	EnvFiles         []EnvFileRef
	Env              []EnvWord
	ExecStart        []ExecLine
	User             string
	DynamicUser      bool
	PassEnv          []string
	WorkingDirectory string
	OtherExec        []string // ExecStartPre= and friends, with where they are
	Credentials      []string // LoadCredential= ids already in use
	Overriders       []string // later drop-ins that would override ours
	Specifiers       map[byte]string
}

// DropInPath is the target path of vault-migrate's drop-in.
func (u *Unit) DropInPath() string { return filepath.Join(u.DropInDir, DropInName) }

// EnvFileRef is one EnvironmentFile= entry.
type EnvFileRef struct {
	Path     string
	Optional bool // written with a "-" prefix: a missing file is skipped
	Where    string
}

// EnvWord is one assignment of an Environment= line.
type EnvWord struct {
	Name, Value string
	Raw         string // as written, for writing it back unchanged
	Where       string
}

// UnitName turns an argument into a unit name: "bot" -> "bot.service".
func UnitName(arg string) (string, error) {
	name := arg
	if !strings.Contains(name, ".") {
		name += ".service"
	}
	if !strings.HasSuffix(name, ".service") {
		return "", fmt.Errorf("%s: only .service units can be migrated", arg)
	}
	if strings.Contains(name, "@") {
		return "", fmt.Errorf("%s: template units and their instances are not supported; migrate a copy as a plain unit", arg)
	}
	base := strings.TrimSuffix(name, ".service")
	if base == "" || strings.ContainsAny(base, "/ \t\n\\") {
		return "", fmt.Errorf("%q is not a unit name", arg)
	}
	return name, nil
}

// Find locates a unit by name, or by path when arg contains a slash, and
// loads it. vault-migrate's own drop-in is left out: plans are made from the
// unit as it was before the migration.
func (s Scope) Find(arg string) (*Unit, error) {
	if strings.Contains(arg, "/") {
		abs, err := filepath.Abs(arg)
		if err != nil {
			return nil, err
		}
		name, err := UnitName(filepath.Base(abs))
		if err != nil {
			return nil, err
		}
		target := s.Target(abs)
		if target == "" {
			return nil, fmt.Errorf("%s is outside --root %s", arg, s.Root)
		}
		return s.load(name, target, filepath.Dir(target))
	}
	name, err := UnitName(arg)
	if err != nil {
		return nil, err
	}
	for _, dir := range s.SearchPaths() {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(s.Host(p)); err == nil {
			return s.load(name, p, s.AdminDir())
		}
	}
	where := "system"
	if s.User {
		where = "user"
	}
	return nil, fmt.Errorf("%w: no %s unit %s in %s", ErrUnitNotFound, where, name, strings.Join(s.hostPaths(s.SearchPaths()), ", "))
}

func (s Scope) hostPaths(ps []string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = s.Host(p)
	}
	return out
}

// dropIns lists the *.conf drop-ins of name across the search paths (and
// dir, for a unit given by path), by file name; for equal names the one in
// the directory of higher precedence wins. The result is sorted by name.
func (s Scope) dropIns(name string, extra string) []string {
	dirs := s.SearchPaths()
	if extra != "" && !slices.Contains(dirs, extra) {
		dirs = append([]string{extra}, dirs...)
	}
	byName := map[string]string{}
	for _, d := range dirs {
		dd := filepath.Join(d, name+".d")
		ents, err := os.ReadDir(s.Host(dd))
		if err != nil {
			continue
		}
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ".conf") || e.IsDir() {
				continue
			}
			if _, ok := byName[e.Name()]; !ok {
				byName[e.Name()] = filepath.Join(dd, e.Name())
			}
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = byName[n]
	}
	return out
}

// load reads the unit file and its drop-ins and merges their settings.
func (s Scope) load(name, file, dropInParent string) (*Unit, error) {
	host := s.Host(file)
	if t, err := os.Readlink(host); err == nil && t == "/dev/null" {
		return nil, fmt.Errorf("%s is masked", name)
	}
	b, err := os.ReadFile(host)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %v", ErrUnitNotFound, err)
		}
		return nil, err
	}
	u := &Unit{Name: name, File: file, DropInDir: filepath.Join(dropInParent, name+".d"), Specifiers: s.specifiers(name)}
	as, err := ParseUnitFile(b, file)
	if err != nil {
		return nil, err
	}
	ours := u.DropInPath()
	for _, d := range s.dropIns(name, filepath.Dir(file)) {
		if d == ours {
			continue
		}
		db, err := os.ReadFile(s.Host(d))
		if err != nil {
			return nil, err
		}
		das, err := ParseUnitFile(db, d)
		if err != nil {
			return nil, err
		}
		u.DropIns = append(u.DropIns, d)
		if filepath.Base(d) > DropInName && overrides(das) {
			u.Overriders = append(u.Overriders, d)
		}
		as = append(as, das...)
	}
	for _, a := range as {
		if a.Section == "Service" {
			if err := u.apply(a, u.Specifiers); err != nil {
				return nil, err
			}
		}
	}
	return u, nil
}

// specifiers are the unit specifiers vault-migrate resolves: %h (the
// home of the manager's user: /root for the system manager), %n, %N, %p.
func (s Scope) specifiers(unit string) map[byte]string {
	home := "/root"
	if s.User {
		home = s.Home
	}
	base := strings.TrimSuffix(unit, ".service")
	return map[byte]string{'h': home, 'n': unit, 'N': base, 'p': base}
}

// overrides reports whether a drop-in sets something ours sets, so that
// one sorting after ours would undo the migration.
func overrides(as []Assignment) bool {
	for _, a := range as {
		switch a.Key {
		case "ExecStart", "EnvironmentFile", "Environment", "LoadCredential":
			if a.Section == "Service" {
				return true
			}
		}
	}
	return false
}

// apply merges one [Service] assignment into u, with systemd's rules: list
// settings append, and an empty value resets them.
func (u *Unit) apply(a Assignment, spec map[byte]string) error {
	switch a.Key {
	case "EnvironmentFile":
		if a.Value == "" {
			u.EnvFiles = nil
			return nil
		}
		p, opt := strings.CutPrefix(a.Value, "-")
		p, err := Unspecify(p, spec)
		if err != nil {
			return fmt.Errorf("%s: EnvironmentFile= %v", a.Where(), err)
		}
		if !filepath.IsAbs(p) {
			return fmt.Errorf("%s: EnvironmentFile= must be an absolute path", a.Where())
		}
		u.EnvFiles = append(u.EnvFiles, EnvFileRef{Path: filepath.Clean(p), Optional: opt, Where: a.Where()})
	case "Environment":
		if a.Value == "" {
			u.Env = nil
			return nil
		}
		words, err := SplitWords(a.Value)
		if err != nil {
			return fmt.Errorf("%s: Environment=: %v", a.Where(), err)
		}
		for _, w := range words {
			name, val, ok := strings.Cut(w.Value, "=")
			if !ok || name == "" {
				return fmt.Errorf("%s: Environment=: an assignment without '='", a.Where())
			}
			u.Env = append(u.Env, EnvWord{Name: name, Value: val, Raw: w.Raw, Where: a.Where()})
		}
	case "ExecStart":
		if a.Value == "" {
			u.ExecStart = nil
			return nil
		}
		u.ExecStart = append(u.ExecStart, ParseExec(a.Value, a.Where()))
	case "User":
		u.User = a.Value
	case "DynamicUser":
		u.DynamicUser = parseBool(a.Value)
	case "PassEnvironment":
		if a.Value == "" {
			u.PassEnv = nil
			return nil
		}
		u.PassEnv = append(u.PassEnv, strings.Fields(a.Value)...)
	case "WorkingDirectory":
		u.WorkingDirectory = strings.TrimPrefix(a.Value, "-")
	case "LoadCredential", "LoadCredentialEncrypted", "SetCredential", "SetCredentialEncrypted", "ImportCredential":
		if a.Value == "" {
			u.Credentials = nil
			return nil
		}
		id, _, _ := strings.Cut(a.Value, ":")
		u.Credentials = append(u.Credentials, id)
	case "ExecStartPre", "ExecStartPost", "ExecCondition", "ExecReload", "ExecStop", "ExecStopPost":
		if a.Value != "" {
			u.OtherExec = append(u.OtherExec, a.Key+"= ("+a.Where()+")")
		}
	}
	return nil
}

func parseBool(s string) bool {
	switch strings.ToLower(s) {
	case "1", "yes", "true", "on":
		return true
	}
	return false
}
