package vaultd_test

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"strconv"
	"testing"
)

// BenchmarkGetCacheHit measures one connection's round trip for a cached
// get, as the local owner, with the audit log on.
func BenchmarkGetCacheHit(b *testing.B) {
	sock := startServer(b, 0, "claude/tokens/telegram-bot", "123456789:DEV-example-telegram-token")
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
