package inject

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	vault "github.com/jamditis/jawn-vault/clients/go/vault"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// attemptTimeout bounds one connection attempt and its requests.
const attemptTimeout = 30 * time.Second

// fetchAll reads every mapped secret in one round trip, retrying to reach
// the daemon until wait has passed. It returns the values by mapping name,
// or a *failure naming every variable that could not be read.
func fetchAll(ctx context.Context, socket, token string, ms []Mapping, wait time.Duration) (map[string][]byte, error) {
	paths := make([]string, len(ms))
	for i, m := range ms {
		paths[i] = m.Path
	}
	var results []vault.GetResult
	if len(ms) > 0 {
		var err error
		results, err = fetchRetry(ctx, vault.Options{Socket: socket, Token: token}, paths, wait)
		if err != nil {
			f := &failure{code: exitFor(err), hint: hintFor(err)}
			f.lines = append(f.lines, fmt.Sprintf("jawn-vault at %s: %s", socket, vault.Describe(err)))
			for _, m := range ms {
				f.lines = append(f.lines, fmt.Sprintf("%s (%s): not fetched", m.Name, m.Path))
			}
			return nil, f
		}
	}
	values := make(map[string][]byte, len(ms))
	f := &failure{}
	for i, r := range results {
		m := ms[i]
		switch {
		case r.Err != nil:
			f.lines = append(f.lines, fmt.Sprintf("%s (%s): %s", m.Name, m.Path, vault.Describe(r.Err)))
			if c := exitFor(r.Err); f.code == 0 || rank(c) > rank(f.code) {
				f.code, f.hint = c, hintFor(r.Err)
			}
		case !m.File && bytes.IndexByte(r.Value, 0) >= 0:
			f.lines = append(f.lines, fmt.Sprintf("%s (%s): the value holds a NUL byte, which an environment variable cannot", m.Name, m.Path))
			if f.code == 0 {
				f.code, f.hint = ExitDataErr, "map it with --file NAME=path instead: the program then reads it from NAME_FILE"
			}
		}
		values[m.Name] = r.Value
	}
	if len(f.lines) > 0 {
		for _, v := range values {
			clear(v)
		}
		return nil, f
	}
	return values, nil
}

// fetchRetry is fetchOnce, repeated with backoff while the daemon cannot
// be reached or is busy, until wait has passed.
func fetchRetry(ctx context.Context, opts vault.Options, paths []string, wait time.Duration) ([]vault.GetResult, error) {
	deadline := time.Now().Add(wait)
	delay := 50 * time.Millisecond
	for {
		res, err := fetchOnce(ctx, opts, paths)
		if err == nil || !(errors.Is(err, vault.ErrUnavailable) || wire.CodeOf(err) == wire.CodeBusy) {
			return res, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, err
		}
		t := time.NewTimer(min(delay, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// fetchOnce dials, sends every get at once, and closes the connection, so
// no descriptor of it is left when the program starts.
func fetchOnce(ctx context.Context, opts vault.Options, paths []string) ([]vault.GetResult, error) {
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	c, err := vault.Dial(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.GetMany(ctx, paths)
}

// exitFor maps an error from the daemon or the client to an exit status
// (vault.ExitStatus: the same table as vault-cli's).
func exitFor(err error) int { return vault.ExitStatus(err) }

// rank orders exit statuses when several variables fail differently: the
// one a person should look at first wins.
func rank(code int) int {
	switch code {
	case ExitDenied:
		return 5
	case ExitNotFound:
		return 4
	case ExitUsage:
		return 3
	case ExitTempFail:
		return 2
	case ExitDataErr:
		return 1
	}
	return 0
}

func hintFor(err error) string {
	if errors.Is(err, vault.ErrUnavailable) {
		return "is jawn-vault running, and is --socket (or VAULT_SOCKET) its socket? At boot, order the unit After=jawn-vault.service or pass --wait 30s"
	}
	switch wire.CodeOf(err) {
	case wire.CodeNotFound:
		return "store the secret first (vault-cli set PATH), or fix the path in the mapping"
	case wire.CodeUnauthenticated:
		return "the token is unknown, expired, revoked or bound to another uid: issue a new one (vault-cli token create) and hand it over with --token-file, VAULT_TOKEN or LoadCredential=jawn-vault-token:FILE"
	case wire.CodePermissionDenied:
		return "the token's grants do not cover this path; the owner can issue one that does: vault-cli token create NAME --grant PATH -p read"
	case wire.CodeInvalidPath:
		return "paths look like claude/tokens/telegram-bot: relative, no .. or leading -, no .gpg suffix"
	case wire.CodeBackendUnavailable:
		return "the daemon could not decrypt: is the gpg key present and the agent unlocked? See the daemon's log"
	case wire.CodeAuditUnavailable:
		return "the daemon cannot write its audit log (disk full?); no secret is served until it can"
	case wire.CodeBusy:
		return "the daemon is at its connection limit; retry, or pass --wait"
	}
	return ""
}

// errNotExecutable marks a program that exists but cannot be executed.
var errNotExecutable = errors.New("not executable")

// lookPath finds the program as a shell would, in the program's PATH (not
// vault-exec's caller's). Names with a slash are used as they are. Empty and
// relative PATH entries are skipped: a program found through them would
// depend on the working directory.
func lookPath(file, pathVar string) (string, error) {
	if strings.Contains(file, "/") {
		return file, executable(file)
	}
	if pathVar == "" {
		pathVar = "/usr/local/bin:/usr/bin:/bin"
	}
	var firstErr error
	for _, dir := range filepath.SplitList(pathVar) {
		if !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, file)
		err := executable(p)
		if err == nil {
			return p, nil
		}
		if firstErr == nil && errors.Is(err, errNotExecutable) {
			firstErr = err
		}
	}
	if firstErr != nil {
		return "", firstErr
	}
	return "", fmt.Errorf("program %q not found in PATH (%s)", file, pathVar)
}

func executable(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("program %s: %w", p, err)
	}
	if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("program %s: %w", p, errNotExecutable)
	}
	return nil
}
