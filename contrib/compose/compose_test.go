// Package compose_test checks docker-compose.yml and the files it mounts
// from contrib/ against each other and against the gateway's own
// configuration loader, without a Docker engine.
package compose_test

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"

	"github.com/shiming-id/shiming/gateway/config"
)

// root is the repository, seen from this package's folder.
const root = "../.."

// The services of the topology and what they run.
var (
	gateways        = []string{"gateway-1", "gateway-2"}
	shimingServices = []string{"sandbox", "gateway-1", "gateway-2"}
	allServices     = []string{"postgres", "redis", "keys", "sandbox", "gateway-1", "gateway-2", "lb", "prometheus", "grafana"}
)

func loadProject(t *testing.T) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions(
		[]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root),
		// No environment from the machine running the test: the file's
		// defaults (${VAR:-default}) are what is checked.
		cli.WithEnv(nil),
		cli.WithInterpolation(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatalf("load docker-compose.yml: %v", err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("service %s is missing", name)
	}
	return s
}

// bindSource returns the host path bind-mounted at target in s.
func bindSource(t *testing.T, s types.ServiceConfig, target string) string {
	t.Helper()
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeBind && v.Target == target {
			return v.Source
		}
	}
	t.Fatalf("%s: nothing is bind-mounted at %s", s.Name, target)
	return ""
}

// flagValue returns the value after flag in a command line.
func flagValue(t *testing.T, s types.ServiceConfig, flag string) string {
	t.Helper()
	i := slices.Index(s.Command, flag)
	if i < 0 || i+1 >= len(s.Command) {
		t.Fatalf("%s: command %q has no %s", s.Name, s.Command, flag)
	}
	return s.Command[i+1]
}

func port(t *testing.T, hostport string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatalf("%q: %v", hostport, err)
	}
	return p
}

func urlPort(t *testing.T, raw string) (host, port string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Port() == "" {
		t.Fatalf("%q is not a URL with a port", raw)
	}
	return u.Hostname(), u.Port()
}

func TestServices(t *testing.T) {
	p := loadProject(t)
	for _, name := range allServices {
		s := service(t, p, name)
		if s.Image == "" && s.Build == nil {
			t.Errorf("%s: neither image nor build", name)
		}
	}
	var image string
	for _, name := range shimingServices {
		s := service(t, p, name)
		if s.Build == nil || filepath.Clean(s.Build.Context) != mustAbs(t, root) {
			t.Errorf("%s: want a build of the repository, got %+v", name, s.Build)
		}
		if image == "" {
			image = s.Image
		}
		if s.Image != image {
			t.Errorf("%s: image %q, want %q like the other Shiming services", name, s.Image, image)
		}
		if !s.ReadOnly || !slices.Contains(s.CapDrop, "ALL") {
			t.Errorf("%s: want read_only and cap_drop ALL", name)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "Dockerfile")); err != nil {
		t.Errorf("the build needs the Dockerfile: %v", err)
	}
}

func TestPublishedPorts(t *testing.T) {
	p := loadProject(t)
	want := map[string]string{"lb": "8080", "sandbox": "8081", "prometheus": "9090", "grafana": "3000"}
	for name, s := range p.Services {
		published := map[string]bool{}
		for _, pc := range s.Ports {
			if pc.HostIP != "127.0.0.1" {
				t.Errorf("%s: port %s is published on %q; publish on 127.0.0.1 only", name, pc.Published, pc.HostIP)
			}
			published[pc.Published] = true
		}
		if w, ok := want[name]; ok && !published[w] {
			t.Errorf("%s: port %s is not published (got %+v)", name, w, s.Ports)
		}
		if _, ok := want[name]; !ok && len(s.Ports) > 0 {
			t.Errorf("%s: publishes %+v; only %v are meant to be reachable from the host", name, s.Ports, want)
		}
	}
}

