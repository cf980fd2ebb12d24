// Package passstore is the pass(1) password store as a backend.Backend: it
// reads and writes the same files as `pass` (one gpg-encrypted file per
// entry, recipients from the nearest .gpg-id, a git commit per change when
// the store is a git repository) so the daemon and the pass command can be
// used on one store side by side.
//
// Safety:
//   - Every file access goes through an os.Root opened on the store, so no
//     path and no symlink can reach outside it. A symlink that leads out of
//     the store (or any absolute symlink, which os.Root refuses) makes the
//     entry ErrRefused for Get and invisible to List. Entries and values over
//     the size limits are ErrTooLarge.
//   - gpg runs without a shell, with the ciphertext or plaintext on stdin
//     and the result on stdout, so gpg never opens a path we name. Each run
//     has a timeout, is killed and reaped when it expires, and its stderr is
//     summarised (bounded) into the error. Plaintext buffers are wiped
//     where this package owns them.
//   - Writes are atomic: a dot-named temporary file in the entry's folder,
//     fsync, rename, fsync of the folder.
//   - Child processes get an environment built from a short allow list,
//     not the daemon's whole environment.
//
// What it deliberately does not do: prompt for anything (gpg runs with
// --batch; a key that needs a passphrase makes the store unavailable until
// the agent has it cached), manage keys, re-encrypt entries when a .gpg-id
// changes, verify .gpg-id signatures (PASSWORD_STORE_SIGNING_KEY), honour
// PASSWORD_STORE_GPG_OPTS or PASSWORD_STORE_KEY, or push and pull git. Only
// this package runs gpg.
package passstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/backend"
	"github.com/jamditis/jawn-vault/vaultd/vpath"
)

const (
	// MaxEntrySize bounds an entry file read by Get and the plaintext gpg
	// may return for it.
	MaxEntrySize = 1 << 20
	// MaxValueSize bounds the value Set accepts, leaving room for the
	// encryption overhead of many recipients within MaxEntrySize.
	MaxValueSize = 512 << 10
	// DefaultTimeout bounds each gpg or git run when Options.Timeout is 0.
	DefaultTimeout = 10 * time.Second

	maxGPGIDSize = 64 << 10
	suffix       = ".gpg"
	gpgIDFile    = ".gpg-id"
	tempMarker   = ".tmp-"
)

// Options configures Open.
type Options struct {
	// Dir is the store's root. "" means DefaultDir().
	Dir string
	// GPG is the gpg binary, looked up on PATH. "" means "gpg".
	GPG string
	// GnuPGHome is GNUPGHOME for gpg. "" inherits the daemon's.
	GnuPGHome string
	// Timeout bounds each gpg and git run. 0 means DefaultTimeout.
	Timeout time.Duration
	// Logger receives warnings (a failed git commit, an unreadable folder).
	// nil means slog.Default(). Values are never logged.
	Logger *slog.Logger
}

// Store is a pass store. It is safe for concurrent use.
type Store struct {
	dir     string
	root    *os.Root
	gpg     string
	timeout time.Duration
	log     *slog.Logger
	env     []string // for gpg and git children

	// escape is the error os.Root reports for a path that leaves the root.
	// The os package does not export it, so Open captures it once (see
	// escapeSentinel) and errors.Is compares identity, not text.
	escape error

	writeMu sync.Mutex // serialises writes and their git commits

	closeOnce sync.Once
	closed    chan struct{} // closed by Close; stops Watch
}

var _ backend.Backend = (*Store)(nil)

// DefaultDir returns $PASSWORD_STORE_DIR, or ~/.password-store as pass does.
func DefaultDir() string {
	if d := os.Getenv("PASSWORD_STORE_DIR"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".password-store"
	}
	return filepath.Join(home, ".password-store")
}

