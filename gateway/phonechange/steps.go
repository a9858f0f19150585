package phonechange

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/shiming-id/shiming/gateway/account"
	"github.com/shiming-id/shiming/gateway/audit"
	"github.com/shiming-id/shiming/gateway/flowpage"
	"github.com/shiming-id/shiming/gateway/httpserver"
	"github.com/shiming-id/shiming/gateway/journey/metrics"
	"github.com/shiming-id/shiming/gateway/password"
	"github.com/shiming-id/shiming/gateway/scan"
	"github.com/shiming-id/shiming/gateway/smscode"
	"github.com/shiming-id/shiming/gateway/web"
	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// Audit kind of a password reset.
const auditPasswordReset = "password_reset"

var (
	errNameChecks = errors.New("phonechange: no name checks left")
	errBusy       = errors.New("phonechange: already committing")
)

func (h *Handler) changePage(c *call, form web.Form, notices ...web.Notice) web.Page {
	st := c.State()
	p := h.page(c, "forgot_change", "修改手机号码")
	if form.Values["phone"] == "" && st.SMS.Purpose == smscode.PurposeChangePhone {
		form.Set("phone", st.SMS.Phone)
	}
	// The name was checked when the code was sent; keep it on the page
	// that asks for the code, or the candidate would have to type it again.
	if form.Values["name"] == "" && st.Name != "" {
		form.Set("name", st.Name)
	}
	p.Form, p.Notices = form, notices
	p.Data = flowpage.PhoneData(h.url(c.Portal, c.Flow.ID, StepChange), st.SMS, smscode.PurposeChangePhone, h.o.SMS)
	return p
}

func (h *Handler) change(w http.ResponseWriter, r *http.Request, c *call) {
	h.o.Pages.Render(w, r, http.StatusOK, h.changePage(c, web.Form{}))
}

// checkName compares a typed name with the account's, counting the try.
// A flow for a number without an account fails the same way.
func (h *Handler) checkName(r *http.Request, c *call, name string) (account.Account, bool, error) {
	st, err := h.update(r, c, func(s *State) error {
		if s.NameChecks >= maxNameChecks {
			return errNameChecks
		}
		s.NameChecks++
		return nil
	})
	if err != nil {
		return account.Account{}, false, err
	}
	if st.AccountID == "" {
		return account.Account{}, false, nil
	}
	a, err := h.o.Accounts.ByID(r.Context(), st.AccountID)
	if errors.Is(err, account.ErrNotFound) {
		return account.Account{}, false, nil
	}
	if err != nil {
		return account.Account{}, false, err
	}
	return a, flowpage.NormalizeName(a.Name) == name && cnid.Normalize(a.IDNumber) == st.IDNumber, nil
}

