package provider_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/rotation"
	"github.com/jamditis/jawn-vault/vaultd/rotation/provider"
	"github.com/jamditis/jawn-vault/vaultd/rotation/rotationtest"
)

// Sentinels: every secret a test hands a provider contains one, so a
// leak into an error is a substring match.
const (
	clientID     = "cid-SENTINEL-ID"
	clientSecret = "csecret-SENTINEL-SECRET"
	refresh0     = "xoxe-1-SENTINEL-REFRESH-0"
	prefix       = "SENTINEL-ISSUED-"
)

var sentinels = []string{"SENTINEL", clientSecret, refresh0, prefix}

var paths = rotation.Paths{Access: "claude/tokens/app", Refresh: "claude/tokens/app-refresh", ClientID: "claude/app/client-id", ClientSecret: "claude/app/client-secret"}

func newProvider(t *testing.T, kind, tokenURL string) rotation.Provider {
	t.Helper()
	p, err := provider.New(kind, provider.Config{Name: "app", Paths: paths, TokenURL: tokenURL})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// call runs one Rotate and reports whether Answered was called.
func call(t *testing.T, p rotation.Provider, timeout time.Duration) (rotation.Result, error, bool) {
	t.Helper()
	answered := false
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res, err := p.Rotate(ctx, rotation.Input{
		ClientID: []byte(clientID), ClientSecret: []byte(clientSecret), RefreshToken: []byte(refresh0),
		Answered: func() { answered = true },
	})
	if err != nil {
		for _, s := range sentinels {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error %q leaks a secret (%s)", err, s)
			}
		}
	}
	return res, err, answered
}

func failure(t *testing.T, err error) *rotation.Failure {
	t.Helper()
	var f *rotation.Failure
	if !errors.As(err, &f) {
		t.Fatalf("error %v (%T) is not a *rotation.Failure", err, err)
	}
	return f
}

