package passstore

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"syscall"

	"github.com/jamditis/jawn-vault/vaultd/backend"
	"github.com/jamditis/jawn-vault/vaultd/vpath"
)

// List returns the entries whose path starts with prefix, sorted. Hidden
// files and folders (.git, .extensions, .gpg-id, temporary files) are not
// entries; nor are files whose name vpath.Parse refuses, or symlinks that
// leave the store. Symlinks inside the store are followed, without loops.
func (s *Store) List(ctx context.Context, prefix string) ([]vpath.Path, error) {
	var out []vpath.Path
	err := s.walk(ctx, ".", true, func(rel string, mode fs.FileMode) bool {
		switch {
		case mode.IsDir():
			dir := rel + "/"
			return strings.HasPrefix(dir, prefix) || strings.HasPrefix(prefix, dir)
		case mode.IsRegular() && strings.HasSuffix(rel, suffix):
			p, err := vpath.Parse(strings.TrimSuffix(rel, suffix))
			if err == nil && vpath.HasPrefix(p, prefix) {
				out = append(out, p)
			}
		}
		return false
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(out)
	return out, nil
}

type fileID struct{ dev, ino uint64 }

func idOf(fi fs.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{uint64(st.Dev), st.Ino}, true // Dev is not uint64 on every platform
}

// walk calls visit for every entry below dir (relative to the root) whose
// name does not start with ".", depth first, with the entry's type. With
// follow, a symlink is resolved through the root and visited as what it
// points to (one that escapes, dangles or loops is skipped); without, a
// symlink is visited as a symlink. visit returns whether to descend into a
// folder. Only a failure to read dir itself is an error; unreadable
// folders below it are logged and skipped.
func (s *Store) walk(ctx context.Context, dir string, follow bool, visit func(rel string, mode fs.FileMode) bool) error {
	w := walker{s: s, ctx: ctx, follow: follow, visit: visit, ancestors: map[fileID]bool{}}
	if err := w.dir(dir); err != nil {
		return fmt.Errorf("passstore: %w: reading %s: %v", backend.ErrUnavailable, path.Join(s.dir, dir), err)
	}
	return ctx.Err()
}

type walker struct {
	s         *Store
	ctx       context.Context
	follow    bool
	visit     func(string, fs.FileMode) bool
	ancestors map[fileID]bool // folders on the current path, against symlink loops
}

func (w *walker) dir(dir string) error {
	f, err := w.s.root.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if id, ok := idOf(fi); ok {
		if w.ancestors[id] {
			return nil
		}
		w.ancestors[id] = true
		defer delete(w.ancestors, id)
	}
	entries, err := f.ReadDir(-1)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if w.ctx.Err() != nil {
			return nil
		}
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		rel := path.Join(dir, name)
		// Nothing longer can be a valid path; this also bounds the walk
		// through symlinks that alias folders.
		if len(rel) > vpath.MaxLen+len(suffix) {
			continue
		}
		mode := e.Type()
		if mode&fs.ModeSymlink != 0 && w.follow {
			target, err := w.s.root.Stat(rel)
			if err != nil {
				continue
			}
			mode = target.Mode().Type()
		}
		if w.visit(rel, mode) && mode.IsDir() {
			if err := w.dir(rel); err != nil {
				w.s.log.Warn("passstore: skipping unreadable folder", "folder", rel, "err", err)
			}
		}
	}
	return nil
}
