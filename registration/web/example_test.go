package web_test

import (
	"log"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shiming-id/shiming/registration"
	"github.com/shiming-id/shiming/registration/memstore"
	"github.com/shiming-id/shiming/registration/registrationtest"
	"github.com/shiming-id/shiming/registration/web"
)

// Example mounts the registration app on a mux, the way the gateway does
// with its own store, candidate directory, operator directory, sessions
// and audit trail in place of these fakes.
func Example() {
	store := memstore.New()
	svc, err := registration.New(registration.Config{
		Store:      store,
		Candidates: registrationtest.NewCandidates(),
		Auditor:    &registrationtest.Auditor{},
		Logger:     slog.Default(),
		Registerer: prometheus.NewRegistry(),
		Portals:    []string{"hunanpea", "hxw", "zwfw"},
	})
	if err != nil {
		log.Fatal(err)
	}
	operators, err := registrationtest.NewOperators(map[string]string{"kaowu": "a long passphrase"})
	if err != nil {
		log.Fatal(err)
	}
	h, err := web.New(web.Config{
		Service:          svc,
		Operators:        operators,
		OperatorSessions: registrationtest.NewOperatorSessions(),
		ValidPortal:      func(p string) bool { return p == "hunanpea" || p == "hxw" || p == "zwfw" },
		LoginURL:         func(portal, next string) string { return "/" + portal + "/login?next=" + url.QueryEscape(next) },
		SignOutURL:       func(portal string) string { return "/" + portal + "/logout" },
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	srv := &http.Server{Addr: "127.0.0.1:8080", Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
