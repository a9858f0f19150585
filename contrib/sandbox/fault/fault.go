// Package fault injects failures into the sandbox's simulated vendors: a
// vendor error code, an HTTP 500, an unparsable body, or latency, for the
// next N matching requests or until cleared. Tests and the load simulator
// drive it through the sandbox's JSON API.
package fault

import (
	"strings"
	"sync"
	"time"
)

// Special codes understood by every vendor.
const (
	HTTP500 = "http_500" // answer with HTTP 500 and a plain-text body
	Garbage = "garbage"  // answer HTTP 200 with a body no client can parse
)

// Rule is one injected fault.
type Rule struct {
	// Vendor selects the simulated vendor (wechat, alipay, ctid, sms, govidp).
	Vendor string `json:"vendor"`
	// Path, if set, limits the rule to request paths (after the host
	// prefix) that start with it, e.g. "/sns/oauth2/access_token".
	Path string `json:"path,omitempty"`
	// Code is a vendor error code to answer with ("45011", "-1",
	// "aop.ACQ.SYSTEM_ERROR", ...), or HTTP500 or Garbage. Empty means
	// only the latency applies.
	Code string `json:"code,omitempty"`
	// Latency delays the answer.
	Latency time.Duration `json:"latency,omitempty"`
	// Count is how many matching requests the rule applies to; 0 means
	// until cleared.
	Count int `json:"count,omitempty"`
}

// Set holds the active rules. The zero value is empty and ready to use.
type Set struct {
	mu    sync.Mutex
	rules []*Rule
}

// Add activates a rule.
func (s *Set) Add(r Rule) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = append(s.rules, &r)
}

// Clear removes every rule of a vendor, or all rules when vendor is empty.
func (s *Set) Clear(vendor string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.rules[:0]
	for _, r := range s.rules {
		if vendor != "" && r.Vendor != vendor {
			kept = append(kept, r)
		}
	}
	s.rules = kept
}

// List returns a copy of the active rules.
func (s *Set) List() []Rule {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Rule, len(s.rules))
	for i, r := range s.rules {
		out[i] = *r
	}
	return out
}

// Take returns the first rule matching a request and uses up one of its
// counts. ok is false when no rule matches.
func (s *Set) Take(vendor, path string) (Rule, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, r := range s.rules {
		if r.Vendor != vendor || !strings.HasPrefix(path, r.Path) {
			continue
		}
		got := *r
		if r.Count > 0 {
			r.Count--
			if r.Count == 0 {
				s.rules = append(s.rules[:i], s.rules[i+1:]...)
			}
		}
		return got, true
	}
	return Rule{}, false
}
