package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/shiming-id/shiming/registration"
	"github.com/shiming-id/shiming/registration/catalog"
)

// stepPaths are the page of each step, under /{portal}/exam/{exam}.
var stepPaths = map[registration.Step]string{
	registration.StepPledge:       "/pledge",
	registration.StepNotice:       "/notice",
	registration.StepInfo:         "/info",
	registration.StepPosition:     "/position",
	registration.StepTerms:        "/terms",
	registration.StepReviewFailed: "/review",
	registration.StepEligible:     "/review",
	registration.StepConfirm:      "/confirm",
	registration.StepComplete:     "/complete",
}

// stepView is one entry of the step indicator.
type stepView struct {
	Number int
	Label  string
	State  string // done, current, todo
}

func indicator(a registration.Application) []stepView {
	var out []stepView
	for _, s := range registration.Steps() {
		state := "todo"
		switch {
		case a.Done(s):
			state = "done"
		case s == a.Step:
			state = "current"
		}
		out = append(out, stepView{int(s), s.Label(), state})
	}
	return out
}

// cand is a signed-in candidate's request for one exam.
type cand struct {
	portal string
	c      registration.Candidate
	exam   catalog.Exam
	app    registration.Application
	base   string
	out    string // where 完成并退出 posts, or empty
}

func (x *cand) view(title string) *view {
	e := x.exam
	return &view{
		Title: title, Portal: x.portal, Base: x.base, Exam: &e,
		Candidate: newCandidateView(x.c), Steps: indicator(x.app), SignOut: x.out,
	}
}

func (x *cand) stepURL(s registration.Step) string { return x.base + stepPaths[s] }

// signedIn resolves the portal and the candidate; it answers the request
// itself (404 or a redirect to the login) when it returns false.
func (h *Handler) signedIn(w http.ResponseWriter, r *http.Request) (string, registration.Candidate, bool) {
	portal := r.PathValue("portal")
	if !h.validPortal(portal) {
		h.notFound(w, r)
		return "", nil, false
	}
	c, _, err := h.svc.Candidates().Current(r)
	if errors.Is(err, registration.ErrNotSignedIn) {
		next := r.URL.Path
		if r.Method == http.MethodGet && r.URL.RawQuery != "" {
			next += "?" + r.URL.RawQuery
		}
		seeOther(w, r, h.loginURL(portal, next))
		return "", nil, false
	}
	if err != nil {
		h.fail(w, r, err)
		return "", nil, false
	}
	return portal, c, true
}

// load resolves the candidate, the exam and the application.
func (h *Handler) load(w http.ResponseWriter, r *http.Request) (*cand, bool) {
	portal, c, ok := h.signedIn(w, r)
	if !ok {
		return nil, false
	}
	code := r.PathValue("exam")
	e, err := h.svc.Exam(r.Context(), code)
	if isNotFound(err) {
		h.notFound(w, r)
		return nil, false
	}
	if err != nil {
		h.fail(w, r, err)
		return nil, false
	}
	a, err := h.svc.Application(r.Context(), code, c)
	if err != nil {
		h.fail(w, r, err)
		return nil, false
	}
	return &cand{portal: portal, c: c, exam: e, app: a, base: "/" + portal + "/exam/" + url.PathEscape(code), out: h.signOut(portal)}, true
}

// at loads the request and makes sure the application stands at one of
// steps and registration is open. Otherwise it answers: a complete
// application goes to its completion page, a closed window shows when
// registration opens or that it closed, and any other step redirects to
// the step the candidate is at, so no step can be skipped.
func (h *Handler) at(w http.ResponseWriter, r *http.Request, steps ...registration.Step) (*cand, bool) {
	x, ok := h.load(w, r)
	if !ok {
		return nil, false
	}
	if x.app.Step == registration.StepComplete && !slices.Contains(steps, registration.StepComplete) {
		seeOther(w, r, x.stepURL(registration.StepComplete))
		return nil, false
	}
	if win := x.exam.WindowAt(h.svc.Now()); win != catalog.WindowOpen && x.app.Step != registration.StepComplete {
		h.windowPage(w, r, x, win)
		return nil, false
	}
	if !slices.Contains(steps, x.app.Step) {
		seeOther(w, r, x.stepURL(x.app.Step))
		return nil, false
	}
	return x, true
}

