package registration

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shiming-id/shiming/registration/review"
)

// Action is a metric label for something a candidate does on a step.
type Action string

const (
	ActionPledge         Action = "pledge"
	ActionNotice         Action = "notice"
	ActionInfoBasic      Action = "info_basic"
	ActionInfoEducation  Action = "info_education"
	ActionInfoWork       Action = "info_work"
	ActionInfoOther      Action = "info_other"
	ActionInfoSubmit     Action = "info_submit"
	ActionPosition       Action = "position"
	ActionTerms          Action = "terms"
	ActionChangePosition Action = "change_position"
	ActionReapply        Action = "reapply"
	ActionEligible       Action = "eligible"
	ActionConfirm        Action = "confirm"
)

func actions() []Action {
	return []Action{ActionPledge, ActionNotice, ActionInfoBasic, ActionInfoEducation, ActionInfoWork, ActionInfoOther,
		ActionInfoSubmit, ActionPosition, ActionTerms, ActionChangePosition, ActionReapply, ActionEligible, ActionConfirm}
}

func pageAction(p Page) Action { return Action("info_" + string(p)) }

// Step outcomes, the outcome label of shiming_registration_steps_total.
const (
	outcomeOK            = "ok"             // the step was done
	outcomeInvalid       = "invalid"        // the form had errors; nothing changed
	outcomeWrongStep     = "wrong_step"     // posted out of order or twice; nothing changed
	outcomeOutsideWindow = "outside_window" // registration not open
	outcomeError         = "error"          // the store failed
)

func stepOutcomes() []string {
	return []string{outcomeOK, outcomeInvalid, outcomeWrongStep, outcomeOutsideWindow, outcomeError}
}

type metrics struct {
	steps   *prometheus.CounterVec
	reviews *prometheus.CounterVec
}

// newMetrics creates the counters with every known label combination at
// zero and registers them and the applications gauge on reg (if not nil).
func newMetrics(reg prometheus.Registerer, portals []string, store Store, logger *slog.Logger) (*metrics, error) {
	m := &metrics{
		steps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shiming_registration_steps_total",
			Help: "Registration step actions by portal, step and outcome (ok, invalid, wrong_step, outside_window, error).",
		}, []string{"portal", "step", "outcome"}),
		reviews: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shiming_reviews_total",
			Help: "Automatic preliminary reviews: outcome passed with requirement none, or one count per unmet requirement for outcome failed.",
		}, []string{"outcome", "requirement"}),
	}
	for _, p := range portals {
		for _, a := range actions() {
			for _, o := range stepOutcomes() {
				m.steps.WithLabelValues(p, string(a), o)
			}
		}
	}
	m.reviews.WithLabelValues(string(OutcomePassed), string(review.None))
	for _, r := range review.Requirements() {
		m.reviews.WithLabelValues(string(OutcomeFailed), string(r))
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.steps, m.reviews, &applicationsCollector{store: store, logger: logger}} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registration: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) step(portal string, a Action, outcome string) {
	m.steps.WithLabelValues(portal, string(a), outcome).Inc()
}

func (m *metrics) review(reasons []review.Reason) {
	if len(reasons) == 0 {
		m.reviews.WithLabelValues(string(OutcomePassed), string(review.None)).Inc()
		return
	}
	for _, r := range reasons {
		m.reviews.WithLabelValues(string(OutcomeFailed), string(r.Requirement)).Inc()
	}
}

var applicationsDesc = prometheus.NewDesc("shiming_applications",
	"Applications by the step they stand at (status), counted from the store at scrape time.",
	[]string{"status"}, nil)

// applicationsCollector reads the applications gauge from the store when
// scraped, so that every replica reports the same shared numbers.
type applicationsCollector struct {
	store  Store
	logger *slog.Logger
}

func (c *applicationsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- applicationsDesc }

func (c *applicationsCollector) Collect(ch chan<- prometheus.Metric) {
	// A scrape carries no context; bound the query so a slow database
	// cannot hold the scrape.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.store.StepCounts(ctx)
	if err != nil {
		// Leave the gauge out of this scrape rather than fail the whole
		// scrape (promhttp's default) over one query.
		c.logger.Error("registration: count applications for metrics", "err", err)
		return
	}
	for _, s := range Steps() {
		if s == StepPledge {
			// An application is created by the pledge, so none stands there.
			continue
		}
		ch <- prometheus.MustNewConstMetric(applicationsDesc, prometheus.GaugeValue, float64(counts[s]), s.String())
	}
}
