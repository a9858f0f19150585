package harness

import (
	"slices"
	"strings"
	"testing"
)

func TestMetricsSum(t *testing.T) {
	const text = `# HELP shiming_realname_errors_total Provider errors.
# TYPE shiming_realname_errors_total counter
shiming_realname_errors_total{kind="code_reused",portal="hunanpea",provider="wechat"} 2
shiming_realname_errors_total{kind="code_reused",portal="hxw",provider="wechat"} 1
shiming_realname_errors_total{kind="uuid_invalid",portal="hunanpea",provider="wechat"} 0
# HELP up Whether it is up.
# TYPE up gauge
up 1
`
	m, err := ParseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		metric string
		labels []string
		sum    float64
		ok     bool
	}{
		{"all portals", "shiming_realname_errors_total", []string{"kind", "code_reused"}, 3, true},
		{"one series", "shiming_realname_errors_total", []string{"kind", "code_reused", "portal", "hxw"}, 1, true},
		{"zero series", "shiming_realname_errors_total", []string{"kind", "uuid_invalid"}, 0, true},
		{"no such series", "shiming_realname_errors_total", []string{"kind", "expired"}, 0, false},
		{"no such metric", "shiming_nothing_total", nil, 0, false},
		{"gauge", "up", nil, 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sum, ok := m.Sum(tc.metric, tc.labels...)
			if sum != tc.sum || ok != tc.ok {
				t.Fatalf("Sum = %v, %v; want %v, %v", sum, ok, tc.sum, tc.ok)
			}
		})
	}
}

func TestCleanEnvDropsShimingSettings(t *testing.T) {
	got := cleanEnv([]string{"PATH=/bin", "SHIMING_LISTEN=0.0.0.0:80", "HOME=/root", "SHIMING_CONFIG=/etc/x.yaml"})
	if want := []string{"PATH=/bin", "HOME=/root"}; !slices.Equal(got, want) {
		t.Fatalf("cleanEnv = %q, want %q", got, want)
	}
}

func TestFreePortsAreDistinct(t *testing.T) {
	ports, err := freePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	if len(ports) != 3 || ports[0] == ports[1] || ports[1] == ports[2] || ports[0] == ports[2] {
		t.Fatalf("ports %q", ports)
	}
	for _, p := range ports {
		if !strings.HasPrefix(p, "127.0.0.1:") {
			t.Fatalf("port %q is not on loopback", p)
		}
	}
}
