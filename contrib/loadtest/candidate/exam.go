package candidate

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
)

// Login signs in with the ID number and password (密码登录) and lands on
// the candidate's home page: a new session.
func (c *Candidate) Login(ctx context.Context) error {
	return c.step(ctx, "login", func() error {
		p, err := c.Post(ctx, "/"+c.env.Portal+"/login/password", url.Values{"id_number": {c.Person.IDNumber}, "password": {c.Password}})
		if err == nil {
			_, err = expect(p, "home")
		}
		return err
	})
}

// The registration forms of a candidate who holds a bachelor's degree in
// statistics, which the sample exam's position 0100101 asks for.
var (
	basicForm = url.Values{
		"ethnicity": {"汉族"}, "political": {"共青团员"}, "household": {"4301"}, "origin": {"4301"},
		"address": {"长沙市岳麓区麓山南路1号"}, "postcode": {"410000"}, "email": {"candidate@example.com"},
	}
	educationForm = url.Values{
		"level": {"3"}, "degree": {"1"}, "school": {"湖南某大学"}, "graduated": {"2019-06"},
		"major_category": {"统计学类"}, "major": {"统计学"},
	}
	workForm  = url.Values{"employer": {"某公司"}, "title": {"职员"}, "started_work": {"2019-07"}, "grassroots_years": {"0"}}
	otherForm = url.Values{"family": {"父 某某 务农\n母 某某 教师"}}
)

var numberRE = regexp.MustCompile(`<dt>报名序号</dt><dd>([0-9]+)</dd>`)

// Apply walks the exam's nine registration steps as a signed-in
// candidate: the pledge, the notice, the four information pages, the
// position, the review terms, the automatic review, the confirmation;
// it ends on the completion page and keeps the registration number.
func (c *Candidate) Apply(ctx context.Context) error {
	base := "/" + c.env.Portal + "/exam/" + c.env.Exam
	steps := []struct {
		name, path string
		form       url.Values
		lands      string
	}{
		{"exam_start", "/start", nil, "/pledge"},
		{"exam_pledge", "/pledge", url.Values{"agree": {"yes"}}, "/notice"},
		{"exam_notice", "/notice", url.Values{"agree": {"yes"}}, "/info"},
		{"exam_info_basic", "/info/basic", basicForm, "/info/education"},
		{"exam_info_education", "/info/education", educationForm, "/info/work"},
		{"exam_info_work", "/info/work", workForm, "/info/other"},
		{"exam_info_other", "/info/other", otherForm, "/info"},
		{"exam_info", "/info", url.Values{}, "/position"},
		{"exam_position", "/position", url.Values{"position": {c.env.Position}}, "/terms"},
		{"exam_terms", "/terms", url.Values{}, "/review"},
		{"exam_review", "/review/next", url.Values{}, "/confirm"},
		{"exam_confirm", "/confirm", url.Values{}, "/complete"},
	}
	for _, s := range steps {
		if err := c.step(ctx, s.name, func() error {
			var p *Page
			var err error
			if s.form == nil {
				p, err = c.Get(ctx, base+s.path)
			} else {
				p, err = c.Post(ctx, base+s.path, s.form)
			}
			if err == nil {
				p, err = expectPath(p, base+s.lands)
			}
			if err == nil && s.lands == "/complete" {
				m := numberRE.FindStringSubmatch(p.Body)
				if m == nil {
					return fmt.Errorf("no registration number on %s", p.URL.Path)
				}
				c.Number = m[1]
			}
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

// Journey is a whole candidate's day: real-name registration with
// provider, sign-in, and the nine registration steps.
func (c *Candidate) Journey(ctx context.Context, provider string, t Trouble) error {
	if err := c.RealName(ctx, provider, t); err != nil {
		return err
	}
	if err := c.Login(ctx); err != nil {
		return err
	}
	return c.Apply(ctx)
}
