package passstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"

	"github.com/fsnotify/fsnotify"

	"github.com/jamditis/jawn-vault/vaultd/backend"
	"github.com/jamditis/jawn-vault/vaultd/vpath"
)

// gitBulkNames are the files in .git whose change means the working tree
// may have changed wholesale (checkout, reset, merge, pull, rebase). Other
// files in .git (index, objects, logs, COMMIT_EDITMSG) change on every
// commit, including our own, and the entry files a commit touches report
// themselves; reacting to those would empty the daemon's cache on every
// write.
var gitBulkNames = map[string]bool{
	"HEAD": true, "ORIG_HEAD": true, "FETCH_HEAD": true, "MERGE_HEAD": true, "packed-refs": true,
}

// Watch reports entries changed on disk, by anyone (pass, git, another
// daemon, this store), until ctx is done or the store is closed. fn(p)
// means the entry at p may have changed or gone; fn("") means any entry
// may have: a .gpg-id changed, git rewrote the tree, a folder was removed
// or renamed, a symlink appeared, or the kernel dropped events. fn is
// called from Watch's goroutine, one call at a time.
//
// Every folder of the store is watched (new ones as they appear), except
// hidden ones; of .git only the top level is. A folder reached through a
// symlink is not watched under the symlink's name.
func (s *Store) Watch(ctx context.Context, fn func(p vpath.Path)) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("passstore: %w: starting the watcher: %v", backend.ErrUnavailable, err)
	}
	defer w.Close()
	sw := &storeWatcher{s: s, w: w, fn: fn}
	if err := sw.addTree(ctx, ".", false); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	sw.addGit()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.closed:
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			sw.handle(ctx, ev)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				s.log.Warn("passstore: the store changed faster than it could be watched; treating every entry as changed")
			} else {
				s.log.Warn("passstore: watch error; treating every entry as changed", "err", err)
			}
			// Events were lost, folders created meanwhile among them:
			// watch again what exists now, then report everything.
			_ = sw.addTree(ctx, ".", false)
			sw.addGit()
			fn("")
		}
	}
}

type storeWatcher struct {
	s  *Store
	w  *fsnotify.Watcher
	fn func(vpath.Path)
}

// addTree watches dir (relative to the root) and every folder below it
// that is not hidden and not a symlink. With report, it also reports the
// entries it finds: they may have been written before the watch existed.
func (sw *storeWatcher) addTree(ctx context.Context, dir string, report bool) error {
	sw.add(dir)
	return sw.s.walk(ctx, dir, false, func(rel string, mode fs.FileMode) bool {
		switch {
		case mode.IsDir():
			sw.add(rel)
			return true
		case report && mode&fs.ModeSymlink != 0 && !strings.HasSuffix(rel, suffix):
			sw.fn("")
		case report && strings.HasSuffix(rel, suffix):
			sw.entry(rel)
		}
		return false
	})
}

// add watches a folder. os.Root cannot hand fsnotify a descriptor, so the
// path is resolved again here; if a folder is swapped for a symlink in
// between, we may watch a folder outside the store, which costs spurious
// reports but never serves a file from outside (Get goes through the root).
func (sw *storeWatcher) add(dir string) {
	if err := sw.w.Add(filepath.Join(sw.s.dir, dir)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		sw.s.log.Warn("passstore: cannot watch folder; changes in it may be missed", "folder", dir, "err", err)
	}
}

func (sw *storeWatcher) addGit() {
	if fi, err := sw.s.root.Lstat(".git"); err == nil && fi.IsDir() {
		sw.add(".git")
	}
}

// entry reports the entry whose file is rel, if it names a valid path.
func (sw *storeWatcher) entry(rel string) {
	if p, err := vpath.Parse(strings.TrimSuffix(rel, suffix)); err == nil {
		sw.fn(p)
	}
}

func (sw *storeWatcher) handle(ctx context.Context, ev fsnotify.Event) {
	rel, err := filepath.Rel(sw.s.dir, ev.Name)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return
	}
	rel = filepath.ToSlash(rel)
	base := path.Base(rel)
	switch {
	case rel == ".git":
		if ev.Has(fsnotify.Create) {
			sw.addGit() // `pass git init` while we run
		}
		return
	case strings.HasPrefix(rel, ".git/"):
		if gitBulkNames[base] {
			sw.fn("")
		}
		return
	case base == gpgIDFile:
		sw.fn("")
		return
	case hidden(rel):
		// Temporary files (ours and others'), .extensions, dotfiles.
		return
	}
	isEntry := strings.HasSuffix(base, suffix)
	switch {
	case ev.Has(fsnotify.Create):
		fi, err := sw.s.root.Lstat(rel)
		switch {
		case err == nil && fi.IsDir():
			if err := sw.addTree(ctx, rel, true); err != nil {
				sw.s.log.Warn("passstore: cannot watch new folder", "folder", rel, "err", err)
				sw.fn("")
			}
		case err == nil && fi.Mode()&fs.ModeSymlink != 0 && !isEntry:
			sw.fn("") // perhaps a folder alias: which entries it adds is unknown
		case isEntry:
			sw.entry(rel)
		}
	case ev.Has(fsnotify.Remove), ev.Has(fsnotify.Rename):
		if isEntry {
			sw.entry(rel)
		} else {
			// Perhaps a folder (its watch goes with it): every entry in
			// it is gone, and we no longer know which they were.
			sw.fn("")
		}
	case ev.Has(fsnotify.Write), ev.Has(fsnotify.Chmod):
		if isEntry {
			sw.entry(rel)
		}
	}
}

// hidden reports whether any segment of rel starts with ".".
func hidden(rel string) bool {
	for seg := range strings.SplitSeq(rel, "/") {
		if strings.HasPrefix(seg, ".") {
			return true
		}
	}
	return false
}
