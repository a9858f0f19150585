// Package sqlstore implements store.Store and registration.Store over
// database/sql, for SQLite and PostgreSQL alike, with the differences
// kept in a small Flavor.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shiming-id/shiming/gateway/store"
)

// Flavor is what differs between the SQL databases the store speaks.
// The driver packages (store/sqlite, store/postgres) build it; queries
// are written once, with ? placeholders and ON CONFLICT upserts, which
// both databases accept.
type Flavor struct {
	// Name picks the migration folder, migrations/<Name>: "sqlite" or
	// "postgres".
	Name string
	// NumberedPlaceholders rewrites ? to $1, $2, ... (PostgreSQL).
	NumberedPlaceholders bool
	// TimeAsMicros stores times as integer microseconds since the Unix
	// epoch (SQLite, which has no time type); otherwise times are passed
	// to the driver as time.Time (PostgreSQL timestamptz). Either way
	// they are UTC and truncated to the microsecond, so they round-trip
	// exactly.
	TimeAsMicros bool
	// LockRow is appended to a SELECT that reads a row the transaction
	// will update and must hold meanwhile (" FOR UPDATE" on PostgreSQL;
	// empty on SQLite, whose write transactions begin IMMEDIATE and so
	// already exclude other writers).
	LockRow string
	// MigrationLock, when set, is run first in every migration
	// transaction so that replicas starting together migrate one at a
	// time (an advisory lock on PostgreSQL).
	MigrationLock string
	// CloseSQL statements run on the write pool before Close (a WAL
	// checkpoint on SQLite); their errors are reported by Close.
	CloseSQL []string
	// IsUniqueViolation reports whether err is the driver's unique or
	// primary key constraint error.
	IsUniqueViolation func(error) bool
	// IsForeignKeyViolation reports whether err is the driver's foreign
	// key constraint error.
	IsForeignKeyViolation func(error) bool
	// CacheStatements prepares each query once per pool and reuses it,
	// for drivers that would parse it on every call (SQLite; pgx caches
	// statements itself).
	CacheStatements bool
}

// Config is what New needs.
type Config struct {
	Flavor Flavor
	// DB serves reads, and writes too unless WriteDB is set. The Store
	// owns it and closes it in Close.
	DB *sql.DB
	// WriteDB, when set, serves every write. SQLite has one writer: a
	// write pool of one connection makes writers queue in Go instead of
	// polling the database lock.
	WriteDB *sql.DB
	// Now is the clock for the one decision the interface does not give
	// a time for: whether the value PutIfAbsent finds is still live.
	// Defaults to time.Now.
	Now func() time.Time
}

// Store is store.Store over database/sql. It is safe for concurrent use.
type Store struct {
	flavor Flavor
	r, w   *sql.DB
	// rs and ws run the queries outside transactions on r and w.
	rs, ws *stmts
	now    func() time.Time
	latest int // newest migration version this binary knows

	rebound sync.Map // query with ? -> query with $n
}

// New migrates the database to the newest schema this binary knows and
// returns a store over it. It refuses a database whose schema is newer
// (ErrSchemaTooNew). On error the pools are left open for the caller.
func New(ctx context.Context, cfg Config) (*Store, error) {
	return newStore(ctx, cfg, migrationFS)
}

// newStore is New with the migrations read from fsys.
func newStore(ctx context.Context, cfg Config, fsys fs.FS) (*Store, error) {
	if cfg.DB == nil {
		return nil, errors.New("sqlstore: Config.DB is nil")
	}
	if cfg.Flavor.IsUniqueViolation == nil || cfg.Flavor.IsForeignKeyViolation == nil {
		return nil, errors.New("sqlstore: Flavor needs IsUniqueViolation and IsForeignKeyViolation")
	}
	migs, err := loadMigrations(fsys, cfg.Flavor.Name)
	if err != nil {
		return nil, err
	}
	s := &Store{flavor: cfg.Flavor, r: cfg.DB, w: cfg.WriteDB, now: cfg.Now}
	if s.w == nil {
		s.w = s.r
	}
	s.rs, s.ws = newStmts(s.r, cfg.Flavor.CacheStatements), newStmts(s.w, cfg.Flavor.CacheStatements)
	if s.now == nil {
		s.now = time.Now
	}
	s.latest = migs[len(migs)-1].version
	if err := s.migrate(ctx, migs); err != nil {
		return nil, err
	}
	return s, nil
}

