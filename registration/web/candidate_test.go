package web

import (
	"context"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk/cnid"
	"github.com/shiming-id/shiming/registration"
	"github.com/shiming-id/shiming/registration/catalog"
	"github.com/shiming-id/shiming/registration/registrationtest"
)

// TestNineSteps walks a candidate through every step: a failed review,
// 重新报考 with corrected education, a passed review, confirmation and
// completion.
func TestNineSteps(t *testing.T) {
	e := newEnv(t)
	const me = "acct-zhang"

	wantRedirect(t, e.get(me, base+"/start"), base+"/pledge")

	// Step 1: the pledge needs its checkbox.
	body := wantPage(t, e.get(me, base+"/pledge"), http.StatusOK,
		"诚信考试承诺书", "我同意以上条款", `aria-current="step"`, "138****5678", "430***********")
	if strings.Contains(body, e.zhang.IDNumber()) || strings.Contains(body, "13812345678") {
		t.Error("a page shows the full ID number or phone")
	}
	// The header names the candidate masked, as the gateway's pages do.
	if strings.Contains(body, e.zhang.Name()) || !strings.Contains(body, cnid.MaskName(e.zhang.Name())) {
		t.Error("the header shows the full name")
	}
	wantPage(t, e.post(me, base+"/pledge", nil), http.StatusUnprocessableEntity, "请阅读承诺书后勾选“我同意以上条款”")
	if got := e.step(me); got != registration.StepPledge {
		t.Fatalf("unticked pledge moved the application to %v", got)
	}
	wantRedirect(t, e.post(me, base+"/pledge", url.Values{"agree": {"yes"}}), base+"/notice")

	// Step 2.
	wantPage(t, e.get(me, base+"/notice"), http.StatusOK, "考生考前须知", "我已阅读并同意以上条款")
	wantPage(t, e.post(me, base+"/notice", nil), http.StatusUnprocessableEntity, "我已阅读并同意以上条款")
	wantRedirect(t, e.post(me, base+"/notice", url.Values{"agree": {"yes"}}), base+"/info")

	// Step 3: four pages in order, with errors shown and input kept.
	wantPage(t, e.get(me, base+"/info"), http.StatusOK, "基本信息", "教育", "工作", "其他", "继续填写")
	wantRedirect(t, e.get(me, base+"/info/education"), base+"/info/basic")
	wantRedirect(t, e.post(me, base+"/info/work", workForm), base+"/info/basic")
	wantPage(t, e.get(me, base+"/info/basic"), http.StatusOK, "张三", "1995年6月15日", `<option value="4301" selected>`)
	bad := url.Values{}
	for k, v := range basicForm {
		bad[k] = v
	}
	bad.Set("postcode", "4100")
	bad.Set("email", "not-an-email")
	bad.Set("address", "长沙市某某路<b>88</b>号")
	wantPage(t, e.post(me, base+"/info/basic", bad), http.StatusUnprocessableEntity,
		"邮政编码应为6位数字", "电子邮箱格式不正确", `value="长沙市某某路&lt;b&gt;88&lt;/b&gt;号"`, `value="4100"`)
	wantRedirect(t, e.post(me, base+"/info/basic", basicForm), base+"/info/education")
	wantPage(t, e.post(me, base+"/info/education", url.Values{"level": {"2"}, "degree": {"1"}, "major_category": {"法学类"}, "major": {"汉语言文学"}}),
		http.StatusUnprocessableEntity, "请填写毕业院校", "最高学历应为本科及以上", "“汉语言文学”专业属于中国语言文学类")
	wantRedirect(t, e.post(me, base+"/info/education", collegeForm), base+"/info/work")
	wantRedirect(t, e.post(me, base+"/info/work", workForm), base+"/info/other")
	wantPage(t, e.post(me, base+"/info/other", url.Values{}), http.StatusUnprocessableEntity, "请填写家庭成员及主要社会关系")
	wantRedirect(t, e.post(me, base+"/info/other", otherForm), base+"/info")
	wantPage(t, e.get(me, base+"/info/basic"), http.StatusOK, "长沙市岳麓区麓山南路1号")
	wantRedirect(t, e.post(me, base+"/info", nil), base+"/position")

	// Step 4: area, then unit, then position with requirements.
	wantPage(t, e.get(me, base+"/position"), http.StatusOK, "省直考区", "长沙考区", "湘西州考区")
	wantPage(t, e.get(me, base+"/position?area=01"), http.StatusOK, "湖南省统计调查中心", "湖南省雁峰监狱")
	wantPage(t, e.get(me, base+"/position?area=01&unit=01001"), http.StatusOK,
		"一级科员（统计）", "本科及以上", "统计学类、经济学类", "18周岁以上、35周岁以下")
	wantPage(t, e.post(me, base+"/position", url.Values{"area": {"01"}, "unit": {"01001"}}), http.StatusUnprocessableEntity, "请选择报考职位")
	wantRedirect(t, e.post(me, base+"/position", url.Values{"position": {"0100101"}}), base+"/terms")

	// Step 5, then a failed review (step 6).
	wantPage(t, e.get(me, base+"/terms"), http.StatusOK, "初审自动审核条款", "我已知晓")
	wantRedirect(t, e.post(me, base+"/terms", nil), base+"/review")
	wantPage(t, e.get(me, base+"/review"), http.StatusOK, "审核未通过",
		"本职位要求学历为本科及以上，您填写的最高学历为大专",
		"本职位要求学位为学士及以上，您填写的最高学位为“无”",
		"本职位要求专业为统计学类、经济学类，您填写的所学专业为法学（法学类）",
		"改报职位", "重新报考")
	wantRedirect(t, e.post(me, base+"/review/next", nil), base+"/review")

	// 重新报考: edit the information, then submit again.
	wantRedirect(t, e.post(me, base+"/review/reapply", nil), base+"/info")
	wantPage(t, e.get(me, base+"/info/education"), http.StatusOK, "湖南某职业学院")
	wantRedirect(t, e.post(me, base+"/info/education", bachelorForm), base+"/info/work")
	wantRedirect(t, e.post(me, base+"/info", nil), base+"/position")
	wantPage(t, e.get(me, base+"/position"), http.StatusOK, `value="0100101" checked`)
	// Terms were accepted once; choosing the position reviews at once.
	wantRedirect(t, e.post(me, base+"/position", url.Values{"position": {"0100101"}}), base+"/review")

	// Step 7: eligible, 下一步.
	wantPage(t, e.get(me, base+"/review"), http.StatusOK, "您符合该职位的报考条件", "下一步")
	wantRedirect(t, e.post(me, base+"/review/reapply", nil), base+"/review")
	wantRedirect(t, e.post(me, base+"/review/next", nil), base+"/confirm")

	// Step 8: confirm; the phone shown is the current one.
	e.zhang.SetPhone("13698765432")
	wantPage(t, e.get(me, base+"/confirm"), http.StatusOK, "确认信息", "136****5432", "湖南某大学", "统计学", "0100101", "一级科员（统计）")
	wantRedirect(t, e.post(me, base+"/confirm", nil), base+"/complete")

	// Step 9.
	wantPage(t, e.get(me, base+"/complete"), http.StatusOK, "报名成功", "000001", "确认和缴费")
	wantRedirect(t, e.get(me, base+"/pledge"), base+"/complete")
	wantRedirect(t, e.post(me, base+"/info/basic", basicForm), base+"/complete")
	wantPage(t, e.get(me, base+"/"), http.StatusOK, "完成报名", "000001", "打印报名信息")
	wantPage(t, e.get(me, base+"/print"), http.StatusOK, "报名信息表", "000001", "print.css")

	a, err := e.store.Application(t.Context(), examCode, me)
	if err != nil {
		t.Fatal(err)
	}
	if a.Step != registration.StepComplete || a.Number != 1 || a.PositionCode != "0100101" || a.Profile.Education.Level != catalog.Bachelor {
		t.Errorf("stored application = %+v", a)
	}
	if got := len(e.audit.Records("registration.submit")); got != 1 {
		t.Errorf("%d submit audit records, want 1", got)
	}
	if got := e.stepCount("hunanpea", "confirm", "ok"); got != 1 {
		t.Errorf("confirm ok count = %v", got)
	}
}

