package web

import (
	"encoding/csv"
	"errors"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/shiming-id/shiming/registration"
	"github.com/shiming-id/shiming/registration/catalog"
)

// signInOperator logs the test operator in and keeps the session cookie.
func (e *env) signInOperator() {
	e.t.Helper()
	w := e.post("", "/operator/login", url.Values{"username": {"kaowu"}, "password": {"correct horse battery staple"}})
	wantRedirect(e.t, w, "/operator/")
	for _, c := range w.Result().Cookies() {
		if c.Value != "" {
			e.opCook = c
		}
	}
	if e.opCook == nil {
		e.t.Fatal("no operator session cookie")
	}
}

func TestOperatorLogin(t *testing.T) {
	e := newEnv(t)
	wantRedirect(t, e.get("", "/operator/"), "/operator/login")
	wantRedirect(t, e.get("", "/operator/exams/"+examCode+"/stats"), "/operator/login")
	wantPage(t, e.get("", "/operator/login"), http.StatusOK, "考务人员登录")
	wantPage(t, e.post("", "/operator/login", url.Values{"username": {"kaowu"}, "password": {"wrong"}}), http.StatusUnauthorized,
		"用户名或密码错误", `value="kaowu"`)
	wantPage(t, e.post("", "/operator/login", url.Values{"username": {"nobody"}, "password": {"wrong"}}), http.StatusUnauthorized,
		"用户名或密码错误")
	e.signInOperator()
	wantPage(t, e.get("", "/operator/"), http.StatusOK, "考务人员", "kaowu", examCode, "报名人数统计", "导出报名数据")
	if got := len(e.audit.Records("registration.operator_login")); got != 3 {
		t.Errorf("%d login audit records, want 3", got)
	}
	wantRedirect(t, e.post("", "/operator/logout", nil), "/operator/login")
	wantRedirect(t, e.get("", "/operator/"), "/operator/login")
}

