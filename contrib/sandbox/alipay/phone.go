package alipay

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
	"github.com/shiming-id/shiming/contrib/sandbox/phone"
)

// vendor is the simulator's name on the phone and in fault rules.
const vendor = "alipay"

// errorf wraps one of the phone package's errors (phone.ErrUnknownItem,
// phone.ErrNotAllowed, phone.ErrExpired) with a detail.
func errorf(kind error, format string, args ...any) error {
	return fmt.Errorf("alipay: %w: %s", kind, fmt.Sprintf(format, args...))
}

// Vendor implements phone.Source.
func (s *Sim) Vendor() string { return vendor }

// Pending implements phone.Source: open logins and opened certifications,
// oldest first.
func (s *Sim) Pending(_ context.Context) []phone.Item {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var items []phone.Item
	for _, l := range s.logins {
		if l.open(now) {
			items = append(items, s.loginItem(l, now))
		}
	}
	for _, id := range s.faces {
		if c := s.certs[id]; c != nil && c.state == certWaiting && now.Before(c.created.Add(certifyTTL)) {
			items = append(items, s.faceItem(c))
		}
	}
	sort.Slice(items, func(i, j int) bool {
		if !items[i].Created.Equal(items[j].Created) {
			return items[i].Created.Before(items[j].Created)
		}
		return items[i].ID < items[j].ID
	})
	return items
}

// Lookup implements phone.Source. It recognises a publicAppAuthorize.htm
// URL (creating the scan_login item on first scan) and a signed certify
// URL (creating the face item).
func (s *Sim) Lookup(_ context.Context, qrContent string) (phone.Item, bool) {
	u, err := url.Parse(strings.TrimSpace(qrContent))
	if err != nil {
		return phone.Item{}, false
	}
	if it, found := s.lookupLogin(u, strings.TrimSpace(qrContent)); found {
		return it, true
	}
	return s.lookupFace(u, strings.TrimSpace(qrContent))
}

// Act implements phone.Source.
func (s *Sim) Act(_ context.Context, itemID string, action phone.Action, holder citizens.Citizen) (phone.Outcome, error) {
	s.mu.Lock()
	l := s.logins[itemID]
	c := s.certs[s.faces[itemID]]
	s.mu.Unlock()
	switch {
	case l != nil:
		return s.actLogin(l, action, holder)
	case c != nil:
		return s.actFace(c, action, holder)
	}
	return phone.Outcome{}, errorf(phone.ErrUnknownItem, "%q", itemID)
}

// sweepLocked forgets, at most once a minute, what can no longer be used.
// The caller holds s.mu.
func (s *Sim) sweepLocked() {
	now := s.now()
	if now.Sub(s.swept) < time.Minute {
		return
	}
	s.swept = now
	for k, c := range s.codes {
		if now.After(c.expires) {
			delete(s.codes, k)
		}
	}
	// Expired tokens are kept a day so that their use is told apart from
	// the use of an unknown token.
	for k, t := range s.tokens {
		if now.After(t.expires.Add(24 * time.Hour)) {
			delete(s.tokens, k)
		}
	}
	for k, t := range s.refresh {
		if now.After(t.expires.Add(24 * time.Hour)) {
			delete(s.refresh, k)
		}
	}
	for id, l := range s.logins {
		if now.After(l.expires.Add(time.Hour)) {
			delete(s.logins, id)
			if s.loginByQ[l.req.key()] == id {
				delete(s.loginByQ, l.req.key())
			}
		}
	}
	for id, c := range s.certs {
		if now.After(c.created.Add(certifyKeep)) {
			delete(s.certs, id)
			delete(s.byOrder, c.appID+"/"+c.outerOrder)
			delete(s.faces, c.itemID)
		}
	}
}
