package vaultd_test

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jamditis/jawn-vault/vaultd"
	"github.com/jamditis/jawn-vault/vaultd/cache"
	"github.com/jamditis/jawn-vault/vaultd/config"
	"github.com/jamditis/jawn-vault/vaultd/memstore"
	"github.com/jamditis/jawn-vault/vaultd/sqlite"
	"github.com/jamditis/jawn-vault/vaultd/vpath"
)

// startServer runs an in-process server on a temporary socket with the
// memory store, a real SQLite audit log and the cache on.
func startServer(tb testing.TB) string {
	dir := tb.TempDir()
	db, err := sqlite.Open(filepath.Join(dir, "v.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	be := memstore.New()
	_ = be.Set(context.Background(), vpath.MustParse("claude/tokens/telegram-bot"), []byte("123456789:DEV-example-telegram-token"))
	cfg := &config.Config{Backend: "memory", StateDir: dir, Socket: filepath.Join(dir, "s")}
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

// BenchmarkGetCacheHit measures one connection's round trip for a cached
// get, as the local owner, with the audit log on.
func BenchmarkGetCacheHit(b *testing.B) {
	sock := startServer(b)
	if p := os.Getenv("BENCH_PARALLELISM"); p != "" {
		n, _ := strconv.Atoi(p)
		b.SetParallelism(n)
	}
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("unix", sock)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		var req []byte
		for id := 1; pb.Next(); id++ {
			req = strconv.AppendInt(append(req[:0], `{"id":`...), int64(id), 10)
			req = append(req, `,"method":"get","params":{"path":"claude/tokens/telegram-bot"}}`+"\n"...)
			if _, err := c.Write(req); err != nil {
				b.Error(err)
				return
			}
			line, err := br.ReadSlice('\n')
			if err != nil || !bytes.Contains(line, []byte(`"value"`)) {
				b.Errorf("answer %q %v", line, err)
				return
			}
		}
	})
}