func TestHealthChecks(t *testing.T) {
	p := loadProject(t)
	tests := []struct {
		service string
		want    []string // the test command must contain these, in order
	}{
		{"postgres", []string{"CMD", "pg_isready"}},
		{"redis", []string{"CMD", "redis-cli", "ping"}},
		{"sandbox", []string{"CMD", "/shiming", "healthcheck", "--url"}},
		{"gateway-1", []string{"CMD", "/shiming", "healthcheck", "--url"}},
		{"gateway-2", []string{"CMD", "/shiming", "healthcheck", "--url"}},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			s := service(t, p, tt.service)
			if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) < len(tt.want) {
				t.Fatalf("no health check: %+v", s.HealthCheck)
			}
			if got := []string(s.HealthCheck.Test[:len(tt.want)]); !slices.Equal(got, tt.want) {
				t.Errorf("health check %q, want it to start with %q", s.HealthCheck.Test, tt.want)
			}
		})
	}

	// The probes ask the port each program listens on.
	sb := service(t, p, "sandbox")
	_, probe := urlPort(t, sb.HealthCheck.Test[len(sb.HealthCheck.Test)-1])
	if listen := port(t, flagValue(t, sb, "--listen")); probe != listen {
		t.Errorf("sandbox: probe port %s, listens on %s", probe, listen)
	}
	for _, name := range gateways {
		s := service(t, p, name)
		cfg := gatewayConfig(t, p, name)
		if _, probe := urlPort(t, s.HealthCheck.Test[len(s.HealthCheck.Test)-1]); probe != port(t, cfg.OpsListen) {
			t.Errorf("%s: probe port %s, ops_listen %s", name, probe, cfg.OpsListen)
		}
	}
}

func TestDependencies(t *testing.T) {
	p := loadProject(t)
	want := map[string]map[string]string{
		"gateway-1": {"postgres": types.ServiceConditionHealthy, "redis": types.ServiceConditionHealthy,
			"sandbox": types.ServiceConditionHealthy, "keys": types.ServiceConditionCompletedSuccessfully},
		"gateway-2": {"postgres": types.ServiceConditionHealthy, "redis": types.ServiceConditionHealthy,
			"sandbox": types.ServiceConditionHealthy, "keys": types.ServiceConditionCompletedSuccessfully},
		"lb":      {"gateway-1": types.ServiceConditionHealthy, "gateway-2": types.ServiceConditionHealthy},
		"grafana": {"prometheus": types.ServiceConditionStarted},
	}
	for name, deps := range want {
		s := service(t, p, name)
		for dep, cond := range deps {
			got, ok := s.DependsOn[dep]
			if !ok {
				t.Errorf("%s does not depend on %s", name, dep)
				continue
			}
			if got.Condition != cond {
				t.Errorf("%s depends on %s with %q, want %q", name, dep, got.Condition, cond)
			}
		}
	}
}

func TestBindMountsExistInRepository(t *testing.T) {
	p := loadProject(t)
	repo := mustAbs(t, root)
	n := 0
	for name, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			n++
			rel, err := filepath.Rel(repo, v.Source)
			if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				t.Errorf("%s: %s is outside the repository", name, v.Source)
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("%s: bind mount %s → %s: %v", name, rel, v.Target, err)
			}
			if !v.ReadOnly {
				t.Errorf("%s: bind mount %s → %s should be read-only", name, rel, v.Target)
			}
		}
	}
	if n == 0 {
		t.Error("no bind mounts found; the loader did not resolve them")
	}
}

// gatewayConfig loads the shiming.yaml a gateway service mounts, applies
// the service's environment as the binary would, and validates it.
func gatewayConfig(t *testing.T, p *types.Project, name string) config.Config {
	t.Helper()
	s := service(t, p, name)
	if len(s.Command) == 0 || s.Command[0] != "serve" {
		t.Fatalf("%s: command %q, want serve", name, s.Command)
	}
	src := bindSource(t, s, flagValue(t, s, "--config"))
	cfg, err := config.LoadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	env := func(k string) (string, bool) {
		v, ok := s.Environment[k]
		if !ok || v == nil {
			return "", false
		}
		return *v, true
	}
	for k := range s.Environment {
		if strings.HasPrefix(k, config.EnvPrefix) && !slices.Contains(config.EnvNames(), k) {
			t.Errorf("%s: environment %s is not a configuration variable", name, k)
		}
	}
	if err := config.ApplyEnv(&cfg, env); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("%s: %s: %v", name, src, err)
	}
	return cfg
}

