package testpass

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyringAndStore(t *testing.T) {
	var home string
	t.Run("use", func(t *testing.T) {
		var keyID string
		home, keyID = NewKeyring(t)
		if len(keyID) != 40 {
			t.Errorf("keyID %q is not a fingerprint", keyID)
		}
		if fi, err := os.Stat(home); err != nil || fi.Mode().Perm() != 0o700 {
			t.Fatalf("GNUPGHOME mode: %v, %v", fi, err)
		}
		store := NewStore(t, home, keyID)
		id, err := os.ReadFile(filepath.Join(store, ".gpg-id"))
		if err != nil || strings.TrimSpace(string(id)) != keyID {
			t.Errorf(".gpg-id = %q, %v; want %s", id, err, keyID)
		}
		InitGit(t, store, home)
		if _, err := os.Stat(filepath.Join(store, ".git")); err != nil {
			t.Errorf("pass git init made no repository: %v", err)
		}
		value := []byte("two\nlines\x00and a NUL")
		PassInsert(t, home, store, "folder/entry", value)
		if got := PassShow(t, home, store, "folder/entry"); !bytes.Equal(got, append(value, '\n')) {
			t.Errorf("PassShow = %q, want the value and a newline", got)
		}
		other := AddKey(t, home, "Other <other@jawn.invalid>")
		if other == keyID || len(other) != 40 {
			t.Errorf("AddKey = %q", other)
		}
	})
	// The subtest's cleanup has run: the keyring and its agent are gone.
	if _, err := os.Stat(home); !os.IsNotExist(err) {
		t.Errorf("keyring %s still exists after cleanup (%v)", home, err)
	}
}

func TestEnvIsBuilt(t *testing.T) {
	t.Setenv("JAWN_VAULT_LEAK_CHECK", "x")
	env := Env("/g", "/s")
	for _, kv := range env {
		if strings.HasPrefix(kv, "JAWN_VAULT_LEAK_CHECK=") {
			t.Error("Env copied the test's environment")
		}
	}
	for _, want := range []string{"GNUPGHOME=/g", "PASSWORD_STORE_DIR=/s", "HOME=/g"} {
		if !strings.Contains("\n"+strings.Join(env, "\n")+"\n", "\n"+want+"\n") {
			t.Errorf("Env lacks %s", want)
		}
	}
}
