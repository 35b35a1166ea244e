package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"net"
	"strings"
	"sync"
)

// The kinds of frontend message a tally counts besides statements.
const (
	kindPing   = "ping"   // pgx's "-- ping" before reusing an idle connection
	kindSync   = "sync"   // Sync: the end of an extended-protocol round trip
	kindSimple = "simple" // Query: a simple-protocol round trip (its statement is counted too)
	kindClaim  = "claim"  // the back-channel logout sender's poll, once a second
	kindPurge  = "purge"  // the housekeeping lock, first in each purge transaction
	kindLost   = "lost"   // a connection whose messages the parser could not follow
)

// tally counts the statements Gatehouse sends to PostgreSQL, by kind: the
// first keyword of each statement executed (SELECT, INSERT, UPDATE,
// DELETE, WITH, BEGIN, COMMIT…), and the kinds above. It is shared by the
// relay's connections.
type tally struct {
	mu     sync.Mutex
	counts map[string]int64
	texts  map[string]int64 // executions by statement text
}

func (t *tally) add(kind string) {
	t.mu.Lock()
	if t.counts == nil {
		t.counts = map[string]int64{}
	}
	t.counts[kind]++
	t.mu.Unlock()
}

// statement counts one execution of query.
func (t *tally) statement(query string) {
	t.add(statementKind(query))
	t.mu.Lock()
	if t.texts == nil {
		t.texts = map[string]int64{}
	}
	t.texts[query]++
	t.mu.Unlock()
}

// snapshot returns a copy of the counts by kind and by text.
func (t *tally) snapshot() (kinds, texts map[string]int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.counts), maps.Clone(t.texts)
}

// statementKind classifies the text of a statement: its first keyword,
// upper-cased, after leading blanks and comments, or one of the kinds
// above for the statements that are not the request's own.
func statementKind(query string) string {
	q := query
	for {
		q = strings.TrimLeft(q, " \t\r\n")
		if rest, ok := strings.CutPrefix(q, "--"); ok {
			_, q, _ = strings.Cut(rest, "\n")
			continue
		}
		break
	}
	switch {
	case q == "":
		if strings.Contains(query, "ping") {
			return kindPing
		}
		return "empty"
	case strings.Contains(q, "pg_try_advisory_xact_lock"):
		return kindPurge
	case strings.Contains(q, "logout_deliveries") && strings.HasPrefix(strings.ToUpper(q), "UPDATE"):
		return kindClaim
	}
	end := strings.IndexAny(q, " \t\r\n;(")
	if end < 0 {
		end = len(q)
	}
	return strings.ToUpper(q[:end])
}

// frontendParser follows one connection's frontend messages (PostgreSQL
// protocol 3) as the client writes them, in chunks of any size, and counts
// into its tally each simple Query ('Q') and each Execute ('E') of an
// extended-protocol portal, classified by the text of the statement the
// portal was bound from (Parse 'P', Bind 'B'), and each Sync ('S').
type frontendParser struct {
	t       *tally
	buf     []byte
	started bool              // the startup packet has gone by
	stmts   map[string]string // prepared statement name → text
	portals map[string]string // portal name → statement text
}

// The startup packet's request codes that another startup packet follows.
const (
	sslRequest    = 80877103
	gssencRequest = 80877104
)

func newFrontendParser(t *tally) *frontendParser {
	return &frontendParser{t: t, stmts: map[string]string{}, portals: map[string]string{}}
}

// write feeds p, the next bytes the client sent; it fails on a stream it
// cannot follow.
func (f *frontendParser) write(p []byte) error {
	f.buf = append(f.buf, p...)
	for {
		if !f.started {
			// Startup packet: int32 length (itself included), int32 code.
			if len(f.buf) < 8 {
				return nil
			}
			n := int(binary.BigEndian.Uint32(f.buf))
			if n < 8 || n > 1<<16 {
				return fmt.Errorf("relay: a startup packet of %d bytes", n)
			}
			if len(f.buf) < n {
				return nil
			}
			code := binary.BigEndian.Uint32(f.buf[4:])
			f.started = code != sslRequest && code != gssencRequest
			f.buf = f.buf[n:]
			continue
		}
		// Every other message: a type byte, int32 length (itself included).
		if len(f.buf) < 5 {
			return nil
		}
		n := int(binary.BigEndian.Uint32(f.buf[1:]))
		if n < 4 {
			return fmt.Errorf("relay: a message %q of length %d", f.buf[0], n)
		}
		if len(f.buf) < 1+n {
			return nil
		}
		f.message(f.buf[0], f.buf[5:1+n])
		f.buf = f.buf[1+n:]
		if len(f.buf) == 0 {
			f.buf = nil // let a large message's buffer go
		}
	}
}

// message handles one complete typed message.
func (f *frontendParser) message(typ byte, body []byte) {
	switch typ {
	case 'Q':
		q, _ := cstring(body)
		f.t.add(kindSimple)
		f.t.statement(q)
	case 'P':
		name, rest := cstring(body)
		q, _ := cstring(rest)
		f.stmts[name] = q
	case 'B':
		portal, rest := cstring(body)
		stmt, _ := cstring(rest)
		f.portals[portal] = f.stmts[stmt]
	case 'E':
		portal, _ := cstring(body)
		f.t.statement(f.portals[portal])
	case 'C':
		// Close: 'S' statement or 'P' portal, then its name.
		if len(body) > 0 {
			name, _ := cstring(body[1:])
			if body[0] == 'S' {
				delete(f.stmts, name)
			} else {
				delete(f.portals, name)
			}
		}
	case 'S':
		f.t.add(kindSync)
	}
}

// cstring splits a NUL-terminated string off the front of b.
func cstring(b []byte) (string, []byte) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return string(b), nil
	}
	return string(b[:i]), b[i+1:]
}

// relay is a TCP relay between Gatehouse and PostgreSQL that counts the
// frontend messages of every connection through it into a tally. It needs
// unencrypted connections (sslmode=disable, or a server that refuses SSL).
type relay struct {
	ln      net.Listener
	backend string
	t       tally
	mu      sync.Mutex
	conns   map[net.Conn]bool
	wg      sync.WaitGroup
}

// startRelay listens on a loopback port and forwards to backend.
func startRelay(backend string) (*relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &relay{ln: ln, backend: backend, conns: map[net.Conn]bool{}}
	r.wg.Go(r.accept)
	return r, nil
}

// addr is the relay's address.
func (r *relay) addr() string { return r.ln.Addr().String() }

func (r *relay) accept() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.wg.Go(func() { r.serve(c) })
	}
}

// track adds c to the open connections, or removes it when done is set.
func (r *relay) track(c net.Conn, done bool) {
	r.mu.Lock()
	if done {
		delete(r.conns, c)
	} else {
		r.conns[c] = true
	}
	r.mu.Unlock()
}

// serve relays one connection both ways, parsing what the client sends.
func (r *relay) serve(c net.Conn) {
	defer c.Close()
	b, err := net.Dial("tcp", r.backend)
	if err != nil {
		return
	}
	defer b.Close()
	r.track(c, false)
	r.track(b, false)
	defer r.track(c, true)
	defer r.track(b, true)
	go func() {
		io.Copy(c, b)
		c.Close()
	}()
	p := newFrontendParser(&r.t)
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if p != nil && p.write(buf[:n]) != nil {
				// Relay the rest uncounted; the report shows it.
				r.t.add(kindLost)
				p = nil
			}
			if _, werr := b.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// close stops the relay and closes its connections.
func (r *relay) close() {
	r.ln.Close()
	r.mu.Lock()
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}
