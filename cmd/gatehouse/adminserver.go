package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/config"
	"github.com/gatehouse-idp/gatehouse/login/password"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// adminDeps are what the admin listener's handlers work with.
type adminDeps struct {
	cfg     *config.Config
	store   storage.Store
	logger  *slog.Logger
	tokens  accessTokens // verifies the admin API's bearer tokens (the provider)
	metrics http.Handler // GET /metrics; nil serves none
	// passwords hashes the passwords of users the admin API creates: the
	// server's hasher, whose gate bounds every argon2id hash at once.
	passwords *password.Hasher
	now       func() time.Time // the server's clock
}

// newAdminHandler returns the admin listener's handler (admin.address):
// metrics, the admin API and, with admin.pprof, profiles. It is never
// mounted on the public listener.
func newAdminHandler(d adminDeps) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.Handle("/api/", newAdminAPI(d).routes())
	if d.metrics != nil {
		mux.Handle("GET /metrics", d.metrics)
	}
	if d.cfg.Admin.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}