// changeSubmit sends a code to the new number (after the name matched)
// or checks it.
func (h *Handler) changeSubmit(w http.ResponseWriter, r *http.Request, c *call) {
	ctx := r.Context()
	var form web.Form
	name := flowpage.NormalizeName(r.PostFormValue("name"))
	form.Set("name", name)
	form.Set("phone", r.PostFormValue("phone"))
	if err := flowpage.CheckName(name); err != nil {
		form.Fail("name", flowpage.NameError(err))
	}
	phone, perr := cnid.ParsePhone(r.PostFormValue("phone"))
	if perr != nil {
		form.Fail("phone", "请填写11位手机号码。")
	} else {
		form.Set("phone", phone)
	}
	verify := r.PostFormValue("action") == "verify"
	code := strings.TrimSpace(r.PostFormValue("code"))
	if verify && !smscode.ValidCode(code) {
		form.Fail("code", "请填写短信中的数字验证码。")
	}
	if !form.OK() {
		h.o.Pages.Render(w, r, http.StatusOK, h.changePage(c, form))
		return
	}
	a, ok, err := h.checkName(r, c, name)
	if errors.Is(err, errNameChecks) {
		h.o.Metrics.PhoneChange(c.Portal.ID, metrics.PhoneChangeNameMismatch)
		h.o.Pages.Render(w, r, http.StatusOK, h.changePage(c, form, web.Notice{Tone: web.ToneError, Kind: "too_many_attempts", Text: web.TextTooManyAttempts}))
		return
	}
	if err != nil {
		flowpage.UpdateError(w, r, err)
		return
	}
	if !ok {
		h.o.Metrics.PhoneChange(c.Portal.ID, metrics.PhoneChangeNameMismatch)
		form.Fail("name", "姓名与该身份证号码的注册信息不一致，请核对。")
		h.o.Pages.Render(w, r, http.StatusOK, h.changePage(c, form, web.Notice{Tone: web.ToneError, Kind: metrics.PhoneChangeNameMismatch,
			Text: "填写的姓名与该身份证号码的实名注册信息不一致，未发送短信验证码。"}))
		return
	}
	if phone == a.Phone {
		form.Fail("phone", "新手机号码与当前绑定的号码相同。")
		h.o.Pages.Render(w, r, http.StatusOK, h.changePage(c, form))
		return
	}
	if other, err := h.o.Accounts.ByPhone(ctx, phone); err == nil && other.ID != a.ID {
		h.o.Metrics.PhoneChange(c.Portal.ID, metrics.PhoneChangePhoneTaken)
		h.o.Pages.Render(w, r, http.StatusOK, h.changePage(c, form, phoneTaken()))
		return
	} else if err != nil && !errors.Is(err, account.ErrNotFound) {
		httpserver.Error(w, r, http.StatusInternalServerError, "", err)
		return
	}
	if !verify {
		t, err := h.o.SMS.Send(ctx, smscode.Request{Phone: phone, Purpose: smscode.PurposeChangePhone, IDNumber: a.IDNumber, IP: h.o.ClientIP(r)})
		if err != nil {
			h.smsRefused(w, r, c, form, err, false)
			return
		}
		if _, err := h.update(r, c, func(s *State) error { s.SMS, s.Name, s.Step = t, name, StepChange; return nil }); err != nil {
			flowpage.UpdateError(w, r, err)
			return
		}
		http.Redirect(w, r, h.url(c.Portal, c.Flow.ID, StepChange), http.StatusSeeOther)
		return
	}
	if refusal, ok := h.flows.CheckCode(w, r, c, phone, smscode.PurposeChangePhone, code); !ok {
		return
	} else if refusal != nil {
		h.smsRefused(w, r, c, form, refusal, true)
		return
	}
	if _, err := h.update(r, c, func(s *State) error {
		s.SMS.Used, s.Name, s.NewPhone, s.Step = true, name, phone, StepFace
		return nil
	}); err != nil {
		flowpage.UpdateError(w, r, err)
		return
	}
	http.Redirect(w, r, h.url(c.Portal, c.Flow.ID, StepFace), http.StatusSeeOther)
}

func phoneTaken() web.Notice {
	return web.Notice{Tone: web.ToneError, Kind: metrics.PhoneChangePhoneTaken,
		Text: "该手机号码已绑定其他实名账号，不能绑定到您的账号。请使用本人的其他手机号码。"}
}

// smsRefused shows an SMS refusal; verifying says it was a code check,
// whose refusals count as code_invalid.
func (h *Handler) smsRefused(w http.ResponseWriter, r *http.Request, c *call, form web.Form, err error, verifying bool) {
	field, notice := flowpage.SMSRefusal(err, h.o.SMS.Provider())
	var notices []web.Notice
	if notice != nil {
		notices = append(notices, *notice)
		if k := sdk.KindOf(err); notice.Kind == k.String() {
			h.o.Metrics.Error(c.Portal.ID, h.o.SMS.Provider(), k)
			h.o.Metrics.PhoneChange(c.Portal.ID, metrics.PhoneChangeError)
		}
	}
	if field != "" {
		form.Fail("code", field)
		if verifying {
			h.o.Metrics.PhoneChange(c.Portal.ID, metrics.PhoneChangeCodeInvalid)
		}
	}
	h.o.Pages.Render(w, r, http.StatusOK, h.changePage(c, form, notices...))
}

