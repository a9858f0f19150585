// Package sqlite opens the gateway's store in a SQLite file, through the
// pure-Go modernc.org/sqlite driver: the embedded default, one node.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/shiming-id/shiming/gateway/store/sqlstore"
)

// Options tune Open. The zero value serves the embedded default.
type Options struct {
	// BusyTimeout is how long a statement waits for a lock held by
	// another process (a backup, a second binary) before it fails.
	// Writers of this process queue in Go and never reach it. Default 5s.
	BusyTimeout time.Duration
	// MaxReaders bounds the read pool; WAL lets readers run beside the
	// one writer. Default 4.
	MaxReaders int
	// Now is the store's clock (see sqlstore.Config.Now). Default time.Now.
	Now func() time.Time
}

// Open opens (creating it with mode 0600, in a folder created with mode
// 0700) the SQLite database at path, migrates it, and returns the store.
//
// The database runs in WAL mode with synchronous=NORMAL, foreign keys on
// and a busy timeout. Writes go through a pool of one connection whose
// transactions begin IMMEDIATE, so concurrent writers wait their turn
// rather than fail with SQLITE_BUSY; reads go through a separate
// read-only pool.
func Open(ctx context.Context, path string, opts Options) (*sqlstore.Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 5 * time.Second
	}
	if opts.MaxReaders <= 0 {
		opts.MaxReaders = 4
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: database path: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create database folder: %w", err)
	}
	// SQLite creates the -wal and -shm files with the database file's
	// mode, so creating it 0600 first covers all three.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: create database file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: create database file: %w", err)
	}

	w, err := sql.Open("sqlite", dsn(abs, opts, false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	// The first connection switches the file to WAL before readers come.
	if err := w.PingContext(ctx); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	r, err := sql.Open("sqlite", dsn(abs, opts, true))
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	r.SetMaxOpenConns(opts.MaxReaders)
	r.SetMaxIdleConns(opts.MaxReaders)
	r.SetConnMaxIdleTime(5 * time.Minute)

	s, err := sqlstore.New(ctx, sqlstore.Config{Flavor: Flavor(), DB: r, WriteDB: w, Now: opts.Now})
	if err != nil {
		_ = r.Close()
		_ = w.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return s, nil
}

// dsn builds the driver's URI for the database file.
func dsn(abs string, opts Options, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(opts.BusyTimeout.Milliseconds(), 10)+")")
	if !readOnly {
		q.Add("_pragma", "journal_mode(WAL)")
	}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Set("_txlock", "immediate")
	}
	return (&url.URL{Scheme: "file", Path: abs}).String() + "?" + q.Encode()
}

// Flavor is SQLite's sqlstore.Flavor.
func Flavor() sqlstore.Flavor {
	return sqlstore.Flavor{
		Name:         "sqlite",
		TimeAsMicros: true,
		// The driver parses and plans a statement on every call unless it
		// is prepared once and reused.
		CacheStatements: true,
		CloseSQL:        []string{"PRAGMA wal_checkpoint(TRUNCATE)"},
		IsUniqueViolation: func(err error) bool {
			return hasCode(err, sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
		},
		IsForeignKeyViolation: func(err error) bool { return hasCode(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY) },
	}
}

func hasCode(err error, codes ...int) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	for _, c := range codes {
		if e.Code() == c {
			return true
		}
	}
	return false
}