// Open opens the store at opts.Dir. It fails if the directory cannot be
// opened or gpg cannot be found; it does not require a .gpg-id (see Check).
func Open(opts Options) (*Store, error) {
	dir := opts.Dir
	if dir == "" {
		dir = DefaultDir()
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("passstore: %w: %v", backend.ErrUnavailable, err)
	}
	gnupghome := opts.GnuPGHome
	if gnupghome != "" {
		// gpg would resolve a relative home against its working folder.
		if gnupghome, err = filepath.Abs(gnupghome); err != nil {
			return nil, fmt.Errorf("passstore: %w: %v", backend.ErrUnavailable, err)
		}
	}
	gpgName := opts.GPG
	if gpgName == "" {
		gpgName = "gpg"
	}
	gpg, err := exec.LookPath(gpgName)
	if err != nil {
		return nil, fmt.Errorf("passstore: %w: %v\nhint: install gnupg (apt-get install gnupg) or set the gpg path", backend.ErrUnavailable, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("passstore: %w: opening the store: %v\nhint: create it with `pass init KEY-ID`", backend.ErrUnavailable, err)
	}
	s := &Store{
		dir:     dir,
		root:    root,
		gpg:     gpg,
		timeout: opts.Timeout,
		log:     opts.Logger,
		env:     childEnv(gnupghome),
		escape:  escapeSentinel(root),
		closed:  make(chan struct{}),
	}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.removeStaleTemps()
	return s, nil
}

// removeStaleTemps deletes the temporary files of writes that a crash
// interrupted (".<name>.gpg.tmp-<random>"). The entry they were meant to
// replace is intact: the rename never happened.
func (s *Store) removeStaleTemps() {
	_ = fs.WalkDir(s.root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == ".extensions") {
			return fs.SkipDir
		}
		if d.Type().IsRegular() && strings.HasPrefix(d.Name(), ".") && strings.Contains(d.Name(), suffix+tempMarker) {
			if err := s.root.Remove(p); err == nil {
				s.log.Info("removed the temporary file of an interrupted write", "file", p)
			}
		}
		return nil
	})
}

// Dir returns the store's root directory as an absolute path.
func (s *Store) Dir() string { return s.dir }

// Close releases the store and stops every Watch. It is idempotent.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		err = s.root.Close()
	})
	return err
}

// escapeSentinel provokes os.Root's "path escapes from parent" error and
// returns the error it wraps.
func escapeSentinel(root *os.Root) error {
	_, err := root.Lstat("..")
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return nil
}

// childEnv is the environment of every gpg and git child: an allow list
// from ours, LC_ALL=C so that stderr summaries are in one language, and
// GNUPGHOME when set in Options.
func childEnv(gnupghome string) []string {
	keep := []string{
		"PATH", "HOME", "USER", "LOGNAME", "TMPDIR", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "GNUPGHOME",
		"GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL",
		"GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM",
	}
	var env []string
	for _, k := range keep {
		if k == "GNUPGHOME" && gnupghome != "" {
			continue
		}
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	if gnupghome != "" {
		env = append(env, "GNUPGHOME="+gnupghome)
	}
	return append(env, "LC_ALL=C", "GIT_TERMINAL_PROMPT=0")
}

// fileName is the entry file of p, relative to the root.
func fileName(p vpath.Path) string { return string(p) + suffix }

// fsErr maps a file-system error about p to the backend's errors.
func (s *Store) fsErr(op string, p vpath.Path, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("passstore: %w: %s", backend.ErrNotFound, p)
	case s.escapes(err):
		return fmt.Errorf("passstore: %w: %s: a symlink leads out of the store (or is absolute)", backend.ErrRefused, p)
	case errors.Is(err, syscall.ELOOP):
		return fmt.Errorf("passstore: %w: %s: symlink loop", backend.ErrRefused, p)
	default:
		return fmt.Errorf("passstore: %w: %s %s: %v", backend.ErrUnavailable, op, p, err)
	}
}

// writeErr maps a file-system error met while writing p: an escape is
// ErrRefused, anything else (including a file where a folder should be)
// ErrUnavailable.
func (s *Store) writeErr(op string, p vpath.Path, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("passstore: %w: %s %s: %v", backend.ErrUnavailable, op, p, err)
	}
	return s.fsErr(op, p, err)
}

func (s *Store) escapes(err error) bool {
	return s.escape != nil && errors.Is(err, s.escape)
}

// Get decrypts the entry at p and returns its content minus one trailing
// newline.
func (s *Store) Get(ctx context.Context, p vpath.Path) ([]byte, error) {
	ciphertext, err := s.readEntry(p)
	if err != nil {
		return nil, err
	}
	plain, err := s.runGPG(ctx, ciphertext, len(ciphertext), "--pinentry-mode", "error", "--decrypt")
	if err != nil {
		return nil, fmt.Errorf("passstore: decrypting %s: %w", p, err)
	}
	if n := len(plain); n > 0 && plain[n-1] == '\n' {
		plain[n-1] = 0
		plain = plain[:n-1]
	}
	return plain, nil
}

