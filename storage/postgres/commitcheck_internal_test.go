package postgres

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/internal/sqlstore"
	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
)

// BenchmarkCommitCheck measures what reading the transaction's id costs a
// write transaction (GrantConsent: BEGIN, an INSERT, a SELECT … FOR NO
// KEY UPDATE, an UPDATE and COMMIT) on the normal path, on one pool:
// "unchecked" without a CommitCheck (as before), "query" with the id read
// by a statement of its own before COMMIT (the fallback), "begin" with
// the id read in BEGIN's round trip (openDB, what the Store does). Run the
// three in alternating rounds, e.g. -bench 'CommitCheck/^begin$' and the
// others in turn.
func BenchmarkCommitCheck(b *testing.B) {
	ctx := b.Context()
	pool, err := connect(ctx, pgtest.DSN(b), Options{MaxConns: 8}) // room for the idle connections of three *sql.DB
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	if err := migratePool(ctx, pool); err != nil {
		b.Fatal(err)
	}
	unchecked := dialect
	unchecked.CommitCheck = nil
	stores := map[string]*sqlstore.Store{
		"unchecked": sqlstore.New(stdlib.OpenDBFromPool(pool), unchecked),
		"query":     sqlstore.New(stdlib.OpenDBFromPool(pool), dialect),
		"begin":     sqlstore.New(openDB(pool), dialect),
	}
	for _, s := range stores {
		defer s.Close() // before pool.Close, which waits for their connections
	}
	now := time.Now()
	s := stores["begin"]
	if err := s.CreateClient(ctx, &storage.Client{ID: "c1", Name: "C", SigningAlgorithm: "RS256", AccessTokenFormat: "opaque",
		CreatedAt: now, UpdatedAt: now}); err != nil {
		b.Fatal(err)
	}
	if err := s.CreateUser(ctx, &storage.User{ID: "u1", Email: "u1@example.com", PasswordHash: "x", CreatedAt: now, UpdatedAt: now}); err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"unchecked", "query", "begin"} {
		b.Run(name, func(b *testing.B) {
			s := stores[name]
			for b.Loop() {
				if err := s.GrantConsent(ctx, "u1", "c1", []string{"openid"}, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
