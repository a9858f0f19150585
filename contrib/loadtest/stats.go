package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"text/tabwriter"
	"time"
)

// samples holds durations and counts errors; safe for concurrent use.
type samples struct {
	mu     sync.Mutex
	ok     []time.Duration
	errors int
}

func (s *samples) add(d time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.errors++
		return
	}
	s.ok = append(s.ok, d)
}

// summary is what a table row and the JSON line report.
type summary struct {
	Count         int
	Errors        int
	P50, P95, P99 time.Duration
}

func (s *samples) summary() summary {
	s.mu.Lock()
	sorted := slices.Clone(s.ok)
	out := summary{Count: len(s.ok), Errors: s.errors}
	s.mu.Unlock()
	slices.Sort(sorted)
	out.P50, out.P95, out.P99 = percentile(sorted, 50), percentile(sorted, 95), percentile(sorted, 99)
	return out
}

// percentile returns the p-th percentile of sorted durations by the
// nearest-rank method: the smallest value such that at least p percent of
// the values are at or below it. It is 0 for no values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = max(rank, 1)
	rank = min(rank, len(sorted))
	return sorted[rank-1]
}

// recorder collects the durations of every step by name, in the order
// the steps first appeared.
type recorder struct {
	mu    sync.Mutex
	order []string
	steps map[string]*samples
}

func newRecorder() *recorder { return &recorder{steps: map[string]*samples{}} }

func (r *recorder) observe(step string, d time.Duration, err error) {
	r.mu.Lock()
	s, ok := r.steps[step]
	if !ok {
		s = &samples{}
		r.steps[step] = s
		r.order = append(r.order, step)
	}
	r.mu.Unlock()
	s.add(d, err)
}

// writeTable prints one row per step: count, errors, p50/p95/p99 in ms.
func (r *recorder) writeTable(w io.Writer) {
	r.mu.Lock()
	order := slices.Clone(r.order)
	r.mu.Unlock()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "step\tcount\terrors\tp50_ms\tp95_ms\tp99_ms\t")
	for _, name := range order {
		r.mu.Lock()
		s := r.steps[name]
		r.mu.Unlock()
		sm := s.summary()
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t\n", name, sm.Count, sm.Errors, ms(sm.P50), ms(sm.P95), ms(sm.P99))
	}
	tw.Flush()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }

// result is the last line the tool prints: exactly these keys, in this
// order, so that scripts can read it with one JSON parse.
type result struct {
	Journeys     int     `json:"journeys"`
	JourneysPerS float64 `json:"journeys_per_s"`
	P50ms        float64 `json:"p50_ms"`
	P95ms        float64 `json:"p95_ms"`
	P99ms        float64 `json:"p99_ms"`
	Errors       int     `json:"errors"`
}

// newResult summarizes whole journeys (or logins, or polls) completed in
// elapsed.
func newResult(s summary, elapsed time.Duration) result {
	r := result{Journeys: s.Count, Errors: s.Errors,
		P50ms: round(msf(s.P50), 1), P95ms: round(msf(s.P95), 1), P99ms: round(msf(s.P99), 1)}
	if elapsed > 0 {
		r.JourneysPerS = round(float64(s.Count)/elapsed.Seconds(), 2)
	}
	return r
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

// jsonLine is the result as one line of JSON.
func (r result) jsonLine() string {
	b, err := json.Marshal(r)
	if err != nil {
		panic("loadtest: marshal result: " + err.Error()) // plain numbers only
	}
	return string(b)
}

// weighted picks names in proportion to their weights.
type weighted struct {
	names []string
	cum   []float64
}

// parseMix reads "wechat=5,alipay=3,ctid=2".
func parseMix(s string) (weighted, error) {
	var w weighted
	total := 0.0
	seen := map[string]bool{}
	for _, part := range splitList(s) {
		name, v, err := keyValue(part)
		if err != nil {
			return w, fmt.Errorf("mix %q: %w", s, err)
		}
		if seen[name] {
			return w, fmt.Errorf("mix %q: %s given twice", s, name)
		}
		seen[name] = true
		if v < 0 {
			return w, fmt.Errorf("mix %q: negative weight for %s", s, name)
		}
		if v == 0 {
			continue
		}
		total += v
		w.names = append(w.names, name)
		w.cum = append(w.cum, total)
	}
	if total == 0 {
		return w, fmt.Errorf("mix %q: no positive weight", s)
	}
	for i := range w.cum {
		w.cum[i] /= total
	}
	return w, nil
}

// pick maps u in [0,1) to a name.
func (w weighted) pick(u float64) string {
	for i, c := range w.cum {
		if u < c {
			return w.names[i]
		}
	}
	return w.names[len(w.names)-1]
}
