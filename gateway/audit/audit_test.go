package audit

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/shiming-id/shiming/gateway/store/sqlite"
)

// chain writes five records to a fresh SQLite file and returns its path.
func chain(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	path := t.TempDir() + "/a.db"
	st, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log := New(st, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for i := range 5 {
		if err := log.Record(ctx, KindLogin, "a1", "430***********123X", map[string]string{"n": string(rune('0' + i))}); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := verifyFile(t, path)
	if err != nil || rep.Records != 5 || rep.LastSeq != 5 || len(rep.Head) == 0 {
		t.Fatalf("Verify intact chain = %+v, %v", rep, err)
	}
	return path
}

func verifyFile(t *testing.T, path string) (Report, error) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	return Verify(context.Background(), st, nil)
}

func TestVerifyDetectsTampering(t *testing.T) {
	tests := []struct {
		name    string
		stmt    string
		wantSeq int64
	}{
		{"changed", `UPDATE audit SET actor = 'a2' WHERE seq = 3`, 3},
		{"removed in the middle", `DELETE FROM audit WHERE seq = 2`, 2},
		{"newest removed", `DELETE FROM audit WHERE seq = 5`, 5},
		{"reordered", `UPDATE audit SET time = time + 1 WHERE seq = 1`, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := chain(t)
			raw, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			// Someone with the database file in hand can drop the
			// append-only triggers; the hash chain still tells.
			if _, err := raw.Exec(`DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; ` + tc.stmt); err != nil {
				t.Fatal(err)
			}
			raw.Close()
			_, err = verifyFile(t, path)
			var b *BrokenError
			if !errors.As(err, &b) || b.Seq != tc.wantSeq {
				t.Fatalf("Verify = %v, want a break at %d", err, tc.wantSeq)
			}
			if !IsBroken(err) {
				t.Fatal("IsBroken is false")
			}
		})
	}
}
