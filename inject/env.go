package inject

import (
	"slices"
	"strings"
)

// Allowed lists the variables a program always gets from vault-exec's own
// environment when they are set: the basics of a login environment and what
// systemd passes to a service. Everything else is dropped unless named with
// --keep-env. Variables starting with one of AllowedPrefixes pass too.
var Allowed = []string{
	"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "TZ", "TERM",
	// systemd: notification, socket activation, identity, directories.
	"NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES",
	"INVOCATION_ID", "JOURNAL_STREAM", "CREDENTIALS_DIRECTORY",
	"RUNTIME_DIRECTORY", "STATE_DIRECTORY", "CACHE_DIRECTORY",
	"LOGS_DIRECTORY", "CONFIGURATION_DIRECTORY",
}

// AllowedPrefixes are the name prefixes that pass the allowlist: locale
// categories and systemd's watchdog (WATCHDOG_USEC, WATCHDOG_PID).
var AllowedPrefixes = []string{"LC_", "WATCHDOG_"}

// allowed reports whether name passes the allowlist or keep.
func allowed(name string, keep []string) bool {
	if slices.Contains(Allowed, name) || slices.Contains(keep, name) {
		return true
	}
	for _, p := range AllowedPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// Scrub returns the entries of environ ("NAME=value") that the program may
// see: those on the allowlist and those named in keep. When a name occurs
// more than once the last one wins, as with os/exec. The result keeps the
// order of environ. VAULT_TOKEN never passes, whatever keep says.
func Scrub(environ []string, keep []string) []string {
	last := map[string]int{}
	for i, kv := range environ {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			continue
		}
		last[name] = i
	}
	var out []string
	for i, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if j, ok := last[name]; !ok || j != i || name == "VAULT_TOKEN" {
			continue
		}
		if allowed(name, keep) {
			out = append(out, kv)
		}
	}
	return out
}

// setEnv returns env with name set to value, replacing an existing entry.
func setEnv(env []string, name, value string) []string {
	prefix := name + "="
	for i, kv := range env {
		if strings.HasPrefix(kv, prefix) {
			env[i] = prefix + value
			return env
		}
	}
	return append(env, prefix+value)
}

// getEnv looks name up in environ, the last entry winning.
func getEnv(environ []string, name string) (string, bool) {
	prefix := name + "="
	for i := len(environ) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(environ[i], prefix); ok {
			return v, true
		}
	}
	return "", false
}
