// Package postgres opens the gateway's store in PostgreSQL, through pgx:
// the shared database when many gateway replicas run.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/shiming-id/shiming/gateway/store/sqlstore"
)

// Options tune Open. The zero value is a sensible default.
type Options struct {
	// MaxOpenConns bounds the pool of each replica. Default 20.
	MaxOpenConns int
	// MaxIdleConns is how many connections stay open when idle.
	// Default MaxOpenConns/2 (at least 2).
	MaxIdleConns int
	// ConnMaxLifetime recycles connections (after a failover, for
	// instance). Default 30 minutes.
	ConnMaxLifetime time.Duration
	// ConnMaxIdleTime closes connections idle this long. Default 5 minutes.
	ConnMaxIdleTime time.Duration
	// StatementTimeout, when positive, makes the server cancel any
	// statement running longer (statement_timeout). Zero keeps the
	// server's setting.
	StatementTimeout time.Duration
	// Now is the store's clock (see sqlstore.Config.Now). Default time.Now.
	Now func() time.Time
}

// Open connects to the PostgreSQL database named by dsn (a URL or a
// key=value string, as pgx accepts), migrates it, and returns the store.
func Open(ctx context.Context, dsn string, opts Options) (*sqlstore.Store, error) {
	if opts.MaxOpenConns <= 0 {
		opts.MaxOpenConns = 20
	}
	if opts.MaxIdleConns <= 0 {
		opts.MaxIdleConns = max(2, opts.MaxOpenConns/2)
	}
	if opts.ConnMaxLifetime <= 0 {
		opts.ConnMaxLifetime = 30 * time.Minute
	}
	if opts.ConnMaxIdleTime <= 0 {
		opts.ConnMaxIdleTime = 5 * time.Minute
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// The parse error can quote the DSN, password included.
		return nil, errors.New("postgres: cannot parse the DSN")
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "shiming"
	}
	if opts.StatementTimeout > 0 {
		cfg.RuntimeParams["statement_timeout"] = strconv.FormatInt(max(1, opts.StatementTimeout.Milliseconds()), 10)
	}

	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(opts.MaxOpenConns)
	db.SetMaxIdleConns(min(opts.MaxIdleConns, opts.MaxOpenConns))
	db.SetConnMaxLifetime(opts.ConnMaxLifetime)
	db.SetConnMaxIdleTime(opts.ConnMaxIdleTime)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("postgres: connect to %s:%d: %w", cfg.Host, cfg.Port, err)
	}
	s, err := sqlstore.New(ctx, sqlstore.Config{Flavor: Flavor(), DB: db, Now: opts.Now})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return s, nil
}

// migrationLockKey is the advisory lock held while migrating
// (an arbitrary constant: "shiming" in ASCII).
const migrationLockKey = 0x7368696d696e67

// Flavor is PostgreSQL's sqlstore.Flavor.
func Flavor() sqlstore.Flavor {
	return sqlstore.Flavor{
		Name:                  "postgres",
		NumberedPlaceholders:  true,
		LockRow:               " FOR UPDATE",
		MigrationLock:         "SELECT pg_advisory_xact_lock(" + strconv.FormatInt(migrationLockKey, 10) + ")",
		IsUniqueViolation:     func(err error) bool { return hasState(err, "23505") },
		IsForeignKeyViolation: func(err error) bool { return hasState(err, "23503") },
	}
}

// hasState reports whether err is a server error with the SQLSTATE code.
func hasState(err error, code string) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == code
}