// posting loads the request of a step action. The step and the window are
// checked by the Service, which counts refusals in the step metric; only a
// complete application is sent straight to its completion page.
func (h *Handler) posting(w http.ResponseWriter, r *http.Request) (*cand, bool) {
	x, ok := h.load(w, r)
	if !ok || !parseForm(w, r) {
		return nil, false
	}
	if x.app.Step == registration.StepComplete {
		seeOther(w, r, x.stepURL(registration.StepComplete))
		return nil, false
	}
	return x, true
}

type windowData struct {
	Before bool
}

func (h *Handler) windowPage(w http.ResponseWriter, r *http.Request, x *cand, win catalog.Window) {
	title := "报名已结束"
	if win == catalog.WindowBefore {
		title = "报名尚未开始"
	}
	status := http.StatusOK
	if r.Method != http.MethodGet {
		status = http.StatusForbidden
	}
	v := x.view(title)
	v.Data = windowData{Before: win == catalog.WindowBefore}
	h.render(w, r, status, "window", v)
}

// after handles the result of a step action: on success or when the
// application stands elsewhere it redirects to the current step; a closed
// window shows the window page; anything else fails.
func (h *Handler) after(w http.ResponseWriter, r *http.Request, x *cand, a registration.Application, err error) {
	var we *registration.WindowError
	switch {
	case err == nil:
		seeOther(w, r, x.stepURL(a.Step))
	case errors.As(err, &we):
		h.windowPage(w, r, x, we.Window)
	case errors.Is(err, registration.ErrWrongStep), errors.Is(err, registration.ErrIncomplete),
		errors.Is(err, registration.ErrReviewChanged), errors.Is(err, registration.ErrSubmitted):
		fresh, lerr := h.svc.Application(r.Context(), x.exam.Code, x.c)
		if lerr != nil {
			h.fail(w, r, lerr)
			return
		}
		to := x.stepURL(fresh.Step)
		if fresh.Step == registration.StepInfo && !fresh.Profile.Complete() {
			to = x.base + "/info/" + string(fresh.Profile.NextPage())
		}
		seeOther(w, r, to)
	default:
		h.fail(w, r, err)
	}
}

