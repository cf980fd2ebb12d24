package rotation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Provider rotates one token. Implementations are in
// vaultd/rotation/provider.
type Provider interface {
	// Name is the rotation's name, unique in the config ("slack-bot").
	Name() string
	// Paths are the vault entries the rotation reads and writes.
	Paths() Paths
	// Rotate asks the provider for a new access token. It must call
	// in.Answered the moment the provider's answer arrives, before
	// reading or judging it: from then on the old refresh token may be
	// spent. It returns a *Failure (or an error AsFailure classifies).
	Rotate(ctx context.Context, in Input) (Result, error)
}

// Paths are the entries a rotation owns. Access is written; the others are
// read before the call, and Refresh is rewritten when the provider issues
// a new refresh token. Empty means "not used".
type Paths struct {
	Access       string
	Refresh      string
	ClientID     string
	ClientSecret string
}

// Inputs lists the paths read before a call, in a fixed order.
func (p Paths) Inputs() []string {
	var out []string
	for _, s := range []string{p.Refresh, p.ClientID, p.ClientSecret} {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Input is what a provider gets for one attempt. The byte slices are
// wiped when the attempt ends; a provider must not keep them.
type Input struct {
	RefreshToken []byte
	ClientID     []byte
	ClientSecret []byte
	// Answered records that the provider answered. Safe to call more
	// than once; only the first call counts.
	Answered func()
}

// Result is a provider's successful answer.
type Result struct {
	AccessToken []byte
	// RefreshToken is a new refresh token, or nil when the provider kept
	// the old one (Google usually does).
	RefreshToken []byte
	// ExpiresIn is the new access token's lifetime from the answer; 0 if
	// the provider did not say.
	ExpiresIn time.Duration
}

// Wipe clears the tokens.
func (r *Result) Wipe() {
	clear(r.AccessToken)
	clear(r.RefreshToken)
}

// Failure is a failed attempt, described without secrets.
type Failure struct {
	// Code is short and stable: the provider's own error code when it
	// gave one ("invalid_grant", "ratelimited"), else one of ours
	// ("http_503", "timeout", "network", "bad_response", ...). It goes
	// to the daemon's state and the audit log.
	Code string
	// Permanent failures need a person (re-authorisation, a fixed
	// config); the scheduler does not retry them by itself.
	Permanent bool
	// RetryAfter is the wait the provider asked for (429 Retry-After).
	RetryAfter time.Duration
	// Detail is a secret-free explanation for logs, or "".
	Detail string
}

// Error implements error.
func (f *Failure) Error() string {
	s := f.Code
	if f.Permanent {
		s += " (re-authorisation or a config fix needed)"
	}
	if f.Detail != "" {
		s += ": " + f.Detail
	}
	return s
}

// Errors of the engine, for errors.Is.
var (
	// ErrBusy: another attempt at this rotation is running (in this or
	// another process).
	ErrBusy = errors.New("another rotation attempt is running")
	// ErrInDoubt: an earlier attempt died after its provider answered.
	// A person must check the token, then run `vault-cli rotation clear`.
	ErrInDoubt = errors.New("rotation is in doubt")
	// ErrUnknown: no rotation by that name in the config.
	ErrUnknown = errors.New("no such rotation in the config")
	// ErrBadTrigger: a WithTrigger value the daemon would refuse.
	ErrBadTrigger = errors.New("a trigger must be at most 64 printable ASCII characters without spaces")
)

// AsFailure classifies any error of an attempt. A *Failure in the chain is
// returned as is; deadlines become "timeout"; network errors "network";
// anything else "error". The result never carries err's text, which might
// quote a URL or a body: only the code and, for network errors, the
// operation.
func AsFailure(err error) *Failure {
	var f *Failure
	if errors.As(err, &f) {
		return f
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return &Failure{Code: "timeout"}
	case errors.Is(err, context.Canceled):
		return &Failure{Code: "canceled"}
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return &Failure{Code: "network", Detail: oe.Op + " failed"}
	}
	return &Failure{Code: "error"}
}

// CleanCode makes a provider's error string safe to record: lower-case
// letters, digits, '_', '.', '-', at most 64 bytes. Anything else (which
// could be free text, or a secret) becomes "provider_error".
func CleanCode(s string) string {
	if s == "" || len(s) > 64 {
		return "provider_error"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return "provider_error"
		}
	}
	return s
}

// Redact replaces every occurrence of each secret in s with "[redacted]".
// It is the last line of defence for text that may echo what was sent
// (a URL with a bot token in its path, a library's error); the first is
// not to put such text in errors at all.
func Redact(s string, secrets ...[]byte) string {
	b := []byte(s)
	for _, sec := range secrets {
		if len(sec) < 4 {
			continue // too short to search for without mangling text
		}
		b = bytes.ReplaceAll(b, sec, []byte("[redacted]"))
	}
	return string(b)
}

// failuref builds a Failure with a formatted detail.
func failuref(code string, permanent bool, format string, args ...any) *Failure {
	return &Failure{Code: code, Permanent: permanent, Detail: fmt.Sprintf(format, args...)}
}
