package runbook

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jamditis/jawn-vault/internal/daemontest"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

const rotationSection = "A rotation is in_doubt or needs re-authorisation"

// provider is a rotation with the command provider: a program standing in
// for the service's token endpoint. It spends each refresh token it is
// given, as Slack does: given one it has seen, or "spent", it answers
// "re-authorise" (exit 77); else it issues access-N and refresh-N and
// records the refresh token it spent, so the test sees each call.
type provider struct {
	d     *daemontest.Daemon
	calls string // one line per answered call: the refresh token spent
}

const (
	rotName     = "canvas"
	rotAccess   = "svc/canvas"
	rotRefresh  = "svc/canvas-refresh"
	rotInterval = "11h"
)

func newProvider(t *testing.T) *provider {
	t.Helper()
	dir := t.TempDir()
	p := &provider{calls: filepath.Join(dir, "calls")}
	prog := filepath.Join(dir, "token-endpoint")
	writeFile(t, prog, `#!/bin/sh
refresh=$(sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p')
if [ -z "$refresh" ] || [ "$refresh" = spent ] || grep -qxF "$refresh" `+p.calls+` 2>/dev/null; then
	exit 77
fi
echo "$refresh" >> `+p.calls+`
n=$(wc -l < `+p.calls+`)
printf '{"access_token":"access-%s","refresh_token":"refresh-%s","expires_in":43200}\n' "$n" "$n"
`, 0o755)
	cfg := fmt.Sprintf("\n[[rotation]]\nname = %q\nprovider = \"command\"\naccess_token_path = %q\nrefresh_token_path = %q\ncommand = [%q]\ninterval = %q\n",
		rotName, rotAccess, rotRefresh, prog, rotInterval)
	p.d = daemontest.New(t, bins, daemontest.Options{Config: cfg})
	p.d.Start()
	return p
}

