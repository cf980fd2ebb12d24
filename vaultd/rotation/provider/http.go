package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/rotation"
)

// maxBody bounds a token endpoint's answer.
const maxBody = 1 << 20

// answer is a token endpoint's HTTP answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// postForm POSTs form to endpoint, calls answered when the status line
// arrives, and reads the body. spends says whether an answer that is lost
// after it arrived (the body cannot be read) has spent the refresh token:
// then the failure is permanent, since retrying with the old one cannot
// work.
func postForm(ctx context.Context, hc *http.Client, endpoint string, form url.Values, answered func(), spends bool) (*answer, error) {
	body := form.Encode()
	defer func() { body = "" }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(body))
	if err != nil {
		return nil, &rotation.Failure{Code: "bad_config", Permanent: true, Detail: "the token URL is not a valid URL"}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, transportFailure(err)
	}
	defer resp.Body.Close()
	answered()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		f := transportFailure(err)
		f.Detail = "the answer was lost while it was read (" + f.Code + ")"
		f.Code, f.Permanent = "answer_lost", spends && resp.StatusCode == http.StatusOK
		return nil, f
	}
	return &answer{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// transportFailure classifies an error of http.Client.Do. A *url.Error
// quotes the URL, which for some APIs holds a secret: only the
// classification of the error inside it is kept.
func transportFailure(err error) *rotation.Failure {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return rotation.AsFailure(err)
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
		d = time.Duration(min(n, int64(maxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// oauthError is RFC 6749 §5.2's error answer (Google's too); Slack's
// failures have "ok": false and the same "error" field.
type oauthError struct {
	Error string `json:"error"`
}

// errorCode extracts the "error" field of a JSON body, or "".
func errorCode(body []byte) string {
	var e oauthError
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	return e.Error
}

// statusFailure classifies an answer that is not a success by its status:
// 429 and 408 are transient and honour Retry-After, 5xx transient, other
// 4xx permanent unless the code says otherwise.
func statusFailure(a *answer, code string, classify func(string) (known, permanent bool)) *rotation.Failure {
	f := &rotation.Failure{Code: rotation.CleanCode(code), RetryAfter: retryAfter(a.header, time.Now())}
	if code == "" {
		f.Code = fmt.Sprintf("http_%d", a.status)
	}
	switch {
	case a.status == http.StatusTooManyRequests:
		if code == "" {
			f.Code = "rate_limited"
		}
	case a.status == http.StatusRequestTimeout, a.status >= 500:
	default:
		// Other 4xx, and 3xx (redirects are not followed: they would
		// resend the credentials elsewhere), need a config fix.
		known, permanent := classify(code)
		f.Permanent = permanent || !known && a.status >= 300 && a.status < 500
	}
	return f
}

// tokenAnswer is the success answer of an RFC 6749 token endpoint (§5.1),
// plus Slack's "ok" and "error".
type tokenAnswer struct {
	OK           *bool  `json:"ok"`
	Error        string `json:"error"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
}

// result turns a token answer into a Result; the caller checked it.
func (t *tokenAnswer) result() rotation.Result {
	r := rotation.Result{AccessToken: []byte(t.AccessToken), ExpiresIn: time.Duration(max(t.ExpiresIn, 0)) * time.Second}
	if t.RefreshToken != "" {
		r.RefreshToken = []byte(t.RefreshToken)
	}
	t.AccessToken, t.RefreshToken = "", ""
	return r
}
