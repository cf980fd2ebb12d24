//go:build tools

// Package deps pins the project card's libraries in go.mod while the
// packages that use them are being written. It is never built.
package deps

import (
	_ "github.com/BurntSushi/toml"
	_ "github.com/awnumar/memguard"
	_ "github.com/coreos/go-systemd/v22/activation"
	_ "github.com/coreos/go-systemd/v22/daemon"
	_ "github.com/fsnotify/fsnotify"
	_ "github.com/joho/godotenv"
	_ "github.com/rogpeppe/go-internal/testscript"
	_ "github.com/spf13/cobra"
	_ "golang.org/x/oauth2"
	_ "golang.org/x/sys/unix"
	_ "modernc.org/sqlite"
)