// TestChangePosition takes 改报职位 after a failed review.
func TestChangePosition(t *testing.T) {
	e := newEnv(t)
	li := e.addCandidate("acct-li", time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC), cnid.Female)
	e.toPosition(li.AccountID(), collegeForm)
	// A woman applying for a post for men, with a college diploma for a
	// bachelor post.
	wantRedirect(t, e.post("acct-li", base+"/position", url.Values{"position": {"0200102"}}), base+"/terms")
	wantRedirect(t, e.post("acct-li", base+"/terms", nil), base+"/review")
	wantPage(t, e.get("acct-li", base+"/review"), http.StatusOK, "本职位限男性报考，您的性别为女", "本职位要求学历为本科及以上")

	wantRedirect(t, e.post("acct-li", base+"/review/change-position", nil), base+"/position")
	wantPage(t, e.get("acct-li", base+"/position"), http.StatusOK, "长沙市麓山区人民法院", `value="0200102" checked`)
	wantRedirect(t, e.post("acct-li", base+"/position", url.Values{"position": {"0400301"}}), base+"/review")
	wantPage(t, e.get("acct-li", base+"/review"), http.StatusOK, "您符合该职位的报考条件", "乡镇机关一级科员")
	a, _ := e.store.Application(t.Context(), examCode, "acct-li")
	if a.Review.Outcome != registration.OutcomePassed || a.Review.PositionCode != "0400301" || a.Step != registration.StepEligible {
		t.Errorf("after 改报职位: %+v", a.Review)
	}
}

