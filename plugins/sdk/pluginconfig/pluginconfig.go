// Package pluginconfig reads a provider plugin's JSON configuration field
// by field and reports every bad field at once, as one InvalidConfig
// error.
//
// Configure receives the provider's config block as a JSON object. A
// plugin makes a Reader naming the fields it knows (any other field is a
// problem, so that a typo is reported instead of ignored), reads each
// field with the method for its type, adds checks of its own with
// Problem, and returns Err: nil, or an *sdk.Error of kind InvalidConfig
// whose Fields name every bad field and whose message says what is wrong
// with each. A field keeps its first problem only.
//
//	r, err := pluginconfig.New("acme", raw, "app_id", "app_secret", "base_url", "handle_key", "http_timeout")
//	if err != nil {
//		return err // not a JSON object
//	}
//	c := config{
//		appID:       r.Required("app_id"),
//		appSecret:   r.Required("app_secret"),
//		baseURL:     r.BaseURL("base_url", "https://api.acme.example"),
//		handleKey:   r.Key32("handle_key"),
//		httpTimeout: r.Duration("http_timeout", 10*time.Second, time.Millisecond, 2*time.Minute),
//	}
//	if c.appID != "" && !appIDPattern.MatchString(c.appID) {
//		r.Problem("app_id", "must be letters and digits")
//	}
//	if err := r.Err(); err != nil {
//		return err // acme: app_secret is required; base_url must be an absolute http(s) URL without query or fragment
//	}
//
// Every string is trimmed of surrounding white space; an absent field, a
// JSON null and an empty string are alike ("not given"). Reading never
// has side effects: Configure must not call the vendor.
package pluginconfig

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk"
)

// Reader reads the fields of one configuration and collects their
// problems. It is not safe for concurrent use.
type Reader struct {
	plugin   string
	fields   map[string]json.RawMessage
	bad      []string
	problems []string
	insecure []string
}

// New returns a reader of raw, a configuration of the plugin named plugin
// (which prefixes the error message), that knows the given fields: every
// other field of raw is reported as unknown, in sorted order, before any
// other problem. A raw that is not a JSON object is an InvalidConfig
// error naming the field "config".
func New(plugin string, raw json.RawMessage, known ...string) (*Reader, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, sdk.Fields(sdk.InvalidConfig, plugin+": configuration must be a JSON object", "config")
	}
	r := &Reader{plugin: plugin, fields: m}
	var unknown []string
	for k := range m {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		r.Problem(k, "is not a known field")
	}
	return r, nil
}

// Problem records what is wrong with field, phrased to follow the field's
// name ("must be up to 32 digits"). A field keeps its first problem only,
// so a plugin may check a value the reader already refused.
func (r *Reader) Problem(field, problem string) {
	if slices.Contains(r.bad, field) {
		return
	}
	r.bad = append(r.bad, field)
	r.problems = append(r.problems, field+" "+problem)
}

// Err returns nil when no field has a problem, else an InvalidConfig
// error naming the bad fields in the order their problems were found,
// with the message "<plugin>: <field> <problem>; …".
func (r *Reader) Err() error {
	if len(r.bad) == 0 {
		return nil
	}
	return sdk.Fields(sdk.InvalidConfig, r.plugin+": "+strings.Join(r.problems, "; "), slices.Clone(r.bad)...)
}

// Fields returns the bad fields in the order their problems were found,
// for a plugin that words its error itself.
func (r *Reader) Fields() []string { return slices.Clone(r.bad) }

// Insecure returns the fields read by URL or BaseURL that use plain http
// to a host other than loopback, for a warning in the plugin's log.
func (r *Reader) Insecure() []string { return slices.Clone(r.insecure) }

// String returns the string field, or def when it is not given. A value
// that is not a JSON string is a problem.
func (r *Reader) String(field, def string) string {
	v, ok := r.fields[field]
	if !ok || string(v) == "null" {
		return def
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		r.Problem(field, "must be a string")
		return def
	}
	if s = strings.TrimSpace(s); s == "" {
		return def
	}
	return s
}

// Required returns the string field; not given is a problem.
func (r *Reader) Required(field string) string {
	s := r.String(field, "")
	if s == "" {
		r.Problem(field, "is required")
	}
	return s
}

// URL returns the field as an absolute http or https URL with a host and
// without user information, query or fragment, as written; def when the
// field is not given. With def empty the field is required.
func (r *Reader) URL(field, def string) string {
	s := r.String(field, def)
	if s == "" {
		r.Problem(field, "is required")
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		r.Problem(field, "must be an absolute http(s) URL without query or fragment")
		return ""
	}
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		r.insecure = append(r.insecure, field)
	}
	return s
}

// BaseURL is URL without a trailing slash: a base that paths are
// appended to.
func (r *Reader) BaseURL(field, def string) string {
	return strings.TrimSuffix(r.URL(field, def), "/")
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Key32 returns the required field as a 32-byte key written in base64,
// standard or URL alphabet, padded or not: the configuration's
// handle_key.
func (r *Reader) Key32(field string) []byte {
	s := r.Required(field)
	if s == "" {
		return nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != 32 {
				r.Problem(field, "must decode to 32 bytes")
				return nil
			}
			return b
		}
	}
	r.Problem(field, "must be base64")
	return nil
}

// Duration returns the field as a Go duration ("10s", "1m30s") between lo
// and hi inclusive, or def when it is not given or has a problem.
func (r *Reader) Duration(field string, def, lo, hi time.Duration) time.Duration {
	s := r.String(field, "")
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < lo || d > hi {
		r.Problem(field, fmt.Sprintf("must be a Go duration between %s and %s", short(lo), short(hi)))
		return def
	}
	return d
}

// short writes a duration without its zero tail: 2m, not 2m0s.
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Int returns the field as a JSON integer between lo and hi inclusive, or
// def when it is not given or has a problem.
func (r *Reader) Int(field string, def, lo, hi int) int {
	v, ok := r.fields[field]
	if !ok || string(v) == "null" {
		return def
	}
	var n int
	if json.Unmarshal(v, &n) != nil || n < lo || n > hi {
		r.Problem(field, fmt.Sprintf("must be an integer between %d and %d", lo, hi))
		return def
	}
	return n
}
