package passstore

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
)

// Identity used for commits only when git has none configured, so that a
// daemon on a fresh machine still records its changes.
const (
	fallbackGitName  = "Jawn Vault"
	fallbackGitEmail = "jawn-vault@localhost"
)

// commit records a change to name (relative to the root) the way pass
// does, if the store is a git repository. The caller holds writeMu. A
// failure is logged and otherwise ignored: the entry is already written,
// and a store with a broken git setup is still a working store.
func (s *Store) commit(ctx context.Context, name string, removed bool, msg string) {
	if _, err := s.root.Lstat(".git"); err != nil {
		return
	}
	git, err := exec.LookPath("git")
	if err != nil {
		s.log.Warn("passstore: store is a git repository but git is not installed; change not committed", "entry", name)
		return
	}
	// The file is already in place: finish the commit even if the caller
	// has gone away, within the usual timeout.
	ctx = context.WithoutCancel(ctx)
	// --literal-pathspecs: entry names may contain *, ? or [ and must not
	// be read as patterns.
	global := []string{"-C", s.dir, "--literal-pathspecs"}
	if !s.gitHasIdentity(ctx, git) {
		global = append(global, "-c", "user.name="+fallbackGitName, "-c", "user.email="+fallbackGitEmail)
	}
	stage := []string{"add", "--", name}
	if removed {
		stage = []string{"rm", "-q", "--cached", "--ignore-unmatch", "--", name}
	}
	commit := []string{"commit", "-q", "-m", msg}
	if out, err := s.runGit(ctx, git, slices.Concat(global, []string{"config", "--bool", "--get", "pass.signcommits"})...); err == nil && strings.TrimSpace(string(out)) == "true" {
		commit = append(commit, "-S")
	}
	// Commit only this entry, not whatever else the user has staged.
	commit = append(commit, "--", name)
	for _, args := range [][]string{stage, commit} {
		if _, err := s.runGit(ctx, git, slices.Concat(global, args)...); err != nil {
			s.log.Warn("passstore: git commit failed; the change is written but not committed", "entry", name, "err", err)
			return
		}
	}
}

// gitHasIdentity reports whether git can name an author and a committer
// from its configuration or environment.
func (s *Store) gitHasIdentity(ctx context.Context, git string) bool {
	for _, v := range []string{"GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT"} {
		if _, err := s.runGit(ctx, git, "-C", s.dir, "var", v); err != nil {
			return false
		}
	}
	return true
}

// runGit runs git with the store's child environment and timeout.
func (s *Store) runGit(ctx context.Context, git string, args ...string) ([]byte, error) {
	tctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	cmd := exec.CommandContext(tctx, git, args...)
	cmd.Env = s.env
	var stdout bytes.Buffer
	stderr := &cappedBuffer{max: maxStderr}
	cmd.Stdout = &stdout
	cmd.Stderr = stderr
	cmd.WaitDelay = waitDelay
	if err := cmd.Run(); err != nil {
		if tctx.Err() != nil {
			return nil, fmt.Errorf("git timed out after %s", s.timeout)
		}
		return nil, fmt.Errorf("%v: %s", err, summarize(stderr.Bytes()))
	}
	return stdout.Bytes(), nil
}