func (h *Handler) examsPage(w http.ResponseWriter, r *http.Request) {
	portal, c, ok := h.signedIn(w, r)
	if !ok {
		return
	}
	exams, err := h.svc.Exams(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	type row struct {
		Exam   catalog.Exam
		Window string
		Link   string
		Step   string
	}
	now := h.svc.Now()
	var rows []row
	for _, e := range exams {
		a, err := h.svc.Application(r.Context(), e.Code, c)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		win := map[catalog.Window]string{catalog.WindowBefore: "未开始", catalog.WindowOpen: "报名中", catalog.WindowClosed: "已结束"}[e.WindowAt(now)]
		step := ""
		if a.Version > 0 {
			step = a.Step.Label()
		}
		rows = append(rows, row{e, win, "/" + portal + "/exam/" + url.PathEscape(e.Code) + "/", step})
	}
	h.render(w, r, http.StatusOK, "exams", &view{Title: "考试报名", Portal: portal, Candidate: newCandidateView(c), Data: rows, SignOut: h.signOut(portal)})
}

func (h *Handler) signOut(portal string) string {
	if h.signOutURL == nil {
		return ""
	}
	return h.signOutURL(portal)
}

type statusData struct {
	Open     bool
	Before   bool
	Complete bool
	App      registration.Application
	Place    *registration.Place
	Next     string
	NextText string
}

// statusPage shows what is done and what is next, at any time.
func (h *Handler) statusPage(w http.ResponseWriter, r *http.Request) {
	x, ok := h.load(w, r)
	if !ok {
		return
	}
	win := x.exam.WindowAt(h.svc.Now())
	d := statusData{
		Open: win == catalog.WindowOpen, Before: win == catalog.WindowBefore, Complete: x.app.Step == registration.StepComplete,
		App: x.app, Next: x.stepURL(x.app.Step),
	}
	switch {
	case x.app.Step == registration.StepComplete:
		d.NextText = "查看报名信息"
	case x.app.Version == 0:
		d.NextText = "开始报名"
	default:
		d.NextText = "继续报名"
	}
	if x.app.PositionCode != "" {
		pl, err := h.svc.Place(r.Context(), x.exam.Code, x.app.PositionCode)
		if err != nil && !isNotFound(err) {
			h.fail(w, r, err)
			return
		}
		if err == nil {
			d.Place = &pl
		}
	}
	v := x.view("报名状态")
	v.Data = d
	h.render(w, r, http.StatusOK, "status", v)
}

// start sends the candidate to the step they are at.
func (h *Handler) start(w http.ResponseWriter, r *http.Request) {
	x, ok := h.at(w, r, registration.Steps()...)
	if !ok {
		return
	}
	seeOther(w, r, x.stepURL(x.app.Step))
}

func (h *Handler) pledgePage(w http.ResponseWriter, r *http.Request) {
	if x, ok := h.at(w, r, registration.StepPledge); ok {
		h.render(w, r, http.StatusOK, "pledge", x.view("诚信考试承诺书"))
	}
}

func (h *Handler) pledgePost(w http.ResponseWriter, r *http.Request) {
	x, ok := h.posting(w, r)
	if !ok {
		return
	}
	a, err := h.svc.Pledge(r.Context(), x.portal, x.exam.Code, x.c, r.PostForm.Get("agree") == "yes")
	if errors.Is(err, registration.ErrNotAgreed) {
		v := x.view("诚信考试承诺书")
		v.Errors = registration.FieldErrors{"agree": "请阅读承诺书后勾选“我同意以上条款”"}
		h.render(w, r, http.StatusUnprocessableEntity, "pledge", v)
		return
	}
	h.after(w, r, x, a, err)
}

func (h *Handler) noticePage(w http.ResponseWriter, r *http.Request) {
	if x, ok := h.at(w, r, registration.StepNotice); ok {
		h.render(w, r, http.StatusOK, "notice", x.view("考生考前须知"))
	}
}

func (h *Handler) noticePost(w http.ResponseWriter, r *http.Request) {
	x, ok := h.posting(w, r)
	if !ok {
		return
	}
	a, err := h.svc.AcceptNotice(r.Context(), x.portal, x.exam.Code, x.c, r.PostForm.Get("agree") == "yes")
	if errors.Is(err, registration.ErrNotAgreed) {
		v := x.view("考生考前须知")
		v.Errors = registration.FieldErrors{"agree": "请阅读考前须知后勾选“我已阅读并同意以上条款”"}
		h.render(w, r, http.StatusUnprocessableEntity, "notice", v)
		return
	}
	h.after(w, r, x, a, err)
}

// parseForm reads a bounded url-encoded body; it answers 400 itself.
func parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "表单无法读取", http.StatusBadRequest)
		return false
	}
	return true
}

type pageLink struct {
	Page      registration.Page
	Label     string
	Saved     bool
	Reachable bool
	Current   bool
}

func pageLinks(p registration.Profile, current registration.Page) []pageLink {
	var out []pageLink
	for _, q := range registration.Pages() {
		out = append(out, pageLink{q, q.Label(), p.Saved(q), p.Reachable(q), q == current})
	}
	return out
}

type infoData struct {
	Pages    []pageLink
	Complete bool
	Next     registration.Page
}

func (h *Handler) infoPage(w http.ResponseWriter, r *http.Request) {
	x, ok := h.at(w, r, registration.StepInfo)
	if !ok {
		return
	}
	v := x.view("填写个人信息")
	v.Data = infoData{Pages: pageLinks(x.app.Profile, ""), Complete: x.app.Profile.Complete(), Next: x.app.Profile.NextPage()}
	h.render(w, r, http.StatusOK, "info", v)
}

