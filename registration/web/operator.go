package web

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shiming-id/shiming/registration"
	"github.com/shiming-id/shiming/registration/catalog"
)

// operator resolves the signed-in operator; without one it redirects to
// the operator login and returns false.
func (h *Handler) operator(w http.ResponseWriter, r *http.Request) (string, bool) {
	name, err := h.opSessions.Current(r)
	if errors.Is(err, registration.ErrNotSignedIn) {
		seeOther(w, r, "/operator/login")
		return "", false
	}
	if err != nil {
		h.fail(w, r, err)
		return "", false
	}
	return name, true
}

func (h *Handler) operatorLoginPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "operator_login", &view{Title: "考务人员登录", Form: url.Values{}})
}

func (h *Handler) operatorLoginPost(w http.ResponseWriter, r *http.Request) {
	if !parseForm(w, r) {
		return
	}
	user := strings.TrimSpace(r.PostForm.Get("username"))
	err := h.operators.Authenticate(r.Context(), user, r.PostForm.Get("password"))
	if errors.Is(err, registration.ErrBadCredentials) {
		h.audit(r, "registration.operator_login", user, map[string]string{"result": "refused"})
		v := &view{Title: "考务人员登录", Form: url.Values{"username": {user}}, Message: "用户名或密码错误。"}
		h.render(w, r, http.StatusUnauthorized, "operator_login", v)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.opSessions.SignIn(w, r, user); err != nil {
		h.fail(w, r, err)
		return
	}
	h.audit(r, "registration.operator_login", user, map[string]string{"result": "signed_in"})
	seeOther(w, r, "/operator/")
}

func (h *Handler) operatorLogout(w http.ResponseWriter, r *http.Request) {
	if err := h.opSessions.SignOut(w, r); err != nil {
		h.fail(w, r, err)
		return
	}
	seeOther(w, r, "/operator/login")
}

// audit records an operator event; a failure is logged, not shown.
func (h *Handler) audit(r *http.Request, kind, actor string, detail map[string]string) {
	if err := h.svc.Audit(r.Context(), kind, actor, detail); err != nil {
		h.log.ErrorContext(r.Context(), "registration/web: audit", "kind", kind, "err", err)
	}
}

type examRow struct {
	Exam   catalog.Exam
	Window string
}

func windowText(e catalog.Exam, now time.Time) string {
	switch e.WindowAt(now) {
	case catalog.WindowBefore:
		return "未开始"
	case catalog.WindowOpen:
		return "报名中"
	}
	return "已结束"
}

func (h *Handler) operatorHome(w http.ResponseWriter, r *http.Request) {
	op, ok := h.operator(w, r)
	if !ok {
		return
	}
	exams, err := h.svc.Exams(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var rows []examRow
	for _, e := range exams {
		rows = append(rows, examRow{e, windowText(e, h.svc.Now())})
	}
	h.render(w, r, http.StatusOK, "operator_home", &view{Title: "考务管理", Operator: op, Data: rows})
}

type catalogData struct {
	Problems  []catalog.Problem
	Truncated bool
	Summary   *registration.ImportSummary
	InUse     *registration.PositionInUseError
	Columns   []string
}

func (h *Handler) catalogPage(w http.ResponseWriter, r *http.Request) {
	op, ok := h.operator(w, r)
	if !ok {
		return
	}
	h.render(w, r, http.StatusOK, "operator_catalog", &view{Title: "导入职位表", Operator: op, Data: catalogData{Columns: catalog.Columns()}})
}

// catalogPost imports an uploaded catalog CSV: every bad line is listed
// and nothing is imported unless the whole file is valid.
func (h *Handler) catalogPost(w http.ResponseWriter, r *http.Request) {
	op, ok := h.operator(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, catalog.MaxCSVBytes+1<<20)
	v := &view{Title: "导入职位表", Operator: op}
	d := catalogData{Columns: catalog.Columns()}
	f, _, err := r.FormFile("file")
	if err != nil {
		v.Message = "请选择要上传的职位表文件（CSV格式，不超过16MB）。"
		v.Data = d
		h.render(w, r, http.StatusUnprocessableEntity, "operator_catalog", v)
		return
	}
	defer f.Close()
	sum, err := h.svc.ImportCatalog(r.Context(), op, f)
	var ie *catalog.ImportError
	var inUse *registration.PositionInUseError
	switch {
	case errors.As(err, &ie):
		d.Problems, d.Truncated = ie.Problems, ie.Truncated
		v.Message = fmt.Sprintf("职位表有%d处错误，未导入任何数据。请修改后重新上传。", len(ie.Problems))
	case errors.As(err, &inUse):
		d.InUse = inUse
		v.Message = "新职位表删除了已有考生报考的职位，未导入任何数据。"
	case err != nil:
		h.fail(w, r, err)
		return
	default:
		d.Summary = &sum
	}
	v.Data = d
	status := http.StatusOK
	if err != nil {
		status = http.StatusUnprocessableEntity
	}
	h.render(w, r, status, "operator_catalog", v)
}

func (h *Handler) operatorExam(w http.ResponseWriter, r *http.Request) (string, catalog.Exam, bool) {
	op, ok := h.operator(w, r)
	if !ok {
		return "", catalog.Exam{}, false
	}
	e, err := h.svc.Exam(r.Context(), r.PathValue("exam"))
	if isNotFound(err) {
		h.notFound(w, r)
		return "", catalog.Exam{}, false
	}
	if err != nil {
		h.fail(w, r, err)
		return "", catalog.Exam{}, false
	}
	return op, e, true
}

func (h *Handler) catalogDownload(w http.ResponseWriter, r *http.Request) {
	_, e, ok := h.operatorExam(w, r)
	if !ok {
		return
	}
	c, err := h.svc.Catalog(r.Context(), e.Code)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var buf bytes.Buffer
	buf.WriteString("\ufeff")
	if err := catalog.WriteCSV(&buf, c); err != nil {
		h.fail(w, r, err)
		return
	}
	sendCSV(w, e.Code+"-catalog.csv", buf.Bytes())
}

func sendCSV(w http.ResponseWriter, name string, data []byte) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(data)
}

type statsData struct {
	Rows      []registration.PositionStats
	At        time.Time
	Headcount int
	Totals    registration.PositionCount
}

func (h *Handler) statsPage(w http.ResponseWriter, r *http.Request) {
	op, e, ok := h.operatorExam(w, r)
	if !ok {
		return
	}
	rows, err := h.svc.Stats(r.Context(), e.Code)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d := statsData{Rows: rows, At: h.svc.Now()}
	for _, s := range rows {
		d.Headcount += s.Position.Headcount
		d.Totals.Applicants += s.Applicants
		d.Totals.Passed += s.Passed
		d.Totals.Submitted += s.Submitted
	}
	h.render(w, r, http.StatusOK, "operator_stats", &view{Title: "报名人数统计", Operator: op, Exam: &e, Data: d})
}

func (h *Handler) exportPage(w http.ResponseWriter, r *http.Request) {
	op, e, ok := h.operatorExam(w, r)
	if !ok {
		return
	}
	h.render(w, r, http.StatusOK, "operator_export", &view{Title: "导出报名数据", Operator: op, Exam: &e, Form: url.Values{"complete_only": {"yes"}}})
}

// exportPost sends the export. Full ID numbers need the checkbox
// 导出完整身份证号码 and then an explicit confirmation on a second page.
func (h *Handler) exportPost(w http.ResponseWriter, r *http.Request) {
	op, e, ok := h.operatorExam(w, r)
	if !ok || !parseForm(w, r) {
		return
	}
	opts := registration.ExportOptions{
		FullIDNumbers: r.PostForm.Get("full_id") == "yes",
		CompleteOnly:  r.PostForm.Get("complete_only") == "yes",
	}
	if opts.FullIDNumbers && r.PostForm.Get("confirm") != "yes" {
		v := &view{Title: "确认导出完整身份证号码", Operator: op, Exam: &e, Form: r.PostForm}
		h.render(w, r, http.StatusOK, "operator_export_confirm", v)
		return
	}
	data, _, err := h.svc.Export(r.Context(), op, e.Code, opts)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	name := e.Code + "-applications-" + h.svc.Now().In(catalog.Location()).Format("20060102-1504")
	if opts.FullIDNumbers {
		name += "-full"
	}
	sendCSV(w, name+".csv", data)
}
