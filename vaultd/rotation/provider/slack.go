package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/rotation"
)

// Slack rotates a Slack app's token with token rotation enabled: POST
// oauth.v2.access with grant_type=refresh_token, client_id, client_secret
// and refresh_token. Slack answers HTTP 200 with "ok": true, a new
// access_token, a new refresh_token and expires_in (12 hours), or with
// "ok": false and an "error" code. The old refresh token is spent once
// Slack answers, so an answer that is lost after it arrived is permanent.
type Slack struct {
	base
	tokenURL string
	hc       *http.Client
}

func newSlack(c Config) (*Slack, error) {
	if c.Paths.Refresh == "" || c.Paths.ClientID == "" || c.Paths.ClientSecret == "" {
		return nil, fmt.Errorf("slack rotation %s needs refresh_token_path, client_id_path and client_secret_path", c.Name)
	}
	u := c.TokenURL
	if u == "" {
		u = SlackTokenURL
	}
	return &Slack{base: base{c.Name, c.Paths}, tokenURL: u, hc: c.HTTPClient}, nil
}

// slackPermanent are Slack's codes that a retry cannot fix: the refresh
// token or the app's credentials are no longer good, or the request is
// malformed.
var slackPermanent = map[string]bool{
	"invalid_refresh_token": true, "token_revoked": true, "token_expired": true,
	"invalid_client_id": true, "bad_client_secret": true, "invalid_client": true,
	"invalid_grant": true, "invalid_grant_type": true, "invalid_arguments": true,
	"app_uninstalled": true, "account_inactive": true, "not_allowed_token_type": true,
	"token_rotation_not_enabled": true, "oauth_authorization_url_mismatch": true,
}

// slackTransient are Slack's codes worth retrying.
var slackTransient = map[string]bool{
	"ratelimited": true, "internal_error": true, "fatal_error": true,
	"service_unavailable": true, "request_timeout": true,
}

func classifySlack(code string) (known, permanent bool) {
	if slackPermanent[code] {
		return true, true
	}
	return slackTransient[code], false
}

// Rotate implements rotation.Provider.
func (s *Slack) Rotate(ctx context.Context, in rotation.Input) (rotation.Result, error) {
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"client_id":     {string(in.ClientID)},
		"client_secret": {string(in.ClientSecret)},
		"refresh_token": {string(in.RefreshToken)},
	}
	a, err := postForm(ctx, s.hc, s.tokenURL, form, in.Answered, true)
	if err != nil {
		return rotation.Result{}, err
	}
	defer clear(a.body)
	var t tokenAnswer
	jsonErr := json.Unmarshal(a.body, &t)
	switch {
	case a.status != http.StatusOK:
		return rotation.Result{}, statusFailure(a, errorCode(a.body), classifySlack)
	case jsonErr != nil || t.OK == nil:
		// Not Slack's JSON (a proxy's page?): Slack did not answer, so
		// nothing was spent.
		return rotation.Result{}, &rotation.Failure{Code: "bad_response", Detail: "the answer is not Slack's JSON"}
	case !*t.OK:
		f := &rotation.Failure{Code: rotation.CleanCode(t.Error)}
		_, f.Permanent = classifySlack(t.Error)
		if t.Error == "ratelimited" {
			f.RetryAfter = retryAfter(a.header, time.Now())
		}
		return rotation.Result{}, f
	case t.AccessToken == "":
		return rotation.Result{}, &rotation.Failure{Code: "bad_response", Permanent: true, Detail: `Slack answered "ok": true without an access token; the refresh token may be spent`}
	}
	return t.result(), nil
}
