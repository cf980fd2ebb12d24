package main

import (
	"errors"

	"github.com/jamditis/jawn-vault/vaultd"
	"github.com/jamditis/jawn-vault/vaultd/backend"
	"github.com/jamditis/jawn-vault/vaultd/config"
	"github.com/jamditis/jawn-vault/vaultd/daemon"
	"github.com/jamditis/jawn-vault/vaultd/sqlite"
)

// hintFor suggests what to do about a start-up error.
func hintFor(err error) string {
	switch {
	case errors.Is(err, vaultd.ErrInUse):
		return "another jawn-vault is running; stop it first (systemctl stop jawn-vault) or use --socket"
	case errors.Is(err, daemon.ErrStore) && errors.Is(err, backend.ErrUnavailable):
		return "is the store initialised (pass init <key-id>) and readable by this user? Is --store or $PASSWORD_STORE_DIR right?"
	case errors.Is(err, daemon.ErrStore):
		return "check --store or $PASSWORD_STORE_DIR"
	case errors.Is(err, daemon.ErrState) && sqlite.IsLocked(err):
		return "another process holds the state database's lock: find it with fuser -v on the database (docs/runbook.md, \"The daemon will not start\")"
	case errors.Is(err, daemon.ErrState):
		return "check that the state directory is writable by this user and the disk is not full"
	case errors.Is(err, config.ErrConfig):
		return "see deploy/config.example.toml for every setting"
	}
	return ""
}
