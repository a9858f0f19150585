package audit

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/shiming-id/shiming/gateway/store/sqlite"
)

func TestVerifyDetectsChangesAndRemovals(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/a.db"
	st, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log := New(st, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for i := range 5 {
		if err := log.Record(ctx, KindLogin, "a1", "430***********123X", map[string]string{"n": string(rune('0' + i))}); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := Verify(ctx, st, nil)
	if err != nil || rep.Records != 5 || rep.LastSeq != 5 || len(rep.Head) == 0 {
		t.Fatalf("Verify intact chain = %+v, %v", rep, err)
	}
	st.Close()

	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// Someone with the database file in hand can drop the append-only
	// triggers; the hash chain still tells.
	if _, err := raw.Exec(`DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete`); err != nil {
		t.Fatal(err)
	}
	tamper := func(t *testing.T, stmt string, wantSeq int64) {
		t.Helper()
		if _, err := raw.Exec(stmt); err != nil {
			t.Fatal(err)
		}
		st, err := sqlite.Open(ctx, path, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		_, err = Verify(ctx, st, nil)
		b, ok := err.(*BrokenError)
		if !ok || b.Seq != wantSeq {
			t.Fatalf("after %q: Verify = %v, want break at %d", stmt, err, wantSeq)
		}
	}
	t.Run("changed", func(t *testing.T) {
		tamper(t, `UPDATE audit SET actor = 'a2' WHERE seq = 3`, 3)
	})
	t.Run("removed", func(t *testing.T) {
		tamper(t, `DELETE FROM audit WHERE seq = 2`, 2)
	})
}