// TestLaterStepRefused posts and gets every later step from step 2: each
// redirects to the current step and changes nothing.
func TestLaterStepRefused(t *testing.T) {
	e := newEnv(t)
	const me = "acct-zhang"
	wantRedirect(t, e.post(me, base+"/pledge", url.Values{"agree": {"yes"}}), base+"/notice")
	before, _ := e.store.Application(t.Context(), examCode, me)
	tests := []struct {
		method string
		path   string
		form   url.Values
	}{
		{http.MethodGet, base + "/info", nil},
		{http.MethodGet, base + "/info/basic", nil},
		{http.MethodPost, base + "/info/basic", basicForm},
		{http.MethodPost, base + "/info", nil},
		{http.MethodGet, base + "/position?area=01&unit=01001", nil},
		{http.MethodPost, base + "/position", url.Values{"position": {"0100101"}}},
		{http.MethodGet, base + "/terms", nil},
		{http.MethodPost, base + "/terms", nil},
		{http.MethodGet, base + "/review", nil},
		{http.MethodPost, base + "/review/next", nil},
		{http.MethodPost, base + "/review/change-position", nil},
		{http.MethodPost, base + "/review/reapply", nil},
		{http.MethodGet, base + "/confirm", nil},
		{http.MethodPost, base + "/confirm", nil},
		{http.MethodGet, base + "/complete", nil},
		{http.MethodPost, base + "/pledge", url.Values{"agree": {"yes"}}},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			var w = e.get(me, tt.path)
			if tt.method == http.MethodPost {
				w = e.post(me, tt.path, tt.form)
			}
			wantRedirect(t, w, base+"/notice")
		})
	}
	after, _ := e.store.Application(t.Context(), examCode, me)
	if after.Version != before.Version || after.Step != registration.StepNotice {
		t.Errorf("refused requests changed the application: version %d -> %d, step %v", before.Version, after.Version, after.Step)
	}
	if got := e.stepCount("hunanpea", "pledge", "wrong_step"); got != 1 {
		t.Errorf("pledge wrong_step count = %v, want 1", got)
	}
}

