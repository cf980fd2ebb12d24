package inject

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// CredentialName is the name of the systemd credential holding the token:
// a unit hands it over with LoadCredential=jawn-vault-token:/path/to/file.
const CredentialName = "jawn-vault-token"

// TokenSource says where ResolveToken found the token.
type TokenSource string

// Token sources, in the order ResolveToken tries them.
const (
	FromFlag        TokenSource = "--token-file"
	FromEnv         TokenSource = "$VAULT_TOKEN"
	FromCredentials TokenSource = "$CREDENTIALS_DIRECTORY/" + CredentialName
	FromNone        TokenSource = "none"
)

// ResolveToken finds vault-exec's token, trying in order: the --token-file
// flag (tokenFile), $VAULT_TOKEN, and $CREDENTIALS_DIRECTORY/jawn-vault-token
// (systemd's LoadCredential=). It returns "" and FromNone when there is no
// token at all: the daemon then treats the caller as the local owner if it
// runs as the daemon's uid or root, and refuses it otherwise.
//
// A --token-file that cannot be read, or any token file that is empty, is an
// error; a missing credential file is not (the unit may simply not use one).
func ResolveToken(tokenFile string, environ []string) (string, TokenSource, error) {
	if tokenFile != "" {
		t, err := readToken(tokenFile)
		return t, FromFlag, err
	}
	if t, ok := getEnv(environ, "VAULT_TOKEN"); ok && t != "" {
		return strings.TrimSpace(t), FromEnv, nil
	}
	if dir, ok := getEnv(environ, "CREDENTIALS_DIRECTORY"); ok && dir != "" {
		t, err := readToken(filepath.Join(dir, CredentialName))
		if errors.Is(err, fs.ErrNotExist) {
			return "", FromNone, nil
		}
		return t, FromCredentials, err
	}
	return "", FromNone, nil
}

func readToken(name string) (string, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return "", fmt.Errorf("reading the token: %w", err)
	}
	t := strings.TrimSpace(string(b))
	clear(b)
	if t == "" {
		return "", fmt.Errorf("reading the token: %s is empty", name)
	}
	return t, nil
}
