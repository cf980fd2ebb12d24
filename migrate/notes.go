package migrate

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Bounds of the code scan: it is a hint for a person, not an audit.
const (
	scanMaxFiles = 500
	scanMaxBytes = 128 << 10
	scanMaxDepth = 3
	scanReport   = 5
)

var (
	scanExts   = []string{".py", ".js", ".mjs", ".cjs", ".ts", ".rb", ".sh", ".go", ".php"}
	scanSkip   = []string{".git", "node_modules", "venv", ".venv", "__pycache__", "site-packages", "dist", "build"}
	dotenvCode = regexp.MustCompile(`(?i)dotenv|["'/]\.env["']`)
)

// scanCode looks through the unit's working directory and the scripts its
// ExecStart= runs for code that reads a .env file itself (load_dotenv, a
// ".env" literal, or the path of one of the unit's EnvironmentFile=s). Such
// code will not find the secrets once the file is removed, and a person has
// to change it. The scan is bounded and best effort.
func scanCode(s Scope, u *Unit, files []*EnvFile) []string {
	var roots []string
	// A working directory of / or a top-level one (/home, /opt) is too
	// broad to scan; deeper ones are bounded by scanMaxFiles.
	if wd := filepath.Clean(u.WorkingDirectory); filepath.IsAbs(wd) && strings.Count(wd, "/") > 1 {
		roots = append(roots, wd)
	}
	for _, e := range u.ExecStart {
		words, err := SplitWords(e.Command)
		if err != nil {
			continue
		}
		for _, w := range words[min(1, len(words)):] {
			if filepath.IsAbs(w.Value) && slices.Contains(scanExts, filepath.Ext(w.Value)) {
				roots = append(roots, w.Value)
			}
		}
	}
	var needles []string
	for _, f := range files {
		needles = append(needles, f.Ref.Path)
	}
	var hits []string
	seen := map[string]bool{}
	budget := scanMaxFiles
	for _, root := range roots {
		base := strings.Count(s.Host(root), "/")
		_ = filepath.WalkDir(s.Host(root), func(p string, d fs.DirEntry, err error) error {
			if err != nil || budget <= 0 {
				return filepath.SkipDir
			}
			if d.IsDir() {
				if slices.Contains(scanSkip, d.Name()) || strings.Count(p, "/")-base >= scanMaxDepth {
					return filepath.SkipDir
				}
				return nil
			}
			if !slices.Contains(scanExts, filepath.Ext(p)) || seen[p] {
				return nil
			}
			seen[p] = true
			budget--
			if mentionsEnvFile(p, needles) {
				hits = append(hits, s.Target(p))
			}
			return nil
		})
	}
	var notes []string
	for i, h := range hits {
		if i == scanReport {
			notes = append(notes, fmt.Sprintf("... and %d more files that mention dotenv or .env", len(hits)-scanReport))
			break
		}
		notes = append(notes, fmt.Sprintf("%s mentions dotenv or a .env file: if it reads the file itself, it will not find the secrets once the file is gone; make it read the environment (os.environ) or use the SDK", h))
	}
	return notes
}

func mentionsEnvFile(p string, needles []string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, scanMaxBytes))
	if err != nil {
		return false
	}
	if dotenvCode.Match(b) {
		return true
	}
	for _, n := range needles {
		if strings.Contains(string(b), n) {
			return true
		}
	}
	return false
}
