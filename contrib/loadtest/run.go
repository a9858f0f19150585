package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shiming-id/shiming/contrib/loadtest/candidate"
	"github.com/shiming-id/shiming/contrib/sandbox/sandboxclient"
)

// vendorPolls is the series counting the gateway's WeChat PollScan calls.
const vendorPolls = `shiming_plugin_call_duration_seconds_count{method="poll_scan",provider="wechat"}`

// maxLoggedErrors bounds the failures printed to standard error.
const maxLoggedErrors = 10

// sim is one run of the simulator.
type sim struct {
	o      options
	stderr io.Writer
	env    candidate.Env
	sb     *sandboxclient.Client
	people *candidate.People

	rec   *recorder
	whole samples
	count counters
	rng   *rand.Rand
	rngMu sync.Mutex

	logged atomic.Int32
}

// counters feed the progress line.
type counters struct {
	started, completed, failed, inFlight atomic.Int64
}

func (c *counters) reset() {
	c.started.Store(0)
	c.completed.Store(0)
	c.failed.Store(0)
	c.inFlight.Store(0)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	conns := o.concurrency
	if o.mode == "poll" && o.pollEvery > 0 {
		// Every waiting page keeps its connection open, as a browser does.
		conns = max(conns, o.candidates)
	}
	base := newTransport(o.timeout, conns)
	defer base.CloseIdleConnections()
	var browser http.RoundTripper = base
	if len(o.targets) > 1 {
		if browser, err = newRoundRobin(base, o.targets); err != nil {
			return usageError{err}
		}
	}
	s := &sim{o: o, stderr: stderr, rec: newRecorder(), rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
	s.sb = &sandboxclient.Client{URL: o.sandbox, HTTP: &http.Client{Transport: base, Timeout: o.timeout}}
	s.env = candidate.Env{
		Gateway: o.targets[0], Sandbox: s.sb, Portal: o.portal, Transport: browser, Timeout: o.timeout,
		StatusPoll: o.statusPoll, Think: o.think, Observe: s.rec.observe,
	}
	citizens, err := candidate.RegistryPeople(ctx, s.sb)
	if err != nil {
		return fmt.Errorf("the sandbox at %s: %w", o.sandbox, err)
	}
	var taken []string
	for _, c := range citizens {
		taken = append(taken, c.IDNumber, c.Phone)
	}
	s.people = candidate.NewPeople(nil, taken...)

	// The ceiling is measured just before and just after the run, with
	// the gateway idle, and the run is reported against their mean: on
	// a shared machine the load changes, and a ratio within one run is
	// the figure that carries over to a quiet one.
	var ceilBefore ceilingResult
	if o.ceiling > 0 {
		fmt.Fprintf(stderr, "measuring the password ceiling for %s…\n", o.ceiling)
		ceilBefore = measureCeiling(ctx, o.ceiling)
	}

	var out report
	switch o.mode {
	case "journey", "realname":
		out, err = s.journeys(ctx)
	case "login":
		out, err = s.logins(ctx)
	case "poll":
		out, err = s.polls(ctx)
	}
	if err != nil {
		return err
	}
	var ceilAfter ceilingResult
	if o.ceiling > 0 {
		fmt.Fprintf(stderr, "measuring the password ceiling again for %s…\n", o.ceiling)
		ceilAfter = measureCeiling(ctx, o.ceiling)
	}

	fmt.Fprintf(stdout, "mode %s, %s\n\n", o.mode, out.what)
	s.rec.writeTable(stdout)
	fmt.Fprintln(stdout)
	res := newResult(s.whole.summary(), out.elapsed)
	for _, l := range out.lines {
		fmt.Fprintln(stdout, l)
	}
	if o.ceiling > 0 {
		ceiling := (ceilBefore.perSecond + ceilAfter.perSecond) / 2
		fmt.Fprintf(stdout, "password ceiling: %.2f argon2id hashes/s (%.2f before the run, %.2f after; %s, %d workers)\n",
			ceiling, ceilBefore.perSecond, ceilAfter.perSecond, ceilingParams(), ceilingWorkers())
		fmt.Fprintf(stdout, "ratio to the ceiling: %.3f\n", res.JourneysPerS/ceiling)
		if b, a := ceilBefore.cpuPerOp, ceilAfter.cpuPerOp; b > 0 && a > 0 && out.cpuPerUnit > 0 {
			hash := (b + a) / 2
			fmt.Fprintf(stdout, "CPU per hash: %.1f ms (%.1f before, %.1f after); CPU ratio, one hash to the gateway's CPU per %s: %.3f\n",
				msf(hash), msf(b), msf(a), out.unit, float64(hash)/float64(out.cpuPerUnit))
		}
	}
	fmt.Fprintln(stdout, res.jsonLine())
	if err := ctx.Err(); err != nil {
		return err
	}
	return nil
}

// report is what a mode adds to the table and the JSON line.
type report struct {
	what    string
	elapsed time.Duration
	lines   []string
	// unit and cpuPerUnit: the gateway's CPU time per journey, sign-in
	// or poll (0 without --ops).
	unit       string
	cpuPerUnit time.Duration
}

// newTransport keeps up to about conns connections per host open for
// reuse, so that the simulated browsers do not pay a new connection per
// request.
func newTransport(timeout time.Duration, conns int) *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   2*conns + 16,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
	}
}

