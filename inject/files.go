package inject

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrNotTmpfs is returned when the directory for secret files is not on a
// memory file system; vault-exec never writes a secret to disk.
var ErrNotTmpfs = errors.New("not on tmpfs")

// fileBase picks where --file secrets go: the first of systemd's
// $RUNTIME_DIRECTORY (RuntimeDirectory=, removed by systemd when the unit
// stops), else /dev/shm.
func fileBase(environ []string) string {
	if rd, ok := getEnv(environ, "RUNTIME_DIRECTORY"); ok && rd != "" {
		first, _, _ := strings.Cut(rd, ":")
		return first
	}
	return "/dev/shm"
}

// onTmpfs reports whether dir is on tmpfs or ramfs.
func onTmpfs(dir string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false, err
	}
	return st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC, nil
}

// secretFiles is a private directory of secret files.
type secretFiles struct {
	dir   string
	paths map[string]string // Name -> file
}

// writeSecretFiles writes each value to its own file, mode 0400, in a new
// directory, mode 0700, under base. It returns the files by mapping name.
// On error nothing is left behind.
func writeSecretFiles(base string, files []Mapping, values map[string][]byte) (*secretFiles, error) {
	ok, err := onTmpfs(base)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s: %w", base, ErrNotTmpfs)
	}
	dir, err := os.MkdirTemp(base, "vault-exec.")
	if err != nil {
		return nil, err
	}
	sf := &secretFiles{dir: dir, paths: map[string]string{}}
	for _, m := range files {
		p := filepath.Join(dir, m.Name)
		if err := writePrivate(p, values[m.Name]); err != nil {
			sf.remove()
			return nil, err
		}
		sf.paths[m.Name] = p
	}
	return sf, nil
}

// writePrivate creates name with mode 0400 and writes b to it.
func writePrivate(name string, b []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o400)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// remove deletes the directory and the files in it.
func (sf *secretFiles) remove() {
	if sf != nil {
		_ = os.RemoveAll(sf.dir)
	}
}