func TestGatewayConfiguration(t *testing.T) {
	p := loadProject(t)
	for _, name := range gateways {
		t.Run(name, func(t *testing.T) {
			s := service(t, p, name)
			cfg := gatewayConfig(t, p, name)
			if cfg.Embedded() {
				t.Error("the in-process sandbox is on; the sandbox service plays it")
			}

			// Shared state lives in the postgres and redis services.
			if cfg.Storage.Driver != "postgres" {
				t.Errorf("storage.driver %q, want postgres", cfg.Storage.Driver)
			}
			if u, err := url.Parse(cfg.Storage.DSN); err != nil || u.Hostname() != "postgres" {
				t.Errorf("storage.dsn does not point at the postgres service")
			} else if pw, _ := u.User.Password(); pw == "" {
				t.Error("storage.dsn has no password: the postgres service requires one")
			}
			if host, _, err := net.SplitHostPort(cfg.Redis.Addr); err != nil || host != "redis" {
				t.Errorf("redis.addr %q does not point at the redis service", cfg.Redis.Addr)
			}

			// The master key is in the volume the keys service writes.
			keys := service(t, p, "keys")
			var keysVolume string
			for _, v := range keys.Volumes {
				if v.Type == types.VolumeTypeVolume {
					keysVolume = v.Source
				}
			}
			mounted := false
			for _, v := range s.Volumes {
				if v.Type == types.VolumeTypeVolume && v.Source == keysVolume && strings.HasPrefix(cfg.Keys.MasterKeyFile, v.Target+"/") {
					mounted = v.ReadOnly
				}
			}
			if keysVolume == "" || !mounted {
				t.Errorf("keys.master_key_file %s is not in the keys volume %q mounted read-only", cfg.Keys.MasterKeyFile, keysVolume)
			}

			// The data folder is a volume of this replica alone.
			dataVolume := ""
			for _, v := range s.Volumes {
				if v.Type == types.VolumeTypeVolume && v.Target == cfg.DataDir {
					dataVolume = v.Source
				}
			}
			if dataVolume == "" {
				t.Errorf("data_dir %s is not a volume", cfg.DataDir)
			}
			for _, other := range gateways {
				if other == name {
					continue
				}
				for _, v := range service(t, p, other).Volumes {
					if v.Type == types.VolumeTypeVolume && v.Source == dataVolume {
						t.Errorf("data volume %s is shared with %s", dataVolume, other)
					}
				}
			}

			// The vendors are the sandbox service: the providers and the
			// government IdP come from the credentials file it writes, read
			// from its data volume mounted read-only.
			for _, pr := range cfg.Providers {
				if pr.Builtin == "" || len(pr.Config) > 0 {
					t.Errorf("providers %s: configured in the file; the sandbox's apps file configures the built-in providers", pr.Name)
				}
			}
			if len(cfg.OIDC) > 0 {
				t.Errorf("oidc is configured in the file; the sandbox's apps file gives its government IdP")
			}
			sb := service(t, p, "sandbox")
			if cfg.Sandbox.Enabled || cfg.Sandbox.AppsFile == "" {
				t.Fatalf("sandbox %+v: want the external sandbox's apps_file", cfg.Sandbox)
			}
			written := filepath.Join(flagValue(t, sb, "--data"), "sandbox", "sandbox-apps.yaml")
			var sbVolume string
			for _, v := range sb.Volumes {
				if v.Type == types.VolumeTypeVolume && strings.HasPrefix(written, v.Target+"/") {
					sbVolume = v.Source
					written = strings.TrimPrefix(written, v.Target)
				}
			}
			if sbVolume == "" {
				t.Fatalf("sandbox: its --data %s is not in a volume", flagValue(t, sb, "--data"))
			}
			found := false
			for _, v := range s.Volumes {
				if v.Type == types.VolumeTypeVolume && v.Source == sbVolume {
					found = true
					if !v.ReadOnly {
						t.Errorf("the sandbox's volume %s is mounted writable at %s", sbVolume, v.Target)
					}
					if want := v.Target + written; cfg.Sandbox.AppsFile != want {
						t.Errorf("sandbox.apps_file %s, the sandbox writes it at %s", cfg.Sandbox.AppsFile, want)
					}
				}
			}
			if !found {
				t.Errorf("the sandbox's volume %s is not mounted", sbVolume)
			}
		})
	}
}

