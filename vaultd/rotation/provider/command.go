package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/rotation"
)

// Command rotates by running a program, for providers this package does
// not know. The program gets, on standard input, a JSON object with the
// inputs the rotation has paths for ({"refresh_token", "client_id",
// "client_secret"}, each only if configured), and prints on standard
// output either the new token alone or a JSON object
// {"access_token", "expires_in", "refresh_token"} (the last two optional).
//
// Exit status 0 is success; 77 (EX_NOPERM) means a person must
// re-authorise (permanent); anything else is a transient failure. Its
// standard error is discarded, never logged: it could hold a token. It
// runs with a minimal environment (PATH, LANG and JAWN_VAULT_ROTATION),
// not the rotator's, and is killed at the attempt's timeout.
type Command struct {
	base
	argv []string
}

// exitReauth is the command's "re-authorise" exit status.
const exitReauth = 77

// maxOutput bounds what the command may print.
const maxOutput = 64 << 10

func newCommand(c Config) (*Command, error) {
	if len(c.Command) == 0 || c.Command[0] == "" {
		return nil, fmt.Errorf("command rotation %s needs command = [\"/path/to/program\", ...]", c.Name)
	}
	if !filepath.IsAbs(c.Command[0]) {
		return nil, fmt.Errorf("command rotation %s: the program must be an absolute path, not %q", c.Name, c.Command[0])
	}
	return &Command{base: base{c.Name, c.Paths}, argv: c.Command}, nil
}

type commandInput struct {
	RefreshToken string `json:"refresh_token,omitempty"`
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
}

type commandOutput struct {
	AccessToken  string `json:"access_token"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

// Rotate implements rotation.Provider.
func (c *Command) Rotate(ctx context.Context, in rotation.Input) (rotation.Result, error) {
	stdin, _ := json.Marshal(commandInput{string(in.RefreshToken), string(in.ClientID), string(in.ClientSecret)})
	defer clear(stdin)
	cmd := exec.CommandContext(ctx, c.argv[0], c.argv[1:]...)
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "JAWN_VAULT_ROTATION=" + c.name}
	cmd.Stdin = bytes.NewReader(stdin)
	var out limitedBuffer
	cmd.Stdout = &out
	cmd.Stderr = io.Discard
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	defer clear(out.b)
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return rotation.Result{}, &rotation.Failure{Code: "timeout", Detail: "the command did not finish in time"}
	case errors.As(err, &ee):
		if ee.ExitCode() == exitReauth {
			return rotation.Result{}, &rotation.Failure{Code: "command_reauth", Permanent: true, Detail: "the command exited with status 77"}
		}
		return rotation.Result{}, &rotation.Failure{Code: "command_failed", Detail: fmt.Sprintf("the command exited with status %d", ee.ExitCode())}
	case err != nil:
		return rotation.Result{}, &rotation.Failure{Code: "command_failed", Permanent: true, Detail: "the command could not be run"}
	}
	in.Answered()
	return parseCommandOutput(out.b, out.over)
}

// parseCommandOutput reads a bare token or the JSON form.
func parseCommandOutput(b []byte, over bool) (rotation.Result, error) {
	bad := func(why string) (rotation.Result, error) {
		return rotation.Result{}, &rotation.Failure{Code: "bad_response", Permanent: true, Detail: "the command's output " + why}
	}
	if over {
		return bad("is too long")
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return bad("is empty")
	}
	if b[0] != '{' {
		if bytes.ContainsAny(b, " \t\r\n") {
			return bad("is neither one token nor a JSON object")
		}
		return rotation.Result{AccessToken: bytes.Clone(b)}, nil
	}
	var o commandOutput
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil || dec.More() {
		return bad(`is not a JSON object {"access_token", "expires_in", "refresh_token"}`)
	}
	if o.AccessToken == "" {
		return bad("has no access_token")
	}
	t := tokenAnswer{AccessToken: o.AccessToken, RefreshToken: o.RefreshToken, ExpiresIn: o.ExpiresIn}
	return t.result(), nil
}

// limitedBuffer keeps the first maxOutput bytes and notes any more.
type limitedBuffer struct {
	b    []byte
	over bool
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if len(l.b)+len(p) > maxOutput {
		l.over = true
		return len(p), nil
	}
	l.b = append(l.b, p...)
	return len(p), nil
}