// spent returns the refresh tokens the provider has taken, in order.
func (p *provider) spent(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(p.calls)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

// state returns the daemon's state of the rotation.
func (p *provider) state(t *testing.T) wire.RotationState {
	t.Helper()
	rs, err := p.d.Owner().RotationStatus(tctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Name == rotName {
			return r
		}
	}
	t.Fatalf("the daemon has no rotation %s: %+v", rotName, rs)
	return wire.RotationState{}
}

// checkRotated checks that the provider was called with refresh and that
// its answer is stored: the rotation idle, with no failure, and doctor's
// rotation ok.
func (p *provider) checkRotated(t *testing.T, refresh string) {
	t.Helper()
	spent := p.spent(t)
	if len(spent) == 0 || spent[len(spent)-1] != refresh {
		t.Fatalf("the provider was not called with %q (it spent %q)", refresh, spent)
	}
	n := len(spent)
	ctx := tctx(t)
	c := p.d.Owner()
	for path, want := range map[string]string{rotAccess: fmt.Sprintf("access-%d", n), rotRefresh: fmt.Sprintf("refresh-%d", n)} {
		if v, err := c.Get(ctx, path); err != nil || string(v) != want {
			t.Errorf("%s after the runbook: %q %v, want %q", path, v, err, want)
		}
	}
	if s := p.state(t); s.State != wire.RotationIdle || s.Failures != 0 || s.LastSuccess == nil {
		t.Errorf("the rotation after the runbook: %+v, want idle with a success and no failure", s)
	}
	doctorOK(t, p.d.Doctor(), "rotation")
}

// TestRotationInDoubt drills "A rotation is in_doubt", the stored tokens
// still good: an attempt died after the provider answered (begun and
// marked answered through the daemon, as the rotator does, with a 1s
// lease that runs out). Doctor's rotation fails, and vault-cli rotate is
// refused as in doubt without calling the provider. The runbook clears it
// and rotates: the provider is called with the stored refresh token, the
// new tokens are stored, and the rotation is idle and ok.
func TestRotationInDoubt(t *testing.T) {
	p := newProvider(t)
	ctx := tctx(t)
	c := p.d.Owner()
	for path, v := range map[string]string{rotAccess: "access-0", rotRefresh: "refresh-0"} {
		if err := c.Set(ctx, path, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	// The attempt that dies: begun, the provider answered, then nothing.
	st, err := c.RotationBegin(ctx, wire.RotationBeginParams{Name: rotName, Path: rotAccess, Lease: "1s"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RotationMarkAnswered(ctx, rotName, st.Attempt); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for p.state(t).State != wire.RotationInDoubt {
		if time.Now().After(deadline) {
			t.Fatalf("the rotation never became in doubt: %+v", p.state(t))
		}
		time.Sleep(50 * time.Millisecond)
	}

	r := p.d.Doctor()
	if r.Status("rotation") != "fail" || r.Code != 2 {
		t.Errorf("doctor with %s in doubt: rotation %q, exit %d; want fail, 2\n%s", rotName, r.Status("rotation"), r.Code, r.Result)
	}
	if f := r.Find("rotation"); len(f) == 0 || !strings.Contains(f[0].Message, rotName+" is in doubt") {
		t.Errorf("doctor's rotation finding is not the runbook's %q:\n%s", rotName+" is in doubt", r.Result)
	}
	if r := p.d.CLI(nil, "rotate", rotName); r.Code != 1 || !strings.Contains(r.Stderr, "rotation clear "+rotName) {
		t.Errorf("vault-cli rotate while in doubt: want exit 1 and the hint to clear it:\n%s", r)
	}
	if s := p.spent(t); len(s) != 0 {
		t.Fatalf("the provider was called while the rotation was in doubt: %q", s)
	}

	const status = "vault-cli rotation status"
	dr := newDrill(t, p.d, "NAME", rotName)
	dr.run(lockedBlock(t, blocks(t, rotationSection), "vault-cli rotation clear NAME"))
	if out := dr.result(status).Stdout; !strings.Contains(out, rotName) || !strings.Contains(out, "in_doubt") {
		t.Errorf("%s does not show %s in_doubt:\n%s", status, rotName, out)
	}
	p.checkRotated(t, "refresh-0")
}

// TestRotationNeedsReauth drills "needs re-authorisation": the stored
// refresh token was spent (revoked, or lost with an in-doubt attempt), so
// the provider refuses it for good and vault-cli rotate fails; doctor's
// rotation fails with "needs re-authorisation". The runbook stores the
// refresh token a re-authorisation gave, typed into vault-cli set, and
// rotates: the provider is called with that token and the rotation is ok.
func TestRotationNeedsReauth(t *testing.T) {
	p := newProvider(t)
	ctx := tctx(t)
	c := p.d.Owner()
	for path, v := range map[string]string{rotAccess: "access-0", rotRefresh: "spent"} {
		if err := c.Set(ctx, path, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if r := p.d.CLI(nil, "rotate", rotName); r.Code != 1 || !strings.Contains(r.Stderr, "vault-cli set "+rotRefresh) {
		t.Errorf("vault-cli rotate with a spent refresh token: want exit 1 and the hint to store a new one:\n%s", r)
	}
	if s := p.state(t); !s.Permanent || s.Failures == 0 {
		t.Errorf("the rotation after the provider refused: %+v, want a permanent failure", s)
	}
	r := p.d.Doctor()
	if r.Status("rotation") != "fail" || r.Code != 2 {
		t.Errorf("doctor: rotation %q, exit %d; want fail, 2\n%s", r.Status("rotation"), r.Code, r.Result)
	}
	if f := r.Find("rotation"); len(f) == 0 || !strings.Contains(f[0].Message, rotName+" needs re-authorisation") {
		t.Errorf("doctor's rotation finding is not the runbook's %q:\n%s", rotName+" needs re-authorisation", r.Result)
	}

	const set = "vault-cli set REFRESH-PATH"
	dr := newDrill(t, p.d, "REFRESH-PATH", rotRefresh, "NAME", rotName)
	dr.stdin[set] = "refresh-reauth\n" // what the provider's consent page gave
	dr.run(lockedBlock(t, blocks(t, rotationSection), set))
	p.checkRotated(t, "refresh-reauth")
}