// sandboxIssuerID is the id the gateway gives the sandbox's government
// IdP when it reads the apps file (gateway/cmd/shiming/serve.go).
const sandboxIssuerID = "zwfw"

func TestSandboxAndGatewaysAgree(t *testing.T) {
	p := loadProject(t)
	sb := service(t, p, "sandbox")
	public := strings.TrimSuffix(flagValue(t, sb, "--public-url"), "/")
	host, pubPort := urlPort(t, public)

	// One URL for browsers and containers: browsers resolve *.localhost
	// to 127.0.0.1, containers resolve the alias to the sandbox.
	if !strings.HasSuffix(host, ".localhost") {
		t.Errorf("sandbox --public-url %s: want a *.localhost host, which browsers on the host resolve to 127.0.0.1", public)
	}
	nw := sb.Networks["default"]
	if nw == nil || !slices.Contains(nw.Aliases, host) {
		t.Errorf("sandbox: %s is not a network alias, so containers cannot resolve it (networks %+v)", host, sb.Networks)
	}
	found := false
	for _, pc := range sb.Ports {
		found = found || (pc.Published == pubPort && pc.HostIP == "127.0.0.1" && strconv.Itoa(int(pc.Target)) == port(t, flagValue(t, sb, "--listen")))
	}
	if !found {
		t.Errorf("sandbox: public URL %s is not the published port %+v", public, sb.Ports)
	}

	redirects := strings.Split(flagValue(t, sb, "--oidc-redirect"), ",")
	for _, name := range gateways {
		cfg := gatewayConfig(t, p, name)
		if got := strings.TrimSuffix(cfg.Sandbox.PublicURL, "/"); got != public {
			t.Errorf("%s: sandbox.public_url %s, the sandbox's --public-url is %s", name, got, public)
		}
		if want := cfg.PublicBase() + "/oidc/" + sandboxIssuerID + "/callback"; !slices.Contains(redirects, want) {
			t.Errorf("%s: the sandbox allows %q, the gateway's callback is %s", name, redirects, want)
		}
	}
}

var (
	nginxServerRE = regexp.MustCompile(`(?m)^\s*server\s+([a-z0-9.-]+):(\d+)\b`)
	nginxListenRE = regexp.MustCompile(`(?m)^\s*listen\s+(\d+)\s*;`)
)

