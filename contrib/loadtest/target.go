package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shiming-id/shiming/gateway/password"
)

// roundRobin spreads the requests for one origin over several replicas,
// as a load balancer in front of them does: each request goes to the next
// replica's listener with the origin's Host header, so cookies, the
// gateway's cross-origin check and its callback URLs see one site.
type roundRobin struct {
	base   http.RoundTripper
	origin string   // host:port browsers use
	hosts  []string // host:port of each replica
	n      atomic.Uint64
}

func newRoundRobin(base http.RoundTripper, targets []string) (*roundRobin, error) {
	rr := &roundRobin{base: base}
	for i, t := range targets {
		u, err := url.Parse(t)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("--target %q is not a URL", t)
		}
		if i == 0 {
			rr.origin = u.Host
		}
		rr.hosts = append(rr.hosts, u.Host)
	}
	return rr, nil
}

func (rr *roundRobin) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != rr.origin {
		return rr.base.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	r.URL.Host = rr.hosts[(rr.n.Add(1)-1)%uint64(len(rr.hosts))]
	r.Host = rr.origin
	return rr.base.RoundTrip(r)
}

// rss reads the gateway's resident memory from its metrics.
func (s *sim) rss(ctx context.Context) (int64, error) {
	v, err := s.metric(ctx, "process_resident_memory_bytes")
	return int64(v), err
}

// liveHeap asks the gateway to collect garbage (through its heap
// profile endpoint, which needs SHIMING_PPROF=1) and reads the bytes of
// live heap left.
func (s *sim) liveHeap(ctx context.Context) (float64, error) {
	if s.o.ops == "" {
		return 0, nil
	}
	client := &http.Client{Timeout: 30 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.o.ops+"/debug/pprof/heap?gc=1", nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("heap profile: %s (is the gateway running with SHIMING_PPROF=1?)", resp.Status)
	}
	return s.metric(ctx, "go_memstats_heap_alloc_bytes")
}

// gatewayCPU reads the CPU seconds the gateway process has used.
func (s *sim) gatewayCPU(ctx context.Context) (float64, error) {
	return s.metric(ctx, "process_cpu_seconds_total")
}

// metric reads one unlabelled sample from the gateway's /metrics.
func (s *sim) metric(ctx context.Context, name string) (float64, error) {
	if s.o.ops == "" {
		return 0, nil
	}
	client := &http.Client{Timeout: 10 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.o.ops+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return metricValue(bufio.NewScanner(resp.Body), name)
}

// metricValue finds an unlabelled sample in the Prometheus text format.
func metricValue(sc *bufio.Scanner, name string) (float64, error) {
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, fmt.Errorf("%s: %q", name, v)
			}
			return f, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %s in the metrics", name)
}

// ceilingParams are the cost parameters of candidate passwords: the
// gateway's default (19 MiB, t=2, p=1).
func ceilingParams() string {
	p := password.DefaultParams
	return fmt.Sprintf("m=%d KiB, t=%d, p=%d", p.MemoryKiB, p.Iterations, p.Parallelism)
}

func ceilingWorkers() int { return runtime.GOMAXPROCS(0) }

// ceilingResult is the password ceiling: hashes per second with every
// core busy, and the CPU time one hash took meanwhile.
type ceilingResult struct {
	perSecond float64
	cpuPerOp  time.Duration // 0 when not measured
}

// measureCeiling hashes with every core busy for d: no gateway can sign
// in passwords faster on this machine.
func measureCeiling(ctx context.Context, d time.Duration) ceilingResult {
	var n atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	start, cpu0 := time.Now(), processCPU()
	for range ceilingWorkers() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				if _, err := password.Hash("Kq7!ceiling-measure", password.DefaultParams); err != nil {
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	r := ceilingResult{perSecond: float64(n.Load()) / time.Since(start).Seconds()}
	if cpu := processCPU() - cpu0; cpu > 0 && n.Load() > 0 {
		r.cpuPerOp = cpu / time.Duration(n.Load())
	}
	return r
}