// TestParallelFinalSubmit fires the final submit many times at once: one
// application completes, once, and every request lands on the completion
// page.
func TestParallelFinalSubmit(t *testing.T) {
	const n = 12
	var barrier *barrierStore
	e := newEnvWith(t, func(s registration.Store) registration.Store {
		barrier = newBarrierStore(s, n)
		return barrier
	})
	const me = "acct-zhang"
	e.toConfirm(me)
	codes := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			w := e.post(me, base+"/confirm", nil)
			codes[i] = w.Header().Get("Location")
		})
	}
	wg.Wait()
	if barrier.arrived != n {
		t.Fatalf("%d of %d submits reached the store together", barrier.arrived, n)
	}
	for i, loc := range codes {
		if loc != base+"/complete" {
			t.Errorf("request %d went to %q", i, loc)
		}
	}
	a, err := e.store.Application(t.Context(), examCode, me)
	if err != nil || a.Step != registration.StepComplete || a.Number != 1 {
		t.Fatalf("application = %+v, %v", a, err)
	}
	counts, _ := e.store.PositionCounts(t.Context(), examCode)
	if len(counts) != 1 || counts[0].Submitted != 1 {
		t.Errorf("counts = %+v", counts)
	}
	if got := len(e.audit.Records("registration.submit")); got != 1 {
		t.Errorf("%d submit audit records, want 1", got)
	}
	// A replay later returns the same application.
	wantRedirect(t, e.post(me, base+"/confirm", nil), base+"/complete")
	if b, _ := e.store.Application(t.Context(), examCode, me); b.Number != 1 || b.Version != a.Version {
		t.Errorf("a replayed submit changed the application: %+v", b)
	}
}

func TestWindow(t *testing.T) {
	e := newEnv(t)
	const me = "acct-zhang"

	e.clock.Set(time.Date(2022, 2, 27, 8, 59, 59, 0, catalog.Location()))
	wantPage(t, e.get(me, base+"/pledge"), http.StatusOK, "报名尚未开始", "2022年2月27日 09:00", "2022年3月5日 17:00")
	wantPage(t, e.post(me, base+"/pledge", url.Values{"agree": {"yes"}}), http.StatusForbidden, "报名尚未开始")
	if got := e.step(me); got != registration.StepPledge {
		t.Fatalf("a pledge before the window was stored: %v", got)
	}
	wantPage(t, e.get(me, base+"/"), http.StatusOK, "报名尚未开始", "您尚未开始报名")

	e.clock.Set(time.Date(2022, 2, 27, 9, 0, 0, 0, catalog.Location()))
	wantRedirect(t, e.post(me, base+"/pledge", url.Values{"agree": {"yes"}}), base+"/notice")

	e.clock.Set(time.Date(2022, 3, 5, 17, 0, 0, 0, catalog.Location()))
	wantPage(t, e.get(me, base+"/notice"), http.StatusOK, "报名已结束", "不再受理报名")
	wantPage(t, e.post(me, base+"/notice", url.Values{"agree": {"yes"}}), http.StatusForbidden, "报名已结束")
	if got := e.step(me); got != registration.StepNotice {
		t.Fatalf("a step after the window was stored: %v", got)
	}
	wantPage(t, e.get(me, base+"/"), http.StatusOK, "报名已结束", "考生考前须知")
	if got := e.stepCount("hunanpea", "pledge", "outside_window"); got != 1 {
		t.Errorf("pledge outside_window = %v, want 1", got)
	}
}

func TestCompleteAfterWindow(t *testing.T) {
	e := newEnv(t)
	const me = "acct-zhang"
	e.toConfirm(me)
	wantRedirect(t, e.post(me, base+"/confirm", nil), base+"/complete")
	e.clock.Set(time.Date(2022, 3, 6, 9, 0, 0, 0, catalog.Location()))
	wantPage(t, e.get(me, base+"/complete"), http.StatusOK, "报名成功")
	wantPage(t, e.get(me, base+"/print"), http.StatusOK, "000001")
	wantRedirect(t, e.get(me, base+"/start"), base+"/complete")
}

