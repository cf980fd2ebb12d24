// Package ops is the read-only operations view of a running daemon: a
// Snapshot gathered over the daemon's socket with the Go client, and an
// HTTP handler that renders it as an HTML page, a small embeddable card,
// JSON, and Prometheus text metrics. Answer renders the same Snapshot as
// short replies to a Telegram "/vault" command.
//
// What it deliberately does not do: write anything to the daemon, read any
// secret value (it calls only status, token.list and audit.query), cache
// state between requests, load external assets, or run JavaScript. It is a
// separate process from the daemon, so the daemon keeps no listening port
// other than its Unix socket.
//
// Per-method latency histograms are not exported: the daemon does not
// keep them yet, and audit rows alone would give a biased sample.
package ops