func (h *Handler) infoSubmit(w http.ResponseWriter, r *http.Request) {
	x, ok := h.posting(w, r)
	if !ok {
		return
	}
	a, err := h.svc.SubmitInfo(r.Context(), x.portal, x.exam.Code, x.c)
	if errors.Is(err, registration.ErrIncomplete) {
		seeOther(w, r, x.base+"/info/"+string(x.app.Profile.NextPage()))
		return
	}
	h.after(w, r, x, a, err)
}

// infoFormData is what the four page templates need besides the form.
type infoFormData struct {
	Page        registration.Page
	Pages       []pageLink
	Ethnicities []string
	Political   []string
	Regions     []catalog.Region
	Educations  []catalog.Education
	Degrees     []catalog.Degree
	Categories  []catalog.MajorCategory
	Other       string
	Last        bool
}

func (h *Handler) infoView(x *cand, page registration.Page, form url.Values, errs registration.FieldErrors) *view {
	v := x.view(page.Label())
	v.Form = form
	v.Errors = errs
	if len(errs) > 0 {
		v.Message = "本页有填写不正确的项目，请按提示修改后再保存。"
	}
	v.Data = infoFormData{
		Page:        page,
		Pages:       pageLinks(x.app.Profile, page),
		Ethnicities: registration.Ethnicities(),
		Political:   catalog.PoliticalStatuses(),
		Regions:     catalog.CandidateRegions(),
		Educations:  catalog.Educations(),
		Degrees:     catalog.Degrees(),
		Categories:  catalog.MajorCategories(),
		Other:       catalog.OtherCategory,
		Last:        page == registration.PageOther,
	}
	return v
}

// infoPageFor resolves the {page} of an info URL; a page the candidate
// cannot open yet redirects to the first unsaved one.
func (h *Handler) infoPageFor(w http.ResponseWriter, r *http.Request) (*cand, registration.Page, bool) {
	x, ok := h.at(w, r, registration.StepInfo)
	if !ok {
		return nil, "", false
	}
	page := registration.Page(r.PathValue("page"))
	if !page.Valid() {
		h.notFound(w, r)
		return nil, "", false
	}
	if !x.app.Profile.Reachable(page) {
		seeOther(w, r, x.base+"/info/"+string(x.app.Profile.NextPage()))
		return nil, "", false
	}
	return x, page, true
}

func (h *Handler) infoFormPage(w http.ResponseWriter, r *http.Request) {
	x, page, ok := h.infoPageFor(w, r)
	if !ok {
		return
	}
	form := x.app.Profile.Form(page)
	if form == nil {
		form = defaults(page, x.c)
	}
	h.render(w, r, http.StatusOK, "info_"+string(page), h.infoView(x, page, form, nil))
}

// defaults prefills an unsaved page: household and origin from the region
// of the ID number, which is right for most candidates.
func defaults(page registration.Page, c registration.Candidate) url.Values {
	v := url.Values{}
	if page == registration.PageBasic {
		id := c.IDNumber()
		for _, code := range []string{id[:min(4, len(id))], id[:min(2, len(id))]} {
			if catalog.ValidCandidateRegion(code) {
				v.Set("household", code)
				v.Set("origin", code)
				break
			}
		}
		v.Set("ethnicity", "汉族")
	}
	if page == registration.PageWork {
		v.Set("grassroots_years", "0")
	}
	return v
}

