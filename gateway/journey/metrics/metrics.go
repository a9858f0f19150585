// Package metrics holds the Prometheus counters of the candidate journeys:
// real-name flows with their provider errors and automatic recoveries,
// logins, phone changes and the notices to the old phone, desktop-only
// refusals and OIDC refusals. Every
// series exists at zero from the start for each configured label value, so
// rate() and absent-series alerts work on a fresh gateway.
package metrics

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shiming-id/shiming/plugins/sdk"
)

// Outcomes of shiming_realname_flows_total.
const (
	FlowStarted           = "started"            // a scan provider was chosen (or an OIDC prefill began)
	FlowCompleted         = "completed"          // the account was created
	FlowMismatch          = "mismatch"           // name and ID number did not match
	FlowAlreadyRegistered = "already_registered" // the ID number already had an account
	FlowFaceFailed        = "face_failed"        // face verification failed too often
)

// FlowOutcomes lists the outcomes of shiming_realname_flows_total.
func FlowOutcomes() []string {
	return []string{FlowStarted, FlowCompleted, FlowMismatch, FlowAlreadyRegistered, FlowFaceFailed}
}

// Login methods and outcomes of shiming_logins_total.
const (
	MethodPassword = "password"
	MethodSMS      = "sms"
	MethodScan     = "scan"
	MethodOIDC     = "oidc"

	LoginSuccess          = "success"
	LoginWrongCredentials = "wrong_credentials"
	LoginLocked           = "locked"
	LoginNotLinked        = "not_linked"
	LoginError            = "error"
	LoginRateLimited      = "rate_limited"
)

// LoginMethods lists the method label values of shiming_logins_total.
func LoginMethods() []string {
	return []string{MethodPassword, MethodSMS, MethodScan, MethodOIDC}
}

// LoginOutcomes lists the outcome label values of shiming_logins_total.
func LoginOutcomes() []string {
	return []string{LoginSuccess, LoginWrongCredentials, LoginLocked, LoginNotLinked, LoginError, LoginRateLimited}
}

// Outcomes of shiming_phone_changes_total.
const (
	PhoneChangeCompleted    = "completed"
	PhoneChangeNameMismatch = "name_mismatch"
	PhoneChangeCodeInvalid  = "code_invalid"
	PhoneChangeFaceFailed   = "face_failed"
	PhoneChangePhoneTaken   = "phone_taken"
	PhoneChangeError        = "error"
)

// PhoneChangeOutcomes lists the outcomes of shiming_phone_changes_total.
func PhoneChangeOutcomes() []string {
	return []string{PhoneChangeCompleted, PhoneChangeNameMismatch, PhoneChangeCodeInvalid,
		PhoneChangeFaceFailed, PhoneChangePhoneTaken, PhoneChangeError}
}

// Results of shiming_phone_change_notices_total, the notice sent to the
// old phone after a change.
const (
	NoticeSent        = "sent"
	NoticeFailed      = "failed"      // the provider failed or is unavailable; the change stands
	NoticeUnsupported = "unsupported" // the SMS provider does not declare phone_notice
)

// NoticeResults lists the results of shiming_phone_change_notices_total.
func NoticeResults() []string {
	return []string{NoticeSent, NoticeFailed, NoticeUnsupported}
}

// Reasons of shiming_oidc_refusals_total.
const (
	RefusalState     = "state"
	RefusalNonce     = "nonce"
	RefusalToken     = "token"
	RefusalExchange  = "exchange"
	RefusalDiscovery = "discovery"
)

// RefusalReasons lists the reasons of shiming_oidc_refusals_total.
func RefusalReasons() []string {
	return []string{RefusalState, RefusalNonce, RefusalToken, RefusalExchange, RefusalDiscovery}
}

// ProviderOIDC is the provider label of real-name flows that began from
// trusted government-portal claims instead of a scan.
const ProviderOIDC = "oidc"

// Labels are the configured label values every series is created for.
type Labels struct {
	Portals []string
	// Providers are every provider a journey calls: scan, identity check,
	// face and SMS providers.
	Providers []string
	// ScanProviders are the providers offered on the real-name page.
	ScanProviders []string
	Issuers       []string
}

// Journeys are the journeys' counters.
type Journeys struct {
	flows        *prometheus.CounterVec
	errors       *prometheus.CounterVec
	recoveries   *prometheus.CounterVec
	logins       *prometheus.CounterVec
	phoneChanges *prometheus.CounterVec
	notices      *prometheus.CounterVec
	desktopOnly  *prometheus.CounterVec
	oidcRefusals *prometheus.CounterVec
}

