package realname

import (
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/shiming-id/shiming/gateway/account"
	"github.com/shiming-id/shiming/gateway/audit"
	"github.com/shiming-id/shiming/gateway/flow"
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

// ctidProvider is the scan provider offered after a name/ID mismatch.
const ctidProvider = "ctid"

var errNoChecksLeft = errors.New("realname: no identity checks left")

// vouched reports whether the scan identity carries name and number at
// name/ID level or better, so they are compared here, not at a vendor.
func vouched(id *sdk.Identity) bool {
	return id != nil && id.Name != "" && id.IDNumber != "" && id.Level >= sdk.LevelNameID
}

func (h *Handler) identityPage(c *call, form web.Form, notices ...web.Notice) web.Page {
	p := h.page(c, "realname_identity", "实名登录")
	p.Form = form
	p.Notices = notices
	p.Data = web.IdentityData{Action: h.url(c.Portal, c.Flow.ID, StepIdentity), Provider: web.ProviderName(c.State().Provider),
		FromProvider: vouched(c.State().Scan.Identity)}
	return p
}

func (h *Handler) identity(w http.ResponseWriter, r *http.Request, c *call) {
	h.o.Pages.Render(w, r, http.StatusOK, h.identityPage(c, web.Form{}))
}

// identitySubmit is 实名登录: the typed name and number are validated,
// refused if already registered, then compared with the scan identity or
// checked at the name/ID vendor.
func (h *Handler) identitySubmit(w http.ResponseWriter, r *http.Request, c *call) {
	var form web.Form
	name := flowpage.NormalizeName(r.PostFormValue("name"))
	idNumber := cnid.Normalize(r.PostFormValue("id_number"))
	form.Set("name", name)
	form.Set("id_number", idNumber)
	if err := flowpage.CheckName(name); err != nil {
		form.Fail("name", flowpage.NameError(err))
	}
	if _, err := cnid.Parse(idNumber, h.o.Now()); err != nil {
		form.Fail("id_number", idNumberError(err))
	}
	if !form.OK() {
		h.o.Pages.Render(w, r, http.StatusOK, h.identityPage(c, form))
		return
	}
	ctx := r.Context()
	if _, err := h.o.Accounts.ByIDNumber(ctx, idNumber); err == nil {
		h.registered(w, r, c)
		return
	} else if !errors.Is(err, account.ErrNotFound) {
		httpserver.Error(w, r, http.StatusInternalServerError, "", err)
		return
	}
	st, err := h.update(r, c, func(s *State) error {
		if s.Checks >= maxChecks {
			return errNoChecksLeft
		}
		s.Checks++
		return nil
	})
	if errors.Is(err, errNoChecksLeft) {
		h.message(w, r, c, http.StatusOK, "实名登录", web.Notice{Tone: web.ToneWarn, Kind: "too_many_attempts", Text: web.TextTooManyAttempts},
			web.Message{Actions: []web.Action{{Label: "返回报名入口", URL: "/" + c.Portal.ID + "/"}}})
		return
	}
	if err != nil {
		flowpage.UpdateError(w, r, err)
		return
	}
	now := h.o.Now().UTC()
	id := st.Scan.Identity
	var evidence []account.Evidence
	checker := st.Provider
	if vouched(id) {
		if flowpage.NormalizeName(id.Name) != name || cnid.Normalize(id.IDNumber) != idNumber {
			err = sdk.E(sdk.NameIDMismatch, "typed identity differs from the provider's")
		}
		evidence = append(evidence, account.Evidence{Provider: st.Provider, Level: id.Level.String(), Reference: id.Reference, VerifiedAt: now})
	} else {
		checker = h.o.RealName.IdentityCheck
		var ref string
		ic, gerr := h.o.Providers.IdentityChecker(checker)
		if gerr != nil {
			err = &sdk.Error{Kind: sdk.VendorUnavailable, Message: "identity checker not available", Err: gerr}
		} else {
			ref, err = ic.CheckIdentity(ctx, name, idNumber)
		}
		if id != nil {
			evidence = append(evidence, account.Evidence{Provider: st.Provider, Level: levelOr(id.Level), Reference: id.Reference, VerifiedAt: now})
		}
		evidence = append(evidence, account.Evidence{Provider: checker, Level: sdk.LevelNameID.String(), Reference: ref, VerifiedAt: now})
	}
	if err != nil {
		k := sdk.KindOf(err)
		h.o.Metrics.Error(c.Portal.ID, checker, k)
		if k == sdk.NameIDMismatch {
			h.mismatch(w, r, c, checker)
			return
		}
		httpserver.LoggerFrom(ctx, h.o.Logger).WarnContext(ctx, "identity check failed", slog.String("provider", checker),
			slog.String("kind", k.String()), slog.String("vendor_code", sdk.VendorCodeOf(err)), slog.String("id_number", cnid.MaskID(idNumber)))
		h.o.Pages.Render(w, r, http.StatusOK, h.identityPage(c, form,
			web.Notice{Tone: web.ToneWarn, Kind: k.String(), Text: web.KindText(web.AtIdentity, k, checker)}))
		return
	}
	var links []account.Link
	if id != nil && id.Subject != "" {
		links = []account.Link{{Provider: st.Provider, Subject: id.Subject}}
	}
	mismatchBy, provider := st.MismatchBy, st.Provider
	if _, err := h.update(r, c, func(s *State) error {
		s.Name, s.IDNumber, s.Mismatch, s.MismatchBy = name, idNumber, false, ""
		s.Evidence, s.Links = evidence, links
		s.Step = StepPhone
		return nil
	}); err != nil {
		flowpage.UpdateError(w, r, err)
		return
	}
	if mismatchBy != "" && provider == ctidProvider {
		// The CTID path healed the name/ID mismatch met earlier.
		h.o.Metrics.Recovery(c.Portal.ID, mismatchBy, sdk.NameIDMismatch)
	}
	http.Redirect(w, r, h.url(c.Portal, c.Flow.ID, StepPhone), http.StatusSeeOther)
}

// levelOr is the evidence level of a scan identity: its own, or name_id
// when the vendor states none.
func levelOr(l sdk.AssuranceLevel) string {
	if l == 0 {
		return sdk.LevelNameID.String()
	}
	return l.String()
}

func idNumberError(err error) string {
	switch cnid.ProblemOf(err) {
	case cnid.ProblemLength:
		return "身份证号码应为18位。"
	case cnid.ProblemChecksum:
		return "身份证号码校验位不正确，请逐位核对。"
	case cnid.ProblemBirth:
		return "身份证号码中的出生日期不正确，请核对。"
	}
	return "身份证号码格式不正确，请核对后重新填写（末位为X的请填写X）。"
}

// mismatch explains 姓名和身份证号码不匹配 and offers the CTID path;
// checker is the provider the mismatch was counted for.
func (h *Handler) mismatch(w http.ResponseWriter, r *http.Request, c *call, checker string) {
	if _, err := h.update(r, c, func(s *State) error { s.Mismatch, s.MismatchBy = true, checker; return nil }); err != nil {
		flowpage.UpdateError(w, r, err)
		return
	}
	st := c.State()
	h.o.Metrics.Flow(c.Portal.ID, st.metricProvider(), metrics.FlowMismatch)
	data := web.MismatchData{RetryURL: h.url(c.Portal, c.Flow.ID, StepIdentity)}
	if st.Provider != ctidProvider && slices.Contains(h.o.RealName.ScanProviders, ctidProvider) {
		data.CTIDAction = "/" + c.Portal.ID + "/realname/" + c.Flow.ID + "/ctid"
	}
	p := h.page(c, "realname_mismatch", "姓名和身份证号码不匹配")
	p.Notices = []web.Notice{{Tone: web.ToneError, Kind: sdk.NameIDMismatch.String(), Text: web.TextNameIDMismatch}}
	p.Data = data
	h.o.Pages.Render(w, r, http.StatusOK, p)
}

// ctid switches the flow to the CTID provider after a mismatch.
func (h *Handler) ctid(w http.ResponseWriter, r *http.Request, c *call) {
	if !c.State().Mismatch || !slices.Contains(h.o.RealName.ScanProviders, ctidProvider) {
		http.Redirect(w, r, h.url(c.Portal, c.Flow.ID, StepIdentity), http.StatusSeeOther)
		return
	}
	if _, err := h.update(r, c, func(s *State) error {
		s.Step, s.Provider, s.Mismatch, s.Checks = StepScan, ctidProvider, false, 0
		return nil
	}); err != nil {
		flowpage.UpdateError(w, r, err)
		return
	}
	if _, err := h.o.Scan.Begin(r.Context(), h.flows.ScanOp(c), ctidProvider); err != nil {
		flowpage.UpdateError(w, r, err)
		return
	}
	h.o.Metrics.Flow(c.Portal.ID, ctidProvider, metrics.FlowStarted)
	http.Redirect(w, r, h.url(c.Portal, c.Flow.ID, StepScan), http.StatusSeeOther)
}

func (h *Handler) phonePage(c *call, form web.Form, notices ...web.Notice) web.Page {
	st := c.State()
	p := h.page(c, "realname_phone", "绑定手机号码")
	if form.Values["phone"] == "" && st.SMS.Phone != "" {
		form.Set("phone", st.SMS.Phone)
	}
	p.Form, p.Notices = form, notices
	data := flowpage.PhoneData(h.url(c.Portal, c.Flow.ID, StepPhone), st.SMS, smscode.PurposeBindPhone, h.o.SMS)
	data.MaskedName, data.MaskedID = cnid.MaskName(st.Name), cnid.MaskID(st.IDNumber)
	p.Data = data
	return p
}

func (h *Handler) phone(w http.ResponseWriter, r *http.Request, c *call) {
	var notices []web.Notice
	if r.URL.Query().Get("taken") == "1" {
		notices = append(notices, phoneTaken())
	}
	h.o.Pages.Render(w, r, http.StatusOK, h.phonePage(c, web.Form{}, notices...))
}

func phoneTaken() web.Notice {
	return web.Notice{Tone: web.ToneError, Kind: "phone_taken",
		Text: "该手机号码已绑定其他实名账号，请使用本人的其他手机号码。如果那是您本人的账号，请直接登录，或通过“忘记密码”办理。"}
}

// phoneSubmit sends a code to the typed phone, or checks the code.
func (h *Handler) phoneSubmit(w http.ResponseWriter, r *http.Request, c *call) {
	ctx := r.Context()
	var form web.Form
	phone, perr := cnid.ParsePhone(r.PostFormValue("phone"))
	form.Set("phone", r.PostFormValue("phone"))
	if perr != nil {
		form.Fail("phone", "请填写11位手机号码。")
		h.o.Pages.Render(w, r, http.StatusOK, h.phonePage(c, form))
		return
	}
	form.Set("phone", phone)
	if r.PostFormValue("action") != "verify" {
		if _, err := h.o.Accounts.ByPhone(ctx, phone); err == nil {
			h.o.Pages.Render(w, r, http.StatusOK, h.phonePage(c, form, phoneTaken()))
			return
		} else if !errors.Is(err, account.ErrNotFound) {
			httpserver.Error(w, r, http.StatusInternalServerError, "", err)
			return
		}
		t, err := h.o.SMS.Send(ctx, smscode.Request{Phone: phone, Purpose: smscode.PurposeBindPhone, IDNumber: c.State().IDNumber, IP: h.o.ClientIP(r)})
		if err != nil {
			h.smsRefused(w, r, c, form, err)
			return
		}
		if _, err := h.update(r, c, func(s *State) error { s.SMS = t; return nil }); err != nil {
			flowpage.UpdateError(w, r, err)
			return
		}
		http.Redirect(w, r, h.url(c.Portal, c.Flow.ID, StepPhone), http.StatusSeeOther)
		return
	}
	code := strings.TrimSpace(r.PostFormValue("code"))
	if !smscode.ValidCode(code) {
		form.Fail("code", "请填写短信中的数字验证码。")
		h.o.Pages.Render(w, r, http.StatusOK, h.phonePage(c, form))
		return
	}
	if refusal, ok := h.flows.CheckCode(w, r, c, phone, smscode.PurposeBindPhone, code); !ok {
		return
	} else if refusal != nil {
		h.smsRefused(w, r, c, form, refusal)
		return
	}
	next := StepFace
	if h.faceProvider(c.State()) == "" {
		next = StepPassword
	}
	if _, err := h.update(r, c, func(s *State) error {
		s.SMS.Used, s.Phone, s.PhoneAt, s.Step = true, phone, h.o.Now().UTC(), next
		return nil
	}); err != nil {
		flowpage.UpdateError(w, r, err)
		return
	}
	http.Redirect(w, r, h.url(c.Portal, c.Flow.ID, next), http.StatusSeeOther)
}

func (h *Handler) smsRefused(w http.ResponseWriter, r *http.Request, c *call, form web.Form, err error) {
	field, notice := flowpage.SMSRefusal(err, h.o.SMS.Provider())
	var notices []web.Notice
	if notice != nil {
		notices = append(notices, *notice)
		if k := sdk.KindOf(err); notice.Kind == k.String() {
			h.o.Metrics.Error(c.Portal.ID, h.o.SMS.Provider(), k)
		}
	}
	if field != "" {
		form.Fail("code", field)
	}
	h.o.Pages.Render(w, r, http.StatusOK, h.phonePage(c, form, notices...))
}

// faceProvider is the face provider of the flow, "" when none is
// configured or the claims it began from vouch for a face already.
func (h *Handler) faceProvider(s *State) string {
	for _, e := range s.Evidence {
		if e.Level == sdk.LevelFace.String() {
			return ""
		}
	}
	if p := h.o.RealName.Face[s.Provider]; p != "" && !s.Prefilled {
		return p
	}
	return h.o.RealName.Face["default"]
}

// faceAt is the face step of the flow: the provider of the scan (none
// when the flow needs no face), the scan identity's subject, a new
// session id on passing, and the flow counted as face_failed once its
// attempts are used up.
func (h *Handler) faceAt(c *call) flowpage.Face {
	st := c.State()
	f := flowpage.Face{
		URL:       h.url(c.Portal, c.Flow.ID, StepFace),
		Next:      h.url(c.Portal, c.Flow.ID, StepPassword),
		Provider:  h.faceProvider(st),
		Request:   sdk.FaceRequest{Name: st.Name, IDNumber: st.IDNumber, Subject: faceSubject(st.Scan.Identity)},
		Exhausted: "人脸识别未通过的次数已达上限。请改日从报名入口重新办理实名认证，或改用网证CTID认证。",
		Passed:    h.o.Sessions.Renew,
		Polled: func(before, after scan.FaceSession) {
			if after.Phase == scan.FaceFailed && after.Failures >= scan.MaxFaceFailures && before.Failures < scan.MaxFaceFailures {
				h.o.Metrics.Flow(c.Portal.ID, st.metricProvider(), metrics.FlowFaceFailed)
			}
		},
	}
	if st.Step != StepFace {
		f.Elsewhere = h.url(c.Portal, c.Flow.ID, st.current())
	}
	return f
}

// faceSubject is the provider subject a face vendor binds the check to:
// WeChat's openid, or the identity's subject.
func faceSubject(id *sdk.Identity) string {
	if id == nil {
		return ""
	}
	if o := id.SubjectIDs["openid"]; o != "" {
		return o
	}
	return id.Subject
}

func (h *Handler) passwordPage(c *call, form web.Form) web.Page {
	st := c.State()
	p := h.page(c, "realname_password", "设置密码")
	p.Form = form
	p.Data = web.PasswordData{Action: h.url(c.Portal, c.Flow.ID, StepPassword), MaskedName: cnid.MaskName(st.Name),
		MaskedID: cnid.MaskID(st.IDNumber), MaskedPhone: cnid.MaskPhone(st.Phone)}
	return p
}

func (h *Handler) password(w http.ResponseWriter, r *http.Request, c *call) {
	h.o.Pages.Render(w, r, http.StatusOK, h.passwordPage(c, web.Form{}))
}

// passwordSubmit sets the password and creates the account.
func (h *Handler) passwordSubmit(w http.ResponseWriter, r *http.Request, c *call) {
	st := c.State()
	pw, pw2 := r.PostFormValue("password"), r.PostFormValue("password2")
	var form web.Form
	if err := password.CheckPolicy(pw, st.IDNumber, st.Phone); err != nil {
		form.Fail("password", flowpage.PasswordError(err))
	} else if pw != pw2 {
		form.Fail("password2", "两次输入的密码不一致。")
	}
	if !form.OK() {
		h.o.Pages.Render(w, r, http.StatusOK, h.passwordPage(c, form))
		return
	}
	ctx := r.Context()
	ev := append([]account.Evidence(nil), st.Evidence...)
	ev = append(ev, account.Evidence{Provider: h.o.SMS.Provider(), Level: sdk.LevelPhone.String(), VerifiedAt: st.PhoneAt})
	if st.Face.Phase == scan.FacePassed {
		ev = append(ev, account.Evidence{Provider: st.Face.Provider, Level: sdk.LevelFace.String(), Reference: st.Face.Reference, VerifiedAt: h.o.Now().UTC()})
	}
	a, err := h.o.Accounts.Create(ctx, account.New{Name: st.Name, IDNumber: st.IDNumber, Phone: st.Phone, Password: pw,
		Portal: c.Portal.ID, Evidence: ev, Links: st.Links})
	switch {
	case errors.Is(err, account.ErrIDNumberTaken):
		h.registered(w, r, c)
		return
	case errors.Is(err, account.ErrPhoneTaken):
		if _, err := h.update(r, c, func(s *State) error {
			s.Step, s.SMS, s.Phone = StepPhone, smscode.Ticket{}, ""
			return nil
		}); err != nil {
			flowpage.UpdateError(w, r, err)
			return
		}
		http.Redirect(w, r, h.url(c.Portal, c.Flow.ID, StepPhone)+"?taken=1", http.StatusSeeOther)
		return
	case errors.Is(err, account.ErrLinkTaken):
		h.message(w, r, c, http.StatusOK, "账号已关联", web.Notice{Tone: web.ToneError, Kind: "link_taken",
			Text: "您扫码使用的" + web.ProviderName(st.Provider) + "账号已关联其他实名账号，不能再注册新的账号。"},
			web.Message{Actions: []web.Action{{Label: "登录", URL: "/" + c.Portal.ID + "/login", Primary: true}, {Label: "忘记密码", URL: "/" + c.Portal.ID + "/forgot"}}})
		return
	case err != nil:
		httpserver.Error(w, r, http.StatusInternalServerError, "", err)
		return
	}
	if err := h.o.Audit.Record(ctx, audit.KindRegister, a.ID, cnid.MaskID(a.IDNumber),
		map[string]string{"portal": c.Portal.ID, "provider": st.metricProvider()}); err != nil {
		httpserver.LoggerFrom(ctx, h.o.Logger).ErrorContext(ctx, "audit register failed", slog.Any("error", err))
	}
	h.o.Metrics.Flow(c.Portal.ID, st.metricProvider(), metrics.FlowCompleted)
	h.finish(w, r, c)
	http.Redirect(w, r, "/"+c.Portal.ID+"/login?registered=1", http.StatusSeeOther)
}

// finish ends the flow and unbinds it from the session.
func (h *Handler) finish(w http.ResponseWriter, r *http.Request, c *call) {
	ctx := r.Context()
	if err := flow.Delete(ctx, h.o.Flows, c.Flow.ID); err != nil {
		httpserver.LoggerFrom(ctx, h.o.Logger).WarnContext(ctx, "realname: delete flow", slog.Any("error", err))
	}
	if err := h.o.Sessions.SetFlowID(w, r, Kind, ""); err != nil {
		httpserver.LoggerFrom(ctx, h.o.Logger).WarnContext(ctx, "realname: unbind flow", slog.Any("error", err))
	}
}
