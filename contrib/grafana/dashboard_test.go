// Package grafana_test checks the Grafana dashboards and provisioning
// files that contrib/grafana ships for docker-compose.yml.
package grafana_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// metrics are the names the gateway exposes, with their type: only a
// histogram may be queried with the _bucket, _sum and _count suffixes.
var metrics = map[string]string{
	"shiming_plugin_up":                          "gauge",
	"shiming_plugin_restarts_total":              "counter",
	"shiming_plugin_call_duration_seconds":       "histogram",
	"shiming_plugin_call_errors_total":           "counter",
	"shiming_realname_flows_total":               "counter",
	"shiming_realname_errors_total":              "counter",
	"shiming_realname_recoveries_total":          "counter",
	"shiming_logins_total":                       "counter",
	"shiming_phone_changes_total":                "counter",
	"shiming_phone_change_notices_total":         "counter",
	"shiming_desktop_only_rejections_total":      "counter",
	"shiming_oidc_refusals_total":                "counter",
	"shiming_rate_limited_total":                 "counter",
	"shiming_registration_steps_total":           "counter",
	"shiming_reviews_total":                      "counter",
	"shiming_applications":                       "gauge",
	"shiming_http_requests_total":                "counter",
	"shiming_http_request_duration_seconds":      "histogram",
	"shiming_http_cross_origin_rejections_total": "counter",
}

// builtins are Grafana's own variables.
var builtins = []string{"__rate_interval", "__interval", "__interval_ms", "__range", "__range_s", "__range_ms", "__all", "__auto"}

// requiredVars are the variables every dashboard offers.
var requiredVars = []string{"DS_PROMETHEUS", "instance", "portal", "provider"}

type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	Targets    []target    `json:"targets"`
	Panels     []panel     `json:"panels"` // a collapsed row's panels
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type target struct {
	RefID      string      `json:"refId"`
	Expr       string      `json:"expr"`
	Datasource *datasource `json:"datasource"`
}

type variable struct {
	Type       string          `json:"type"`
	Name       string          `json:"name"`
	Query      json.RawMessage `json:"query"`
	Datasource *datasource     `json:"datasource"`
	Current    struct {
		Value any `json:"value"`
	} `json:"current"`
}

// queryText is a query variable's PromQL, written either as a string or
// as Grafana's {"query": "..."} object.
func (v variable) queryText() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var o struct {
		Query string `json:"query"`
	}
	_ = json.Unmarshal(v.Query, &o)
	return o.Query
}

// expression is one PromQL text found in a dashboard and where.
type expression struct {
	where, expr string
}

func loadDashboards(t *testing.T) map[string]dashboard {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("dashboards", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no dashboards in dashboards/")
	}
	out := map[string]dashboard{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[f] = d
	}
	return out
}

// leaves returns every panel that is not a row, including the panels of
// collapsed rows.
func leaves(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		if p.Type == "row" {
			out = append(out, leaves(p.Panels)...)
			continue
		}
		out = append(out, p)
	}
	return out
}

// allIDs returns the ids of every panel, rows included.
func allIDs(ps []panel) []int {
	var out []int
	for _, p := range ps {
		out = append(out, p.ID)
		out = append(out, allIDs(p.Panels)...)
	}
	return out
}

