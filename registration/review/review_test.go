package review

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk/cnid"
	"github.com/shiming-id/shiming/registration/catalog"
)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// refDay is an age reference day as the catalog stores it: midnight in
// Asia/Shanghai.
func refDay(y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 0, 0, 0, 0, catalog.Location())
}

// fits meets every requirement of strict.
var fits = Applicant{
	BirthDate:     day(1995, 6, 15),
	Gender:        cnid.Male,
	Education:     catalog.Master,
	Degree:        catalog.DegreeMaster,
	Major:         "法学",
	MajorCategory: "法学类",
	Political:     "中共党员",
	WorkYears:     3,
	Household:     "4301",
	Origin:        "4301",
}

var strict = catalog.Requirements{
	Education: catalog.Bachelor,
	Degree:    catalog.DegreeBachelor,
	Majors:    []string{"法学类", "会计学"},
	MinAge:    18,
	MaxAge:    35,
	Political: []string{"中共党员", "中共预备党员"},
	WorkYears: 2,
	Gender:    cnid.Male,
	Household: []string{"43"},
}

var ref2022 = refDay(2022, 2, 27)

func TestCheck(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Applicant)
		req    *catalog.Requirements // nil means strict
		ref    time.Time
		want   []Requirement
		// message, when set, must appear in the first reason.
		message string
	}{
		{name: "meets everything", change: func(*Applicant) {}},
		{name: "no requirements", change: func(a *Applicant) { *a = Applicant{BirthDate: day(2010, 1, 1)} }, req: &catalog.Requirements{}, ref: ref2022},

		{name: "education equal", change: func(a *Applicant) { a.Education = catalog.Bachelor }},
		{name: "education below", change: func(a *Applicant) { a.Education = catalog.College }, want: []Requirement{Education},
			message: "本职位要求学历为本科及以上，您填写的最高学历为大专"},
		{name: "high school below college", change: func(a *Applicant) { a.Education = catalog.HighSchool },
			req: &catalog.Requirements{Education: catalog.College}, want: []Requirement{Education}},
		{name: "doctorate above master", change: func(a *Applicant) { a.Education = catalog.Doctorate },
			req: &catalog.Requirements{Education: catalog.Master}},
		{name: "master below doctorate", change: func(a *Applicant) {},
			req: &catalog.Requirements{Education: catalog.Doctorate}, want: []Requirement{Education}, message: "博士研究生及以上"},

		{name: "degree above", change: func(a *Applicant) { a.Degree = catalog.DegreeDoctor }},
		{name: "no degree", change: func(a *Applicant) { a.Degree = catalog.DegreeNone }, want: []Requirement{Degree},
			message: "本职位要求学位为学士及以上，您填写的最高学位为“无”"},
		{name: "bachelor below master", change: func(a *Applicant) { a.Degree = catalog.DegreeBachelor },
			req: &catalog.Requirements{Degree: catalog.DegreeMaster}, want: []Requirement{Degree}, message: "您填写的最高学位为学士"},

		{name: "major by category", change: func(a *Applicant) { a.Major = "知识产权" }},
		{name: "major exact", change: func(a *Applicant) { a.Major, a.MajorCategory = "会计学", "工商管理类" }},
		{name: "major exact with full-width brackets", change: func(a *Applicant) {
			a.Major, a.MajorCategory = "会计学（注册会计师方向）", "工商管理类"
		},
			req: &catalog.Requirements{Majors: []string{"会计学(注册会计师方向)"}}},
		{name: "major in another category", change: func(a *Applicant) { a.Major, a.MajorCategory = "汉语言文学", "中国语言文学类" },
			want: []Requirement{Major}, message: "本职位要求专业为法学类、会计学，您填写的所学专业为汉语言文学（中国语言文学类）"},
		{name: "major sibling of a listed major", change: func(a *Applicant) { a.Major, a.MajorCategory = "财务管理", "工商管理类" },
			want: []Requirement{Major}},
		{name: "category name typed as major", change: func(a *Applicant) { a.Major, a.MajorCategory = "法学类", "其他" },
			want: []Requirement{Major}},

		{name: "18th birthday on the reference day", change: func(a *Applicant) { a.BirthDate = day(2004, 2, 27) }},
		{name: "18th birthday the day after", change: func(a *Applicant) { a.BirthDate = day(2004, 2, 28) },
			want: []Requirement{Age}, message: "本职位要求年龄为18周岁以上、35周岁以下，按2022年2月27日计算，您的年龄为17周岁"},
		{name: "36th birthday the day after", change: func(a *Applicant) { a.BirthDate = day(1986, 2, 28) }},
		{name: "36th birthday on the reference day", change: func(a *Applicant) { a.BirthDate = day(1986, 2, 27) },
			want: []Requirement{Age}, message: "您的年龄为36周岁"},
		{name: "leap-day birth, the day before the leap birthday", change: func(a *Applicant) { a.BirthDate = day(1988, 2, 29) },
			req: &catalog.Requirements{MaxAge: 35}, ref: refDay(2024, 2, 28)},
		{name: "leap-day birth on leap reference day", change: func(a *Applicant) { a.BirthDate = day(1988, 2, 29) },
			req: &catalog.Requirements{MaxAge: 35}, ref: refDay(2024, 2, 29), want: []Requirement{Age}},
		{name: "leap-day birth, common year 28 February", change: func(a *Applicant) { a.BirthDate = day(2004, 2, 29) },
			req: &catalog.Requirements{MinAge: 18}, ref: refDay(2022, 2, 28), want: []Requirement{Age}, message: "您的年龄为17周岁"},
		{name: "leap-day birth, common year 1 March", change: func(a *Applicant) { a.BirthDate = day(2004, 2, 29) },
			req: &catalog.Requirements{MinAge: 18}, ref: refDay(2022, 3, 1)},
		{name: "only a maximum", change: func(a *Applicant) { a.BirthDate = day(1970, 1, 1) },
			req: &catalog.Requirements{MaxAge: 45}, want: []Requirement{Age}, message: "本职位要求年龄为45周岁以下"},

		{name: "probationary member accepted", change: func(a *Applicant) { a.Political = "中共预备党员" }},
		{name: "league member refused", change: func(a *Applicant) { a.Political = "共青团员" }, want: []Requirement{Political},
			message: "本职位要求政治面貌为中共党员或中共预备党员，您填写的政治面貌为共青团员"},

		{name: "work years equal", change: func(a *Applicant) { a.WorkYears = 2 }},
		{name: "work years short", change: func(a *Applicant) { a.WorkYears = 1 }, want: []Requirement{WorkYears},
			message: "本职位要求具有2年以上基层工作经历，您填写的基层工作经历年限为1年"},
		{name: "no work years", change: func(a *Applicant) { a.WorkYears = 0 }, want: []Requirement{WorkYears}},

		{name: "gender", change: func(a *Applicant) { a.Gender = cnid.Female }, want: []Requirement{Gender},
			message: "本职位限男性报考，您的性别为女"},

		{name: "household by province prefix", change: func(a *Applicant) { a.Household, a.Origin = "4331", "44" }},
		{name: "origin matches where household does not", change: func(a *Applicant) { a.Household, a.Origin = "44", "4306" }},
		{name: "city prefix", change: func(a *Applicant) { a.Household = "4301" },
			req: &catalog.Requirements{Household: []string{"4301"}}},
		{name: "other city", change: func(a *Applicant) { a.Household, a.Origin = "4302", "4302" },
			req: &catalog.Requirements{Household: []string{"4301"}}, want: []Requirement{Household},
			message: "本职位要求户籍或生源地为长沙市，您填写的户籍所在地为湖南省株洲市、生源地为湖南省株洲市"},
		{name: "other province", change: func(a *Applicant) { a.Household, a.Origin = "44", "42" }, want: []Requirement{Household}},

		{name: "every reason at once", change: func(a *Applicant) {
			*a = Applicant{BirthDate: day(1960, 1, 1), Gender: cnid.Female, Education: catalog.HighSchool, Major: "英语",
				MajorCategory: "外国语言文学类", Political: "群众", Household: "11", Origin: "11"}
		}, want: Requirements()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := fits
			tt.change(&a)
			req := strict
			if tt.req != nil {
				req = *tt.req
			}
			ref := ref2022
			if !tt.ref.IsZero() {
				ref = tt.ref
			}
			got := Check(a, req, ref)
			var kinds []Requirement
			for _, r := range got {
				kinds = append(kinds, r.Requirement)
				if r.Message == "" {
					t.Errorf("reason %s has no message", r.Requirement)
				}
			}
			if !slices.Equal(kinds, tt.want) {
				t.Fatalf("Check = %v, want %v (%+v)", kinds, tt.want, got)
			}
			if tt.message != "" && !strings.Contains(got[0].Message, tt.message) {
				t.Errorf("message %q does not contain %q", got[0].Message, tt.message)
			}
		})
	}
}

func TestCheckEducationOrder(t *testing.T) {
	levels := catalog.Educations()
	for i, have := range levels {
		for j, want := range levels {
			got := Check(Applicant{Education: have}, catalog.Requirements{Education: want}, ref2022)
			if fail := len(got) > 0; fail != (i < j) {
				t.Errorf("holding %s for %s及以上: refused = %v", have, want, fail)
			}
		}
	}
}

func TestMajorMatches(t *testing.T) {
	tests := []struct {
		name     string
		accepted []string
		major    string
		category string
		want     bool
	}{
		{"category", []string{"计算机类"}, "软件工程", "计算机类", true},
		{"exact", []string{"会计学"}, "会计学", "工商管理类", true},
		{"spaces ignored", []string{"国际经济与贸易"}, "国际 经济与贸易", "经济与贸易类", true},
		{"exact major does not admit its category", []string{"会计学"}, "审计学", "工商管理类", false},
		{"empty major", []string{"会计学"}, "", "", false},
		{"prefix is not a match", []string{"法学"}, "法学理论", "法学类", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MajorMatches(tt.accepted, tt.major, tt.category); got != tt.want {
				t.Errorf("MajorMatches = %v, want %v", got, tt.want)
			}
		})
	}
}