func TestCatalogUpload(t *testing.T) {
	e := newEnv(t)
	e.signInOperator()
	before, err := e.store.Catalog(t.Context(), examCode)
	if err != nil {
		t.Fatal(err)
	}

	bad, err := os.ReadFile("../catalog/testdata/two_bad_rows.csv")
	if err != nil {
		t.Fatal(err)
	}
	wantPage(t, e.upload("/operator/catalog", "file", "positions.csv", bad), http.StatusUnprocessableEntity,
		"2处错误", "未导入任何数据", "第4行", "第6行", "研究僧", "与第3行重复")
	if _, err := e.store.Exam(t.Context(), "t2022"); !errors.Is(err, registration.ErrNotFound) {
		t.Errorf("a refused file imported its exam: %v", err)
	}

	// A new version of the sample that drops a position someone chose is
	// refused too.
	e.toPosition("acct-zhang", collegeForm)
	wantRedirect(t, e.post("acct-zhang", base+"/position", url.Values{"position": {"0400301"}}), base+"/terms")
	c, _ := catalog.Sample()
	var kept []catalog.Position
	for _, p := range c.Positions {
		if p.Code != "0400301" {
			kept = append(kept, p)
		}
	}
	c.Positions = kept
	var b strings.Builder
	if err := catalog.WriteCSV(&b, c); err != nil {
		t.Fatal(err)
	}
	wantPage(t, e.upload("/operator/catalog", "file", "positions.csv", []byte(b.String())), http.StatusUnprocessableEntity,
		"已有考生报考", "0400301")
	after, _ := e.store.Catalog(t.Context(), examCode)
	if !reflect.DeepEqual(after, before) {
		t.Error("a refused import changed the catalog")
	}

	good := "exam_code,exam_name,registration_start,registration_end,age_reference_date,area_code,area_name,unit_code,unit_name,position_code,position_name,headcount\n" +
		"t2022,测试考试,2022-06-01 09:00,2022-06-07 17:00,2022-06-01,01,省直,01001,测试单位,0100101,科员,1\n"
	wantPage(t, e.upload("/operator/catalog", "file", "positions.csv", []byte(good)), http.StatusOK, "导入成功", "t2022", "1个职位")
	if _, err := e.store.Exam(t.Context(), "t2022"); err != nil {
		t.Errorf("imported exam missing: %v", err)
	}
	if got := e.audit.Records("registration.catalog_import"); len(got) != 3 || got[2].Detail["result"] != "imported" {
		t.Errorf("import audit = %+v", got)
	}
	wantPage(t, e.do("", http.MethodPost, "/operator/catalog", strings.NewReader(""), "multipart/form-data; boundary=x"),
		http.StatusUnprocessableEntity, "请选择要上传的职位表文件")

	w := e.get("", "/operator/exams/"+examCode+"/catalog.csv")
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/csv") {
		t.Fatalf("catalog download: %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	back, err := catalog.ReadCSV(w.Body)
	if err != nil || len(back.Positions) != len(before.Positions) {
		t.Errorf("downloaded catalog does not read back: %v", err)
	}
}

func TestStats(t *testing.T) {
	e := newEnv(t)
	e.signInOperator()
	e.toConfirm("acct-zhang")
	wantRedirect(t, e.post("acct-zhang", base+"/confirm", nil), base+"/complete")
	w := e.get("", "/operator/exams/"+examCode+"/stats")
	body := wantPage(t, w, http.StatusOK, "报名人数统计", "报考1人，初审通过1人，报名成功1人", "湖南省统计调查中心")
	// The row of 0100101 reads 1, 1, 1.
	row := body[strings.Index(body, "<td>0100101</td>"):]
	row = row[:strings.Index(row, "</tr>")]
	if strings.Count(row, `<td class="reg-num">1</td>`) != 3 {
		t.Errorf("row of 0100101 = %s", row)
	}
	wantPage(t, e.get("", "/operator/exams/nosuch/stats"), http.StatusNotFound)
}

func TestExport(t *testing.T) {
	e := newEnv(t)
	e.signInOperator()
	e.toConfirm("acct-zhang")
	wantRedirect(t, e.post("acct-zhang", base+"/confirm", nil), base+"/complete")
	path := "/operator/exams/" + examCode + "/export"
	wantPage(t, e.get("", path), http.StatusOK, "导出完整身份证号码", "仅导出已完成报名的考生")

	records := func(body string) [][]string {
		t.Helper()
		if !strings.HasPrefix(body, "\ufeff") {
			t.Error("export lacks the UTF-8 byte-order mark")
		}
		rs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(body, "\ufeff"))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}

	// Masked by default.
	w := e.post("", path, url.Values{"complete_only": {"yes"}})
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatalf("export: %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	rs := records(w.Body.String())
	if len(rs) != 2 || rs[0][0] != "报名序号" || rs[1][0] != "000001" || rs[1][1] != "张三" {
		t.Fatalf("export = %q", rs)
	}
	if rs[1][2] != "430***********"+e.zhang.IDNumber()[14:] || rs[1][5] != "138****5678" || strings.Contains(w.Body.String(), e.zhang.IDNumber()) {
		t.Errorf("masked export has %q %q", rs[1][2], rs[1][5])
	}

	// Full ID numbers need a confirmation first; asking alone exports and
	// audits nothing.
	exportsBefore := len(e.audit.Records("registration.export"))
	wantPage(t, e.post("", path, url.Values{"full_id": {"yes"}, "complete_only": {"yes"}}), http.StatusOK,
		"确认导出完整身份证号码", `name="confirm"`, `name="complete_only" value="yes"`)
	if got := len(e.audit.Records("registration.export")); got != exportsBefore {
		t.Errorf("an unconfirmed request was audited as an export")
	}
	w = e.post("", path, url.Values{"full_id": {"yes"}, "confirm": {"yes"}})
	rs = records(w.Body.String())
	if rs[1][2] != e.zhang.IDNumber() {
		t.Errorf("confirmed full export has ID %q", rs[1][2])
	}
	audits := e.audit.Records("registration.export")
	if len(audits) != exportsBefore+1 || audits[len(audits)-1].Actor != "kaowu" || audits[len(audits)-1].Detail["full_id_numbers"] != "true" {
		t.Errorf("export audit = %+v", audits)
	}

	// No audit, no export.
	e.audit.FailWith(errors.New("audit store down"))
	w = e.post("", path, url.Values{})
	wantPage(t, w, http.StatusInternalServerError, "错误编号")
	if strings.Contains(w.Body.String(), "张三") {
		t.Error("data exported without an audit record")
	}
}
