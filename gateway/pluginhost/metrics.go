package pluginhost

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shiming-id/shiming/plugins/sdk"
)

type metrics struct {
	up       *prometheus.GaugeVec
	disabled *prometheus.GaugeVec
	restarts *prometheus.CounterVec
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, names []string) (*metrics, error) {
	m := &metrics{
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shiming_plugin_up",
			Help: "1 when the provider's plugin process runs and is configured, else 0.",
		}, []string{"provider"}),
		disabled: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shiming_plugin_disabled",
			Help: "1 when the provider is disabled (crash loop, refused binary, version or configuration error) until the gateway restarts.",
		}, []string{"provider"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shiming_plugin_restarts_total",
			Help: "Plugin processes started again after a crash, an exit or failed health probes.",
		}, []string{"provider"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shiming_plugin_call_duration_seconds",
			Help:    "Duration of calls to provider plugins, including waits for a restart.",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"provider", "method"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shiming_plugin_call_errors_total",
			Help: "Failed calls to provider plugins by error kind.",
		}, []string{"provider", "method", "kind"}),
	}
	for _, c := range []prometheus.Collector{m.up, m.disabled, m.restarts, m.duration, m.errors} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("pluginhost: register metrics: %w", err)
		}
	}
	// Every series exists from the start, at zero, so that rates and
	// alerts work before the first failure.
	for _, p := range names {
		m.up.WithLabelValues(p)
		m.disabled.WithLabelValues(p)
		m.restarts.WithLabelValues(p)
		for _, meth := range allMethods {
			m.duration.WithLabelValues(p, meth.name)
			for _, k := range sdk.Kinds() {
				m.errors.WithLabelValues(p, meth.name, k.String())
			}
		}
	}
	return m, nil
}
