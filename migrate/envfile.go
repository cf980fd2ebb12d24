package migrate

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"

	"github.com/joho/godotenv"

	"github.com/jamditis/jawn-vault/inject"
)

// EnvFile is an EnvironmentFile= as read from disk.
type EnvFile struct {
	Ref    EnvFileRef
	Exists bool
	SHA256 string            // of the content, to notice later changes
	Vars   map[string]string // parsed with godotenv
}

// Var is one variable of a unit's environment after merging.
type Var struct {
	Name  string
	Value string
	From  string // "EnvironmentFile=/path" or "Environment= (file:line)"
	Raw   string // an Environment= word as written; "" for file values
}

// ReadEnvFile reads and parses one EnvironmentFile=. A missing optional
// file is not an error; a missing required one is, since systemd would not
// start the unit either.
func (s Scope) ReadEnvFile(ref EnvFileRef) (*EnvFile, error) {
	b, err := os.ReadFile(s.Host(ref.Path))
	if errors.Is(err, fs.ErrNotExist) && ref.Optional {
		return &EnvFile{Ref: ref}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("EnvironmentFile=%s (%s): %w", ref.Path, ref.Where, err)
	}
	defer clear(b)
	sum := sha256.Sum256(b)
	vars, err := godotenv.UnmarshalBytes(b)
	if err != nil {
		return nil, fmt.Errorf("EnvironmentFile=%s: %s", ref.Path, dotenvError(err))
	}
	for name := range vars {
		if !inject.ValidName(name) {
			return nil, fmt.Errorf("EnvironmentFile=%s: %q is not a portable variable name (letters, digits, _)", ref.Path, name)
		}
	}
	return &EnvFile{Ref: ref, Exists: true, SHA256: hex.EncodeToString(sum[:]), Vars: vars}, nil
}

// dotenvError describes a godotenv error without its text, which quotes
// the file (and so possibly a secret).
func dotenvError(err error) string {
	switch msg := err.Error(); {
	case strings.HasPrefix(msg, "unterminated quoted value"):
		return "a quoted value is not terminated"
	case strings.HasPrefix(msg, "unexpected character"):
		return "a variable name holds a character other than letters, digits, '_' or '.'"
	}
	return "not valid .env syntax"
}

// Collect merges a unit's environment as systemd does: Environment= lines
// in order, then the EnvironmentFile= files in order, each later value
// overriding an earlier one. It returns the variables sorted by name and
// the files read.
func (s Scope) Collect(u *Unit) ([]Var, []*EnvFile, error) {
	vars := map[string]Var{}
	for _, w := range u.Env {
		if !inject.ValidName(w.Name) {
			return nil, nil, fmt.Errorf("%s: Environment= %q is not a portable variable name", w.Where, w.Name)
		}
		vars[w.Name] = Var{Name: w.Name, Value: w.Value, From: "Environment= (" + w.Where + ")", Raw: w.Raw}
	}
	var files []*EnvFile
	for _, ref := range u.EnvFiles {
		f, err := s.ReadEnvFile(ref)
		if err != nil {
			return nil, nil, err
		}
		files = append(files, f)
		for name, val := range f.Vars {
			vars[name] = Var{Name: name, Value: val, From: "EnvironmentFile=" + ref.Path}
		}
	}
	out := make([]Var, 0, len(vars))
	for _, v := range vars {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, files, nil
}
