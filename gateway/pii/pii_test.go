package pii

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func testKeyring(t *testing.T) *Keyring {
	t.Helper()
	k, err := New(bytes.Repeat([]byte{7}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	k := testKeyring(t)
	id := "11010519491231002X"
	sealed := k.SealString("id_number", id)
	if bytes.Contains(sealed, []byte(id)) || bytes.Contains(sealed, []byte(id[6:14])) {
		t.Fatal("sealed value contains the plain number")
	}
	got, err := k.OpenString("id_number", sealed)
	if err != nil || got != id {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := k.Open("phone", sealed); !errors.Is(err, ErrOpen) {
		t.Fatalf("opened under another purpose: %v", err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := k.Open("id_number", sealed); !errors.Is(err, ErrOpen) {
		t.Fatalf("opened a changed value: %v", err)
	}
	if bytes.Equal(k.SealString("id_number", id), k.SealString("id_number", id)) {
		t.Fatal("sealing is deterministic; nonces are not random")
	}
}

func TestLookup(t *testing.T) {
	k := testKeyring(t)
	a := k.Lookup("id_number", "11010519491231002X")
	if a != k.Lookup("id_number", "11010519491231002X") {
		t.Fatal("lookup hash is not stable")
	}
	if a == k.Lookup("phone", "11010519491231002X") {
		t.Fatal("lookup hash ignores the purpose")
	}
	other, _ := New(bytes.Repeat([]byte{8}, KeySize))
	if a == other.Lookup("id_number", "11010519491231002X") {
		t.Fatal("lookup hash ignores the key")
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "master.key")
	k1, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, %v", st.Mode().Perm(), err)
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("key not reused: %v", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(path); err == nil {
		t.Fatal("a world-readable key file was accepted")
	}
}