// expressions returns every PromQL text of d: panel targets and the
// selectors of label_values() variable queries.
func expressions(d dashboard) []expression {
	var out []expression
	for _, p := range leaves(d.Panels) {
		for _, tg := range p.Targets {
			out = append(out, expression{fmt.Sprintf("panel %d %q target %s", p.ID, p.Title, tg.RefID), tg.Expr})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		out = append(out, expression{"variable " + v.Name, labelValuesSelector(v.queryText())})
	}
	return out
}

var labelValuesRE = regexp.MustCompile(`^label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)

// labelValuesSelector returns the series selector of
// label_values(SELECTOR, label), or q itself for any other query.
func labelValuesSelector(q string) string {
	if m := labelValuesRE.FindStringSubmatch(strings.TrimSpace(q)); m != nil {
		return m[1]
	}
	return q
}

func TestDashboardsAreWellFormed(t *testing.T) {
	uids := map[string]string{}
	for file, d := range loadDashboards(t) {
		if d.UID == "" || d.Title == "" {
			t.Errorf("%s: uid and title are required", file)
		}
		if other, ok := uids[d.UID]; ok {
			t.Errorf("%s: uid %q is also used by %s", file, d.UID, other)
		}
		uids[d.UID] = file
		if d.SchemaVersion < 38 {
			t.Errorf("%s: schemaVersion %d, want at least 38", file, d.SchemaVersion)
		}

		seen := map[int]bool{}
		for _, id := range allIDs(d.Panels) {
			if id == 0 || seen[id] {
				t.Errorf("%s: panel id %d is missing or used twice", file, id)
			}
			seen[id] = true
		}

		vars := map[string]variable{}
		for _, v := range d.Templating.List {
			vars[v.Name] = v
		}
		for _, name := range requiredVars {
			if _, ok := vars[name]; !ok {
				t.Errorf("%s: variable %q is missing", file, name)
			}
		}

		ps := leaves(d.Panels)
		if len(ps) == 0 {
			t.Errorf("%s: no panels", file)
		}
		for _, p := range ps {
			where := fmt.Sprintf("%s: panel %d %q", file, p.ID, p.Title)
			if p.Title == "" {
				t.Errorf("%s: no title", where)
			}
			if !promDatasource(p.Datasource) {
				t.Errorf("%s: datasource %+v, want the prometheus ${DS_PROMETHEUS} variable", where, p.Datasource)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no targets", where)
			}
			refs := map[string]bool{}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("%s: target %s has no expression", where, tg.RefID)
				}
				if tg.RefID == "" || refs[tg.RefID] {
					t.Errorf("%s: target refId %q is missing or used twice", where, tg.RefID)
				}
				refs[tg.RefID] = true
				if tg.Datasource != nil && !promDatasource(tg.Datasource) {
					t.Errorf("%s: target %s datasource %+v", where, tg.RefID, tg.Datasource)
				}
			}
		}
		for _, v := range d.Templating.List {
			if v.Type == "query" && !promDatasource(v.Datasource) {
				t.Errorf("%s: variable %s datasource %+v", file, v.Name, v.Datasource)
			}
		}
	}
}

// promDatasource reports whether ds is the dashboard's Prometheus variable
// (or the provisioned uid).
func promDatasource(ds *datasource) bool {
	return ds != nil && ds.Type == "prometheus" && (ds.UID == "${DS_PROMETHEUS}" || ds.UID == "prometheus")
}

var (
	metricTokenRE = regexp.MustCompile(`shiming_[a-z_]+`)
	variableRE    = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)(?::[a-z]+)?\}|\[\[([A-Za-z0-9_]+)\]\]|\$([A-Za-z0-9_]+)`)
)

// metricOf maps a token to a known metric name, allowing the histogram
// series suffixes on histograms only.
func metricOf(token string) (string, bool) {
	if _, ok := metrics[token]; ok {
		return token, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, found := strings.CutSuffix(token, suffix)
		if found && metrics[base] == "histogram" {
			return base, true
		}
	}
	return "", false
}

