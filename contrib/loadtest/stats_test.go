package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value", ms(7), 99, 7 * time.Millisecond},
		{"median of four is the second", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p95 of four is the largest", ms(1, 2, 3, 4), 95, 4 * time.Millisecond},
		{"p0 is the smallest", ms(1, 2, 3, 4), 0, 1 * time.Millisecond},
		{"p50 of 1..100", hundred, 50, 50 * time.Millisecond},
		{"p95 of 1..100", hundred, 95, 95 * time.Millisecond},
		{"p99 of 1..100", hundred, 99, 99 * time.Millisecond},
		{"p100 of 1..100", hundred, 100, 100 * time.Millisecond},
		{"p99.9 of 1..100", hundred, 99.9, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestSamplesSummary(t *testing.T) {
	var s samples
	for _, d := range []int{30, 10, 20, 40} {
		s.add(time.Duration(d)*time.Millisecond, nil)
	}
	s.add(time.Hour, errors.New("failed")) // errors do not count as durations
	got := s.summary()
	want := summary{Count: 4, Errors: 1, P50: 20 * time.Millisecond, P95: 40 * time.Millisecond, P99: 40 * time.Millisecond}
	if got != want {
		t.Errorf("summary = %+v, want %+v", got, want)
	}
}

func TestResultJSONLine(t *testing.T) {
	s := summary{Count: 250, Errors: 3, P50: 1234567 * time.Nanosecond, P95: 2500 * time.Millisecond, P99: 4321 * time.Millisecond}
	line := newResult(s, 10*time.Second).jsonLine()
	const want = `{"journeys":250,"journeys_per_s":25,"p50_ms":1.2,"p95_ms":2500,"p99_ms":4321,"errors":3}`
	if line != want {
		t.Errorf("line\n%s\nwant\n%s", line, want)
	}
	var keys []string
	dec := json.NewDecoder(strings.NewReader(line))
	_, _ = dec.Token()
	for dec.More() {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var v any
		_ = dec.Decode(&v)
	}
	if got := strings.Join(keys, ","); got != "journeys,journeys_per_s,p50_ms,p95_ms,p99_ms,errors" {
		t.Errorf("keys %s", got)
	}
	if got := newResult(summary{}, 0).jsonLine(); got != `{"journeys":0,"journeys_per_s":0,"p50_ms":0,"p95_ms":0,"p99_ms":0,"errors":0}` {
		t.Errorf("empty run: %s", got)
	}
}

func TestRecorderTable(t *testing.T) {
	r := newRecorder()
	r.observe("scan", 12*time.Millisecond, nil)
	r.observe("open", 3*time.Millisecond, nil)
	r.observe("scan", 0, errors.New("x"))
	var b strings.Builder
	r.writeTable(&b)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("table:\n%s", b.String())
	}
	for i, want := range [][]string{
		{"step", "count", "errors", "p50_ms", "p95_ms", "p99_ms"},
		{"scan", "1", "1", "12.0", "12.0", "12.0"},
		{"open", "1", "0", "3.0", "3.0", "3.0"},
	} {
		if got := strings.Fields(lines[i]); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("row %d = %q, want %q", i, got, want)
		}
	}
}

func TestParseMix(t *testing.T) {
	w, err := parseMix("wechat=5, alipay=3,ctid=2")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		u    float64
		want string
	}{{0, "wechat"}, {0.49, "wechat"}, {0.5, "alipay"}, {0.79, "alipay"}, {0.8, "ctid"}, {0.999, "ctid"}}
	for _, tt := range tests {
		if got := w.pick(tt.u); got != tt.want {
			t.Errorf("pick(%v) = %s, want %s", tt.u, got, tt.want)
		}
	}
	if w, err := parseMix("alipay=1,wechat=0"); err != nil || w.pick(0) != "alipay" || w.pick(0.99) != "alipay" {
		t.Errorf("a zero weight is never picked: %v %v", w, err)
	}
	for _, bad := range []string{"", "wechat", "wechat=x", "wechat=-1", "wechat=0", "wechat=1,wechat=2"} {
		if _, err := parseMix(bad); err == nil {
			t.Errorf("parseMix(%q) accepted", bad)
		}
	}
}

func TestParseFaults(t *testing.T) {
	f, err := parseFaults("reused=0.02,stale=0.03,mismatch=0.01")
	if err != nil || f != (faultShares{reused: 0.02, stale: 0.03, mismatch: 0.01}) {
		t.Errorf("parseFaults = %+v, %v", f, err)
	}
	if f, err := parseFaults(""); err != nil || f != (faultShares{}) {
		t.Errorf("no faults: %+v, %v", f, err)
	}
	for _, bad := range []string{"reused=2", "timeout=0.1", "reused=0.6,stale=0.6", "reused"} {
		if _, err := parseFaults(bad); err == nil {
			t.Errorf("parseFaults(%q) accepted", bad)
		}
	}
}

func TestParseOptions(t *testing.T) {
	var b strings.Builder
	o, err := parseOptions([]string{"--target", "http://a:1/, http://b:2", "--mode", "realname"}, &b)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(o.targets, " ") != "http://a:1 http://b:2" || o.mode != "realname" {
		t.Errorf("options %+v", o)
	}
	for _, bad := range [][]string{
		{"--mode", "fly"},
		{"--candidates", "0"},
		{"--profile", "x.pprof"},
		{"--profile-for", "2m", "--ops", "http://o"},
		{"extra"},
	} {
		var u usageError
		if _, err := parseOptions(bad, &b); !errors.As(err, &u) {
			t.Errorf("parseOptions(%q) = %v, want a usage error", bad, err)
		}
	}
}

func TestMetricValue(t *testing.T) {
	const text = `# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 1.2345678e+07
process_resident_memory_bytes_other 5
`
	v, err := metricValue(bufio.NewScanner(strings.NewReader(text)), "process_resident_memory_bytes")
	if err != nil || v != 12345678 {
		t.Errorf("metricValue = %v, %v", v, err)
	}
	if _, err := metricValue(bufio.NewScanner(strings.NewReader("go_goroutines 3\n")), "process_resident_memory_bytes"); err == nil {
		t.Error("a missing metric was found")
	}
}