func (h *Handler) infoFormPost(w http.ResponseWriter, r *http.Request) {
	x, ok := h.posting(w, r)
	if !ok {
		return
	}
	page := registration.Page(r.PathValue("page"))
	if !page.Valid() {
		h.notFound(w, r)
		return
	}
	a, errs, err := h.svc.SaveInfo(r.Context(), x.portal, x.exam.Code, x.c, page, r.PostForm)
	if err == nil && len(errs) > 0 {
		h.render(w, r, http.StatusUnprocessableEntity, "info_"+string(page), h.infoView(x, page, r.PostForm, errs))
		return
	}
	if err != nil {
		h.after(w, r, x, a, err)
		return
	}
	next := x.base + "/info"
	if i := slices.Index(registration.Pages(), page); i+1 < len(registration.Pages()) {
		next = x.base + "/info/" + string(registration.Pages()[i+1])
	}
	seeOther(w, r, next)
}

type positionRow struct {
	Position   catalog.Position
	Conditions []catalog.Condition
}

// applied returns only the conditions a position sets, to keep the list
// of positions short.
func applied(r catalog.Requirements) []catalog.Condition {
	var out []catalog.Condition
	for _, c := range r.Describe() {
		if c.Value != "不限" {
			out = append(out, c)
		}
	}
	return out
}

type positionData struct {
	Areas     []catalog.Area
	Area      string
	Units     []catalog.Unit
	Unit      string
	UnitName  string
	AreaName  string
	Positions []positionRow
	Chosen    string
}

func (h *Handler) positionPage(w http.ResponseWriter, r *http.Request) {
	x, ok := h.at(w, r, registration.StepPosition)
	if !ok {
		return
	}
	h.renderPosition(w, r, x, http.StatusOK, "")
}

