package flowpage

import (
	"errors"
	"net/http"
	"strings"

	"github.com/shiming-id/shiming/gateway/httpserver"
	"github.com/shiming-id/shiming/gateway/scan"
	"github.com/shiming-id/shiming/gateway/web"
	"github.com/shiming-id/shiming/plugins/sdk"
)

// FaceStep serves the face-verification step of a journey whose flows
// hold state S (开始人脸识别): the page before a verification, its QR page
// with the poll and the "我已完成" button, the retries, and the QR image.
type FaceStep[S any] struct {
	// Flows picks the flow's face session (Face); its Deps give the scan
	// machine, the pages and the demo phone.
	Flows FlowKind[S]
	// Page returns a page of the flow (portal, step indicator) with the
	// given template name and title.
	Page func(c *Call[S], name, title string) web.Page
	// PublicURL is the gateway's base URL as browsers reach it; the
	// vendor sends the phone back to the face page there.
	PublicURL string
	// At is what the journey decides about the step of flow c.
	At func(c *Call[S]) Face
}

// Face is what a journey decides about the face step of one flow.
type Face struct {
	// URL is the face step's page, Next the page of the step after it.
	URL, Next string
	// Elsewhere is the page of the step the flow is at when that is not
	// the face step (the poll sends the browser there); "" when it is.
	Elsewhere string
	// Provider is the face provider a verification begins with; "" means
	// the flow needs none and goes on to Next.
	Provider string
	// Request is what a verification begins with; FaceStep sets its
	// ReturnURL.
	Request sdk.FaceRequest
	// Exhausted is the notice shown once no attempt is left.
	Exhausted string
	// Passed, when set, runs before the browser goes on to Next after a
	// passed verification; an error stops it with a 503 page.
	Passed func(http.ResponseWriter, *http.Request) error
	// Polled, when set, sees the session before and after every poll (to
	// count failures).
	Polled func(before, after scan.FaceSession)
}

// Show is the GET of the face page: the QR page while a verification is
// pending, else the page that starts one, naming the provider of the
// verification begun last (Face.Provider before the first).
func (s FaceStep[S]) Show(w http.ResponseWriter, r *http.Request, c *Call[S]) {
	f, fs := s.At(c), *s.Flows.Face(c.State())
	if fs.Phase == scan.FacePending {
		s.renderQR(w, r, c, f, fs, false)
		return
	}
	provider := f.Provider
	if fs.Provider != "" {
		provider = fs.Provider
	}
	p := s.Page(c, "face", "人脸识别")
	p.Data = web.FaceData{Action: f.URL, Provider: web.ProviderName(provider), AttemptsLeft: fs.AttemptsLeft(),
		Failed: fs.Phase == scan.FaceFailed}
	switch fs.Phase {
	case scan.FaceFailed:
		p.Notices = append(p.Notices, web.Notice{Tone: web.ToneError, Kind: fs.Reason.String(), Text: web.KindText(web.AtFace, fs.Reason, fs.Provider)})
	case scan.FaceUnavailable:
		p.Notices = append(p.Notices, web.Notice{Tone: web.ToneWarn, Kind: fs.Trouble.String(), Text: web.KindText(web.AtFace, fs.Trouble, fs.Provider)})
	}
	if fs.AttemptsLeft() == 0 {
		p.Notices = append(p.Notices, web.Notice{Tone: web.ToneError, Kind: "face_attempts", Text: f.Exhausted})
	}
	s.Flows.Deps.Pages.Render(w, r, http.StatusOK, p)
}

func (s FaceStep[S]) renderQR(w http.ResponseWriter, r *http.Request, c *Call[S], f Face, fs scan.FaceSession, checked bool) {
	p := s.Page(c, "qr", "人脸识别")
	p.Script = true
	p.Data = FaceQRView(fs, f.URL, s.Flows.Deps.DemoPhoneURL, checked)
	p.Notices = FaceNotices(fs)
	s.Flows.Deps.Pages.Render(w, r, http.StatusOK, p)
}

// Submit is the POST of the face page: it starts a verification
// (开始人脸识别, 重新人脸识别, a fresh code) or checks it (我已完成, and
// the page's script when it passed).
func (s FaceStep[S]) Submit(w http.ResponseWriter, r *http.Request, c *Call[S]) {
	f, cur := s.At(c), *s.Flows.Face(c.State())
	if action := r.PostFormValue("action"); action == "start" || action == "retry" || cur.Phase != scan.FacePending {
		if f.Provider == "" {
			http.Redirect(w, r, f.Next, http.StatusSeeOther)
			return
		}
		req := f.Request
		req.ReturnURL = strings.TrimSuffix(s.PublicURL, "/") + f.URL
		if _, err := s.Flows.Deps.Scan.BeginFace(r.Context(), s.Flows.FaceOp(c), cur, f.Provider, req); err != nil && !errors.Is(err, scan.ErrFaceAttempts) {
			UpdateError(w, r, err)
			return
		}
		http.Redirect(w, r, f.URL, http.StatusSeeOther)
		return
	}
	fs, ok := s.poll(w, r, c, f, cur)
	if !ok {
		return
	}
	switch fs.Phase {
	case scan.FacePassed:
		if f.Passed != nil {
			if err := f.Passed(w, r); err != nil {
				httpserver.Error(w, r, http.StatusServiceUnavailable, "", err)
				return
			}
		}
		http.Redirect(w, r, f.Next, http.StatusSeeOther)
	case scan.FacePending:
		s.renderQR(w, r, c, f, fs, true)
	default:
		http.Redirect(w, r, f.URL, http.StatusSeeOther)
	}
}

// Status answers the face QR page's poll.
func (s FaceStep[S]) Status(w http.ResponseWriter, r *http.Request, c *Call[S]) {
	f, cur := s.At(c), *s.Flows.Face(c.State())
	if f.Elsewhere != "" {
		web.JSON(w, web.QRStatus{Phase: string(scan.FacePassed), QRVersion: cur.Generation, Next: f.Elsewhere})
		return
	}
	fs, ok := s.poll(w, r, c, f, cur)
	if !ok {
		return
	}
	out := FaceStatus(fs)
	if fs.Phase == scan.FacePassed {
		out.Next = f.Next
	}
	web.JSON(w, out)
}

// Image is the face QR code as a PNG.
func (s FaceStep[S]) Image(w http.ResponseWriter, r *http.Request, c *Call[S]) {
	web.QRPNG(w, r, s.Flows.Face(c.State()).QR)
}

// poll asks where verification cur stands (the vendor at most once per
// poll interval) and tells f.Polled; on an error it writes the page.
func (s FaceStep[S]) poll(w http.ResponseWriter, r *http.Request, c *Call[S], f Face, cur scan.FaceSession) (scan.FaceSession, bool) {
	fs, err := s.Flows.Deps.Scan.PollFace(r.Context(), s.Flows.FaceOp(c), cur)
	if err != nil {
		UpdateError(w, r, err)
		return fs, false
	}
	if f.Polled != nil {
		f.Polled(cur, fs)
	}
	return fs, true
}
