package ctid

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
	"github.com/shiming-id/shiming/contrib/sandbox/phone"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// Item kinds on the virtual phone.
const (
	KindRead = "ctid_read"
	KindFace = "face"
)

// Vendor names the vendor on the phone.
func (s *Sim) Vendor() string { return Vendor }

// Pending lists card reads (0x10) waiting for the holder and portrait
// checks (0x42) waiting for the face.
func (s *Sim) Pending(ctx context.Context) []phone.Item {
	now := s.env.Now()
	var items []phone.Item
	s.mu.Lock()
	for _, sess := range s.sessions {
		st := sess.statusLocked(now)
		if (sess.authMode == ModeRead && st == StatePending) || (sess.authMode == ModeTwoPortrait && st == StateVerifying) {
			items = append(items, s.itemLocked(sess, now))
		}
	}
	s.mu.Unlock()
	sort.Slice(items, func(i, j int) bool { return items[i].Created.Before(items[j].Created) })
	return items
}

// Lookup recognises the QR content of a card read or a portrait check.
func (s *Sim) Lookup(ctx context.Context, qrContent string) (phone.Item, bool) {
	u, err := url.Parse(strings.TrimSpace(qrContent))
	if err != nil || !strings.HasSuffix(u.Path, "/"+Host+"/app/auth") {
		return phone.Item{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[u.Query().Get("bsn")]
	if !ok || sess.authMode == ModeTwoFactor {
		return phone.Item{}, false
	}
	return s.itemLocked(sess, s.env.Now()), true
}

func itemID(bsn string) string { return "ctid:" + bsn }

func (s *Sim) itemLocked(sess *session, now time.Time) phone.Item {
	st := sess.statusLocked(now)
	it := phone.Item{ID: itemID(sess.bsn), Vendor: Vendor, App: sess.orgCode, State: st,
		QRContent: s.qrContent(sess.bsn), Created: sess.created, Expires: sess.expires}
	orgName := s.orgs[sess.orgCode].Name
	if sess.authMode == ModeRead {
		it.Kind = KindRead
		it.Title = "读取身份证：「" + orgName + "」请求核验身份"
		if st == StatePending {
			it.Actions = []phone.Action{phone.Read, phone.Cancel}
		}
		return it
	}
	it.Kind = KindFace
	it.Title = "人像核验：「" + orgName + "」"
	if sess.idNo != "" {
		it.Title += fmt.Sprintf("，%s（%s）", sess.name, cnid.MaskID(sess.idNo))
	}
	if st == StateVerifying {
		it.Actions = []phone.Action{phone.Pass, phone.Fail, phone.Cancel}
	}
	return it
}

// Act reads the card as holder (or cancels), or finishes a portrait check.
func (s *Sim) Act(ctx context.Context, id string, action phone.Action, holder citizens.Citizen) (phone.Outcome, error) {
	bsn, ok := strings.CutPrefix(id, "ctid:")
	if !ok {
		return phone.Outcome{}, phone.ErrUnknownItem
	}
	now := s.env.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[bsn]
	if !ok || sess.authMode == ModeTwoFactor {
		return phone.Outcome{}, phone.ErrUnknownItem
	}
	st := sess.statusLocked(now)
	if st == StateExpired {
		return phone.Outcome{}, phone.ErrExpired
	}
	if sess.authMode == ModeRead {
		return s.actReadLocked(sess, st, action, holder, now)
	}
	return s.actFaceLocked(sess, st, action, holder, now)
}

func (s *Sim) actReadLocked(sess *session, st string, action phone.Action, holder citizens.Citizen, now time.Time) (phone.Outcome, error) {
	if st != StatePending {
		return phone.Outcome{}, phone.ErrNotAllowed
	}
	switch action {
	case phone.Read:
		code := randomB64(24)
		code = strings.NewReplacer("+", "-", "/", "_").Replace(code)
		s.codes[code] = &authCode{bsn: sess.bsn, orgCode: sess.orgCode, expires: now.Add(s.opts.CodeTTL)}
		sess.holder, sess.authCode, sess.status = holder, code, StateRead
		s.log.Info("ctid card read", "org_code", sess.orgCode, "id_number", cnid.MaskID(holder.IDNumber))
		return phone.Outcome{Message: "已读取身份证并授权，请回到电脑上继续。"}, nil
	case phone.Cancel:
		sess.status = StateCancelled
		return phone.Outcome{Message: "已取消本次认证。"}, nil
	}
	return phone.Outcome{}, phone.ErrNotAllowed
}

func (s *Sim) actFaceLocked(sess *session, st string, action phone.Action, holder citizens.Citizen, now time.Time) (phone.Outcome, error) {
	if st != StateVerifying {
		return phone.Outcome{}, phone.ErrNotAllowed
	}
	seed := s.derive("score", sess.bsn)
	switch action {
	case phone.Pass:
		sess.result = portraitResult(sess.idNo, holder)
	case phone.Fail:
		sess.result = CodeFaceMismatch
	case phone.Cancel:
		sess.status, sess.result = StateCancelled, CodeCancelled
		return phone.Outcome{Message: "已取消人像核验。"}, nil
	default:
		return phone.Outcome{}, phone.ErrNotAllowed
	}
	sess.score = score(sess.result, seed)
	if sess.result == CodeOK {
		sess.status = StatePassed
		return phone.Outcome{Message: "人像核验通过，请回到电脑上继续。"}, nil
	}
	sess.status = StateFailed
	return phone.Outcome{Message: "人像核验未通过：" + Descriptions()[sess.result] + "。"}, nil
}

// portraitResult compares the face in front of the phone with the
// certificate's: it must be the same person, and the person's face flag
// must pass.
func portraitResult(idNo string, holder citizens.Citizen) string {
	switch {
	case cnid.Normalize(holder.IDNumber) != idNo:
		return CodeFaceMismatch
	case holder.Face == citizens.FaceMismatch:
		return CodeFaceMismatch
	case holder.Face == citizens.FaceLiveness:
		return CodeLiveness
	}
	return CodeOK
}

// score is a photoCompareScore (0–100) consistent with the result: 80–99
// when passed, 20–49 on a mismatch, 0 when liveness failed.
func score(result, seed string) float64 {
	n := float64(seedNum(seed)) / 65535
	switch result {
	case CodeOK:
		return float64(int((80+19*n)*100)) / 100
	case CodeFaceMismatch:
		return float64(int((20+29*n)*100)) / 100
	}
	return 0
}

var _ phone.Source = (*Sim)(nil)