// renderPosition shows the three-level choice: areas, the units of the
// chosen area, the positions of the chosen unit with their requirements.
// The area and unit travel in the query string, so it needs no script.
func (h *Handler) renderPosition(w http.ResponseWriter, r *http.Request, x *cand, status int, problem string) {
	ctx := r.Context()
	d := positionData{Area: r.FormValue("area"), Unit: r.FormValue("unit"), Chosen: x.app.PositionCode}
	if d.Area == "" && d.Unit == "" && x.app.PositionCode != "" {
		if p, err := h.svc.Place(ctx, x.exam.Code, x.app.PositionCode); err == nil {
			d.Area, d.Unit = p.Area.Code, p.Unit.Code
		}
	}
	var err error
	if d.Areas, err = h.svc.Areas(ctx, x.exam.Code); err != nil {
		h.fail(w, r, err)
		return
	}
	for _, a := range d.Areas {
		if a.Code == d.Area {
			d.AreaName = a.Name
		}
	}
	if d.AreaName != "" {
		if d.Units, err = h.svc.Units(ctx, x.exam.Code, d.Area); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	for _, u := range d.Units {
		if u.Code == d.Unit {
			d.UnitName = u.Name
		}
	}
	if d.UnitName != "" {
		ps, err := h.svc.Positions(ctx, x.exam.Code, d.Unit)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		for _, p := range ps {
			d.Positions = append(d.Positions, positionRow{p, applied(p.Requirements)})
		}
	}
	v := x.view("选择报考职位")
	v.Message = problem
	v.Data = d
	h.render(w, r, status, "position", v)
}

func (h *Handler) positionPost(w http.ResponseWriter, r *http.Request) {
	x, ok := h.posting(w, r)
	if !ok {
		return
	}
	a, err := h.svc.ChoosePosition(r.Context(), x.portal, x.exam.Code, x.c, r.PostForm.Get("position"))
	if isNotFound(err) {
		h.renderPosition(w, r, x, http.StatusUnprocessableEntity, "请选择报考职位后再提交。")
		return
	}
	h.after(w, r, x, a, err)
}

func (h *Handler) termsPage(w http.ResponseWriter, r *http.Request) {
	if x, ok := h.at(w, r, registration.StepTerms); ok {
		h.render(w, r, http.StatusOK, "terms", x.view("初审自动审核条款"))
	}
}

func (h *Handler) termsPost(w http.ResponseWriter, r *http.Request) {
	x, ok := h.posting(w, r)
	if !ok {
		return
	}
	a, err := h.svc.AcceptTerms(r.Context(), x.portal, x.exam.Code, x.c)
	h.after(w, r, x, a, err)
}

type reviewData struct {
	App    registration.Application
	Place  registration.Place
	Passed bool
}

func (h *Handler) reviewPage(w http.ResponseWriter, r *http.Request) {
	x, ok := h.at(w, r, registration.StepReviewFailed, registration.StepEligible)
	if !ok {
		return
	}
	pl, err := h.svc.Place(r.Context(), x.exam.Code, x.app.PositionCode)
	if err != nil && !isNotFound(err) {
		h.fail(w, r, err)
		return
	}
	title := "初审意见"
	if x.app.Step == registration.StepEligible {
		title = "符合报考条件"
	}
	v := x.view(title)
	v.Data = reviewData{App: x.app, Place: pl, Passed: x.app.Step == registration.StepEligible}
	h.render(w, r, http.StatusOK, "review", v)
}

func (h *Handler) changePositionPost(w http.ResponseWriter, r *http.Request) {
	x, ok := h.posting(w, r)
	if !ok {
		return
	}
	a, err := h.svc.ChangePosition(r.Context(), x.portal, x.exam.Code, x.c)
	h.after(w, r, x, a, err)
}

func (h *Handler) reapplyPost(w http.ResponseWriter, r *http.Request) {
	x, ok := h.posting(w, r)
	if !ok {
		return
	}
	a, err := h.svc.Reapply(r.Context(), x.portal, x.exam.Code, x.c)
	h.after(w, r, x, a, err)
}

func (h *Handler) proceedPost(w http.ResponseWriter, r *http.Request) {
	x, ok := h.posting(w, r)
	if !ok {
		return
	}
	a, err := h.svc.Proceed(r.Context(), x.portal, x.exam.Code, x.c)
	h.after(w, r, x, a, err)
}

// summaryData is the whole application, for the confirmation, completion
// and print pages.
type summaryData struct {
	App      registration.Application
	Place    registration.Place
	Evidence []registration.Evidence
}

func (h *Handler) summary(w http.ResponseWriter, r *http.Request, x *cand, name, title string) {
	d := summaryData{App: x.app, Evidence: x.c.Evidence()}
	if x.app.PositionCode != "" {
		pl, err := h.svc.Place(r.Context(), x.exam.Code, x.app.PositionCode)
		if err != nil && !isNotFound(err) {
			h.fail(w, r, err)
			return
		}
		d.Place = pl
	}
	v := x.view(title)
	v.Data = d
	h.render(w, r, http.StatusOK, name, v)
}

func (h *Handler) confirmPage(w http.ResponseWriter, r *http.Request) {
	if x, ok := h.at(w, r, registration.StepConfirm); ok {
		h.summary(w, r, x, "confirm", "确认信息")
	}
}

// confirmPost is the final submit. It accepts a complete application too,
// so that a double-click or a replay lands on the completion page; the
// store makes sure only one submit completes it.
func (h *Handler) confirmPost(w http.ResponseWriter, r *http.Request) {
	x, ok := h.load(w, r)
	if !ok || !parseForm(w, r) {
		return
	}
	if x.app.Step != registration.StepConfirm && x.app.Step != registration.StepComplete {
		seeOther(w, r, x.stepURL(x.app.Step))
		return
	}
	a, err := h.svc.Confirm(r.Context(), x.portal, x.exam.Code, x.c)
	h.after(w, r, x, a, err)
}

func (h *Handler) completePage(w http.ResponseWriter, r *http.Request) {
	x, ok := h.load(w, r)
	if !ok {
		return
	}
	if x.app.Step != registration.StepComplete {
		seeOther(w, r, x.stepURL(x.app.Step))
		return
	}
	h.summary(w, r, x, "complete", "报名成功")
}

// printPage is a printable summary of the application so far, available
// at any time.
func (h *Handler) printPage(w http.ResponseWriter, r *http.Request) {
	x, ok := h.load(w, r)
	if !ok {
		return
	}
	if x.app.Version == 0 {
		seeOther(w, r, x.base+"/")
		return
	}
	h.summary(w, r, x, "print", "报名信息表")
}
