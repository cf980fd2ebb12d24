package main

import (
	"errors"
	"strings"

	"github.com/jamditis/jawn-vault/vaultd"
)

// hintFor suggests what to do about a start-up error.
func hintFor(err error) string {
	msg := err.Error()
	switch {
	case errors.Is(err, vaultd.ErrInUse):
		return "another jawn-vault is running; stop it first (systemctl stop jawn-vault) or use --socket"
	case strings.Contains(msg, ".gpg-id"):
		return "initialise the store with: pass init <your-gpg-key-id>"
	case strings.Contains(msg, "state database"):
		return "check that the state directory is writable by this user and the disk is not full"
	case strings.Contains(msg, "config"):
		return "see deploy/config.example.toml for every setting"
	}
	return ""
}
