package sqlite_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shiming-id/shiming/gateway/pii"
	"github.com/shiming-id/shiming/gateway/store"
	"github.com/shiming-id/shiming/gateway/store/sqlite"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

func TestFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "db")
	path := filepath.Join(dir, "shiming.db")
	s := open(t, path)
	// Write something so the -wal and -shm files exist.
	if err := s.Put(t.Context(), "k", []byte("v"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	want := map[string]os.FileMode{dir: 0o700, path: 0o600, path + "-wal": 0o600, path + "-shm": 0o600}
	for name, mode := range want {
		st, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got&^mode != 0 {
			t.Errorf("%s: mode %o, want at most %o", name, got, mode)
		}
	}
}

func TestOpenRejects(t *testing.T) {
	if _, err := sqlite.Open(t.Context(), "", sqlite.Options{}); err == nil {
		t.Fatal("empty path: no error")
	}
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Open(t.Context(), filepath.Join(notDir, "shiming.db"), sqlite.Options{}); err == nil {
		t.Fatal("path under a file: no error")
	}
}

// Two stores on one file stand for two processes: their writers contend
// for SQLite's one write lock and must wait for it, not fail with
// SQLITE_BUSY.
func TestConcurrentWritersAcrossProcesses(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "shared.db")
	a, b := open(t, path), open(t, path)
	const perStore, each = 8, 15
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	for _, s := range []store.Store{a, b} {
		for w := range perStore {
			wg.Go(func() {
				for i := range each {
					_, err1 := s.Incr(ctx, "hits", 1, time.Hour, now)
					_, err2 := s.AppendAudit(ctx, store.AuditRecord{Time: now, Kind: "login", Actor: fmt.Sprintf("w%d", w)})
					_, _, err3 := s.PutIfAbsent(ctx, fmt.Sprintf("code-%d", i), []byte{byte(w)}, now.Add(24*365*time.Hour*10))
					if err := errors.Join(err1, err2, err3); err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
				}
			})
		}
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d writes failed, first: %v", len(errs), errs[0])
	}
	const total = 2 * perStore * each
	n, err := a.Count(ctx, "hits", time.Hour, now)
	if err != nil || n != total {
		t.Fatalf("Count = %d (%v), want %d", n, err, total)
	}
	recs, err := b.ListAudit(ctx, 0, total+1)
	if err != nil || len(recs) != total {
		t.Fatalf("ListAudit: %d records (%v), want %d", len(recs), err, total)
	}
	var prev []byte
	for i, r := range recs {
		if r.Seq != int64(i+1) || !bytes.Equal(r.PrevHash, prev) || !bytes.Equal(r.Hash, store.AuditHash(prev, r)) {
			t.Fatalf("record %d breaks the chain: %+v", i+1, r)
		}
		prev = r.Hash
	}
}

// The database file holds personal data only sealed or keyed-hashed.
func TestNoPlainPersonalDataOnDisk(t *testing.T) {
	ctx := t.Context()
	key := make([]byte, pii.KeySize)
	for i := range key {
		key[i] = byte(i)
	}
	kr, err := pii.New(key)
	if err != nil {
		t.Fatal(err)
	}
	const first17 = "43010219900307123"
	c, err := cnid.CheckChar(first17)
	if err != nil {
		t.Fatal(err)
	}
	idNumber := first17 + string(c)
	if !cnid.Valid(idNumber) {
		t.Fatalf("test ID number %s is not valid", cnid.MaskID(idNumber))
	}
	const phone, name = "13912345678", "张三丰"

	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "shiming.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	acct := store.Account{
		ID:             "acct-1",
		IDNumberHash:   kr.Lookup("id_number", idNumber),
		IDNumberSealed: kr.SealString("id_number", idNumber),
		NameSealed:     kr.SealString("name", name),
		PhoneHash:      kr.Lookup("phone", phone),
		PhoneSealed:    kr.SealString("phone", phone),
		PasswordHash:   "$argon2id$v=19$m=65536,t=3,p=2$c2FsdA$aGFzaA",
		Portal:         "hunanpea",
		CreatedAt:      now,
		UpdatedAt:      now,
		Version:        1,
	}
	ev := []store.Evidence{{Provider: "ctid", Level: "ctid", Reference: "ref-1", VerifiedAt: now}}
	if err := s.CreateAccount(ctx, acct, ev, []store.Link{{Provider: "ctid", Subject: kr.Lookup("ctid", idNumber), CreatedAt: now}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendAudit(ctx, store.AuditRecord{Time: now, Kind: "register", Actor: acct.ID, Subject: cnid.MaskID(idNumber)}); err != nil {
		t.Fatal(err)
	}
	// The store gives the sealed values back, and they open.
	got, err := s.GetAccountByIDNumber(ctx, kr.Lookup("id_number", idNumber))
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := kr.OpenString("id_number", got.IDNumberSealed); err != nil || plain != idNumber {
		t.Fatalf("sealed ID number does not open back (%v)", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	files, err := filepath.Glob(path + "*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no database files (%v)", err)
	}
	var disk []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		disk = append(disk, b...)
	}
	if !bytes.Contains(disk, []byte(acct.PhoneHash)) {
		t.Fatal("the phone hash is not in the files: the search below would prove nothing")
	}
	secrets := map[string]string{
		"full ID number":              idNumber,
		"region code with birth date": idNumber[:14],
		"phone":                       phone,
		"name":                        name,
	}
	for what, secret := range secrets {
		if bytes.Contains(disk, []byte(secret)) {
			t.Errorf("the %s appears in plain text in %v", what, files)
		}
	}
}
