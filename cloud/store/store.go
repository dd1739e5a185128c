// Package store keeps the cloud's state with GORM: SQLite (pure Go, the
// zero-config default) or PostgreSQL (by DSN). Query functions take a *gorm.DB
// so they work inside or outside a transaction; driver errors are mapped to
// this package's sentinel errors.
package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/clawfleet/clawfleet/cloud/apperr"
	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Sentinel errors.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
	// Why an enrollment is refused, as the enrolling agent is told.
	ErrTokenInvalid = apperr.New(apperr.Unauthorized, "token_invalid", "enrollment token is not valid")
	ErrTokenExpired = apperr.New(apperr.Unauthorized, "token_expired", "enrollment token has expired")
	ErrTokenRevoked = apperr.New(apperr.Unauthorized, "token_revoked", "enrollment token has been revoked")
	ErrTokenUsedUp  = apperr.New(apperr.Unauthorized, "token_used_up", "enrollment token has no uses left")
	// ErrNotWorker refuses a pool or caps for a box, which runs only its
	// owner's instances.
	ErrNotWorker = apperr.New(apperr.Conflict, "not_a_worker", "the host is a box: it runs only its owner's instances, so it has no pool or caps")
)

// Config selects the database.
type Config struct {
	// DatabaseURL: empty = SQLite file clawfleet.db in DataDir; a postgres://
	// or postgresql:// DSN = PostgreSQL.
	DatabaseURL string
	DataDir     string
}

// Store is the cloud's database.
type Store struct {
	db     *gorm.DB
	driver string
}

// Open connects, applies migrations and returns the store.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	gcfg := &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
		// No PrepareStmt: gorm's statement cache can deadlock the whole
		// cloud when a transaction holds the pool's connections (one, on
		// SQLite) while two other callers prepare the same new statement
		// (go-gorm/gorm#7350, #7465; TestNoDeadlockBetweenTransactionAndQuery).
		NowFunc: func() time.Time { return time.Now().UTC() },
	}
	var (
		db     *gorm.DB
		err    error
		driver string
	)
	switch {
	case cfg.DatabaseURL == "":
		if cfg.DataDir == "" {
			return nil, errors.New("store: a data directory or a database URL is required")
		}
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("store: create data dir: %w", err)
		}
		path := filepath.Join(cfg.DataDir, "clawfleet.db")
		// The database is the cloud's alone (SQLite gives its -wal and -shm
		// files the same mode), whatever the data dir's mode is.
		if f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o600); err == nil {
			f.Close()
			_ = os.Chmod(path, 0o600)
		}
		dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
		db, err = gorm.Open(sqlite.Open(dsn), gcfg)
		driver = "sqlite"
		if err == nil {
			// SQLite allows one writer; a single connection avoids
			// SQLITE_BUSY between our own goroutines.
			sqlDB, _ := db.DB()
			sqlDB.SetMaxOpenConns(1)
		}
	case strings.HasPrefix(cfg.DatabaseURL, "postgres://"), strings.HasPrefix(cfg.DatabaseURL, "postgresql://"):
		db, err = gorm.Open(postgres.Open(cfg.DatabaseURL), gcfg)
		driver = "postgres"
		if err == nil {
			sqlDB, _ := db.DB()
			sqlDB.SetMaxOpenConns(16)
			sqlDB.SetConnMaxIdleTime(5 * time.Minute)
		}
	default:
		return nil, fmt.Errorf("store: unsupported database URL %q: leave it empty for SQLite or give a postgres:// DSN", redact(cfg.DatabaseURL))
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", driver, err)
	}
	s := &Store{db: db, driver: driver}
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := migrate(ctx, db); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func redact(dsn string) string {
	if i := strings.Index(dsn, "@"); i > 0 {
		if j := strings.Index(dsn, "://"); j > 0 && j < i {
			return dsn[:j+3] + "…" + dsn[i:]
		}
	}
	return dsn
}

// Driver is "sqlite" or "postgres".
func (s *Store) Driver() string { return s.driver }

// DB exposes the handle for packages that add their own query functions.
func (s *Store) DB() *gorm.DB { return s.db }

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("store: database does not answer: %w", err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Write runs fn in a transaction.
func (s *Store) Write(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return s.db.WithContext(ctx).Transaction(fn)
}

func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound):
		return ErrNotFound
	case errors.Is(err, gorm.ErrDuplicatedKey), isUniqueViolation(err):
		return fmt.Errorf("%w: %v", ErrConflict, err)
	}
	return err
}

func isUniqueViolation(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "SQLSTATE 23505")
}
