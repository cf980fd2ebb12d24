package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/jamditis/jawn-vault/vaultd/rotation"
)

// OAuth2 refreshes a token at any RFC 6749 authorisation server (§6) with
// golang.org/x/oauth2. The client authenticates with HTTP Basic (§2.3.1:
// servers must support it), so one refresh is one request — x/oauth2's
// auto-detection would retry with the credentials in the body, a second
// request with a possibly single-use refresh token. Scopes, when
// configured, are sent with the refresh request, which x/oauth2 does not
// do by itself.
type OAuth2 struct {
	base
	tokenURL string
	scopes   []string
	hc       *http.Client
}

func newOAuth2(c Config) (*OAuth2, error) {
	if c.TokenURL == "" {
		return nil, fmt.Errorf("oauth2 rotation %s needs token_url", c.Name)
	}
	if c.Paths.Refresh == "" || c.Paths.ClientID == "" {
		return nil, fmt.Errorf("oauth2 rotation %s needs refresh_token_path and client_id_path", c.Name)
	}
	return &OAuth2{base: base{c.Name, c.Paths}, tokenURL: c.TokenURL, scopes: c.Scopes, hc: c.HTTPClient}, nil
}

// Rotate implements rotation.Provider.
func (o *OAuth2) Rotate(ctx context.Context, in rotation.Input) (rotation.Result, error) {
	conf := &oauth2.Config{
		ClientID:     string(in.ClientID),
		ClientSecret: string(in.ClientSecret),
		Endpoint:     oauth2.Endpoint{TokenURL: o.tokenURL, AuthStyle: oauth2.AuthStyleInHeader},
	}
	tr := &answerTransport{base: o.hc.Transport, answered: in.Answered, scopes: o.scopes}
	if tr.base == nil {
		tr.base = http.DefaultTransport
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Transport: tr, CheckRedirect: o.hc.CheckRedirect})
	tok, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: string(in.RefreshToken)}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		switch {
		case errors.As(err, &re):
			// RetrieveError's text quotes the body: use its fields only.
			a := &answer{status: re.Response.StatusCode, header: re.Response.Header}
			return rotation.Result{}, statusFailure(a, re.ErrorCode, classifyRFC)
		case !tr.got:
			return rotation.Result{}, transportFailure(err)
		default:
			// The server answered 2xx but x/oauth2 could not use it (no
			// access_token, not JSON). A rotating server may have spent
			// the refresh token.
			return rotation.Result{}, &rotation.Failure{Code: "bad_response", Permanent: true, Detail: "the answer could not be used; the refresh token may be spent"}
		}
	}
	r := rotation.Result{AccessToken: []byte(tok.AccessToken)}
	if tok.RefreshToken != "" && tok.RefreshToken != string(in.RefreshToken) {
		r.RefreshToken = []byte(tok.RefreshToken)
	}
	switch {
	case tok.ExpiresIn > 0:
		r.ExpiresIn = time.Duration(tok.ExpiresIn) * time.Second
	case !tok.Expiry.IsZero():
		r.ExpiresIn = time.Until(tok.Expiry)
	}
	return r, nil
}

// answerTransport reports the answer's arrival and adds the scope to a
// refresh request.
type answerTransport struct {
	base     http.RoundTripper
	answered func()
	scopes   []string
	got      bool
}

func (t *answerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if len(t.scopes) > 0 && req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		form, err := url.ParseQuery(string(b))
		clear(b)
		if err != nil {
			return nil, err
		}
		if form.Get("grant_type") == "refresh_token" && form.Get("scope") == "" {
			form.Set("scope", strings.Join(t.scopes, " "))
		}
		body := form.Encode()
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(strings.NewReader(body))
		req.ContentLength = int64(len(body))
		req.Header.Set("Content-Length", strconv.Itoa(len(body)))
	}
	resp, err := t.base.RoundTrip(req)
	if err == nil {
		t.got = resp.StatusCode >= 200 && resp.StatusCode < 300
		t.answered()
	}
	return resp, err
}