func TestLoadBalancer(t *testing.T) {
	p := loadProject(t)
	lb := service(t, p, "lb")
	conf, err := os.ReadFile(bindSource(t, lb, "/etc/nginx/conf.d/default.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(conf), "X-Forwarded-For") {
		t.Error("nginx.conf does not pass X-Forwarded-For")
	}

	// Round-robin over every gateway on its public port.
	var upstream []string
	for _, m := range nginxServerRE.FindAllStringSubmatch(string(conf), -1) {
		upstream = append(upstream, m[1])
		cfg := gatewayConfig(t, p, m[1])
		if m[2] != port(t, cfg.Listen) {
			t.Errorf("upstream %s:%s, the gateway listens on %s", m[1], m[2], cfg.Listen)
		}
	}
	slices.Sort(upstream)
	if !slices.Equal(upstream, gateways) {
		t.Errorf("upstream servers %q, want %q", upstream, gateways)
	}

	// The published port reaches nginx's listener.
	m := nginxListenRE.FindStringSubmatch(string(conf))
	if m == nil || len(lb.Ports) != 1 || strconv.Itoa(int(lb.Ports[0].Target)) != m[1] {
		t.Errorf("lb publishes %+v, nginx listens on %v", lb.Ports, m)
	}

	// The gateways believe X-Forwarded-For from the load balancer's fixed
	// address, and from nothing else.
	lbNet, ok := lb.Networks["default"]
	if !ok || lbNet == nil || lbNet.Ipv4Address == "" {
		t.Fatal("lb has no fixed address on the default network")
	}
	lbIP := net.ParseIP(lbNet.Ipv4Address)
	cfg := gatewayConfig(t, p, "gateway-1")
	trusted := false
	for _, c := range cfg.Limits.TrustedProxies {
		_, n, err := net.ParseCIDR(c)
		if err != nil {
			t.Fatal(err)
		}
		if ones, bits := n.Mask.Size(); ones != bits {
			t.Errorf("trusted proxy %s is a range; trust the load balancer's address only", c)
		}
		trusted = trusted || n.Contains(lbIP)
	}
	if !trusted {
		t.Errorf("limits.trusted_proxies %q does not hold the load balancer's %s", cfg.Limits.TrustedProxies, lbIP)
	}
	pool := p.Networks["default"].Ipam.Config
	if len(pool) != 1 {
		t.Fatalf("default network: want one address pool, got %d", len(pool))
	}
	_, subnet, err1 := net.ParseCIDR(pool[0].Subnet)
	_, dynamic, err2 := net.ParseCIDR(pool[0].IPRange)
	if err1 != nil || err2 != nil || !subnet.Contains(lbIP) || dynamic.Contains(lbIP) {
		t.Errorf("lb address %s must lie in the subnet %s and outside the dynamic ip_range %s", lbIP, pool[0].Subnet, pool[0].IPRange)
	}
}

func TestPrometheusScrapesEveryGateway(t *testing.T) {
	p := loadProject(t)
	prom := service(t, p, "prometheus")
	var configFile string
	for _, c := range prom.Command {
		if v, ok := strings.CutPrefix(c, "--config.file="); ok {
			configFile = v
		}
	}
	if configFile == "" {
		t.Fatalf("prometheus: command %q has no --config.file", prom.Command)
	}
	dir := bindSource(t, prom, filepath.Dir(configFile))
	var pc struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	b, err := os.ReadFile(filepath.Join(dir, filepath.Base(configFile)))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &pc); err != nil {
		t.Fatal(err)
	}
	for _, rf := range pc.RuleFiles {
		if _, err := os.Stat(filepath.Join(dir, rf)); err != nil {
			t.Errorf("rule file %s: %v", rf, err)
		}
	}
	var targets []string
	for _, sc := range pc.ScrapeConfigs {
		if sc.JobName != "shiming" {
			continue
		}
		for _, st := range sc.StaticConfigs {
			targets = append(targets, st.Targets...)
		}
	}
	var want []string
	for _, name := range gateways {
		want = append(want, name+":"+port(t, gatewayConfig(t, p, name).OpsListen))
	}
	slices.Sort(targets)
	if !slices.Equal(targets, want) {
		t.Errorf("job shiming scrapes %q, want every gateway's ops listener %q", targets, want)
	}
}

func TestGrafanaProvisioning(t *testing.T) {
	p := loadProject(t)
	g := service(t, p, "grafana")
	var dp struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	dpDir := bindSource(t, g, "/etc/grafana/provisioning/dashboards")
	b, err := os.ReadFile(filepath.Join(dpDir, "shiming.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &dp); err != nil {
		t.Fatal(err)
	}
	if len(dp.Providers) == 0 {
		t.Fatal("no dashboard provider")
	}
	src := bindSource(t, g, dp.Providers[0].Options.Path)
	if files, _ := filepath.Glob(filepath.Join(src, "*.json")); len(files) == 0 {
		t.Errorf("%s mounted at %s holds no dashboards", src, dp.Providers[0].Options.Path)
	}

	var ds struct {
		Datasources []struct {
			URL string `yaml:"url"`
		} `yaml:"datasources"`
	}
	b, err = os.ReadFile(filepath.Join(bindSource(t, g, "/etc/grafana/provisioning/datasources"), "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &ds); err != nil {
		t.Fatal(err)
	}
	if len(ds.Datasources) == 0 {
		t.Fatal("no datasource")
	}
	host, prt := urlPort(t, ds.Datasources[0].URL)
	if _, ok := p.Services[host]; !ok || prt != "9090" {
		t.Errorf("datasource %s is not the prometheus service", ds.Datasources[0].URL)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}