// faceAt is the face step of the flow: the configured phone-change face
// provider, and every failed verification counted as face_failed.
func (h *Handler) faceAt(c *call) flowpage.Face {
	st := c.State()
	f := flowpage.Face{
		URL:       h.url(c.Portal, c.Flow.ID, StepFace),
		Next:      h.url(c.Portal, c.Flow.ID, StepConfirm),
		Provider:  h.o.RealName.PhoneChangeFace,
		Request:   sdk.FaceRequest{Name: st.Name, IDNumber: st.IDNumber},
		Exhausted: "人脸识别未通过的次数已达上限，手机号码未修改。请改日重新办理。",
		Polled: func(before, after scan.FaceSession) {
			if after.Phase == scan.FaceFailed && after.Failures > before.Failures {
				h.o.Metrics.PhoneChange(c.Portal.ID, metrics.PhoneChangeFaceFailed)
			}
		},
	}
	if st.Step != StepFace {
		f.Elsewhere = h.url(c.Portal, c.Flow.ID, st.current())
	}
	return f
}

func (h *Handler) confirm(w http.ResponseWriter, r *http.Request, c *call) {
	st := c.State()
	a, err := h.o.Accounts.ByID(r.Context(), st.AccountID)
	if err != nil {
		httpserver.Error(w, r, http.StatusInternalServerError, "", err)
		return
	}
	p := h.page(c, "forgot_confirm", "确认修改手机号码")
	p.Data = web.ConfirmData{Action: h.url(c.Portal, c.Flow.ID, StepConfirm), OldPhone: cnid.MaskPhone(a.Phone), NewPhone: cnid.MaskPhone(st.NewPhone)}
	h.o.Pages.Render(w, r, http.StatusOK, p)
}

// confirmSubmit commits the change: the phone is replaced, every session
// of the account ends, the change is audited and counted, and then the
// old number is told (ASVS 6.3.7).
func (h *Handler) confirmSubmit(w http.ResponseWriter, r *http.Request, c *call) {
	ctx := r.Context()
	st, err := h.update(r, c, func(s *State) error {
		if s.Committing {
			return errBusy
		}
		s.Committing = true
		return nil
	})
	if errors.Is(err, errBusy) {
		http.Redirect(w, r, h.url(c.Portal, c.Flow.ID, StepConfirm), http.StatusSeeOther)
		return
	}
	if err != nil {
		flowpage.UpdateError(w, r, err)
		return
	}
	log := httpserver.LoggerFrom(ctx, h.o.Logger)
	release := func() {
		if _, err := h.update(r, c, func(s *State) error { s.Committing = false; return nil }); err != nil {
			log.WarnContext(ctx, "phonechange: release commit", slog.Any("error", err))
		}
	}
	old, err := h.o.Accounts.ByID(ctx, st.AccountID)
	if err != nil {
		release()
		h.o.Metrics.PhoneChange(c.Portal.ID, metrics.PhoneChangeError)
		httpserver.Error(w, r, http.StatusInternalServerError, "", err)
		return
	}
	a, err := h.o.Accounts.ChangePhone(ctx, st.AccountID, st.NewPhone)
	if errors.Is(err, account.ErrPhoneTaken) {
		release()
		h.o.Metrics.PhoneChange(c.Portal.ID, metrics.PhoneChangePhoneTaken)
		p := h.page(c, "message", "无法修改手机号码")
		p.Notices = []web.Notice{phoneTaken()}
		p.Data = web.Message{Actions: []web.Action{{Label: "重新办理", URL: "/" + c.Portal.ID + "/forgot", Primary: true}}}
		h.o.Pages.Render(w, r, http.StatusOK, p)
		return
	}
	if err != nil {
		release()
		h.o.Metrics.PhoneChange(c.Portal.ID, metrics.PhoneChangeError)
		httpserver.Error(w, r, http.StatusInternalServerError, "", err)
		return
	}
	now := h.o.Now().UTC()
	for _, e := range []account.Evidence{
		{Provider: h.o.SMS.Provider(), Level: sdk.LevelPhone.String(), VerifiedAt: now},
		{Provider: st.Face.Provider, Level: sdk.LevelFace.String(), Reference: st.Face.Reference, VerifiedAt: now},
	} {
		if err := h.o.Accounts.AddEvidence(ctx, a.ID, e); err != nil {
			log.WarnContext(ctx, "phonechange: add evidence", slog.Any("error", err))
		}
	}
	// This browser proved the account: a new session id kills any cookie
	// fixed in it beforehand (ASVS 7.2.4), and the browser is signed out
	// (it keeps its flows, so the done page still shows); then every
	// session of the account ends, everywhere.
	if err := h.o.Sessions.SignOut(w, r); err != nil {
		log.ErrorContext(ctx, "phonechange: renew session", slog.Any("error", err))
	}
	ended, err := h.o.Sessions.EndAccount(ctx, a.ID)
	if err != nil {
		log.ErrorContext(ctx, "phonechange: end sessions", slog.Any("error", err))
	}
	if err := h.o.Audit.Record(ctx, audit.KindPhoneChange, a.ID, cnid.MaskID(a.IDNumber), map[string]string{
		"portal": c.Portal.ID, "old_phone": cnid.MaskPhone(old.Phone), "new_phone": cnid.MaskPhone(a.Phone), "face_provider": st.Face.Provider,
	}); err != nil {
		log.ErrorContext(ctx, "audit phone change failed", slog.Any("error", err))
	}
	h.o.Metrics.PhoneChange(c.Portal.ID, metrics.PhoneChangeCompleted)
	log.InfoContext(ctx, "phone changed", slog.String("account", a.ID), slog.Int("sessions_ended", ended))
	h.notifyOldPhone(r, log, a.ID, old.Phone, a.Phone)
	if _, err := h.update(r, c, func(s *State) error { s.Step, s.Committing = StepDone, false; return nil }); err != nil {
		log.WarnContext(ctx, "phonechange: finish flow", slog.Any("error", err))
	}
	http.Redirect(w, r, h.url(c.Portal, c.Flow.ID, StepDone), http.StatusSeeOther)
}

