package vaultd_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jamditis/jawn-vault/vaultd"
	"github.com/jamditis/jawn-vault/vaultd/cache"
	"github.com/jamditis/jawn-vault/vaultd/config"
	"github.com/jamditis/jawn-vault/vaultd/memstore"
	"github.com/jamditis/jawn-vault/vaultd/sqlite"
	"github.com/jamditis/jawn-vault/vaultd/vpath"
)

// startServer runs an in-process server (memory store holding path=value,
// real SQLite audit log, cache on) on a temporary socket and returns the
// socket. maxLine 0 keeps the default line limit.
func startServer(tb testing.TB, maxLine int, path, value string) string {
	dir, err := os.MkdirTemp("", "jvfz") // short: a socket path is at most 107 bytes
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	db, err := sqlite.Open(filepath.Join(dir, "v.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	be := memstore.New()
	_ = be.Set(context.Background(), vpath.MustParse(path), []byte(value))
	cfg := &config.Config{Backend: "memory", StateDir: dir, Socket: filepath.Join(dir, "s"), MaxLine: maxLine}
	if err := cfg.Defaults(); err != nil {
		tb.Fatal(err)
	}
	c := cache.New(cache.Options{TTL: time.Hour})
	tb.Cleanup(c.Close)
	srv, err := vaultd.New(context.Background(), vaultd.Options{Config: cfg, Backend: be, DB: db, Cache: c})
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("unix", cfg.Socket)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Serve(ctx, ln); close(done) }()
	tb.Cleanup(func() { cancel(); <-done })
	return cfg.Socket
}