// float draws from [0,1).
func (s *sim) float() float64 {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return s.rng.Float64()
}

// next chooses the next candidate: person, provider and trouble.
func (s *sim) next() (candidate.Person, string, candidate.Trouble) {
	provider := s.o.mix.pick(s.float())
	var t candidate.Trouble
	f, u := s.o.faults, s.float()
	switch {
	case u < f.reused:
		t.CodeReused = true
	case u < f.reused+f.stale:
		t.StaleQR = true
	case u < f.reused+f.stale+f.mismatch:
		t.Mismatch = true
	}
	if t != (candidate.Trouble{}) {
		// The injected faults are WeChat's; the name/ID check runs for
		// WeChat candidates only (Alipay and CTID vouch for the name).
		provider = "wechat"
	}
	// A mismatch is the CTID platform's 4003 injected for a synthetic
	// person: the registry's own mismatched people (c035…) can open one
	// account each per database, so they do not scale to a load run.
	return s.people.Synthetic(), provider, t
}

// logError prints the first few failures.
func (s *sim) logError(p candidate.Person, err error) {
	if s.logged.Add(1) <= maxLoggedErrors {
		fmt.Fprintf(s.stderr, "candidate %s: %v\n", p, err)
	}
}

// launch starts work for n candidates (or until --duration), paced by
// --rate and bounded by --concurrency, and waits for all of them. It
// returns the time from the first start to the last finish.
func (s *sim) launch(ctx context.Context, n int, work func(ctx context.Context, i int) error) time.Duration {
	sem := make(chan struct{}, s.o.concurrency)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < n; i++ {
		if s.o.duration > 0 && time.Since(t0) >= s.o.duration {
			break
		}
		if s.o.rate > 0 {
			at := t0.Add(time.Duration(float64(i) / s.o.rate * float64(time.Second)))
			if d := time.Until(at); d > 0 && candidate.Sleep(ctx, d) != nil {
				break
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		s.count.started.Add(1)
		s.count.inFlight.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := work(ctx, i)
			s.count.inFlight.Add(-1)
			if err != nil {
				s.count.failed.Add(1)
			} else {
				s.count.completed.Add(1)
			}
		}()
	}
	wg.Wait()
	return time.Since(t0)
}

// journeys runs whole candidate journeys (or real-name registration
// only).
func (s *sim) journeys(ctx context.Context) (report, error) {
	ph := s.startPhase(ctx, "journeys/s")
	elapsed := s.launch(ctx, s.o.candidates, func(ctx context.Context, _ int) error {
		p, provider, t := s.next()
		c, err := candidate.New(s.env, p)
		if err != nil {
			return err
		}
		start := time.Now()
		if s.o.mode == "realname" {
			err = c.RealName(ctx, provider, t)
		} else {
			err = c.Journey(ctx, provider, t)
		}
		s.whole.add(time.Since(start), err)
		if err != nil {
			s.logError(p, err)
		}
		return err
	})
	lines, err := ph.stop(ctx, "journey")
	if err != nil {
		return report{}, err
	}
	what := "whole journeys: real-name registration, login, the nine registration steps"
	if s.o.mode == "realname" {
		what = "real-name registration journeys"
	}
	return report{what: what, elapsed: elapsed, lines: lines, unit: ph.unit, cpuPerUnit: ph.cpuPerUnit}, nil
}

// logins registers --accounts accounts, then measures --candidates
// password sign-ins, each from a fresh browser (form post, password
// verified, new session, home page).
func (s *sim) logins(ctx context.Context) (report, error) {
	accounts, err := s.register(ctx, s.o.accounts)
	if err != nil {
		return report{}, err
	}
	s.rec = newRecorder()
	s.env.Observe = s.rec.observe
	ph := s.startPhase(ctx, "logins/s")
	elapsed := s.launch(ctx, s.o.candidates, func(ctx context.Context, i int) error {
		a := accounts[i%len(accounts)]
		c, err := candidate.New(s.env, a.Person)
		if err != nil {
			return err
		}
		c.Password = a.Password
		start := time.Now()
		err = c.Login(ctx)
		s.whole.add(time.Since(start), err)
		if err != nil {
			s.logError(a.Person, err)
		}
		return err
	})
	lines, err := ph.stop(ctx, "sign-in")
	if err != nil {
		return report{}, err
	}
	return report{what: fmt.Sprintf("password sign-ins over %d accounts", len(accounts)), elapsed: elapsed, lines: lines,
		unit: ph.unit, cpuPerUnit: ph.cpuPerUnit}, nil
}

// register opens n accounts by real-name registration (WeChat), untimed.
func (s *sim) register(ctx context.Context, n int) ([]*candidate.Candidate, error) {
	fmt.Fprintf(s.stderr, "registering %d accounts…\n", n)
	var mu sync.Mutex
	var out []*candidate.Candidate
	env := s.env
	env.Observe = nil
	saved := s.o.duration
	s.o.duration = 0
	s.launch(ctx, n, func(ctx context.Context, _ int) error {
		c, err := candidate.New(env, s.people.Synthetic())
		if err != nil {
			return err
		}
		if err := c.RealName(ctx, "wechat", candidate.Trouble{}); err != nil {
			s.logError(c.Person, err)
			return err
		}
		mu.Lock()
		out = append(out, c)
		mu.Unlock()
		return nil
	})
	s.o.duration = saved
	s.count.reset()
	if len(out) < n {
		return nil, fmt.Errorf("only %d of %d accounts registered", len(out), n)
	}
	return out, ctx.Err()
}

// polls puts --candidates candidates at the WeChat QR code, then has
// --concurrency workers poll their status pages for --duration (30s by
// default), as thousands of waiting pages do. The gateway's memory is
// read from --ops before and after the candidates arrive.
func (s *sim) polls(ctx context.Context) (report, error) {
	before, berr := s.rss(ctx)
	heapBefore, hberr := s.liveHeap(ctx)
	fmt.Fprintf(s.stderr, "putting %d candidates at the QR code…\n", s.o.candidates)
	type waiting struct {
		c      *candidate.Candidate
		status string
	}
	flows := make([]waiting, s.o.candidates)
	var ready atomic.Int64
	saved := s.o.duration
	s.o.duration = 0
	env := s.env
	env.Observe = nil
	s.launch(ctx, s.o.candidates, func(ctx context.Context, i int) error {
		c, err := candidate.New(env, s.people.Synthetic())
		if err != nil {
			return err
		}
		p, err := c.StartRealName(ctx, "wechat")
		if err != nil {
			s.logError(c.Person, err)
			return err
		}
		flows[i] = waiting{c: c, status: p.Attr("status-url")}
		ready.Add(1)
		return nil
	})
	s.o.duration = saved
	if n := ready.Load(); n < int64(s.o.candidates) {
		return report{}, fmt.Errorf("only %d of %d candidates reached the QR code", n, s.o.candidates)
	}
	if err := ctx.Err(); err != nil {
		return report{}, err
	}
	after, aerr := s.rss(ctx)
	heapAfter, haerr := s.liveHeap(ctx)

	d := s.o.duration
	if d <= 0 {
		d = 30 * time.Second
	}
	s.count.reset()
	vendor0, verr0 := s.metric(ctx, vendorPolls)
	ph := s.startPhase(ctx, "polls/s")
	pollCtx, cancel := context.WithTimeout(ctx, d)
	poll := func(w waiting) bool {
		s.count.started.Add(1)
		start := time.Now()
		_, err := w.c.Poll(pollCtx, w.status)
		if pollCtx.Err() != nil {
			return false // cut off by the end of the run, not an answer
		}
		dur := time.Since(start)
		s.rec.observe("poll", dur, err)
		s.whole.add(dur, err)
		if err != nil {
			s.count.failed.Add(1)
			s.logError(w.c.Person, err)
		} else {
			s.count.completed.Add(1)
		}
		return true
	}
	var wg sync.WaitGroup
	t0 := time.Now()
	if every := s.o.pollEvery; every > 0 {
		// Every waiting page polls on its own clock, as the QR page's
		// script does, starting at a random point of its first period.
		for _, w := range flows {
			offset := time.Duration(s.float() * float64(every))
			wg.Add(1)
			go func() {
				defer wg.Done()
				next := t0.Add(offset)
				for candidate.Sleep(pollCtx, time.Until(next)) == nil && poll(w) {
					next = next.Add(every)
				}
			}()
		}
	} else {
		// As fast as --concurrency workers can, round-robin over the flows.
		var next atomic.Int64
		for range s.o.concurrency {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for pollCtx.Err() == nil {
					if !poll(flows[int(next.Add(1)-1)%len(flows)]) {
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	elapsed := time.Since(t0)
	cancel()
	lines, err := ph.stop(ctx, "poll")
	if err != nil {
		return report{}, err
	}
	vendor1, verr1 := s.metric(ctx, vendorPolls)
	if polls := s.count.completed.Load(); s.o.ops != "" && errors.Join(verr0, verr1) == nil && polls > 0 {
		lines = append(lines, fmt.Sprintf("vendor polls (WeChat PollScan through the plugin): %.0f, %.1f%% of the status polls",
			vendor1-vendor0, 100*(vendor1-vendor0)/float64(polls)))
	}
	how := fmt.Sprintf("%d workers polling as fast as they can", s.o.concurrency)
	if s.o.pollEvery > 0 {
		how = fmt.Sprintf("each polling every %s", s.o.pollEvery)
	}
	r := report{what: fmt.Sprintf("%d candidates waiting at the QR code, %s, for %s", s.o.candidates, how, d), elapsed: elapsed, lines: lines,
		unit: ph.unit, cpuPerUnit: ph.cpuPerUnit}
	switch {
	case s.o.ops == "":
		r.lines = append(r.lines, "memory: not measured (no --ops)")
	case berr != nil || aerr != nil:
		r.lines = append(r.lines, fmt.Sprintf("memory: not measured: %v", errors.Join(berr, aerr)))
	default:
		per := float64(after-before) / float64(s.o.candidates) / 1024
		r.lines = append(r.lines,
			fmt.Sprintf("gateway RSS: %.1f MiB before, %.1f MiB with the candidates waiting", float64(before)/(1<<20), float64(after)/(1<<20)),
			fmt.Sprintf("memory per waiting candidate: %.1f KiB (RSS)", per))
		if err := errors.Join(hberr, haerr); err != nil {
			r.lines = append(r.lines, fmt.Sprintf("live heap: not measured: %v", err))
		} else {
			r.lines = append(r.lines, fmt.Sprintf("live heap after GC: %.1f MiB before, %.1f MiB with the candidates waiting: %.2f KiB per waiting candidate",
				heapBefore/(1<<20), heapAfter/(1<<20), (heapAfter-heapBefore)/float64(s.o.candidates)/1024))
		}
	}
	return r, nil
}

// phase is the measured part of a run: the progress line, the CPU
// profile and the gateway's CPU time.
type phase struct {
	s            *sim
	stopProgress func()
	stopProfile  func() error
	cpu0         float64
	cpuErr       error
	t0           time.Time
	completed0   int64
	unit         string
	cpuPerUnit   time.Duration
}

func (s *sim) startPhase(ctx context.Context, rateName string) *phase {
	ph := &phase{s: s, t0: time.Now()}
	ph.cpu0, ph.cpuErr = s.gatewayCPU(ctx)
	ph.completed0 = s.count.completed.Load()
	ph.stopProgress = s.startProgress(ctx, rateName)
	ph.stopProfile = s.startProfile(ctx)
	return ph
}

// stop ends the phase and returns what it measured of the gateway: CPU
// time per completed unit (journey, sign-in, poll).
func (ph *phase) stop(ctx context.Context, unit string) ([]string, error) {
	ph.stopProgress()
	if err := ph.stopProfile(); err != nil {
		return nil, err
	}
	s := ph.s
	ph.unit = unit
	if s.o.ops == "" {
		return nil, nil
	}
	cpu1, err := s.gatewayCPU(ctx)
	if err = errors.Join(ph.cpuErr, err); err != nil {
		return []string{fmt.Sprintf("gateway CPU: not measured: %v", err)}, nil
	}
	el := time.Since(ph.t0).Seconds()
	n := s.count.completed.Load() - ph.completed0
	used := cpu1 - ph.cpu0
	line := fmt.Sprintf("gateway CPU: %.1f s in %.1f s (%.2f cores)", used, el, used/el)
	if n > 0 {
		ph.cpuPerUnit = time.Duration(used / float64(n) * float64(time.Second))
		line += fmt.Sprintf(", %.3f ms per %s (the gateway process only, not its plugins)", used/float64(n)*1000, unit)
	}
	return []string{line}, nil
}

// startProgress prints a progress line about every --progress until the
// returned function is called.
func (s *sim) startProgress(ctx context.Context, rateName string) func() {
	if s.o.progress <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	t0 := time.Now()
	go func() {
		defer close(finished)
		tick := time.NewTicker(s.o.progress)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				el := time.Since(t0)
				c := s.count.completed.Load()
				fmt.Fprintf(s.stderr, "elapsed %5.0fs  started %6d  completed %6d  failed %4d  in flight %4d  %s %7.1f\n",
					el.Seconds(), s.count.started.Load(), c, s.count.failed.Load(), s.count.inFlight.Load(), rateName, float64(c)/el.Seconds())
			}
		}
	}()
	return func() { close(done); <-finished }
}

// startProfile fetches a CPU profile of the gateway while the measured
// phase runs; the returned function waits for it and writes the file.
func (s *sim) startProfile(ctx context.Context) func() error {
	if s.o.profile == "" {
		return func() error { return nil }
	}
	errc := make(chan error, 1)
	go func() {
		errc <- fetchProfile(ctx, s.o.ops, s.o.profileFor, s.o.profile)
	}()
	return func() error {
		if err := <-errc; err != nil {
			return fmt.Errorf("profile: %w", err)
		}
		fmt.Fprintf(s.stderr, "CPU profile of the gateway written to %s (go tool pprof -top %s)\n", s.o.profile, s.o.profile)
		return nil
	}
}

func fetchProfile(ctx context.Context, ops string, d time.Duration, path string) error {
	client := &http.Client{Timeout: d + 30*time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", ops, int(d.Seconds())), nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s (is the gateway running with SHIMING_PPROF=1?)", req.URL.Path, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
