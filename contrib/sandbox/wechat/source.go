package wechat

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

// Item kinds and id prefixes on the virtual phone.
const (
	KindScanLogin = "scan_login"
	KindFace      = "face"
	itemQR        = "wechat:qr:"
	itemFace      = "wechat:face:"
)

// Vendor names the vendor on the phone.
func (s *Sim) Vendor() string { return Vendor }

// Pending lists login QR codes not yet confirmed, cancelled or expired,
// and face checks not yet done.
func (s *Sim) Pending(ctx context.Context) []phone.Item {
	now := s.env.Now()
	var items []phone.Item
	s.mu.Lock()
	for _, q := range s.sessions {
		if st := q.statusLocked(now); st == qrWaiting || st == qrScanned {
			items = append(items, s.qrItemLocked(q, now))
		}
	}
	for _, f := range s.faces {
		if f.resultLocked(now) == verifyPending {
			items = append(items, s.faceItem(f, now))
		}
	}
	s.mu.Unlock()
	sort.Slice(items, func(i, j int) bool { return items[i].Created.Before(items[j].Created) })
	return items
}

// Lookup recognises the content of a login QR code (the confirm page
// URL) and of a face check (the wxa.sandbox face page URL).
func (s *Sim) Lookup(ctx context.Context, qrContent string) (phone.Item, bool) {
	u, err := url.Parse(strings.TrimSpace(qrContent))
	if err != nil {
		return phone.Item{}, false
	}
	now := s.env.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case strings.HasSuffix(u.Path, "/"+OpenHost+"/connect/confirm"):
		if q, ok := s.sessions[u.Query().Get("uuid")]; ok {
			return s.qrItemLocked(q, now), true
		}
	case strings.HasSuffix(u.Path, "/"+SandboxHost+"/face"):
		if f, ok := s.faces[u.Query().Get("verify_id")]; ok {
			return s.faceItem(f, now), true
		}
	}
	return phone.Item{}, false
}

func (s *Sim) qrItemLocked(q *qrSession, now time.Time) phone.Item {
	it := phone.Item{
		ID: itemQR + q.uuid, Vendor: Vendor, App: q.appID, Kind: KindScanLogin,
		Title: "扫码登录「" + s.apps[q.appID].Name + "」", QRContent: s.confirmURL(q.uuid),
		Created: q.created, Expires: q.expires,
	}
	switch q.statusLocked(now) {
	case qrWaiting:
		it.State, it.Actions = "waiting", []phone.Action{phone.Scan, phone.Confirm, phone.Cancel}
	case qrScanned:
		it.State, it.Actions = "scanned", []phone.Action{phone.Confirm, phone.Cancel}
	case qrConfirmed:
		it.State = "confirmed"
	case qrCancelled:
		it.State = "cancelled"
	default:
		it.State = "expired"
	}
	return it
}

func (s *Sim) faceItem(f *faceSession, now time.Time) phone.Item {
	it := phone.Item{
		ID: itemFace + f.verifyID, Vendor: Vendor, App: f.appID, Kind: KindFace,
		Title:     fmt.Sprintf("人脸核身：%s（%s）", f.certName, cnid.MaskID(f.certNo)),
		QRContent: s.faceURL(f.verifyID), Created: f.created, Expires: f.expires,
	}
	switch ret := f.resultLocked(now); ret {
	case verifyPending:
		it.State, it.Actions = "pending", []phone.Action{phone.Pass, phone.Fail, phone.Cancel}
	case verifyPassed:
		it.State = "passed"
	case verifyTimeout:
		it.State = "expired"
	case verifyCancelled:
		it.State = "cancelled"
	default:
		it.State = fmt.Sprintf("failed(%d)", ret)
	}
	return it
}

// Act scans, confirms or cancels a login, or passes, fails or cancels a
// face check, as holder.
func (s *Sim) Act(ctx context.Context, itemID string, action phone.Action, holder citizens.Citizen) (phone.Outcome, error) {
	switch {
	case strings.HasPrefix(itemID, itemQR):
		return s.actQR(strings.TrimPrefix(itemID, itemQR), action, holder)
	case strings.HasPrefix(itemID, itemFace):
		return s.actFace(strings.TrimPrefix(itemID, itemFace), action, holder)
	}
	return phone.Outcome{}, phone.ErrUnknownItem
}

func (s *Sim) actQR(uuid string, action phone.Action, holder citizens.Citizen) (phone.Outcome, error) {
	now := s.env.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.sessions[uuid]
	if !ok {
		return phone.Outcome{}, phone.ErrUnknownItem
	}
	st := q.statusLocked(now)
	if st == qrExpired {
		return phone.Outcome{}, phone.ErrExpired
	}
	if st != qrWaiting && st != qrScanned {
		return phone.Outcome{}, phone.ErrNotAllowed
	}
	switch action {
	case phone.Scan:
		if st != qrWaiting {
			return phone.Outcome{}, phone.ErrNotAllowed
		}
		q.holder = holder
		q.setLocked(qrScanned)
		return phone.Outcome{Message: "扫描成功，请在手机上确认登录。"}, nil
	case phone.Confirm:
		code := newCode()
		s.codes[code] = &grant{appID: q.appID, citizen: holder, scope: q.scope, expires: now.Add(s.opts.CodeTTL)}
		q.holder, q.code = holder, code
		q.setLocked(qrConfirmed)
		s.log.Info("wechat login confirmed", "app_id", q.appID)
		return phone.Outcome{Message: "已确认登录，请回到电脑上继续。"}, nil
	case phone.Cancel:
		q.setLocked(qrCancelled)
		return phone.Outcome{Message: "已取消此次登录。"}, nil
	}
	return phone.Outcome{}, phone.ErrNotAllowed
}

func (s *Sim) actFace(verifyID string, action phone.Action, holder citizens.Citizen) (phone.Outcome, error) {
	now := s.env.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.faces[verifyID]
	if !ok {
		return phone.Outcome{}, phone.ErrUnknownItem
	}
	switch f.resultLocked(now) {
	case verifyPending:
	case verifyTimeout:
		return phone.Outcome{}, phone.ErrExpired
	default:
		return phone.Outcome{}, phone.ErrNotAllowed
	}
	switch action {
	case phone.Pass:
		f.result = faceOutcome(s.env.Citizens, now, f.certName, f.certNo, holder)
	case phone.Fail:
		f.result = verifyFaceMismatch
	case phone.Cancel:
		f.result = verifyCancelled
	default:
		return phone.Outcome{}, phone.ErrNotAllowed
	}
	s.log.Info("wechat face finished", "app_id", f.appID, "verify_ret", f.result)
	return phone.Outcome{Message: faceMessage(f.result)}, nil
}

func faceMessage(ret int) string {
	switch ret {
	case verifyPassed:
		return "人脸核验通过，请回到电脑上继续。"
	case verifyCancelled:
		return "已取消人脸核验。"
	case verifyFaceMismatch:
		return "人脸核验未通过：人脸与证件照不一致。"
	case verifyLiveness:
		return "人脸核验未通过：活体检测失败。"
	case verifyNameID:
		return "人脸核验未通过：姓名与身份证号不一致。"
	}
	return fmt.Sprintf("人脸核验结束（%d）。", ret)
}

var _ phone.Source = (*Sim)(nil)