// notifyOldPhone sends the phone_changed notice, with the new number
// masked, to the number the account had, through the SMS provider of the
// codes. It is best effort and comes after the commit: a failure, or a
// provider without phone_notice, is logged (masked numbers only) and
// counted, and the change stands. The call is bound by the request.
func (h *Handler) notifyOldPhone(r *http.Request, log *slog.Logger, accountID, oldPhone, newPhone string) {
	if oldPhone == "" || oldPhone == newPhone {
		return
	}
	ctx := r.Context()
	provider := h.o.SMS.Provider()
	attrs := []any{slog.String("account", accountID), slog.String("provider", provider),
		slog.String("old_phone", cnid.MaskPhone(oldPhone)), slog.String("new_phone", cnid.MaskPhone(newPhone))}
	n, err := h.o.Notifiers.PhoneNotifier(provider)
	if err != nil {
		err = &sdk.Error{Kind: sdk.VendorUnavailable, Message: "sms provider not available", Err: err}
	} else {
		err = n.SendNotice(ctx, oldPhone, sdk.Notice{Kind: sdk.NoticePhoneChanged, Params: map[string]string{"phone": cnid.MaskPhone(newPhone)}})
	}
	switch {
	case err == nil:
		h.o.Metrics.PhoneChangeNotice(metrics.NoticeSent)
		log.InfoContext(ctx, "phonechange: old phone notified", attrs...)
	case sdk.KindOf(err) == sdk.NotSupported:
		h.o.Metrics.PhoneChangeNotice(metrics.NoticeUnsupported)
		log.WarnContext(ctx, "phonechange: old phone not notified: the sms provider does not declare phone_notice", attrs...)
	default:
		h.o.Metrics.PhoneChangeNotice(metrics.NoticeFailed)
		log.WarnContext(ctx, "phonechange: old phone not notified", append(attrs, slog.String("kind", sdk.KindOf(err).String()),
			slog.String("vendor_code", sdk.VendorCodeOf(err)), slog.Any("error", err))...)
	}
}

func (h *Handler) resetPage(c *call, form web.Form, notices ...web.Notice) web.Page {
	st := c.State()
	p := h.page(c, "forgot_reset", "重置密码")
	p.Form, p.Notices = form, notices
	p.Data = flowpage.PhoneData(h.url(c.Portal, c.Flow.ID, StepReset), st.SMS, smscode.PurposeResetPassword, h.o.SMS)
	return p
}

func (h *Handler) reset(w http.ResponseWriter, r *http.Request, c *call) {
	h.o.Pages.Render(w, r, http.StatusOK, h.resetPage(c, web.Form{}))
}

