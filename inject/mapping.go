package inject

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jamditis/jawn-vault/vaultd/vpath"
)

// Mapping says which secret becomes which variable.
type Mapping struct {
	// Name is the variable's name. With File, the program gets Name+"_FILE".
	Name string
	// Path is the secret's path in the vault.
	Path string
	// File writes the secret to a private file instead of the environment.
	File bool
	// Source says where the mapping came from, for error messages:
	// "--map", "--file" or "FILE:LINE".
	Source string
}

// EnvName is the name of the variable the program receives.
func (m Mapping) EnvName() string {
	if m.File {
		return m.Name + "_FILE"
	}
	return m.Name
}

// ErrBadMapping is wrapped by every error about a mapping's syntax.
var ErrBadMapping = errors.New("bad mapping")

// ValidName reports whether s is a portable environment variable name:
// [A-Za-z_][A-Za-z0-9_]*.
func ValidName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// ParseMapping parses "NAME=path". source names where it came from.
func ParseMapping(s, source string, file bool) (Mapping, error) {
	name, path, ok := strings.Cut(s, "=")
	if !ok {
		return Mapping{}, fmt.Errorf("%w: %s: want NAME=path, got no '='", ErrBadMapping, source)
	}
	name, path = strings.TrimSpace(name), strings.TrimSpace(path)
	if !ValidName(name) {
		return Mapping{}, fmt.Errorf("%w: %s: %q is not a valid variable name (letters, digits and _, not starting with a digit)", ErrBadMapping, source, name)
	}
	if _, err := vpath.Parse(path); err != nil {
		// vpath's error names the broken rule, never the input.
		return Mapping{}, fmt.Errorf("%w: %s: %s: %v", ErrBadMapping, source, name, err)
	}
	return Mapping{Name: name, Path: path, File: file, Source: source}, nil
}

// ParseMapFile reads lines of NAME=path. Blank lines and lines whose first
// non-blank character is '#' are skipped. name is used in error messages.
func ParseMapFile(r io.Reader, name string) ([]Mapping, error) {
	var out []Mapping
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m, err := ParseMapping(line, fmt.Sprintf("%s:%d", name, n), false)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// CheckMappings refuses duplicate names, and names that would clash with a
// variable kept from the environment. keep holds the --keep-env names.
func CheckMappings(ms []Mapping, keep []string) error {
	byName := map[string]Mapping{}
	byEnv := map[string]Mapping{}
	for _, m := range ms {
		if prev, ok := byName[m.Name]; ok {
			return fmt.Errorf("%w: %s is mapped twice (%s and %s)", ErrBadMapping, m.Name, prev.Source, m.Source)
		}
		byName[m.Name] = m
		if prev, ok := byEnv[m.EnvName()]; ok {
			return fmt.Errorf("%w: %s (%s) clashes with %s (%s)", ErrBadMapping, m.EnvName(), m.Source, prev.EnvName(), prev.Source)
		}
		byEnv[m.EnvName()] = m
	}
	for _, k := range keep {
		if !ValidName(k) {
			return fmt.Errorf("%w: --keep-env %q is not a valid variable name", ErrBadMapping, k)
		}
		if k == "VAULT_TOKEN" {
			return fmt.Errorf("%w: --keep-env VAULT_TOKEN: vault-exec's own token never reaches the program", ErrBadMapping)
		}
		if m, ok := byEnv[k]; ok {
			return fmt.Errorf("%w: %s is both kept with --keep-env and mapped (%s)", ErrBadMapping, k, m.Source)
		}
	}
	return nil
}
