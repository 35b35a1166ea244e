package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// querier runs statements: the Store's pools, or a transaction.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// A groupCommit commits the writes that arrive together in one
// transaction. SQLite lets one writer in at a time, and each commit
// appends every page it changed to the write-ahead log, one write call per
// page and table or index touched: a commit costs far more than the
// statements in it. Writers that queue behind a commit therefore go in
// together with the next one, each in a savepoint of its own, so that one
// that fails is rolled back alone; a writer that finds no queue commits at
// once, alone. Every writer still returns only once its changes are
// committed.
type groupCommit struct {
	commits, writes atomic.Int64 // for GroupCommits

	db   *stmtDB
	reqs chan *commitReq // unbuffered: a request is taken by run, or not sent
	stop chan struct{}
	done chan struct{}
}

type commitReq struct {
	ctx context.Context
	fn  func(context.Context, querier) error
	err chan error
}

// run runs the request's write on q. A panic becomes its error: the
// group's goroutine must outlive every write, or later ones would wait
// forever.
func (r *commitReq) run(q querier) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("storage: write panicked: %v", p)
		}
	}()
	return r.fn(context.WithoutCancel(r.ctx), q)
}

// maxGroup bounds the writes of one commit.
const maxGroup = 64

var errStoreClosed = errors.New("storage: the store is closed")

func newGroupCommit(db *stmtDB) *groupCommit {
	g := &groupCommit{db: db, reqs: make(chan *commitReq), stop: make(chan struct{}), done: make(chan struct{})}
	go g.run()
	return g
}

// do runs fn in the next commit and returns its error, or the commit's.
// fn runs on a context that keeps ctx's values but not its cancellation:
// interrupting one statement would roll the whole group back.
func (g *groupCommit) do(ctx context.Context, fn func(context.Context, querier) error) error {
	r := &commitReq{ctx: ctx, fn: fn, err: make(chan error, 1)}
	select {
	case g.reqs <- r:
	case <-g.stop:
		return errStoreClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-r.err
}

// close stops taking writes once the current group is committed.
func (g *groupCommit) close() {
	close(g.stop)
	<-g.done
}

func (g *groupCommit) run() {
	defer close(g.done)
	group := make([]*commitReq, 0, maxGroup)
	for {
		select {
		case r := <-g.reqs:
			group = append(group[:0], r)
		case <-g.stop:
			return
		}
	more:
		for len(group) < maxGroup {
			select {
			case r := <-g.reqs:
				group = append(group, r)
			default:
				break more
			}
		}
		g.commit(group)
	}
}

// commit runs the group's writes in one transaction and tells each its
// result.
func (g *groupCommit) commit(group []*commitReq) {
	live := group[:0]
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.err <- err // gone before its turn: nothing written
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	g.commits.Add(1)
	g.writes.Add(int64(len(live)))
	ctx := context.Background()
	tx, err := g.db.BeginTx(ctx, nil)
	if err != nil {
		for _, r := range live {
			r.err <- fmt.Errorf("storage: begin: %w", err)
		}
		return
	}
	stx := g.db.tx(tx)
	defer stx.prepareMisses(ctx)
	errs := make([]error, len(live))
	if len(live) == 1 {
		r := live[0]
		if errs[0] = r.run(stx); errs[0] != nil {
			tx.Rollback()
			r.err <- errs[0]
			return
		}
	} else {
		for i, r := range live {
			if _, err := stx.ExecContext(ctx, `SAVEPOINT w`); err != nil {
				errs[i] = fmt.Errorf("storage: savepoint: %w", err)
				continue
			}
			if errs[i] = r.run(stx); errs[i] != nil {
				if _, err := stx.ExecContext(ctx, `ROLLBACK TO w`); err != nil {
					// The savepoint cannot be undone: nothing of the
					// group may be committed.
					tx.Rollback()
					for _, r := range live {
						r.err <- fmt.Errorf("storage: rollback to savepoint: %w", err)
					}
					return
				}
			}
			if _, err := stx.ExecContext(ctx, `RELEASE w`); err != nil && errs[i] == nil {
				errs[i] = fmt.Errorf("storage: release savepoint: %w", err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = fmt.Errorf("storage: commit: %w", err)
			}
		}
	}
	for i, r := range live {
		r.err <- errs[i]
	}
}

// GroupCommits reports how many group commits the Store ran and how many
// writes they held (0, 0 without group commit).
func (s *Store) GroupCommits() (commits, writes int64) {
	if s.group == nil {
		return 0, 0
	}
	return s.group.commits.Load(), s.group.writes.Load()
}

// write runs fn, which changes the database. With a group commit (SQLite)
// it runs in the next group; otherwise in a transaction of its own when tx
// is set (fn's statements must agree), or straight on the pool.
func (s *Store) write(ctx context.Context, op string, tx bool, fn func(context.Context, querier) error) error {
	if s.group != nil {
		return s.group.do(ctx, fn)
	}
	if tx {
		return s.inTx(ctx, op, func(t *stmtTx) error { return fn(ctx, t) })
	}
	return fn(ctx, s.db)
}

// execOneOn runs on q a statement that must change exactly one row; when
// it changes none the result is storage.ErrNotFound.
func (s *Store) execOneOn(ctx context.Context, q querier, op, query string, args ...any) error {
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		return s.fail(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("storage: %s: %w", op, err)
	}
	if n == 0 {
		return storage.ErrNotFound
	}
	return nil
}