// readEntry reads the ciphertext of p through the root, bounded.
func (s *Store) readEntry(p vpath.Path) ([]byte, error) {
	// O_NONBLOCK: opening a FIFO planted in the store must not hang us.
	f, err := s.root.OpenFile(fileName(p), os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, s.fsErr("opening", p, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, s.fsErr("reading", p, err)
	}
	switch {
	case fi.IsDir():
		return nil, fmt.Errorf("passstore: %w: %s (a folder, not an entry)", backend.ErrNotFound, p)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("passstore: %w: %s is not a regular file", backend.ErrRefused, p)
	case fi.Size() > MaxEntrySize:
		return nil, fmt.Errorf("passstore: %w: %s is larger than %d bytes", backend.ErrTooLarge, p, MaxEntrySize)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxEntrySize+1))
	if err != nil {
		return nil, s.fsErr("reading", p, err)
	}
	if len(data) > MaxEntrySize {
		return nil, fmt.Errorf("passstore: %w: %s is larger than %d bytes", backend.ErrTooLarge, p, MaxEntrySize)
	}
	return data, nil
}

// Set encrypts value to the recipients of p's folder and replaces the entry
// atomically, then commits it if the store is a git repository.
func (s *Store) Set(ctx context.Context, p vpath.Path, value []byte) error {
	if len(value) > MaxValueSize {
		return fmt.Errorf("passstore: %w: %s: value is larger than %d bytes", backend.ErrTooLarge, p, MaxValueSize)
	}
	name := fileName(p)
	// Replacing a symlink would silently cut an alias (or, for one that
	// leads outside, write where Get refuses to read); refuse instead.
	if fi, err := s.root.Lstat(name); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("passstore: %w: %s is a symlink; not replacing it", backend.ErrRefused, p)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return s.writeErr("checking", p, err)
	}
	recipients, err := s.recipients(path.Dir(string(p)))
	if err != nil {
		return fmt.Errorf("passstore: %s: %w", p, err)
	}
	plain := make([]byte, len(value)+1)
	defer clear(plain)
	copy(plain, value)
	plain[len(value)] = '\n'
	ciphertext, err := s.runGPG(ctx, plain, len(plain)+1024, encryptArgs(recipients)...)
	if err != nil {
		return fmt.Errorf("passstore: encrypting %s: %w", p, err)
	}

	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if dir := path.Dir(name); dir != "." {
		if err := s.root.MkdirAll(dir, 0o700); err != nil {
			return s.writeErr("creating the folder of", p, err)
		}
	}
	if err := s.writeAtomic(name, ciphertext); err != nil {
		return s.writeErr("writing", p, err)
	}
	s.commit(ctx, name, false, fmt.Sprintf("Add given password for %s to store.", p))
	return nil
}

func encryptArgs(recipients []string) []string {
	args := []string{"--yes", "--compress-algo=none", "--no-encrypt-to", "--encrypt"}
	for _, r := range recipients {
		args = append(args, "-r", r)
	}
	return append(args, "--output", "-")
}

// writeAtomic writes data to name through a temporary file in the same
// folder, so a reader or a crash sees the old file or the new one.
func (s *Store) writeAtomic(name string, data []byte) error {
	dir := path.Dir(name)
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	// The dot prefix hides the file from List and Watch; the random part
	// keeps concurrent writers (us or another daemon) apart.
	tmp := path.Join(dir, "."+path.Base(name)+tempMarker+hex.EncodeToString(rnd[:]))
	f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.root.Rename(tmp, name)
	}
	if err != nil {
		_ = s.root.Remove(tmp)
		return err
	}
	return s.syncDir(dir)
}

func (s *Store) syncDir(dir string) error {
	d, err := s.root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// recipients reads the nearest .gpg-id from dir up to the root, like pass:
// one key id per line, "#" starts a comment, blank lines are skipped.
func (s *Store) recipients(dir string) ([]string, error) {
	for {
		data, err := s.readGPGID(path.Join(dir, gpgIDFile))
		switch {
		case err == nil:
			return parseGPGID(data, path.Join(dir, gpgIDFile))
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
			// Not here: try the parent.
		case s.escapes(err):
			return nil, fmt.Errorf("%w: %s is a symlink out of the store", backend.ErrRefused, path.Join(dir, gpgIDFile))
		default:
			return nil, fmt.Errorf("%w: reading %s: %v", backend.ErrUnavailable, path.Join(dir, gpgIDFile), err)
		}
		if dir == "." {
			return nil, fmt.Errorf("%w: the store has no .gpg-id\nhint: run `pass init KEY-ID`", backend.ErrUnavailable)
		}
		dir = path.Dir(dir)
	}
}

// readGPGID reads a .gpg-id file; a folder of that name counts as absent,
// as pass's `-f` test has it.
func (s *Store) readGPGID(name string) ([]byte, error) {
	f, err := s.root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fs.ErrNotExist
	}
	data, err := io.ReadAll(io.LimitReader(f, maxGPGIDSize+1))
	if err == nil && len(data) > maxGPGIDSize {
		err = fmt.Errorf("larger than %d bytes", maxGPGIDSize)
	}
	return data, err
}