func TestSlackSuccessRotatesRefreshToken(t *testing.T) {
	srv := rotationtest.NewSlack(t, clientID, clientSecret, refresh0, prefix)
	res, err, answered := call(t, newProvider(t, provider.KindSlack, srv.URL), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !answered {
		t.Error("Answered was not called")
	}
	if string(res.AccessToken) != srv.LastAccess() || string(res.RefreshToken) != srv.Refresh() || string(res.RefreshToken) == refresh0 {
		t.Errorf("result %q/%q, server issued %q/%q", res.AccessToken, res.RefreshToken, srv.LastAccess(), srv.Refresh())
	}
	if res.ExpiresIn != 12*time.Hour {
		t.Errorf("ExpiresIn %v, want 12h", res.ExpiresIn)
	}
	form := <-srv.Requests
	for k, want := range map[string]string{"grant_type": "refresh_token", "client_id": clientID, "client_secret": clientSecret, "refresh_token": refresh0} {
		if form.Get(k) != want {
			t.Errorf("form %s = %q, want %q", k, form.Get(k), want)
		}
	}
}

func TestSlackTimeouts(t *testing.T) {
	t.Run("no answer", func(t *testing.T) {
		srv := rotationtest.NewSlack(t, clientID, clientSecret, refresh0, prefix)
		srv.Script(rotationtest.Reply{Hang: true})
		_, err, answered := call(t, newProvider(t, provider.KindSlack, srv.URL), 300*time.Millisecond)
		if f := failure(t, err); f.Code != "timeout" || f.Permanent {
			t.Errorf("got %v, want a transient timeout", f)
		}
		if answered {
			t.Error("Answered was called with no answer")
		}
	})
	t.Run("answer lost after the headers", func(t *testing.T) {
		srv := rotationtest.NewSlack(t, clientID, clientSecret, refresh0, prefix)
		srv.Script(rotationtest.Reply{HeadersThenHang: true})
		_, err, answered := call(t, newProvider(t, provider.KindSlack, srv.URL), 300*time.Millisecond)
		if f := failure(t, err); f.Code != "answer_lost" || !f.Permanent {
			t.Errorf("got %v, want a permanent answer_lost (Slack spends the refresh token when it answers)", f)
		}
		if !answered {
			t.Error("Answered was not called though the headers arrived")
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close() // nothing listens there now
		_, err, answered := call(t, newProvider(t, provider.KindSlack, "http://"+addr+"/token"), 2*time.Second)
		if f := failure(t, err); f.Code != "network" || f.Permanent || answered {
			t.Errorf("got %v (answered %v), want a transient network failure", f, answered)
		}
	})
}

func TestGoogle(t *testing.T) {
	t.Run("keeps the refresh token", func(t *testing.T) {
		srv := rotationtest.NewGoogle(t, clientID, clientSecret, refresh0, prefix)
		res, err, answered := call(t, newProvider(t, provider.KindGoogle, srv.URL), 5*time.Second)
		if err != nil || !answered {
			t.Fatalf("err %v, answered %v", err, answered)
		}
		if res.RefreshToken != nil || string(res.AccessToken) != srv.LastAccess() || res.ExpiresIn != 3599*time.Second {
			t.Errorf("result %+v", res)
		}
	})
	t.Run("stores a new refresh token when given", func(t *testing.T) {
		srv := rotationtest.NewGoogle(t, clientID, clientSecret, refresh0, prefix)
		srv.SetRotateRefresh(true)
		res, err, _ := call(t, newProvider(t, provider.KindGoogle, srv.URL), 5*time.Second)
		if err != nil || string(res.RefreshToken) != srv.Refresh() {
			t.Fatalf("err %v, refresh %q want %q", err, res.RefreshToken, srv.Refresh())
		}
	})
}

func TestOAuth2(t *testing.T) {
	newP := func(t *testing.T, url string, scopes []string) rotation.Provider {
		p, err := provider.New(provider.KindOAuth2, provider.Config{Name: "app", Paths: paths, TokenURL: url, Scopes: scopes})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("refresh with basic auth and scopes", func(t *testing.T) {
		srv := rotationtest.NewGoogle(t, clientID, clientSecret, refresh0, prefix)
		srv.SetRotateRefresh(true)
		res, err, answered := call(t, newP(t, srv.URL, []string{"read", "write"}), 5*time.Second)
		if err != nil || !answered {
			t.Fatalf("err %v, answered %v", err, answered)
		}
		if string(res.AccessToken) != srv.LastAccess() || string(res.RefreshToken) != srv.Refresh() || res.ExpiresIn != 3599*time.Second {
			t.Errorf("result %q %q %v", res.AccessToken, res.RefreshToken, res.ExpiresIn)
		}
		form := <-srv.Requests
		if form.Get("scope") != "read write" || form.Get("grant_type") != "refresh_token" || form.Get("refresh_token") != refresh0 {
			t.Errorf("form %v", form)
		}
	})
	t.Run("invalid_grant is permanent and the body stays out", func(t *testing.T) {
		srv := rotationtest.NewGoogle(t, clientID, clientSecret, "another", prefix)
		_, err, _ := call(t, newP(t, srv.URL, nil), 5*time.Second)
		if f := failure(t, err); f.Code != "invalid_grant" || !f.Permanent || strings.Contains(f.Error(), "fake says no") {
			t.Errorf("got %v", f)
		}
	})
	t.Run("503 is transient", func(t *testing.T) {
		srv := rotationtest.NewGoogle(t, clientID, clientSecret, refresh0, prefix)
		srv.Script(rotationtest.Reply{Status: 503, Body: "SENTINEL in a body"})
		_, err, _ := call(t, newP(t, srv.URL, nil), 5*time.Second)
		if f := failure(t, err); f.Code != "http_503" || f.Permanent {
			t.Errorf("got %v", f)
		}
	})
	t.Run("a 200 without a token may have spent the refresh token", func(t *testing.T) {
		srv := rotationtest.NewGoogle(t, clientID, clientSecret, refresh0, prefix)
		srv.Script(rotationtest.Reply{Body: `{"token_type":"Bearer"}`})
		_, err, answered := call(t, newP(t, srv.URL, nil), 5*time.Second)
		if f := failure(t, err); f.Code != "bad_response" || !f.Permanent || !answered {
			t.Errorf("got %v answered=%v", f, answered)
		}
	})
}

func TestNewRejectsIncompleteConfig(t *testing.T) {
	for _, tc := range []struct {
		kind string
		c    provider.Config
	}{
		{provider.KindSlack, provider.Config{Name: "a", Paths: rotation.Paths{Access: "a/b"}}},
		{provider.KindGoogle, provider.Config{Name: "a", Paths: rotation.Paths{Access: "a/b", Refresh: "a/r"}}},
		{provider.KindOAuth2, provider.Config{Name: "a", Paths: paths}},
		{provider.KindCommand, provider.Config{Name: "a", Paths: paths}},
		{provider.KindCommand, provider.Config{Name: "a", Paths: paths, Command: []string{"relative/prog"}}},
		{"ldap", provider.Config{Name: "a", Paths: paths}},
	} {
		if _, err := provider.New(tc.kind, tc.c); err == nil {
			t.Errorf("%s %+v: no error", tc.kind, tc.c)
		}
	}
}