// resetSubmit sends a code to the account's current phone, or checks it
// and sets the new password.
func (h *Handler) resetSubmit(w http.ResponseWriter, r *http.Request, c *call) {
	ctx := r.Context()
	st := c.State()
	noAccount := web.Notice{Tone: web.ToneError, Kind: "not_registered", Text: "该身份证号码尚未完成实名注册，请先获取实名认证。"}
	if st.AccountID == "" {
		h.o.Pages.Render(w, r, http.StatusOK, h.resetPage(c, web.Form{}, noAccount))
		return
	}
	a, err := h.o.Accounts.ByID(ctx, st.AccountID)
	if err != nil {
		httpserver.Error(w, r, http.StatusInternalServerError, "", err)
		return
	}
	var form web.Form
	if r.PostFormValue("action") != "reset" {
		t, err := h.o.SMS.Send(ctx, smscode.Request{Phone: a.Phone, Purpose: smscode.PurposeResetPassword, IDNumber: a.IDNumber, IP: h.o.ClientIP(r)})
		if err != nil {
			field, n := flowpage.SMSRefusal(err, h.o.SMS.Provider())
			if n == nil {
				n = &web.Notice{Tone: web.ToneWarn, Kind: sdk.KindOf(err).String(), Text: field}
			}
			h.o.Pages.Render(w, r, http.StatusOK, h.resetPage(c, form, *n))
			return
		}
		if _, err := h.update(r, c, func(s *State) error { s.SMS, s.Step = t, StepReset; return nil }); err != nil {
			flowpage.UpdateError(w, r, err)
			return
		}
		http.Redirect(w, r, h.url(c.Portal, c.Flow.ID, StepReset), http.StatusSeeOther)
		return
	}
	code := strings.TrimSpace(r.PostFormValue("code"))
	pw, pw2 := r.PostFormValue("password"), r.PostFormValue("password2")
	if !smscode.ValidCode(code) {
		form.Fail("code", "请填写短信中的数字验证码。")
	}
	if err := password.CheckPolicy(pw, a.IDNumber, a.Phone); err != nil {
		form.Fail("password", flowpage.PasswordError(err))
	} else if pw != pw2 {
		form.Fail("password2", "两次输入的密码不一致。")
	}
	if !form.OK() {
		h.o.Pages.Render(w, r, http.StatusOK, h.resetPage(c, form))
		return
	}
	if refusal, ok := h.flows.CheckCode(w, r, c, a.Phone, smscode.PurposeResetPassword, code); !ok {
		return
	} else if refusal != nil {
		field, n := flowpage.SMSRefusal(refusal, h.o.SMS.Provider())
		var notices []web.Notice
		if n != nil {
			notices = append(notices, *n)
		}
		if field != "" {
			form.Fail("code", field)
		}
		h.o.Pages.Render(w, r, http.StatusOK, h.resetPage(c, form, notices...))
		return
	}
	if _, err := h.o.Accounts.SetPassword(ctx, a.ID, pw); err != nil {
		httpserver.Error(w, r, http.StatusInternalServerError, "", err)
		return
	}
	log := httpserver.LoggerFrom(ctx, h.o.Logger)
	if err := h.o.Guard.Cleared(ctx, h.o.Accounts.HashIDNumber(a.IDNumber)); err != nil {
		log.WarnContext(ctx, "phonechange: clear password failures", slog.Any("error", err))
	}
	if err := h.o.Sessions.SignOut(w, r); err != nil {
		log.ErrorContext(ctx, "phonechange: renew session", slog.Any("error", err))
	}
	if _, err := h.o.Sessions.EndAccount(ctx, a.ID); err != nil {
		log.ErrorContext(ctx, "phonechange: end sessions", slog.Any("error", err))
	}
	if err := h.o.Audit.Record(ctx, auditPasswordReset, a.ID, cnid.MaskID(a.IDNumber), map[string]string{"portal": c.Portal.ID, "phone": cnid.MaskPhone(a.Phone)}); err != nil {
		log.ErrorContext(ctx, "audit password reset failed", slog.Any("error", err))
	}
	if _, err := h.update(r, c, func(s *State) error { s.SMS.Used, s.Step = true, StepResetDone; return nil }); err != nil {
		flowpage.UpdateError(w, r, err)
		return
	}
	http.Redirect(w, r, h.url(c.Portal, c.Flow.ID, StepResetDone), http.StatusSeeOther)
}