func parseGPGID(data []byte, name string) ([]string, error) {
	var ids []string
	for line := range strings.SplitSeq(string(data), "\n") {
		line, _, _ = strings.Cut(line, "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		// An id is passed to gpg as the argument of -r; refuse anything
		// that gpg or a log could read as something else.
		if strings.HasPrefix(line, "-") || strings.ContainsFunc(line, isControl) {
			return nil, fmt.Errorf("%w: %s has a malformed key id", backend.ErrUnavailable, name)
		}
		ids = append(ids, line)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: %s names no key\nhint: run `pass init KEY-ID`", backend.ErrUnavailable, name)
	}
	return ids, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// Delete removes the entry at p, commits if the store is a git repository,
// and removes the folders it leaves empty, as `pass rm` does.
func (s *Store) Delete(ctx context.Context, p vpath.Path) error {
	name := fileName(p)
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	// Stat through the root so that what Get cannot see, Delete cannot
	// remove either; Remove itself then unlinks a symlink, not its target.
	fi, err := s.root.Stat(name)
	if err != nil {
		return s.fsErr("checking", p, err)
	}
	if fi.IsDir() {
		return fmt.Errorf("passstore: %w: %s (a folder, not an entry)", backend.ErrNotFound, p)
	}
	if err := s.root.Remove(name); err != nil {
		return s.fsErr("removing", p, err)
	}
	dir := path.Dir(name)
	if err := s.syncDir(dir); err != nil {
		s.log.Warn("passstore: syncing folder after delete", "path", string(p), "err", err)
	}
	s.commit(ctx, name, true, fmt.Sprintf("Remove %s from store.", p))
	// rmdir -p: stops at the first folder that is not empty, such as one
	// holding a .gpg-id.
	for ; dir != "."; dir = path.Dir(dir) {
		if s.root.Remove(dir) != nil {
			break
		}
	}
	return nil
}

// Check reports whether the store is readable and initialised. It does not
// run gpg; CheckKey does.
func (s *Store) Check(ctx context.Context) error {
	select {
	case <-s.closed:
		return fmt.Errorf("passstore: %w: store is closed", backend.ErrUnavailable)
	default:
	}
	d, err := s.root.Open(".")
	if err != nil {
		return fmt.Errorf("passstore: %w: %s: %v", backend.ErrUnavailable, s.dir, err)
	}
	_, err = d.ReadDir(1)
	d.Close()
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("passstore: %w: %s is not readable: %v", backend.ErrUnavailable, s.dir, err)
	}
	if _, err := s.readGPGID(gpgIDFile); err != nil {
		return fmt.Errorf("passstore: %w: %s has no readable .gpg-id: %v\nhint: run `pass init KEY-ID`", backend.ErrUnavailable, s.dir, err)
	}
	return nil
}

// CheckKey proves that gpg can encrypt to the store's root recipients and
// decrypt the result without a prompt, using a random probe.
func (s *Store) CheckKey(ctx context.Context) error {
	recipients, err := s.recipients(".")
	if err != nil {
		return fmt.Errorf("passstore: %w", err)
	}
	probe := make([]byte, 32)
	_, _ = rand.Read(probe)
	ciphertext, err := s.runGPG(ctx, probe, 1024, encryptArgs(recipients)...)
	if err != nil {
		return fmt.Errorf("passstore: encrypting a probe: %w", err)
	}
	// pinentry-mode error: a key whose passphrase is not cached fails here
	// instead of prompting, which is what "usable unattended" means.
	plain, err := s.runGPG(ctx, ciphertext, len(ciphertext), "--pinentry-mode", "error", "--decrypt")
	if err != nil {
		return fmt.Errorf("passstore: decrypting a probe: %w\nhint: is the key's passphrase cached in gpg-agent?", err)
	}
	defer clear(plain)
	if string(plain) != string(probe) {
		return fmt.Errorf("passstore: %w: the probe did not decrypt to itself", backend.ErrUnavailable)
	}
	return nil
}
