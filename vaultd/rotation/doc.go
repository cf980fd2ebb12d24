// Package rotation rotates expiring OAuth tokens held in Jawn Vault: it asks
// a provider (Slack, Google, any RFC 6749 server, or a command) for a new
// access token, stores what the provider answered through the daemon, and
// tells a person, through Alerts, when something needs them. Both
// `jawn-vault rotator` (the long-running scheduler) and `vault-cli rotate`
// (one rotation, now) are thin shells around this package, so the two share
// one implementation of every rule below.
//
// # The rules
//
// The daemon keeps the state of each rotation (rotation.begin, .mark, .end),
// so processes that never talk to each other still agree:
//
//   - One attempt at a time per name. rotation.begin is the lock across
//     processes (a second process gets ErrBusy); within a process, callers
//     asking for the same rotation at once share one attempt and one HTTP
//     call.
//   - The provider's answer is recorded (rotation.mark) the moment it
//     arrives, before anything is stored. If the process dies between that
//     mark and rotation.end, the next attempt is refused as in doubt
//     (ErrInDoubt) and a person is alerted: the old refresh token may be
//     spent and the new one lost, so retrying could only fail, or worse.
//   - A new refresh token is written with set, read back with get and
//     compared, before the new access token is published. Once the provider
//     has answered, storing is not cancelled by shutdown.
//   - Failures are classified (Failure): permanent ones need a person to
//     re-authorise and are not retried by the scheduler until the inputs
//     change; transient ones are retried with capped exponential backoff,
//     jitter, and at least the provider's Retry-After.
//   - No secret (client secret, refresh or access token, bot token) appears
//     in a log line, an error, an alert or the daemon's audit log. Errors
//     carry short codes ("invalid_grant", "http_503"), never response
//     bodies; the daemon only ever sees those codes.
//
// # What it does not do
//
// It does not hold secrets longer than one attempt, keep state of its own
// on disk (the daemon is the only state), or push tokens to services: the
// daemon's watch does that when the access token is set. Providers live in
// vaultd/rotation/provider, the Telegram notifier in
// vaultd/rotation/telegram, and the wiring to a config file in
// vaultd/rotation/rotator.
package rotation
