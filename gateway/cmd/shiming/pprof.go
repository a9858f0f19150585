package main

import (
	"net/http"
	"net/http/pprof"
)

// withPProf serves Go's runtime profiles under /debug/pprof/ beside the
// ops endpoints, when the configuration asks for it (pprof: true, or
// SHIMING_PPROF=1). The ops listener must stay private: a profile shows
// the program's internals, and a CPU profile costs CPU while it runs.
//
//	go tool pprof -top http://127.0.0.1:9464/debug/pprof/profile?seconds=30
func withPProf(ops http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.Handle("/", ops)
	return mux
}
