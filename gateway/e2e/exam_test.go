package e2e_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/shiming-id/shiming/gateway/e2e/chromium"
)

// TestExamRegistration walks the sample exam's nine steps from a login:
// 诚信考试承诺书, 考生考前须知, the four info pages, a position whose
// requirements the candidate does not meet (the automatic review fails
// and says why), 改报职位 to one they meet, 下一步, confirm, submit, 报名成功
// with a registration number that the status page and the printable
// summary show.
func TestExamRegistration(t *testing.T) {
	t.Parallel()
	j := newJourney(t, "c009")
	j.register("wechat")
	j.login()
	d := j.d

	d.Submit(`a[data-action="exam"]`)
	waitTitle(d, "考试报名")
	if txt := d.Text(`table.reg-table`); !strings.Contains(txt, "湖南省2022年考试录用公务员") || !strings.Contains(txt, "报名中") {
		d.Fatalf("the exams list shows %q", txt)
	}
	d.Submit(`table.reg-table a.reg-button`)
	waitTitle(d, "报名状态")
	base := strings.TrimSuffix(d.Location(), "/")
	if got := d.Text(`.reg-actions a.reg-primary`); got != "开始报名" {
		d.Fatalf("the status page offers %q", got)
	}
	d.Submit(`.reg-actions a.reg-primary`)

	// 1 诚信考试承诺书, 2 考生考前须知.
	for _, step := range []struct{ title, agree string }{
		{"诚信考试承诺书", "我同意以上条款"},
		{"考生考前须知", "我已阅读并同意以上条款"},
	} {
		waitTitle(d, step.title)
		if got := strings.TrimSpace(d.Text(`label:has(input[name="agree"])`)); got != step.agree {
			d.Fatalf("%s: the box says %q", step.title, got)
		}
		d.Check(`input[name="agree"]`)
		d.Submit(`form button.reg-primary`)
	}

	// 3 个人信息: four pages, each saved before the next.
	waitTitle(d, "填写个人信息")
	d.Submit(`.reg-actions a.reg-primary`) // 继续填写
	d.WaitFor(`select#ethnicity`)
	d.SelectText(`#ethnicity`, "汉族")
	d.SelectText(`#political`, "共青团员")
	d.SelectText(`#household`, "湖南省常德市")
	d.SelectText(`#origin`, "湖南省常德市")
	d.Fill(`#address`, "湖南省常德市武陵区人民路1号")
	d.Fill(`#postcode`, "415000")
	d.Submit(`form button.reg-primary`)
	d.WaitFor(`select#level`)
	d.SelectText(`#level`, "本科")
	d.SelectText(`#degree`, "学士")
	d.Fill(`#school`, "湖南大学")
	d.Do(chromedp.SetValue(chromedp.CSS(`#graduated`), "2014-06"))
	d.SelectText(`#major_category`, "计算机类")
	d.Fill(`#major`, "计算机科学与技术")
	d.Submit(`form button.reg-primary`)
	d.WaitFor(`#grassroots_years`)
	d.Fill(`#grassroots_years`, "0")
	d.Submit(`form button.reg-primary`)
	d.WaitFor(`textarea#family`)
	d.Fill(`#family`, "父亲 周某 常德市某公司 职员")
	d.Submit(`form button.reg-primary`)
	waitTitle(d, "填写个人信息")
	if txt := d.Text(`table.reg-table`); strings.Count(txt, "已保存") != 4 {
		d.Fatalf("the info pages are not all saved: %q", txt)
	}
	d.Submit(`form button.reg-primary`) // 提交

	// 4 选择职位: first one whose education requirement (硕士研究生) the
	// candidate's 本科 does not meet.
	choosePosition(d, "01", "01001", "0100102")
	waitTitle(d, "初审自动审核条款")
	if txt := d.Text(`.reg-doc`); !strings.Contains(txt, "改报职位") {
		d.Fatalf("the review terms say %q", txt)
	}
	reviewAfterTerms(d, "初审意见")
	if !d.Has(`.reg-fail`) {
		d.Fatalf("the review of a 硕士研究生 position passed a 本科 candidate")
	}
	reasons := d.Text(`.reg-reasons`)
	if !strings.Contains(reasons, "本职位要求学历为硕士研究生及以上，您填写的最高学历为本科") {
		d.Fatalf("the review opinion lists %q", reasons)
	}
	if strings.Contains(reasons, "专业") || strings.Contains(reasons, "年龄") {
		d.Fatalf("the review lists requirements the candidate meets: %q", reasons)
	}
	d.Submit(`form[action$="/review/change-position"] button`) // 改报职位

	// A position they meet: 本科, 学士, 计算机类.
	choosePosition(d, "01", "01002", "0100203")
	reviewAfterTerms(d, "符合报考条件")
	if !d.Has(`.reg-pass`) || d.Has(`.reg-fail`) {
		d.Fatalf("the review of a matching position did not pass")
	}
	if txt := d.Text(`.reg-summary`); !strings.Contains(txt, "0100203") {
		d.Fatalf("the review is about %q", txt)
	}
	d.Submit(`form[action$="/review/next"] button`) // 下一步

	// 确认信息 → 提交 → 报名成功.
	waitTitle(d, "确认信息")
	sheet := d.Text(`.reg-sheet`)
	for _, want := range []string{j.who.Name, "计算机科学与技术", "0100203", "初审自动审核通过"} {
		if !strings.Contains(sheet, want) {
			d.Fatalf("the confirmation lacks %s: %q", want, sheet)
		}
	}
	d.Submit(`form button.reg-primary`)
	waitTitle(d, "报名成功")
	number := d.Text(`.reg-pass dl.reg-summary dd`)
	if !regexp.MustCompile(`^[0-9A-Za-z-]{6,}$`).MatchString(number) {
		d.Fatalf("the registration number is %q", number)
	}
	screenshot(t, d, "exam-complete")

	// The status page and the printable summary show it.
	d.Navigate(base + "/")
	waitTitle(d, "报名状态")
	if txt := d.Text(`.reg-panel`); !strings.Contains(txt, number) || !strings.Contains(txt, "0100203") {
		d.Fatalf("the status page shows %q, not the number %s", txt, number)
	}
	d.Navigate(base + "/print")
	d.WaitFor(`.reg-sheet`)
	if txt := d.Text(`.reg-sheet`); !strings.Contains(txt, number) || !strings.Contains(txt, "初审自动审核通过") || !strings.Contains(txt, j.who.Name) {
		d.Fatalf("the printable summary shows %q", txt)
	}
}

