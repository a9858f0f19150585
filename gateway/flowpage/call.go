package flowpage

import (
	"context"
	"errors"
	"net/http"

	"github.com/shiming-id/shiming/gateway/config"
	"github.com/shiming-id/shiming/gateway/flow"
	"github.com/shiming-id/shiming/gateway/httpserver"
	"github.com/shiming-id/shiming/gateway/scan"
	"github.com/shiming-id/shiming/gateway/smscode"
	"github.com/shiming-id/shiming/gateway/web"
)

// Call is one request about a flow: the portal it came by, the flow as
// loaded, and the browser binding its updates are checked against (empty
// for a vendor callback, which may come from the phone's browser).
type Call[S any] struct {
	Portal  config.Portal
	Flow    *flow.Flow[S]
	Binding string
}

// State is the flow's state.
func (c *Call[S]) State() *S { return &c.Flow.State }

// Update applies a pure change to the flow (flow.Update); c then holds the
// flow as saved.
func (c *Call[S]) Update(ctx context.Context, e *flow.Engine, change func(*S) error) (*S, error) {
	f, err := flow.Update(ctx, e, c.Flow.Kind, c.Flow.ID, c.Binding, change)
	if f != nil {
		c.Flow = f
	}
	if err != nil {
		return nil, err
	}
	return &c.Flow.State, nil
}

// FlowKind is a journey's kind of flow, as the shared handlers reach into
// its state S.
type FlowKind[S any] struct {
	// Name is the flow kind.
	Name string
	Deps *Deps
	// Portal is the id of the portal a flow began at.
	Portal func(*S) string
	// Scan and Face pick the flow's scan and face sessions; nil when the
	// journey has none.
	Scan func(*S) *scan.Session
	Face func(*S) *scan.FaceSession
	// SMS picks the flow's SMS ticket; nil when the journey sends none.
	SMS func(*S) *smscode.Ticket
}

// Open loads the flow the URL's {flow} names for the browser of r at
// portal pt. When it cannot (another browser's flow, an expired one, one
// of another portal) it writes the refusal and returns nil.
func (k FlowKind[S]) Open(w http.ResponseWriter, r *http.Request, pt config.Portal) *Call[S] {
	f, binding := Load[S](w, r, k.Deps.Sessions, k.Deps.Flows, k.Name, r.PathValue("flow"))
	if f == nil {
		return nil
	}
	if k.Portal(&f.State) != pt.ID {
		httpserver.Error(w, r, http.StatusNotFound, web.TextFlowExpired, nil)
		return nil
	}
	return &Call[S]{Portal: pt, Flow: f, Binding: binding}
}

// Begin creates a flow with state st at portal pt, bound to the browser
// of r and recorded in its session as the current flow of the kind.
func (k FlowKind[S]) Begin(w http.ResponseWriter, r *http.Request, pt config.Portal, st S) (*Call[S], error) {
	binding, err := k.Deps.Sessions.Binding(w, r)
	if err != nil {
		return nil, err
	}
	f, err := flow.Create(r.Context(), k.Deps.Flows, k.Name, binding, k.Deps.FlowTTL, st)
	if err != nil {
		return nil, err
	}
	if err := k.Deps.Sessions.SetFlowID(w, r, k.Name, f.ID); err != nil {
		return nil, err
	}
	return &Call[S]{Portal: pt, Flow: f, Binding: binding}, nil
}

// ScanOp is the scan.Op of c's scan session.
func (k FlowKind[S]) ScanOp(c *Call[S]) scan.Op {
	return scan.Op{
		Portal: c.Portal.ID, Kind: k.Name, FlowID: c.Flow.ID, FlowExpires: c.Flow.ExpiresAt,
		Update: scan.FlowUpdate(k.Deps.Flows, k.Name, c.Flow.ID, c.Binding, k.Scan),
	}
}

// FaceOp is the scan.FaceOp of c's face session.
func (k FlowKind[S]) FaceOp(c *Call[S]) scan.FaceOp {
	return scan.FaceOp{Portal: c.Portal.ID, FlowID: c.Flow.ID, Update: scan.FlowUpdate(k.Deps.Flows, k.Name, c.Flow.ID, c.Binding, k.Face)}
}

// Callback applies a vendor redirect for flow id, which arrived at the
// gateway's callback URL with the given state, to the flow's scan
// session. It may come from the phone's browser: the flow is loaded
// without the browser check and nothing of it is shown. The same browser
// is taken back to its QR page, back.
func (k FlowKind[S]) Callback(w http.ResponseWriter, r *http.Request, id, provider, state string, query map[string]string,
	back func(pt config.Portal, id string) string) {
	f, err := flow.Load[S](r.Context(), k.Deps.Flows, k.Name, id, "")
	if errors.Is(err, flow.ErrNotFound) {
		CallbackPage(w, r, k.Deps.Pages, config.Portal{}, CallbackExpired)
		return
	}
	if err != nil {
		httpserver.Error(w, r, http.StatusInternalServerError, "", err)
		return
	}
	pt := k.Deps.Portal(k.Portal(&f.State))
	before := *k.Scan(&f.State)
	s, err := k.Deps.Scan.Callback(r.Context(), k.ScanOp(&Call[S]{Portal: pt, Flow: f}), before, provider, state, query)
	if err != nil {
		httpserver.Error(w, r, http.StatusInternalServerError, "", err)
		return
	}
	if binding, _ := k.Deps.Sessions.CurrentBinding(r); binding != "" && binding == f.Binding {
		http.Redirect(w, r, back(pt, f.ID), http.StatusSeeOther)
		return
	}
	CallbackPage(w, r, k.Deps.Pages, pt, CallbackOutcome(before, s, state))
}

// CheckCode takes one attempt on the SMS ticket of c's flow for code,
// typed for phone and purpose, and asks the vendor: smscode.Reserve runs
// inside the flow's update, so concurrent tries on any replica cannot
// exceed smscode.MaxAttempts. It returns the refusal to show on the page
// (a wrong, expired or unsent code, or the vendor's trouble), nil when
// the code is right. ok is false when the flow update itself failed: the
// error page is written then.
func (k FlowKind[S]) CheckCode(w http.ResponseWriter, r *http.Request, c *Call[S], phone, purpose, code string) (refusal error, ok bool) {
	st, err := c.Update(r.Context(), k.Deps.Flows, func(s *S) error {
		return smscode.Reserve(k.SMS(s), phone, purpose, k.Deps.Now())
	})
	if err != nil {
		if !IsSMSRefusal(err) {
			UpdateError(w, r, err)
			return nil, false
		}
		return err, true
	}
	return k.Deps.SMS.Check(r.Context(), *k.SMS(st), code), true
}
