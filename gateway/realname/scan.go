package realname

import (
	"net/http"
	"slices"

	"github.com/shiming-id/shiming/gateway/config"
	"github.com/shiming-id/shiming/gateway/flowpage"
	"github.com/shiming-id/shiming/gateway/httpserver"
	"github.com/shiming-id/shiming/gateway/journey/metrics"
	"github.com/shiming-id/shiming/gateway/scan"
	"github.com/shiming-id/shiming/gateway/web"
)

func (h *Handler) choose(w http.ResponseWriter, r *http.Request, c *call) {
	p := h.page(c, "realname_choose", "选择实名认证方式")
	data := web.ChooseData{Action: h.url(c.Portal, c.Flow.ID, StepChoose)}
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
	if _, err := h.o.Scan.Begin(r.Context(), h.flows.ScanOp(c), provider); err != nil {
		flowpage.UpdateError(w, r, err)
		return
	}
	h.o.Metrics.Flow(c.Portal.ID, provider, metrics.FlowStarted)
	http.Redirect(w, r, h.url(c.Portal, c.Flow.ID, StepScan), http.StatusSeeOther)
}

// qr shows the QR page.
func (h *Handler) qr(w http.ResponseWriter, r *http.Request, c *call) {
	h.renderQR(w, r, c, c.State().Scan, false)
}

// qrSubmit is the "我已扫码" button (asks once, then moves on or says
// where things stand), the form the page's script submits when the scan
// is done, and the retry.
func (h *Handler) qrSubmit(w http.ResponseWriter, r *http.Request, c *call) {
	st := c.State()
	if r.PostFormValue("action") == "retry" {
		if _, err := h.o.Scan.Begin(r.Context(), h.flows.ScanOp(c), st.Provider); err != nil {
			flowpage.UpdateError(w, r, err)
			return
		}
		http.Redirect(w, r, h.url(c.Portal, c.Flow.ID, StepScan), http.StatusSeeOther)
		return
	}
	s, err := h.o.Scan.Poll(r.Context(), h.flows.ScanOp(c), st.Scan)
	if err != nil {
		flowpage.UpdateError(w, r, err)
		return
	}
	if s.Phase == scan.Done {
		http.Redirect(w, r, h.url(c.Portal, c.Flow.ID, StepIdentity), http.StatusSeeOther)
		return
	}
	h.renderQR(w, r, c, s, true)
}

func (h *Handler) renderQR(w http.ResponseWriter, r *http.Request, c *call, s scan.Session, checked bool) {
	base := h.url(c.Portal, c.Flow.ID, StepScan)
	p := h.page(c, "qr", "扫码登录："+web.ProviderName(s.Provider))
	p.Script = true
	p.Notices = flowpage.ScanNotices(s)
	v := flowpage.QRView(s, base, "/"+c.Portal.ID+"/realname/"+c.Flow.ID+"/status", h.o.DemoPhoneURL, checked)
	v.Back = &web.Action{Label: "换一种方式", URL: h.url(c.Portal, c.Flow.ID, StepChoose)}
	p.Data = v
	h.o.Pages.Render(w, r, http.StatusOK, p)
}

func (h *Handler) qrImage(w http.ResponseWriter, r *http.Request, c *call) {
	web.QRPNG(w, r, c.State().Scan.QR)
}

// status answers the QR page's poll: one flow read, and a vendor call at
// most once per poll interval.
func (h *Handler) status(w http.ResponseWriter, r *http.Request, c *call) {
	st := c.State()
	if st.Step != StepScan {
		web.JSON(w, web.QRStatus{Phase: string(scan.Done), QRVersion: st.Scan.Generation, Next: h.url(c.Portal, c.Flow.ID, st.current())})
		return
	}
	s, err := h.o.Scan.Poll(r.Context(), h.flows.ScanOp(c), st.Scan)
	if err != nil {
		flowpage.UpdateError(w, r, err)
		return
	}
	out := web.QRStatus{Phase: string(s.Phase), Message: flowpage.ScanStatusText(s, false), ErrorKind: flowpage.ScanErrorKind(s), QRVersion: s.Generation}
	if s.Phase == scan.Done {
		out.Next = h.url(c.Portal, c.Flow.ID, StepIdentity)
	}
	web.JSON(w, out)
}

// Callback applies a vendor redirect for flow id, which arrived at the
// gateway's callback URL with the given state (see
// flowpage.FlowKind.Callback). The same browser is taken back to its QR
// page.
func (h *Handler) Callback(w http.ResponseWriter, r *http.Request, id, provider, state string, query map[string]string) {
	h.flows.Callback(w, r, id, provider, state, query, func(pt config.Portal, id string) string { return h.url(pt, id, StepScan) })
}
