package migrate

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/jamditis/jawn-vault/vaultd/vpath"
)

// SecretWords are the name parts that make a variable a secret. A part of
// the name (split at '_') matches when it equals a word, or starts or ends
// with one (APIKEY, AUTHTOKEN, DBPASS). This errs towards "secret": a
// setting imported by mistake still reaches the program, while a secret
// left out stays in plaintext. --plain corrects the first.
var SecretWords = []string{
	"TOKEN", "KEY", "SECRET", "PASSWORD", "PASSWD", "PASS", "AUTH",
	"CREDENTIAL", "PRIVATE", "COOKIE", "WEBHOOK",
}

// secretPrefixes are value prefixes of well-known credentials.
var secretPrefixes = []string{"sk-", "xoxb-", "xoxp-", "xapp-", "ghp_", "gho_", "github_pat_", "glpat-", "AKIA"}

// dsnPassword matches key=value connection strings with a password.
var dsnPassword = regexp.MustCompile(`(?i)(^|[\s;])(password|pwd|passwd)\s*=\s*\S`)

// Classifier decides which variables are secrets.
type Classifier struct {
	Secret map[string]bool // --secret NAME
	Plain  map[string]bool // --plain NAME
}

// Classify says whether the variable is a secret, and why, in words for the
// plan. It never quotes the value.
func (c Classifier) Classify(name, value string) (secret bool, why string) {
	switch {
	case c.Secret[name]:
		return true, "--secret"
	case c.Plain[name]:
		return false, "--plain"
	case value == "":
		return false, "empty"
	}
	if w := secretWord(name); w != "" {
		return true, "name has " + w
	}
	if u, err := url.Parse(value); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			return true, "URL with a password"
		}
	}
	if strings.Contains(value, "-----BEGIN ") && strings.Contains(value, "PRIVATE KEY") {
		return true, "holds a private key"
	}
	if dsnPassword.MatchString(value) {
		return true, "connection string with a password"
	}
	for _, p := range secretPrefixes {
		if strings.HasPrefix(value, p) && len(value) >= len(p)+16 {
			return true, "looks like a " + strings.TrimRight(p, "-_") + " credential"
		}
	}
	return false, "config"
}

func secretWord(name string) string {
	for _, part := range strings.Split(strings.ToUpper(name), "_") {
		for _, w := range SecretWords {
			if strings.HasPrefix(part, w) || strings.HasSuffix(part, w) {
				return w
			}
		}
	}
	return ""
}

// Kebab turns a variable name into a path segment: TELEGRAM_BOT_TOKEN ->
// telegram-bot-token.
func Kebab(name string) string {
	s := strings.ToLower(strings.Trim(name, "_"))
	s = strings.ReplaceAll(s, "_", "-")
	for strings.Contains(s, "--") {
		s = strings.ReplaceAll(s, "--", "-")
	}
	return s
}

// DefaultTemplate and DefaultSharedTemplate name the paths of imported
// secrets. {unit} is the unit's name without ".service", {name} the
// variable's name in kebab case, {NAME} the variable's name as it is.
const (
	DefaultTemplate       = "claude/{unit}/{name}"
	DefaultSharedTemplate = "claude/shared/{name}"
)

// ExpandTemplate fills in a path template and validates the result.
func ExpandTemplate(tmpl, unit, name string) (string, error) {
	p := strings.NewReplacer("{unit}", strings.TrimSuffix(unit, ".service"), "{name}", Kebab(name), "{NAME}", name).Replace(tmpl)
	if _, err := vpath.Parse(p); err != nil {
		return "", fmt.Errorf("template %q gives %q for %s: %v", tmpl, p, name, err)
	}
	if strings.ContainsAny(p, "*") {
		return "", fmt.Errorf("template %q gives %q for %s: '*' would read as a wildcard in the token's grant", tmpl, p, name)
	}
	return p, nil
}
