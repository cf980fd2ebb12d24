package inject

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestValidName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"TELEGRAM_BOT_TOKEN", true}, {"_x", true}, {"a1", true}, {"A", true},
		{"", false}, {"1A", false}, {"A-B", false}, {"A.B", false}, {"A B", false},
		{"É", false}, {"A=B", false},
	} {
		if got := ValidName(tc.name); got != tc.ok {
			t.Errorf("ValidName(%q) = %v, want %v", tc.name, got, tc.ok)
		}
	}
}

func TestParseMapping(t *testing.T) {
	m, err := ParseMapping("TG=claude/tokens/telegram-bot", "--map", false)
	if err != nil || m.Name != "TG" || m.Path != "claude/tokens/telegram-bot" || m.File || m.EnvName() != "TG" {
		t.Fatalf("got %+v, %v", m, err)
	}
	m, err = ParseMapping("DB=claude/dashboard/db-url", "--file", true)
	if err != nil || m.EnvName() != "DB_FILE" {
		t.Fatalf("got %+v, %v", m, err)
	}
	for _, bad := range []string{"TG", "=a/b", "1X=a/b", "X-Y=a/b", "X=", "X=../etc", "X=/abs", "X=a/b.gpg", "X=a//b"} {
		if _, err := ParseMapping(bad, "--map", false); !errors.Is(err, ErrBadMapping) {
			t.Errorf("ParseMapping(%q) = %v, want ErrBadMapping", bad, err)
		}
	}
}

func TestParseMapFile(t *testing.T) {
	in := "# secrets of the bot\n\nTELEGRAM_BOT_TOKEN=claude/tokens/telegram-bot\n  # indented comment\n  SLACK = claude/tokens/slack-bot  \n"
	ms, err := ParseMapFile(strings.NewReader(in), "bot.map")
	if err != nil {
		t.Fatal(err)
	}
	want := []Mapping{
		{Name: "TELEGRAM_BOT_TOKEN", Path: "claude/tokens/telegram-bot", Source: "bot.map:3"},
		{Name: "SLACK", Path: "claude/tokens/slack-bot", Source: "bot.map:5"},
	}
	if !slices.Equal(ms, want) {
		t.Fatalf("got %+v\nwant %+v", ms, want)
	}
	_, err = ParseMapFile(strings.NewReader("A=a/b\nnot a mapping\n"), "x.map")
	if !errors.Is(err, ErrBadMapping) || !strings.Contains(err.Error(), "x.map:2") {
		t.Fatalf("got %v, want an error naming x.map:2", err)
	}
}

