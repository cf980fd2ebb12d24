#!/usr/bin/env bash
# End-to-end test from the roadmap: start the daemon on a real pass store,
# make the first token as the owner, then use it. Needs jawn-vault and
# vault-cli on PATH (make test-e2e puts bin/ first), gpg and pass.
set -euo pipefail

work=$(mktemp -d /tmp/jve2e.XXXXXX)
export GNUPGHOME=$work/gnupg PASSWORD_STORE_DIR=$work/store
export VAULT_SOCKET=$work/vault.sock
unset VAULT_TOKEN
cleanup() {
	[ -n "${VAULT_PID:-}" ] && kill "$VAULT_PID" 2>/dev/null && wait "$VAULT_PID" 2>/dev/null || true
	gpgconf --kill all 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key 'e2e <e2e@jawn.invalid>' ed25519 sign never
fpr=$(gpg --batch --with-colons --list-secret-keys | awk -F: '/^fpr/ {print $10; exit}')
gpg --batch --quiet --passphrase '' --pinentry-mode loopback --quick-add-key "$fpr" cv25519 encr never
pass init "$fpr" >/dev/null
printf 'sk-ant-e2e-value\n' | pass insert -m claude/api/anthropic >/dev/null 2>&1
printf 'tg-e2e\n' | pass insert -m claude/tokens/telegram-bot >/dev/null 2>&1

# Start the daemon in the background
jawn-vault --state-dir "$work/state" --log-level warn &
VAULT_PID=$!
for _ in $(seq 1 100); do
	vault-cli health >/dev/null 2>&1 && break
	kill -0 "$VAULT_PID" 2>/dev/null || fail "daemon exited"
	sleep 0.1
done

# Create client (as the owner: no token yet)
TOKEN=$(vault-cli token create test --grant '**' -p admin)
[[ $TOKEN == jv_* ]] || fail "token create printed no token"

# Test operations
export VAULT_TOKEN="$TOKEN"
vault-cli health | grep -q '^ok' || fail "health"
list=$(vault-cli list claude/)
[ "$list" = $'claude/api/anthropic\nclaude/tokens/telegram-bot' ] || fail "list claude/ gave: $list"
[ "$(vault-cli get claude/api/anthropic)" = "sk-ant-e2e-value" ] || fail "get"

# A narrower token cannot read outside its grant, and says so with exit 77.
export VAULT_TOKEN=$(VAULT_TOKEN= vault-cli token create bot --grant 'claude/tokens/*' -p read)
set +e
vault-cli get claude/api/anthropic >/dev/null 2>&1; rc=$?
set -e
[ "$rc" = 77 ] || fail "denied get exited $rc, want 77"

# Every request was audited; the raw tokens appear nowhere in the state.
export VAULT_TOKEN="$TOKEN"
vault-cli audit --json --limit 1000 | grep -q '"permission_denied"' || fail "denial not audited"
if grep -rqa -- "$TOKEN" "$work/state"; then fail "raw token found in the state directory"; fi

echo "e2e: 1 passed, 0 failed"
