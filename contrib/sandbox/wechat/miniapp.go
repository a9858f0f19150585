package wechat

import (
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/phone"
)

// sandboxHandler serves the sandbox-defined host wxa.sandbox: what the
// mini-program does on the phone.
//
//	POST /login            wx.login(): {"appid", holder} -> {"code": js_code}
//	POST /getphonenumber   the phone-number button -> {"code": phone code}
//	GET  /face?verify_id=  the page wx.requestFacialVerify opens (points to the virtual phone)
func (s *Sim) sandboxHandler() http.Handler {
	static, _ := fs.Sub(webFS, "web/static")
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s.mintCode(w, r, s.jsCodes, false)
	})
	mux.HandleFunc("POST /getphonenumber", func(w http.ResponseWriter, r *http.Request) {
		s.mintCode(w, r, s.phoneCodes, true)
	})
	mux.HandleFunc("GET /face", s.facePage)
	mux.Handle("GET /sandbox/", http.StripPrefix("/sandbox/", http.FileServerFS(static)))
	return s.inject(mux)
}

// MintRequest is the body of wxa.sandbox's /login and /getphonenumber.
type MintRequest struct {
	AppID string `json:"appid"`
	phone.Holder
}

// decodeMintRequest parses a MintRequest from JSON or a form.
func decodeMintRequest(w http.ResponseWriter, r *http.Request) (MintRequest, error) {
	var req MintRequest
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		dec := json.NewDecoder(io.LimitReader(r.Body, 16<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return req, errors.New("body must be a JSON object")
		}
	} else {
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		if err := r.ParseForm(); err != nil {
			return req, errors.New("form cannot be parsed")
		}
		f := r.PostForm
		req = MintRequest{AppID: f.Get("appid"), Holder: phone.Holder{Citizen: f.Get("citizen"),
			Name: f.Get("name"), IDNumber: f.Get("id_number"), Phone: f.Get("phone")}}
	}
	if req.AppID == "" {
		return req, errors.New("appid is required")
	}
	return req, nil
}

func (s *Sim) mintCode(w http.ResponseWriter, r *http.Request, codes map[string]*grant, needPhone bool) {
	req, err := decodeMintRequest(w, r)
	if err != nil {
		sandboxError(w, http.StatusBadRequest, err.Error())
		return
	}
	if _, ok := s.apps[req.AppID]; !ok {
		sandboxError(w, http.StatusBadRequest, "unknown appid")
		return
	}
	now := s.env.Now()
	holder, err := phone.ResolveHolder(s.env.Citizens, now, req.Holder)
	if err != nil {
		sandboxError(w, http.StatusBadRequest, "citizen: "+err.Error())
		return
	}
	if needPhone && holder.Phone == "" {
		sandboxError(w, http.StatusBadRequest, "the person has no phone number")
		return
	}
	code := newCode()
	s.mu.Lock()
	s.sweepLocked(now)
	codes[code] = &grant{appID: req.AppID, citizen: holder, expires: now.Add(s.opts.CodeTTL)}
	s.mu.Unlock()
	writeJSON(w, map[string]any{"code": code, "expires_in": int(s.opts.CodeTTL / time.Second)})
}

func sandboxError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": "bad_request", "message": msg})
}

// newCode returns a code in WeChat's shape: 32 characters.
func newCode() string {
	c, _ := randomHex(16)
	return c
}

// faceURL is what stands for the mini-program page of a face check.
func (s *Sim) faceURL(verifyID string) string {
	return s.env.URL(SandboxHost, "/face?verify_id="+url.QueryEscape(verifyID))
}

func (s *Sim) facePage(w http.ResponseWriter, r *http.Request) {
	content := s.faceURL(r.URL.Query().Get("verify_id"))
	s.html(w, "landing.html.tmpl", landingPage{
		Title:    "微信人脸核身",
		Text:     "这是沙箱中小程序人脸核身（wx.requestFacialVerify）的入口。请在虚拟手机中完成核验。",
		PhoneURL: s.env.PublicURL + "/phone/?qr=" + url.QueryEscape(content),
	})
}

// avatar serves a plain square avatar for headimgurl.
func (s *Sim) avatar(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) != 4 || parts[0] != "mmopen" || len(parts[2]) < 3 {
		http.NotFound(w, r)
		return
	}
	seed := parts[2]
	img := image.NewRGBA(image.Rect(0, 0, 132, 132))
	c := color.RGBA{R: 80 + seed[0]%150, G: 80 + seed[1]%150, B: 80 + seed[2]%150, A: 255}
	for y := 0; y < 132; y++ {
		for x := 0; x < 132; x++ {
			img.SetRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	_ = png.Encode(&buf, img)
	w.Header().Set("Content-Type", "image/png")
	_, _ = w.Write(buf.Bytes())
}