func TestCheckMappings(t *testing.T) {
	mk := func(name string, file bool) Mapping {
		return Mapping{Name: name, Path: "a/b", File: file, Source: "test"}
	}
	for _, tc := range []struct {
		name string
		ms   []Mapping
		keep []string
		ok   bool
	}{
		{"distinct", []Mapping{mk("A", false), mk("B", true)}, []string{"C"}, true},
		{"duplicate", []Mapping{mk("A", false), mk("A", false)}, nil, false},
		{"map and file of one name", []Mapping{mk("A", false), mk("A", true)}, nil, false},
		{"file clashes with a map", []Mapping{mk("A_FILE", false), mk("A", true)}, nil, false},
		{"kept and mapped", []Mapping{mk("A", false)}, []string{"A"}, false},
		{"kept file variable", []Mapping{mk("A", true)}, []string{"A_FILE"}, false},
		{"keep VAULT_TOKEN", nil, []string{"VAULT_TOKEN"}, false},
		{"keep bad name", nil, []string{"A-B"}, false},
	} {
		err := CheckMappings(tc.ms, tc.keep)
		if (err == nil) != tc.ok {
			t.Errorf("%s: CheckMappings = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestScrub(t *testing.T) {
	environ := []string{
		"PATH=/usr/bin", "HOME=/root", "SECRET=x", "VAULT_TOKEN=jv_secret", "LC_TIME=C",
		"LCX=no", "WATCHDOG_USEC=1000", "NOTIFY_SOCKET=/run/n", "LISTEN_FDS=1", "LISTEN_PID=7",
		"KEEP=me", "PATH=/bin", "=weird", "noequals", "AWS_SECRET_ACCESS_KEY=x",
		"CREDENTIALS_DIRECTORY=/run/credentials/x.service", "INVOCATION_ID=abc",
	}
	got := Scrub(environ, []string{"KEEP", "VAULT_TOKEN", "MISSING"})
	want := []string{
		"HOME=/root", "LC_TIME=C", "WATCHDOG_USEC=1000", "NOTIFY_SOCKET=/run/n", "LISTEN_FDS=1",
		"LISTEN_PID=7", "KEEP=me", "PATH=/bin",
		"CREDENTIALS_DIRECTORY=/run/credentials/x.service", "INVOCATION_ID=abc",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Scrub:\n got %q\nwant %q", got, want)
	}
}

func TestResolveToken(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	flagFile := write("flag", "jv_flag\n")
	creds := filepath.Join(dir, "creds")
	os.Mkdir(creds, 0o700)
	write("creds/"+CredentialName, " jv_cred \n")
	empty := write("empty", "\n")

	for _, tc := range []struct {
		name    string
		flag    string
		environ []string
		token   string
		src     TokenSource
		wantErr error
	}{
		{"flag first", flagFile, []string{"VAULT_TOKEN=jv_env", "CREDENTIALS_DIRECTORY=" + creds}, "jv_flag", FromFlag, nil},
		{"env second", "", []string{"VAULT_TOKEN=jv_env", "CREDENTIALS_DIRECTORY=" + creds}, "jv_env", FromEnv, nil},
		{"credentials third", "", []string{"VAULT_TOKEN=", "CREDENTIALS_DIRECTORY=" + creds}, "jv_cred", FromCredentials, nil},
		{"credential file absent", "", []string{"CREDENTIALS_DIRECTORY=" + dir}, "", FromNone, nil},
		{"nothing", "", nil, "", FromNone, nil},
		{"missing flag file", filepath.Join(dir, "nope"), []string{"VAULT_TOKEN=jv_env"}, "", FromFlag, fs.ErrNotExist},
		{"empty flag file", empty, nil, "", FromFlag, errors.New("empty")},
	} {
		tok, src, err := ResolveToken(tc.flag, tc.environ)
		switch {
		case tc.wantErr == nil && err != nil:
			t.Errorf("%s: unexpected error %v", tc.name, err)
		case tc.wantErr != nil && err == nil:
			t.Errorf("%s: no error, want %v", tc.name, tc.wantErr)
		case tc.wantErr == fs.ErrNotExist && !errors.Is(err, fs.ErrNotExist):
			t.Errorf("%s: error %v, want ErrNotExist", tc.name, err)
		case tok != tc.token || src != tc.src:
			t.Errorf("%s: got %q from %s, want %q from %s", tc.name, tok, src, tc.token, tc.src)
		}
	}
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.Mkdir(a, 0o755)
	os.Mkdir(b, 0o755)
	os.WriteFile(filepath.Join(a, "noexec"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(b, "noexec"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(b, "prog"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(a, "plain"), []byte("x"), 0o644)
	os.Mkdir(filepath.Join(a, "dir"), 0o755)

	path := "relative:" + a + "::" + b
	if got, err := lookPath("prog", path); err != nil || got != filepath.Join(b, "prog") {
		t.Errorf("prog: %q, %v", got, err)
	}
	// A non-executable file earlier in PATH does not hide an executable one.
	if got, err := lookPath("noexec", path); err != nil || got != filepath.Join(b, "noexec") {
		t.Errorf("noexec: %q, %v", got, err)
	}
	if _, err := lookPath("plain", path); !errors.Is(err, errNotExecutable) {
		t.Errorf("plain: %v, want errNotExecutable", err)
	}
	if _, err := lookPath("dir", path); !errors.Is(err, errNotExecutable) {
		t.Errorf("dir: %v, want errNotExecutable", err)
	}
	if _, err := lookPath("nothere", path); err == nil || errors.Is(err, errNotExecutable) {
		t.Errorf("nothere: %v, want not found", err)
	}
	// The caller's PATH is not consulted: only the one given.
	if _, err := lookPath("prog", a); err == nil {
		t.Errorf("prog found outside the given PATH")
	}
	if got, err := lookPath(filepath.Join(b, "prog"), ""); err != nil || got != filepath.Join(b, "prog") {
		t.Errorf("absolute: %q, %v", got, err)
	}
}

func TestWriteSecretFiles(t *testing.T) {
	base, err := os.MkdirTemp("/dev/shm", "jvtest")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(base)
	ms := []Mapping{{Name: "A", File: true}, {Name: "B", File: true}}
	sf, err := writeSecretFiles(base, ms, map[string][]byte{"A": []byte("one\x00"), "B": nil})
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(sf.dir)
	if err != nil || st.Mode().Perm() != 0o700 || filepath.Dir(sf.dir) != base {
		t.Fatalf("dir %s: %v %v", sf.dir, st.Mode(), err)
	}
	for name, want := range map[string]string{"A": "one\x00", "B": ""} {
		p := sf.paths[name]
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != 0o400 {
			t.Fatalf("%s: %v %v", p, st.Mode(), err)
		}
		if b, _ := os.ReadFile(p); string(b) != want {
			t.Errorf("%s holds %q, want %q", name, b, want)
		}
	}
	sf.remove()
	if _, err := os.Stat(sf.dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("remove left %s", sf.dir)
	}

	// A directory on a disk file system is refused: secrets never hit a disk.
	disk := t.TempDir()
	if ok, _ := onTmpfs(disk); ok {
		t.Skipf("%s is on tmpfs here; cannot test the refusal", disk)
	}
	if _, err := writeSecretFiles(disk, ms, nil); !errors.Is(err, ErrNotTmpfs) {
		t.Fatalf("disk dir: %v, want ErrNotTmpfs", err)
	}
}

// FuzzParseMapFile checks that whatever a map file holds, every mapping
// that parses has a valid name and a valid path, and nothing panics.
func FuzzParseMapFile(f *testing.F) {
	for _, s := range []string{"A=a/b\n", "# c\n\nB = c/d\n", "=x", "A=../x", "A=a/b=c", "\x00=\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		ms, err := ParseMapFile(strings.NewReader(in), "fuzz.map")
		if err != nil {
			return
		}
		for _, m := range ms {
			if !ValidName(m.Name) {
				t.Fatalf("invalid name %q accepted", m.Name)
			}
			if _, err := ParseMapping(m.Name+"="+m.Path, "again", false); err != nil {
				t.Fatalf("mapping %+v does not parse again: %v", m, err)
			}
		}
	})
}

func TestDefaultSocket(t *testing.T) {
	if got := defaultSocket([]string{"XDG_RUNTIME_DIR=/run/user/7", "VAULT_SOCKET=/s.sock"}); got != "/s.sock" {
		t.Errorf("VAULT_SOCKET: %s", got)
	}
	if got := defaultSocket([]string{"XDG_RUNTIME_DIR=/run/user/7", "VAULT_SOCKET="}); got != "/run/user/7/jawn-vault.sock" {
		t.Errorf("XDG_RUNTIME_DIR: %s", got)
	}
}