func TestDashboardQueriesUseKnownMetricsAndVariables(t *testing.T) {
	for file, d := range loadDashboards(t) {
		vars := map[string]bool{}
		for _, v := range d.Templating.List {
			vars[v.Name] = true
		}
		used := map[string]bool{}
		for _, e := range expressions(d) {
			for _, tok := range metricTokenRE.FindAllString(e.expr, -1) {
				name, ok := metricOf(tok)
				if !ok {
					t.Errorf("%s: %s: %q is not a metric the gateway exposes", file, e.where, tok)
					continue
				}
				used[name] = true
			}
			for _, m := range variableRE.FindAllStringSubmatch(e.expr, -1) {
				name := m[1] + m[2] + m[3]
				if !vars[name] && !slices.Contains(builtins, name) {
					t.Errorf("%s: %s: variable $%s is not defined", file, e.where, name)
				}
			}
		}
		var missing []string
		for name := range metrics {
			if !used[name] {
				missing = append(missing, name)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("%s: no panel shows %s", file, strings.Join(missing, ", "))
		}
	}
}

func TestMetricOf(t *testing.T) {
	tests := []struct {
		token, want string
		ok          bool
	}{
		{"shiming_logins_total", "shiming_logins_total", true},
		{"shiming_http_request_duration_seconds_bucket", "shiming_http_request_duration_seconds", true},
		{"shiming_plugin_call_duration_seconds_count", "shiming_plugin_call_duration_seconds", true},
		{"shiming_logins_total_count", "", false},
		{"shiming_applications_bucket", "", false},
		{"shiming_login_total", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.token, func(t *testing.T) {
			got, ok := metricOf(tt.token)
			if got != tt.want || ok != tt.ok {
				t.Errorf("metricOf(%q) = %q, %v; want %q, %v", tt.token, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestDashboardQueriesParse hands every expression, with the variables
// replaced by sample values, to promtool as a recording rule.
func TestDashboardQueriesParse(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is required under CI=true (apt-get install prometheus)")
		}
		t.Skip("promtool not found (apt-get install prometheus); skipping the PromQL syntax check")
	}
	samples := map[string]string{
		"__rate_interval": "1m", "__interval": "15s", "__range": "6h",
		"instance": "gateway-1:9464", "portal": "hunanpea", "provider": "wechat",
	}
	type rule struct {
		Record string `json:"record"`
		Expr   string `json:"expr"`
	}
	var rules []rule
	for file, d := range loadDashboards(t) {
		for _, e := range expressions(d) {
			expr := variableRE.ReplaceAllStringFunc(e.expr, func(v string) string {
				m := variableRE.FindStringSubmatch(v)
				if s, ok := samples[m[1]+m[2]+m[3]]; ok {
					return s
				}
				return v
			})
			rules = append(rules, rule{Record: fmt.Sprintf("dashboard_expr_%d", len(rules)+1), Expr: expr})
			t.Logf("dashboard_expr_%d: %s: %s", len(rules), file, e.where)
		}
	}
	doc := map[string]any{"groups": []any{map[string]any{"name": "dashboards", "rules": rules}}}
	b, err := json.Marshal(doc) // JSON is YAML
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dashboard-exprs.yml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), promtool, "check", "rules", path).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

func TestProvisioning(t *testing.T) {
	var ds struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name, UID, Type, URL string
			IsDefault            bool `yaml:"isDefault"`
		} `yaml:"datasources"`
	}
	readYAML(t, filepath.Join("provisioning", "datasources", "prometheus.yml"), &ds)
	if ds.APIVersion != 1 || len(ds.Datasources) != 1 {
		t.Fatalf("datasources: apiVersion %d, %d datasources; want 1 and 1", ds.APIVersion, len(ds.Datasources))
	}
	src := ds.Datasources[0]
	if src.Type != "prometheus" || src.UID == "" || !src.IsDefault || !strings.HasPrefix(src.URL, "http://prometheus:9090") {
		t.Errorf("datasource %+v: want the default prometheus datasource at http://prometheus:9090 with a uid", src)
	}

	// The dashboards' datasource variable defaults to the provisioned uid.
	for file, d := range loadDashboards(t) {
		for _, v := range d.Templating.List {
			if v.Name == "DS_PROMETHEUS" && (v.Type != "datasource" || v.Current.Value != src.UID) {
				t.Errorf("%s: DS_PROMETHEUS is %s defaulting to %v, want a datasource variable defaulting to %q", file, v.Type, v.Current.Value, src.UID)
			}
		}
	}

	var dp struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name, Type string
			Options    struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join("provisioning", "dashboards", "shiming.yml"), &dp)
	if dp.APIVersion != 1 || len(dp.Providers) != 1 || dp.Providers[0].Type != "file" || !filepath.IsAbs(dp.Providers[0].Options.Path) {
		t.Errorf("dashboard providers %+v: want one file provider with an absolute path", dp)
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