// Ping reports whether the database answers and its schema is at the
// version this binary knows.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlstore: ping: %w", err)
	}
	if s.w != s.r {
		if err := s.w.PingContext(ctx); err != nil {
			return fmt.Errorf("sqlstore: ping write pool: %w", err)
		}
	}
	v, err := schemaVersion(ctx, s.r)
	if err != nil {
		return fmt.Errorf("sqlstore: ping: %w", err)
	}
	if v != s.latest {
		return fmt.Errorf("sqlstore: ping: %w: database at %d, binary at %d", ErrSchemaMismatch, v, s.latest)
	}
	return nil
}

// Close runs the flavor's closing statements and closes the pools.
func (s *Store) Close() error {
	var errs []error
	s.rs.close()
	s.ws.close()
	for _, q := range s.flavor.CloseSQL {
		if _, err := s.w.Exec(q); err != nil {
			errs = append(errs, fmt.Errorf("sqlstore: close: %s: %w", q, err))
		}
	}
	if s.w != s.r {
		if err := s.r.Close(); err != nil {
			errs = append(errs, fmt.Errorf("sqlstore: close read pool: %w", err))
		}
	}
	if err := s.w.Close(); err != nil {
		errs = append(errs, fmt.Errorf("sqlstore: close: %w", err))
	}
	return errors.Join(errs...)
}

// SchemaVersion is the newest migration this binary knows for the
// store's flavor.
func (s *Store) SchemaVersion() int { return s.latest }

// q rewrites a query's ? placeholders for the flavor. Queries never hold
// a ? inside a literal.
func (s *Store) q(query string) string {
	if !s.flavor.NumberedPlaceholders {
		return query
	}
	if v, ok := s.rebound.Load(query); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	s.rebound.Store(query, b.String())
	return b.String()
}

// norm is a time as the store keeps it: UTC, whole microseconds.
func norm(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// t turns a time into the value the flavor stores.
func (s *Store) t(t time.Time) any {
	t = norm(t)
	if s.flavor.TimeAsMicros {
		return t.UnixMicro()
	}
	return t
}

// timeCol scans a stored time back into a UTC time.Time.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(v any) error {
	switch x := v.(type) {
	case int64:
		*c.t = time.UnixMicro(x).UTC()
	case time.Time:
		*c.t = x.UTC()
	default:
		return fmt.Errorf("sqlstore: cannot scan %T as a time", v)
	}
	return nil
}

// tc is the scan destination for a time column.
func tc(t *time.Time) timeCol { return timeCol{t} }

// blob keeps nil out of NOT NULL binary columns.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// unblob returns what blob stored, with empty values as nil.
func unblob(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// nullable stores an empty unique hash as NULL, so accounts without one
// do not collide.
func nullable(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// tx runs fn in a write transaction, committing when fn returns nil.
// fn must use only the querier it is given: on SQLite the write pool
// has a single connection.
func (s *Store) tx(ctx context.Context, fn func(q querier) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// mapErr turns constraint errors into the store's sentinel errors.
func (s *Store) mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case s.flavor.IsUniqueViolation(err):
		return fmt.Errorf("%w (%v)", store.ErrAlreadyExists, err)
	case s.flavor.IsForeignKeyViolation(err):
		return fmt.Errorf("%w: the account does not exist (%v)", store.ErrNotFound, err)
	}
	return err
}

// affected reports whether a statement changed a row.
func affected(res sql.Result) (bool, error) {
	n, err := res.RowsAffected()
	return n > 0, err
}

var _ store.Store = (*Store)(nil)

// The methods below let other packages keep their own tables in the same
// database (migrations 0002 on), with the same conventions.

// DB returns the pool that serves writes (on SQLite, one connection:
// never hold a transaction on it while waiting for another write).
func (s *Store) DB() *sql.DB { return s.w }

// ReadDB returns the pool that serves reads (read-only on SQLite).
func (s *Store) ReadDB() *sql.DB { return s.r }

// Flavor returns the store's flavor.
func (s *Store) Flavor() Flavor { return s.flavor }

// Rebind rewrites a query written with ? placeholders for the flavor.
func (s *Store) Rebind(query string) string { return s.q(query) }

// TimeArg returns t as the flavor stores it (UTC microseconds).
func (s *Store) TimeArg(t time.Time) any { return s.t(t) }

// ScanTime returns a scan destination for a time column written with
// TimeArg.
func ScanTime(t *time.Time) sql.Scanner { return tc(t) }