func TestSignInAndPortals(t *testing.T) {
	e := newEnv(t)
	wantRedirect(t, e.get("", base+"/pledge"), "/hunanpea/login?next=%2Fhunanpea%2Fexam%2Fhn2022gwy%2Fpledge")
	wantRedirect(t, e.get("", "/zwfw/exam/hn2022gwy/position?area=01"), "/zwfw/login?next=%2Fzwfw%2Fexam%2Fhn2022gwy%2Fposition%3Farea%3D01")
	wantRedirect(t, e.post("", base+"/pledge", url.Values{"agree": {"yes"}}), "/hunanpea/login?next=%2Fhunanpea%2Fexam%2Fhn2022gwy%2Fpledge")
	wantPage(t, e.get("acct-zhang", "/nosuch/exam/hn2022gwy/pledge"), http.StatusNotFound, "页面不存在")
	wantPage(t, e.get("acct-zhang", "/hxw/exam/nosuch/pledge"), http.StatusNotFound)
	wantPage(t, e.get("acct-zhang", "/hxw/exam/"), http.StatusOK, "湖南省2022年考试录用公务员", "报名中", "未报名", "完成并退出", `action="/hxw/logout"`)
	wantPage(t, e.get("acct-zhang", base+"/info/nosuch"), http.StatusSeeOther)
	for path, want := range map[string]string{"/hxw/exam": "/hxw/exam/", "/hxw/exam/hn2022gwy": "/hxw/exam/hn2022gwy/"} {
		if w := e.get("", path); w.Code != http.StatusMovedPermanently || w.Header().Get("Location") != want {
			t.Errorf("GET %s = %d %q, want 301 to %s", path, w.Code, w.Header().Get("Location"), want)
		}
	}

	// The portal a candidate starts from is kept.
	wantRedirect(t, e.post("acct-zhang", "/hxw/exam/hn2022gwy/pledge", url.Values{"agree": {"yes"}}), "/hxw/exam/hn2022gwy/notice")
	if a, _ := e.store.Application(t.Context(), examCode, "acct-zhang"); a.Portal != "hxw" {
		t.Errorf("portal = %q, want hxw", a.Portal)
	}
}

func TestStatic(t *testing.T) {
	e := newEnv(t)
	for _, name := range []string{"registration.css", "print.css"} {
		w := e.get("", "/static/registration/"+name)
		if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/css") {
			t.Errorf("%s: %d %s", name, w.Code, w.Header().Get("Content-Type"))
		}
	}
}

// TestMountsBesideGateway registers the app on a mux that already holds
// routes like the gateway's, with the gateway serving the static files:
// no pattern conflicts (ServeMux panics on one) and pages link the
// gateway's asset URLs.
func TestMountsBesideGateway(t *testing.T) {
	e := newEnv(t)
	h, err := New(Config{
		Service: e.svc, Operators: &registrationtestOperators{}, OperatorSessions: registrationtest.NewOperatorSessions(),
		ValidPortal: func(p string) bool { return p == "hunanpea" },
		LoginURL:    func(portal, next string) string { return "/" + portal + "/login" },
		StaticURL:   func(name string) string { return "/static/" + name + "?v=1" },
		Portals:     []string{"hunanpea", "hxw"},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	noop := func(http.ResponseWriter, *http.Request) {}
	// The gateway registers per-portal literal routes beside wildcard ones
	// such as /callback/{provider} and /oidc/{issuer}/callback.
	for _, p := range []string{
		"GET /hunanpea/{$}", "GET /hunanpea/login", "POST /hunanpea/login", "POST /hunanpea/logout",
		"GET /hunanpea/realname/{flow}/qr", "GET /callback/{provider}", "GET /oidc/{issuer}/callback",
		"GET /static/shiming.css", "GET /healthz", "GET /{$}",
	} {
		mux.HandleFunc(p, noop)
	}
	err = fs.WalkDir(Static(), ".", func(name string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			mux.HandleFunc("GET /static/"+name, noop)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	h.Register(mux)

	r := httptest.NewRequest(http.MethodGet, base+"/pledge", nil)
	registrationtest.SignIn(r, "acct-zhang")
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	wantPage(t, w, http.StatusOK, `href="/static/registration/registration.css?v=1"`, `href="/static/shiming.css?v=1"`)
}

type registrationtestOperators struct{}

func (registrationtestOperators) Authenticate(context.Context, string, string) error {
	return registration.ErrBadCredentials
}
