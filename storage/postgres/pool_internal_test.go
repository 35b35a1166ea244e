package postgres

import (
	"context"
	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
	"testing"
	"time"
)

// TestPoolSize checks that Options.MaxConns caps the pool (and wins over
// pool_max_conns in the connection string), that without it the
// connection string's setting holds, and that without either the pool
// has DefaultMaxConns.
func TestPoolSize(t *testing.T) {
	dsn := pgtest.DSN(t)
	tests := []struct {
		name string
		dsn  string
		opt  Options
		want int32
	}{
		{"option", dsn, Options{MaxConns: 3}, 3},
		{"connection string", dsn + "&pool_max_conns=2", Options{}, 2},
		{"option over connection string", dsn + "&pool_max_conns=7", Options{MaxConns: 2}, 2},
		{"default", dsn, Options{}, DefaultMaxConns()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := OpenWith(t.Context(), tt.dsn, tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := s.pool.Stat().MaxConns(); got != tt.want {
				t.Fatalf("MaxConns = %d, want %d", got, tt.want)
			}
			// The cap holds: with every connection taken, one more waits.
			for range tt.want {
				c, err := s.pool.Acquire(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Release()
			}
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			if c, err := s.pool.Acquire(ctx); err == nil {
				c.Release()
				t.Fatalf("acquired connection %d of a pool of %d", tt.want+1, tt.want)
			}
		})
	}
}