// waitTitle waits for a registration page by its heading.
func waitTitle(d *chromium.Tab, title string) {
	d.Eventually("the page "+title, 20*time.Second, func() bool {
		return d.Count(`h1`) > 0 && d.Text(`h1`) == title
	})
}

// choosePosition picks area, unit and position and submits; an area or
// unit already chosen shows as text, not a link.
func choosePosition(d *chromium.Tab, area, unit, position string) {
	waitTitle(d, "选择报考职位")
	for _, link := range []string{
		`a[href$="/position?area=` + area + `"]`,
		`a[href$="/position?area=` + area + `&unit=` + unit + `"]`,
	} {
		if d.Count(link) > 0 {
			d.Submit(link)
		}
	}
	d.WaitFor(`#p-` + position)
	d.Click(`#p-` + position)
	d.Submit(`form[action$="/position"] button.reg-primary`)
}

// reviewAfterTerms presses 我已知晓 when the review terms show (the
// first time a position is chosen) and waits for the review page titled
// want.
func reviewAfterTerms(d *chromium.Tab, want string) {
	var title string
	d.Eventually("the review terms or "+want, 20*time.Second, func() bool {
		if d.Count(`h1`) > 0 {
			title = d.Text(`h1`)
		}
		return title == "初审自动审核条款" || title == want
	})
	if title == "初审自动审核条款" {
		d.Submit(`form button.reg-primary`)
		waitTitle(d, want)
	}
}
