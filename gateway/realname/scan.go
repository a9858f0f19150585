package realname

import (
	"errors"
	"net/http"
	"slices"

	"github.com/shiming-id/shiming/gateway/config"
	"github.com/shiming-id/shiming/gateway/flow"
	"github.com/shiming-id/shiming/gateway/flowpage"
	"github.com/shiming-id/shiming/gateway/httpserver"
	"github.com/shiming-id/shiming/gateway/journey/metrics"
	"github.com/shiming-id/shiming/gateway/scan"
	"github.com/shiming-id/shiming/gateway/web"
)

func (h *Handler) scanOp(c *call, binding string) scan.Op {
	return scan.Op{
		Portal: c.pt.ID, Kind: Kind, FlowID: c.f.ID, FlowExpires: c.f.ExpiresAt,
		Update: scan.FlowUpdate(h.o.Flows, Kind, c.f.ID, binding, func(s *State) *scan.Session { return &s.Scan }),
	}
}

func (h *Handler) choose(w http.ResponseWriter, r *http.Request, c *call) {
	p := h.page(c, "realname_choose", "选择实名认证方式")
	data := web.ChooseData{Action: h.url(c.pt, c.f.ID, StepChoose)}
	for _, name := range h.o.RealName.ScanProviders {
		data.Providers = append(data.Providers, web.Choice{ID: name, Label: web.ProviderName(name)})
	}
	p.Data = data
	h.o.Pages.Render(w, r, http.StatusOK, p)
}

// chooseSubmit starts a QR session with the chosen provider.
func (h *Handler) chooseSubmit(w http.ResponseWriter, r *http.Request, c *call) {
	provider := r.PostFormValue("provider")
	if !slices.Contains(h.o.RealName.ScanProviders, provider) {
		httpserver.Error(w, r, http.StatusBadRequest, "", nil)
		return
	}
	if _, err := h.update(r, c, func(s *State) error {
		s.Step, s.Provider, s.Mismatch = StepScan, provider, false
		return nil
	}); err != nil {
		flowpage.UpdateError(w, r, err)
		return
	}
	if _, err := h.o.Scan.Begin(r.Context(), h.scanOp(c, c.binding), provider); err != nil {
		flowpage.UpdateError(w, r, err)
		return
	}
	h.o.Metrics.Flow(c.pt.ID, provider, metrics.FlowStarted)
	http.Redirect(w, r, h.url(c.pt, c.f.ID, StepScan), http.StatusSeeOther)
}

// qr shows the QR page.
func (h *Handler) qr(w http.ResponseWriter, r *http.Request, c *call) {
	h.renderQR(w, r, c, c.state().Scan, false)
}

// qrSubmit is the "我已扫码" button (asks once, then moves on or says
// where things stand), the form the page's script submits when the scan
// is done, and the retry.
func (h *Handler) qrSubmit(w http.ResponseWriter, r *http.Request, c *call) {
	st := c.state()
	if r.PostFormValue("action") == "retry" {
		if _, err := h.o.Scan.Begin(r.Context(), h.scanOp(c, c.binding), st.Provider); err != nil {
			flowpage.UpdateError(w, r, err)
			return
		}
		http.Redirect(w, r, h.url(c.pt, c.f.ID, StepScan), http.StatusSeeOther)
		return
	}
	s, err := h.o.Scan.Poll(r.Context(), h.scanOp(c, c.binding), st.Scan)
	if err != nil {
		flowpage.UpdateError(w, r, err)
		return
	}
	if s.Phase == scan.Done {
		http.Redirect(w, r, h.url(c.pt, c.f.ID, StepIdentity), http.StatusSeeOther)
		return
	}
	h.renderQR(w, r, c, s, true)
}

func (h *Handler) renderQR(w http.ResponseWriter, r *http.Request, c *call, s scan.Session, checked bool) {
	base := h.url(c.pt, c.f.ID, StepScan)
	p := h.page(c, "qr", "扫码登录："+web.ProviderName(s.Provider))
	p.Script = true
	p.Notices = flowpage.ScanNotices(s)
	v := flowpage.QRView(s, base, "/"+c.pt.ID+"/realname/"+c.f.ID+"/status", h.o.DemoPhoneURL, checked)
	v.Back = &web.Action{Label: "换一种方式", URL: h.url(c.pt, c.f.ID, StepChoose)}
	p.Data = v
	h.o.Pages.Render(w, r, http.StatusOK, p)
}

func (h *Handler) qrImage(w http.ResponseWriter, r *http.Request, c *call) {
	web.QRPNG(w, r, c.state().Scan.QR)
}

// status answers the QR page's poll: one flow read, and a vendor call at
// most once per poll interval.
func (h *Handler) status(w http.ResponseWriter, r *http.Request, c *call) {
	st := c.state()
	if st.Step != StepScan {
		web.JSON(w, web.QRStatus{Phase: string(scan.Done), QRVersion: st.Scan.Generation, Next: h.url(c.pt, c.f.ID, st.current())})
		return
	}
	s, err := h.o.Scan.Poll(r.Context(), h.scanOp(c, c.binding), st.Scan)
	if err != nil {
		flowpage.UpdateError(w, r, err)
		return
	}
	out := web.QRStatus{Phase: string(s.Phase), Message: flowpage.ScanStatusText(s, false), ErrorKind: flowpage.ScanErrorKind(s), QRVersion: s.Generation}
	if s.Phase == scan.Done {
		out.Next = h.url(c.pt, c.f.ID, StepIdentity)
	}
	web.JSON(w, out)
}

// Callback applies a vendor redirect for flow id, which arrived at the
// gateway's callback URL with the given state. It may come from the
// phone's browser: the flow is loaded without the browser check and
// nothing of it is shown. The same browser is taken back to its QR page.
func (h *Handler) Callback(w http.ResponseWriter, r *http.Request, id, provider, state string, query map[string]string) {
	f, err := flow.Load[State](r.Context(), h.o.Flows, Kind, id, "")
	if errors.Is(err, flow.ErrNotFound) {
		flowpage.CallbackPage(w, r, h.o.Pages, config.Portal{}, flowpage.CallbackExpired)
		return
	}
	if err != nil {
		httpserver.Error(w, r, http.StatusInternalServerError, "", err)
		return
	}
	pt := h.portal(f.State.Portal)
	c := &call{pt: pt, f: f}
	s, err := h.o.Scan.Callback(r.Context(), h.scanOp(c, ""), f.State.Scan, provider, state, query)
	if err != nil {
		httpserver.Error(w, r, http.StatusInternalServerError, "", err)
		return
	}
	if binding, _ := h.o.Sessions.CurrentBinding(r); binding != "" && binding == f.Binding {
		http.Redirect(w, r, h.url(pt, f.ID, StepScan), http.StatusSeeOther)
		return
	}
	flowpage.CallbackPage(w, r, h.o.Pages, pt, flowpage.CallbackOutcome(f.State.Scan, s, state))
}

func (h *Handler) portal(id string) config.Portal {
	for _, p := range h.o.Portals {
		if p.ID == id {
			return p
		}
	}
	return config.Portal{ID: id}
}
