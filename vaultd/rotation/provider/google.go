package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/jamditis/jawn-vault/vaultd/rotation"
)

// Google refreshes a Google OAuth access token: POST the token endpoint
// with grant_type=refresh_token, client_id, client_secret and
// refresh_token. Success carries access_token and expires_in (an hour);
// normally no new refresh token (the old one is kept), but one that comes
// is stored. invalid_grant means the grant was revoked or expired and a
// person must re-authorise.
type Google struct {
	base
	tokenURL string
	hc       *http.Client
}

func newGoogle(c Config) (*Google, error) {
	if c.Paths.Refresh == "" || c.Paths.ClientID == "" || c.Paths.ClientSecret == "" {
		return nil, fmt.Errorf("google rotation %s needs refresh_token_path, client_id_path and client_secret_path", c.Name)
	}
	u := c.TokenURL
	if u == "" {
		u = GoogleTokenURL
	}
	return &Google{base: base{c.Name, c.Paths}, tokenURL: u, hc: c.HTTPClient}, nil
}

// rfcPermanent are RFC 6749 §5.2 codes (and Google's additions) that a
// retry cannot fix.
var rfcPermanent = map[string]bool{
	"invalid_grant": true, "invalid_client": true, "unauthorized_client": true,
	"invalid_request": true, "unsupported_grant_type": true, "invalid_scope": true,
	"access_denied": true, "admin_policy_enforced": true, "deleted_client": true,
	"org_internal": true,
}

// rfcTransient are codes worth retrying.
var rfcTransient = map[string]bool{
	"temporarily_unavailable": true, "server_error": true, "rate_limit_exceeded": true,
	"slow_down": true,
}

func classifyRFC(code string) (known, permanent bool) {
	if rfcPermanent[code] {
		return true, true
	}
	return rfcTransient[code], false
}

// Rotate implements rotation.Provider.
func (g *Google) Rotate(ctx context.Context, in rotation.Input) (rotation.Result, error) {
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"client_id":     {string(in.ClientID)},
		"client_secret": {string(in.ClientSecret)},
		"refresh_token": {string(in.RefreshToken)},
	}
	a, err := postForm(ctx, g.hc, g.tokenURL, form, in.Answered, false)
	if err != nil {
		return rotation.Result{}, err
	}
	defer clear(a.body)
	if a.status != http.StatusOK {
		return rotation.Result{}, statusFailure(a, errorCode(a.body), classifyRFC)
	}
	var t tokenAnswer
	if err := json.Unmarshal(a.body, &t); err != nil || t.AccessToken == "" {
		return rotation.Result{}, &rotation.Failure{Code: "bad_response", Detail: "the answer has no access token"}
	}
	return t.result(), nil
}
