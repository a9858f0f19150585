package ha_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"
)

// balancer is the test's load balancer: one origin in front of the
// replicas, sending each request to the next live replica in turn, as
// nginx's round-robin upstream does. A replica that refuses connections
// is marked down and the request goes to the next one (nginx's
// proxy_next_upstream error); the request never reached the dead one, so
// retrying it elsewhere is safe even for a POST.
type balancer struct {
	proxy *httputil.ReverseProxy
	base  *http.Transport

	mu       sync.Mutex
	backends []*backend
	next     int
	served   []served
}

type backend struct {
	name, host string
	down       bool
}

// served is one request a replica answered.
type served struct {
	backend, method, path string
}

func newBalancer(backends ...*backend) *balancer {
	b := &balancer{
		backends: backends,
		// A fresh connection per request: a replica killed between two
		// requests then shows as a refused dial, not a reused socket that
		// breaks mid-request.
		base: &http.Transport{
			DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			DisableKeepAlives:     true,
			ResponseHeaderTimeout: 30 * time.Second,
		},
	}
	b.proxy = &httputil.ReverseProxy{
		// The Host header stays the origin's, so the replicas see the one
		// site their public_url names.
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.Out.URL.Scheme, pr.Out.URL.Host = "http", "upstream" },
		Transport: b,
	}
	return b
}

func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) { b.proxy.ServeHTTP(w, r) }

// pick returns the next live backend.
func (b *balancer) pick() *backend {
	b.mu.Lock()
	defer b.mu.Unlock()
	for range b.backends {
		be := b.backends[b.next%len(b.backends)]
		b.next++
		if !be.down {
			return be
		}
	}
	return nil
}

func (b *balancer) markDown(be *backend) {
	b.mu.Lock()
	defer b.mu.Unlock()
	be.down = true
}

// RoundTrip sends the proxied request to a backend.
func (b *balancer) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(io.LimitReader(req.Body, 1<<20)); err != nil {
			return nil, err
		}
		req.Body.Close()
	}
	for range len(b.backends) {
		be := b.pick()
		if be == nil {
			break
		}
		out := req.Clone(req.Context())
		out.URL.Host = be.host
		out.Body = io.NopCloser(bytes.NewReader(body))
		resp, err := b.base.RoundTrip(out)
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			b.markDown(be)
			continue
		}
		if err != nil {
			return nil, err
		}
		b.mu.Lock()
		b.served = append(b.served, served{be.name, req.Method, req.URL.Path})
		b.mu.Unlock()
		return resp, nil
	}
	return nil, errors.New("balancer: no replica answers")
}

// log returns the requests answered so far, in order.
func (b *balancer) log() []served {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]served(nil), b.served...)
}
