package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"sync"
)

// A countsConn reads the generation counts (generationCounts) on a
// connection of its own, through the driver's statement prepared on it,
// without database/sql's pool, statement and rows around each read. The
// groupRead runs one read at a time, so one connection is enough. A read
// that fails gives its connection back and the next takes another.
type countsConn struct {
	pool *sql.DB

	mu     sync.Mutex
	conn   *sql.Conn   // nil until the first read, or after a failure
	stmt   driver.Stmt // prepared on conn
	dest   [2]driver.Value
	closed bool
}

func newCountsConn(pool *sql.DB) *countsConn {
	return &countsConn{pool: pool}
}

// read reads the counts. It does not end with ctx: for a statement whose
// context can end, the SQLite driver starts a goroutine to watch it, which
// costs more than this read of one row. It takes microseconds; the rare
// wait for a lock (another process recovering the log) is bounded by
// busy_timeout.
func (c *countsConn) read(ctx context.Context) (clients, revocations int64, err error) {
	ctx = context.WithoutCancel(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, 0, errors.New("sql: database is closed")
	}
	if c.conn == nil {
		if c.conn, err = c.pool.Conn(ctx); err != nil {
			c.conn = nil
			return 0, 0, err
		}
	}
	err = c.conn.Raw(func(dc any) error {
		if c.stmt == nil {
			p, ok := dc.(driver.ConnPrepareContext)
			if !ok {
				return fmt.Errorf("driver connection %T cannot prepare with a context", dc)
			}
			st, err := p.PrepareContext(ctx, generationCounts)
			if err != nil {
				return err
			}
			c.stmt = st
		}
		q, ok := c.stmt.(driver.StmtQueryContext)
		if !ok {
			return fmt.Errorf("driver statement %T cannot query with a context", c.stmt)
		}
		rows, err := q.QueryContext(ctx, nil)
		if err != nil {
			return err
		}
		err = rows.Next(c.dest[:])
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
		if errors.Is(err, io.EOF) {
			return sql.ErrNoRows
		}
		if err != nil {
			return err
		}
		var ok1, ok2 bool
		clients, ok1 = c.dest[0].(int64)
		revocations, ok2 = c.dest[1].(int64)
		if !ok1 || !ok2 {
			return fmt.Errorf("generation counts of types %T and %T, not integers", c.dest[0], c.dest[1])
		}
		return nil
	})
	if err != nil {
		c.release()
	}
	return clients, revocations, err
}

// release closes the statement and gives the connection back; the next
// read takes one again.
func (c *countsConn) release() {
	if c.conn == nil {
		return
	}
	if c.stmt != nil {
		c.conn.Raw(func(any) error { return c.stmt.Close() })
		c.stmt = nil
	}
	c.conn.Close()
	c.conn = nil
}

// close releases the connection, if any, for good: reads after it fail.
func (c *countsConn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.release()
	c.closed = true
}
