package phone

import (
	"context"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

//go:embed web
var webFS embed.FS

// Config is what the phone needs.
type Config struct {
	Logger   *slog.Logger
	Now      func() time.Time
	Citizens *citizens.Registry
	// Sources are the vendors people act for, asked in this order.
	Sources []Source
	// Inbox holds text messages; nil shows no messages.
	Inbox Inbox
}

// Phone serves the virtual phone page and its JSON API.
type Phone struct {
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	pages *template.Template
}

// New returns the phone. Citizens is required.
func New(cfg Config) (*Phone, error) {
	if cfg.Citizens == nil {
		return nil, errors.New("phone: a citizen registry is required")
	}
	p := &Phone{cfg: cfg, log: cfg.Logger, now: cfg.Now}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	t, err := template.New("phone").Funcs(template.FuncMap{
		"clock":      clock,
		"actionName": actionName,
		"vendorName": vendorName,
	}).ParseFS(webFS, "web/*.tmpl")
	if err != nil {
		return nil, err
	}
	p.pages = t
	return p, nil
}

// Handler serves the phone. Mount it with the "/phone" prefix stripped:
// it serves "/", "/holder", "/act", "/static/…" and "/api/…".
func (p *Phone) Handler() http.Handler {
	static, _ := fs.Sub(webFS, "web/static")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", p.page)
	mux.HandleFunc("POST /holder", p.setHolder)
	mux.HandleFunc("POST /act", p.actForm)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /api/pending", p.apiPending)
	mux.HandleFunc("POST /api/act", p.apiAct)
	mux.HandleFunc("GET /api/sms", p.apiSMS)
	mux.HandleFunc("GET /api/citizens", p.apiCitizens)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "没有这个接口")
	})
	return http.NewCrossOriginProtection().Handler(mux)
}

