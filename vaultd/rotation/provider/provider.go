// Package provider implements rotation.Provider for Slack, Google, any
// RFC 6749 authorisation server, and a local command.
//
// Every provider sends its request, calls Input.Answered as soon as the
// server's answer (status line and headers) arrives, and turns whatever
// came back into a rotation.Result or a *rotation.Failure. Failures carry
// the server's short error code and never its body, the request, or a
// URL: errors from net/http (*url.Error) are reduced to "timeout" or
// "network" before they leave this package.
//
// Classification: codes that mean a person must re-authorise or fix the
// configuration (invalid_grant, invalid_refresh_token, token_revoked,
// invalid_client_id, other 4xx answers) are permanent; rate limits (429
// with Retry-After, Slack's "ratelimited"), 5xx answers, timeouts and
// network errors are transient.
//
// What it does not do: retry (the scheduler does, with backoff), read or
// write the vault (the engine does, in the required order), or log.
package provider

import (
	"fmt"
	"net/http"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/rotation"
)

// Default token endpoints.
const (
	SlackTokenURL  = "https://slack.com/api/oauth.v2.access"
	GoogleTokenURL = "https://oauth2.googleapis.com/token"
)

// Kinds of provider, as written in the config's provider key.
const (
	KindSlack   = "slack"
	KindGoogle  = "google"
	KindOAuth2  = "oauth2"
	KindCommand = "command"
)

// Config describes one provider.
type Config struct {
	Name     string
	Paths    rotation.Paths
	TokenURL string   // slack, google (defaults above), oauth2 (required)
	Scopes   []string // oauth2: sent with the refresh request
	Command  []string // command: argv
	// HTTPClient makes the requests; nil means NewHTTPClient().
	HTTPClient *http.Client
}

// NewHTTPClient returns the client providers use by default: the
// environment's proxy settings, no overall timeout (the engine bounds
// each attempt with a context), and no redirects — a 307 would resend the
// form, client secret and refresh token included, to another URL.
func NewHTTPClient() *http.Client {
	return &http.Client{
		Transport:     http.DefaultTransport.(*http.Transport).Clone(),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// New builds the provider of the given kind.
func New(kind string, c Config) (rotation.Provider, error) {
	if c.Name == "" || c.Paths.Access == "" {
		return nil, fmt.Errorf("provider: a name and an access token path are required")
	}
	if c.HTTPClient == nil {
		c.HTTPClient = NewHTTPClient()
	}
	switch kind {
	case KindSlack:
		return newSlack(c)
	case KindGoogle:
		return newGoogle(c)
	case KindOAuth2:
		return newOAuth2(c)
	case KindCommand:
		return newCommand(c)
	}
	return nil, fmt.Errorf("provider: unknown kind %q (slack, google, oauth2 or command)", kind)
}

// base holds what every provider has.
type base struct {
	name  string
	paths rotation.Paths
}

func (b base) Name() string          { return b.name }
func (b base) Paths() rotation.Paths { return b.paths }

// maxRetryAfter caps a server's Retry-After.
const maxRetryAfter = time.Hour
