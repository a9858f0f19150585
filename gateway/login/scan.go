package login

import (
	"errors"
	"net/http"

	"github.com/shiming-id/shiming/gateway/account"
	"github.com/shiming-id/shiming/gateway/config"
	"github.com/shiming-id/shiming/gateway/flow"
	"github.com/shiming-id/shiming/gateway/flowpage"
	"github.com/shiming-id/shiming/gateway/httpserver"
	"github.com/shiming-id/shiming/gateway/journey/metrics"
	"github.com/shiming-id/shiming/gateway/scan"
	"github.com/shiming-id/shiming/gateway/web"
)

// call is one request about a login flow.
type call = flowpage.Call[State]

// flow loads the login flow of a scan the URL names.
func (h *Handler) flow(pt config.Portal, fn func(http.ResponseWriter, *http.Request, *call)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := h.flows.Open(w, r, pt)
		if c == nil {
			return
		}
		if !c.State().Scan.Active() {
			httpserver.Error(w, r, http.StatusNotFound, web.TextFlowExpired, nil)
			return
		}
		fn(w, r, c)
	})
}

func (h *Handler) qrURL(pt config.Portal, id string) string {
	return "/" + pt.ID + "/login/" + id + "/qr"
}

func (h *Handler) renderQR(w http.ResponseWriter, r *http.Request, c *call, s scan.Session, checked bool) {
	p := web.Page{Name: "qr", Title: "扫码登录：" + web.ProviderName(s.Provider), Step: "login_scan", Portal: c.Portal, Script: true}
	p.Notices = flowpage.ScanNotices(s)
	v := flowpage.QRView(s, h.qrURL(c.Portal, c.Flow.ID), "/"+c.Portal.ID+"/login/"+c.Flow.ID+"/status", h.o.DemoPhoneURL, checked)
	v.Back = &web.Action{Label: "换一种登录方式", URL: "/" + c.Portal.ID + "/login"}
	p.Data = v
	h.o.Pages.Render(w, r, http.StatusOK, p)
}

func (h *Handler) qr(w http.ResponseWriter, r *http.Request, c *call) {
	h.renderQR(w, r, c, c.Flow.State.Scan, false)
}

// qrSubmit is "我已扫码", the script's submit once the scan is done, and
// the retry. A finished scan signs in the account linked to the
// provider identity.
func (h *Handler) qrSubmit(w http.ResponseWriter, r *http.Request, c *call) {
	st := c.Flow.State.Scan
	if r.PostFormValue("action") == "retry" {
		if _, err := h.o.Scan.Begin(r.Context(), h.flows.ScanOp(c), st.Provider); err != nil {
			flowpage.UpdateError(w, r, err)
			return
		}
		http.Redirect(w, r, h.qrURL(c.Portal, c.Flow.ID), http.StatusSeeOther)
		return
	}
	s, err := h.o.Scan.Poll(r.Context(), h.flows.ScanOp(c), st)
	if err != nil {
		flowpage.UpdateError(w, r, err)
		return
	}
	if s.Phase != scan.Done || s.Identity == nil {
		h.renderQR(w, r, c, s, true)
		return
	}
	a, err := h.o.Accounts.ByLink(r.Context(), s.Provider, s.Identity.Subject)
	if errors.Is(err, account.ErrNotFound) || s.Identity.Subject == "" {
		h.o.Metrics.Login(c.Portal.ID, metrics.MethodScan, metrics.LoginNotLinked)
		if err := flow.Delete(r.Context(), h.o.Flows, c.Flow.ID); err != nil {
			httpserver.LoggerFrom(r.Context(), h.o.Logger).WarnContext(r.Context(), "login: delete flow")
		}
		p := web.ProviderName(s.Provider)
		h.o.Pages.Render(w, r, http.StatusOK, web.Page{Name: "message", Title: "账号尚未关联", Step: "login_not_linked", Portal: c.Portal,
			Notices: []web.Notice{{Tone: web.ToneWarn, Kind: metrics.LoginNotLinked, Text: "您扫码使用的" + p + "账号还没有关联实名账号。"}},
			Data: web.Message{
				Paragraphs: []string{"扫码登录只适用于用" + p + "完成了实名认证的考生。如果您还没有注册，请先获取实名认证；如果您用其他方式注册过，请用身份证号码和密码登录，或验码登录。"},
				Actions: []web.Action{
					{Label: "获取实名认证", URL: "/" + c.Portal.ID + "/realname/", Primary: true},
					{Label: "密码登录", URL: "/" + c.Portal.ID + "/login?tab=password"},
					{Label: "验码登录", URL: "/" + c.Portal.ID + "/login?tab=sms"},
				},
			}})
		return
	}
	if err != nil {
		h.o.Metrics.Login(c.Portal.ID, metrics.MethodScan, metrics.LoginError)
		httpserver.Error(w, r, http.StatusInternalServerError, "", err)
		return
	}
	h.SignIn(w, r, c.Portal, a, metrics.MethodScan)
}

func (h *Handler) qrImage(w http.ResponseWriter, r *http.Request, c *call) {
	web.QRPNG(w, r, c.Flow.State.Scan.QR)
}

// status answers the QR page's poll.
func (h *Handler) status(w http.ResponseWriter, r *http.Request, c *call) {
	s, err := h.o.Scan.Poll(r.Context(), h.flows.ScanOp(c), c.Flow.State.Scan)
	if err != nil {
		flowpage.UpdateError(w, r, err)
		return
	}
	web.JSON(w, web.QRStatus{Phase: string(s.Phase), Message: flowpage.ScanStatusText(s, false),
		ErrorKind: flowpage.ScanErrorKind(s), QRVersion: s.Generation})
}

// Callback applies a vendor redirect for login flow id (see
// flowpage.FlowKind.Callback). The same browser is taken back to its QR
// page.
func (h *Handler) Callback(w http.ResponseWriter, r *http.Request, id, provider, state string, query map[string]string) {
	h.flows.Callback(w, r, id, provider, state, query, h.qrURL)
}