// itemJSON is an Item on the wire.
type itemJSON struct {
	ID        string    `json:"id"`
	Vendor    string    `json:"vendor"`
	App       string    `json:"app"`
	Kind      string    `json:"kind"`
	Title     string    `json:"title"`
	State     string    `json:"state"`
	QRContent string    `json:"qr_content,omitempty"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	Actions   []Action  `json:"actions"`
}

func toJSON(it Item) itemJSON {
	acts := it.Actions
	if acts == nil {
		acts = []Action{}
	}
	return itemJSON{ID: it.ID, Vendor: it.Vendor, App: it.App, Kind: it.Kind, Title: it.Title, State: it.State,
		QRContent: it.QRContent, Created: it.Created, Expires: it.Expires, Actions: acts}
}

type outcomeJSON struct {
	Redirect string `json:"redirect,omitempty"`
	Message  string `json:"message"`
}

// pending lists every source's waiting items, oldest first.
func (p *Phone) pending(ctx context.Context) []Item {
	var all []Item
	for _, s := range p.cfg.Sources {
		all = append(all, s.Pending(ctx)...)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Created.Before(all[j].Created) })
	return all
}

// find returns the item a QR content or an item id refers to, and its source.
func (p *Phone) find(ctx context.Context, qr, itemID string) (Source, Item, error) {
	if qr != "" {
		for _, s := range p.cfg.Sources {
			if it, ok := s.Lookup(ctx, qr); ok {
				return s, it, nil
			}
		}
		return nil, Item{}, ErrUnknownItem
	}
	for _, s := range p.cfg.Sources {
		for _, it := range s.Pending(ctx) {
			if it.ID == itemID {
				return s, it, nil
			}
		}
	}
	return nil, Item{}, ErrUnknownItem
}

// act performs an action and returns the item as it stands afterwards.
func (p *Phone) act(ctx context.Context, qr, itemID string, action Action, holder citizens.Citizen) (Item, Outcome, error) {
	src, it, err := p.find(ctx, qr, itemID)
	if err != nil {
		return Item{}, Outcome{}, err
	}
	out, err := src.Act(ctx, it.ID, action, holder)
	if err != nil {
		p.log.Info("phone action refused", "vendor", it.Vendor, "kind", it.Kind, "action", string(action), "error", err)
		return it, Outcome{}, err
	}
	if it.QRContent != "" {
		if after, ok := src.Lookup(ctx, it.QRContent); ok && after.ID == it.ID {
			it = after
		}
	}
	p.log.Info("phone action", "vendor", it.Vendor, "kind", it.Kind, "action", string(action),
		"citizen", holderLabel(holder), "state", it.State)
	return it, out, nil
}

func holderLabel(c citizens.Citizen) string {
	if c.Synthetic {
		return "synthetic:" + cnid.MaskID(c.IDNumber)
	}
	return c.Key
}

func knownAction(a Action) bool {
	switch a {
	case Scan, Confirm, Cancel, Pass, Fail, Read:
		return true
	}
	return false
}

// ---- JSON API ----

type actRequest struct {
	QR     string `json:"qr"`
	Item   string `json:"item"`
	Action Action `json:"action"`
	Holder
}

// decodeActRequest parses and checks the body of POST /api/act.
func decodeActRequest(r io.Reader) (actRequest, error) {
	var req actRequest
	dec := json.NewDecoder(io.LimitReader(r, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, errors.New("body must be a JSON object with qr or item, action and citizen")
	}
	if dec.More() {
		return req, errors.New("body must hold one JSON object")
	}
	req.QR = strings.TrimSpace(req.QR)
	req.Item = strings.TrimSpace(req.Item)
	switch {
	case (req.QR == "") == (req.Item == ""):
		return req, errors.New("give exactly one of qr and item")
	case !knownAction(req.Action):
		return req, errors.New("action must be one of scan, confirm, cancel, pass, fail, read")
	case req.Holder.IsZero():
		return req, errors.New("citizen (a key or ID number) or name + id_number is required")
	}
	return req, nil
}

func (p *Phone) apiPending(w http.ResponseWriter, r *http.Request) {
	items := []itemJSON{}
	for _, it := range p.pending(r.Context()) {
		items = append(items, toJSON(it))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (p *Phone) apiAct(w http.ResponseWriter, r *http.Request) {
	req, err := decodeActRequest(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	holder, err := ResolveHolder(p.cfg.Citizens, p.now(), req.Holder)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_citizen", holderProblem(err))
		return
	}
	it, out, err := p.act(r.Context(), req.QR, req.Item, req.Action, holder)
	if err != nil {
		status, code := actStatus(err)
		writeError(w, status, code, actProblem(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"item":    toJSON(it),
		"outcome": outcomeJSON(out),
	})
}

func (p *Phone) apiSMS(w http.ResponseWriter, r *http.Request) {
	phone := strings.TrimSpace(r.URL.Query().Get("phone"))
	if !cnid.ValidPhone(phone) {
		writeError(w, http.StatusBadRequest, "bad_phone", "phone must be a mainland mobile number")
		return
	}
	msgs := []Message{}
	if p.cfg.Inbox != nil {
		msgs = append(msgs, p.cfg.Inbox.Messages(r.Context(), phone)...)
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": msgs})
}

type citizenJSON struct {
	Key          string `json:"key"`
	Name         string `json:"name"`
	IDNumber     string `json:"id_number"`
	Phone        string `json:"phone"`
	Face         string `json:"face"`
	RegistryName string `json:"registry_name"`
	Note         string `json:"note"`
}

func (p *Phone) apiCitizens(w http.ResponseWriter, r *http.Request) {
	out := []citizenJSON{}
	for _, c := range p.cfg.Citizens.All() {
		face := string(c.Face)
		if face == "" {
			face = "passes"
		}
		out = append(out, citizenJSON{c.Key, c.Name, c.IDNumber, c.Phone, face, c.RegistryName, c.Note})
	}
	writeJSON(w, http.StatusOK, map[string]any{"citizens": out})
}

func actStatus(err error) (int, string) {
	switch {
	case errors.Is(err, ErrUnknownItem):
		return http.StatusNotFound, "unknown_item"
	case errors.Is(err, ErrExpired):
		return http.StatusGone, "expired"
	case errors.Is(err, ErrNotAllowed):
		return http.StatusConflict, "not_allowed"
	case errors.Is(err, ErrNoHolder):
		return http.StatusBadRequest, "bad_citizen"
	}
	return http.StatusBadRequest, "refused"
}

func actProblem(err error) string {
	switch {
	case errors.Is(err, ErrUnknownItem):
		return "没有找到这个待办（二维码内容不认识，或已完成）"
	case errors.Is(err, ErrExpired):
		return "二维码或会话已过期"
	case errors.Is(err, ErrNotAllowed):
		return "当前状态下不能进行这个操作"
	}
	return "操作未被接受"
}

func holderProblem(err error) string {
	switch {
	case errors.Is(err, ErrNoHolder):
		return "请指定持有手机的人：citizen（编号或身份证号），或 name + id_number"
	case errors.Is(err, ErrUnknownCitizen):
		return "人口库中没有这个人"
	}
	return "虚构人员需要有效的身份证号和姓名，手机号须为大陆手机号"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]string{"error": code, "message": message})
}

// ---- the page ----

const holderCookie = "sandbox_phone_holder"

// encodeHolder and decodeHolder keep the phone's holder in a cookie.
func encodeHolder(h Holder) string {
	v := url.Values{}
	for k, s := range map[string]string{"c": h.Citizen, "n": h.Name, "i": h.IDNumber, "p": h.Phone} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return base64.RawURLEncoding.EncodeToString([]byte(v.Encode()))
}

func decodeHolder(s string) (Holder, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Holder{}, false
	}
	v, err := url.ParseQuery(string(b))
	if err != nil {
		return Holder{}, false
	}
	h := Holder{Citizen: v.Get("c"), Name: v.Get("n"), IDNumber: v.Get("i"), Phone: v.Get("p")}
	return h, !h.IsZero()
}

func (p *Phone) holder(r *http.Request) (citizens.Citizen, bool) {
	c, err := r.Cookie(holderCookie)
	if err != nil {
		return citizens.Citizen{}, false
	}
	h, ok := decodeHolder(c.Value)
	if !ok {
		return citizens.Citizen{}, false
	}
	person, err := ResolveHolder(p.cfg.Citizens, p.now(), h)
	return person, err == nil
}

type actionView struct {
	Action Action
	Name   string
}

type itemView struct {
	Item
	Buttons []actionView
}

func view(it Item) itemView {
	v := itemView{Item: it}
	for _, a := range it.Actions {
		v.Buttons = append(v.Buttons, actionView{a, actionName(a)})
	}
	return v
}

type pageData struct {
	Holder      *citizens.Citizen
	Citizens    []citizens.Citizen
	Items       []itemView
	QR          string
	Scanned     *itemView
	QRUnknown   bool
	Outcome     *Outcome
	OutcomeItem *itemView
	Problem     string
	Messages    []Message
}

func (p *Phone) render(w http.ResponseWriter, r *http.Request, status int, d pageData) {
	if h, ok := p.holder(r); ok {
		d.Holder = &h
		if p.cfg.Inbox != nil && h.Phone != "" {
			d.Messages = p.cfg.Inbox.Messages(r.Context(), h.Phone)
		}
	}
	d.Citizens = p.cfg.Citizens.All()
	for _, it := range p.pending(r.Context()) {
		d.Items = append(d.Items, view(it))
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := p.pages.ExecuteTemplate(w, "phone.html.tmpl", d); err != nil {
		p.log.Error("phone page", "error", err)
	}
}

func (p *Phone) page(w http.ResponseWriter, r *http.Request) {
	var d pageData
	if qr := strings.TrimSpace(r.URL.Query().Get("qr")); qr != "" {
		d.QR = qr
		if _, it, err := p.find(r.Context(), qr, ""); err == nil {
			v := view(it)
			d.Scanned = &v
		} else {
			d.QRUnknown = true
		}
	}
	p.render(w, r, http.StatusOK, d)
}

func (p *Phone) setHolder(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.render(w, r, http.StatusBadRequest, pageData{Problem: "表单无法解析"})
		return
	}
	cookie := &http.Cookie{Name: holderCookie, Path: "/phone/", HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if r.PostForm.Get("clear") != "" {
		cookie.MaxAge = -1
		http.SetCookie(w, cookie)
		seeOther(w)
		return
	}
	h := Holder{Citizen: r.PostForm.Get("citizen"), Name: r.PostForm.Get("name"),
		IDNumber: r.PostForm.Get("id_number"), Phone: r.PostForm.Get("phone")}
	if h.Citizen != "" {
		h = Holder{Citizen: h.Citizen}
	}
	if _, err := ResolveHolder(p.cfg.Citizens, p.now(), h); err != nil {
		p.render(w, r, http.StatusBadRequest, pageData{Problem: holderProblem(err)})
		return
	}
	cookie.Value = encodeHolder(h)
	http.SetCookie(w, cookie)
	seeOther(w)
}

// seeOther sends the browser back to the page. The Location is relative
// because the handler does not know the prefix it is mounted under.
func seeOther(w http.ResponseWriter) {
	w.Header().Set("Location", "./")
	w.WriteHeader(http.StatusSeeOther)
}

func (p *Phone) actForm(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.render(w, r, http.StatusBadRequest, pageData{Problem: "表单无法解析"})
		return
	}
	holder, ok := p.holder(r)
	if !ok {
		p.render(w, r, http.StatusBadRequest, pageData{Problem: "请先在上方选择持有这部手机的人"})
		return
	}
	action := Action(r.PostForm.Get("action"))
	if !knownAction(action) {
		p.render(w, r, http.StatusBadRequest, pageData{Problem: "未知的操作"})
		return
	}
	it, out, err := p.act(r.Context(), r.PostForm.Get("qr"), r.PostForm.Get("item"), action, holder)
	if err != nil {
		status, _ := actStatus(err)
		p.render(w, r, status, pageData{Problem: actProblem(err)})
		return
	}
	v := view(it)
	p.render(w, r, http.StatusOK, pageData{Outcome: &out, OutcomeItem: &v})
}

// ---- template helpers ----

var shanghai = time.FixedZone("CST", 8*3600)

func clock(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(shanghai).Format("15:04:05")
}

func actionName(a Action) string {
	switch a {
	case Scan:
		return "扫码"
	case Confirm:
		return "确认登录"
	case Cancel:
		return "取消"
	case Pass:
		return "完成人脸核验"
	case Fail:
		return "人脸核验不通过"
	case Read:
		return "读取身份证"
	}
	return string(a)
}

func vendorName(v string) string {
	switch v {
	case "wechat":
		return "微信"
	case "alipay":
		return "支付宝"
	case "ctid":
		return "网证 CTID"
	}
	return v
}
