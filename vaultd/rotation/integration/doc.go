// Package integration tests token rotation end to end: the real
// jawn-vault daemon (`jawn-vault dev`: a real pass store and gpg key, a
// real SQLite state), the real vault-cli and `jawn-vault rotator`
// binaries, and fake Slack and Telegram servers on 127.0.0.1 from
// vaultd/rotation/rotationtest. It has no code outside its tests.
//
// Binaries are built once per run into a temporary directory, or taken
// from $JAWN_VAULT_BIN and $VAULT_CLI_BIN.
package integration