// New registers the counters with reg and creates every series of l at zero.
func New(reg prometheus.Registerer, l Labels) (*Journeys, error) {
	m := &Journeys{
		flows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shiming_realname_flows_total",
			Help: "Real-name registration flows by portal, scan provider and outcome (started, completed, mismatch, already_registered, face_failed).",
		}, []string{"portal", "provider", "outcome"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shiming_realname_errors_total",
			Help: "Provider errors met by the identity journeys (QR sessions, identity checks, face verification, SMS), by portal, provider and error kind.",
		}, []string{"portal", "provider", "kind"}),
		recoveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shiming_realname_recoveries_total",
			Help: "Provider errors healed automatically with a fresh QR or face session, by portal, provider and error kind.",
		}, []string{"portal", "provider", "kind"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shiming_logins_total",
			Help: "Candidate login attempts by portal, method (password, sms, scan, oidc) and outcome.",
		}, []string{"portal", "method", "outcome"}),
		phoneChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shiming_phone_changes_total",
			Help: "Phone-number changes by portal and outcome.",
		}, []string{"portal", "outcome"}),
		notices: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shiming_phone_change_notices_total",
			Help: "Notices sent to the old phone after a phone-number change, by result (sent, failed, unsupported).",
		}, []string{"result"}),
		desktopOnly: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shiming_desktop_only_rejections_total",
			Help: "Portal pages answered with the desktop-only notice because a phone or tablet asked, by portal.",
		}, []string{"portal"}),
		oidcRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shiming_oidc_refusals_total",
			Help: "Government-portal OIDC logins refused, by issuer and reason (state, nonce, token, exchange, discovery).",
		}, []string{"issuer", "reason"}),
	}
	for _, c := range []prometheus.Collector{m.flows, m.errors, m.recoveries, m.logins, m.phoneChanges, m.notices, m.desktopOnly, m.oidcRefusals} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("journey metrics: register: %w", err)
		}
	}
	for _, p := range l.Portals {
		m.desktopOnly.WithLabelValues(p)
		for _, prov := range append(append([]string(nil), l.ScanProviders...), ProviderOIDC) {
			for _, o := range FlowOutcomes() {
				m.flows.WithLabelValues(p, prov, o)
			}
		}
		for _, prov := range l.Providers {
			for _, k := range sdk.Kinds() {
				m.errors.WithLabelValues(p, prov, k.String())
				m.recoveries.WithLabelValues(p, prov, k.String())
			}
		}
		for _, meth := range LoginMethods() {
			for _, o := range LoginOutcomes() {
				m.logins.WithLabelValues(p, meth, o)
			}
		}
		for _, o := range PhoneChangeOutcomes() {
			m.phoneChanges.WithLabelValues(p, o)
		}
	}
	for _, r := range NoticeResults() {
		m.notices.WithLabelValues(r)
	}
	for _, iss := range l.Issuers {
		for _, r := range RefusalReasons() {
			m.oidcRefusals.WithLabelValues(iss, r)
		}
	}
	return m, nil
}

// kindLabel is the label of a kind; the unknown kind counts as internal.
func kindLabel(k sdk.Kind) string {
	if k == sdk.KindUnknown {
		return sdk.Internal.String()
	}
	return k.String()
}

// Flow counts a real-name flow outcome.
func (m *Journeys) Flow(portal, provider, outcome string) {
	m.flows.WithLabelValues(portal, provider, outcome).Inc()
}

// Error counts a provider error of a kind.
func (m *Journeys) Error(portal, provider string, kind sdk.Kind) {
	m.errors.WithLabelValues(portal, provider, kindLabel(kind)).Inc()
}

// Recovery counts an error healed automatically.
func (m *Journeys) Recovery(portal, provider string, kind sdk.Kind) {
	m.recoveries.WithLabelValues(portal, provider, kindLabel(kind)).Inc()
}

// Login counts a login attempt.
func (m *Journeys) Login(portal, method, outcome string) {
	m.logins.WithLabelValues(portal, method, outcome).Inc()
}

// PhoneChange counts a phone-change outcome.
func (m *Journeys) PhoneChange(portal, outcome string) {
	m.phoneChanges.WithLabelValues(portal, outcome).Inc()
}

// PhoneChangeNotice counts a notice to the old phone by result.
func (m *Journeys) PhoneChangeNotice(result string) {
	m.notices.WithLabelValues(result).Inc()
}

// DesktopOnly counts a page refused to a phone or tablet.
func (m *Journeys) DesktopOnly(portal string) {
	m.desktopOnly.WithLabelValues(portal).Inc()
}

// OIDCRefusal counts a refused OIDC login.
func (m *Journeys) OIDCRefusal(issuer, reason string) {
	m.oidcRefusals.WithLabelValues(issuer, reason).Inc()
}
