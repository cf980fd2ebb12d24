// Package inject is vault-exec: it fetches the secrets one program needs
// from jawn-vault, builds that program's environment from scratch, and then
// replaces itself with the program through execve. cmd/vault-exec calls Main.
//
// # What it does
//
// vault-exec reads every mapped secret over one connection (the requests are
// pipelined), closes the connection, and calls execve. The program therefore
// keeps vault-exec's PID: under systemd it is the unit's main process,
// NOTIFY_SOCKET and LISTEN_FDS stay valid for it, it receives the unit's
// signals directly, and its exit status is the unit's.
//
// The program's environment is an allowlist taken from vault-exec's own
// (see Allowed), the names given with --keep-env, and the mapped secrets.
// Secrets mapped with --file are written to a private file on tmpfs and the
// program gets NAME_FILE, the file's path, instead of the value.
//
// It is all or nothing: when any secret cannot be read, or the daemon cannot
// be reached before --wait runs out, the program is not started. vault-exec
// then prints one line per failing variable (name, path, reason; never a
// value) and exits with a sysexits(3) status (see the Exit constants).
//
// # What it deliberately does not do
//
// By default it does not supervise: after execve nothing of vault-exec
// remains, so it cannot restart the program, forward signals, or refresh
// secrets while the program runs. With --on-change (supervise.go) it stays
// as the program's parent instead: it watches the mapped paths on a
// connection of its own, forwards every signal but SIGCHLD and SIGURG, and
// on a change restarts the program, signals it after rewriting its --file
// secrets, or stops it and exits 75 for systemd to restart the unit. It never
// passes its own token on: VAULT_TOKEN is not on the allowlist and cannot be
// kept with --keep-env, the token is never an argument, and the connection
// is closed before execve. (A program that runs as the same uid can still
// read a token file it can reach, such as $CREDENTIALS_DIRECTORY; the token
// is read-only and granted exactly the program's own paths, so that gives it
// nothing it was not already given.) It never prints a value.
package inject
