// Package catalog describes what candidates can apply for — exams with a
// registration window, exam areas (考区), employer units (单位) and positions
// (职位) with their requirements — and reads and writes it as CSV.
//
// The CSV format is documented in README.md beside this file and in the
// comment lines of the embedded sample (sample/hunan2022.csv).
package catalog

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// shanghai is China Standard Time. China has kept UTC+8 without daylight
// saving since 1991, so a fixed zone is exact for every exam and does not
// depend on the host's tzdata.
var shanghai = time.FixedZone("CST", 8*60*60)

// Location returns the time zone every exam time is written in
// (Asia/Shanghai, UTC+8).
func Location() *time.Location { return shanghai }

// Exam is one recruitment exam and its registration window.
type Exam struct {
	Code string `json:"code"`
	Name string `json:"name"`
	// Start and End bound the registration window: the registration
	// steps are open when Start <= now < End.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// AgeReference is the day on which age limits are counted
	// (midnight, Asia/Shanghai).
	AgeReference time.Time `json:"age_reference"`
}

// Window is where a moment falls relative to a registration window.
type Window int

const (
	WindowBefore Window = iota + 1 // not open yet
	WindowOpen
	WindowClosed // ended
)

// WindowAt reports whether registration is open at now.
func (e Exam) WindowAt(now time.Time) Window {
	switch {
	case now.Before(e.Start):
		return WindowBefore
	case now.Before(e.End):
		return WindowOpen
	}
	return WindowClosed
}

// Area is an exam area (考区), usually a city or the provincial bodies.
type Area struct {
	ExamCode string `json:"exam_code"`
	Code     string `json:"code"`
	Name     string `json:"name"`
}

// Unit is an employer (报考单位) recruiting in one area.
type Unit struct {
	ExamCode string `json:"exam_code"`
	AreaCode string `json:"area_code"`
	Code     string `json:"code"`
	Name     string `json:"name"`
}

// Position is a post (报考职位) a candidate applies for. Its Code is unique
// within the exam.
type Position struct {
	ExamCode     string       `json:"exam_code"`
	AreaCode     string       `json:"area_code"`
	UnitCode     string       `json:"unit_code"`
	Code         string       `json:"code"`
	Name         string       `json:"name"`
	Headcount    int          `json:"headcount"`
	Requirements Requirements `json:"requirements"`
}

// Requirements are the conditions of a position. A zero field sets no
// condition.
type Requirements struct {
	// Education is the lowest accepted education level (…及以上).
	Education Education `json:"education,omitempty"`
	// Degree is the lowest accepted degree (…及以上).
	Degree Degree `json:"degree,omitempty"`
	// Majors lists accepted majors: an entry ending in 类 names a major
	// category (法学类), any other entry a specific major (法学).
	Majors []string `json:"majors,omitempty"`
	// MinAge and MaxAge bound the age in whole years on the exam's
	// AgeReference day, both inclusive (18周岁以上、35周岁以下).
	MinAge int `json:"min_age,omitempty"`
	MaxAge int `json:"max_age,omitempty"`
	// Political lists the accepted political statuses (政治面貌).
	Political []string `json:"political,omitempty"`
	// WorkYears is the least number of years of grassroots work
	// experience (基层工作经历).
	WorkYears int `json:"work_years,omitempty"`
	// Gender restricts the position to one gender.
	Gender cnid.Gender `json:"gender,omitempty"`
	// Household lists region-code prefixes (see Regions) one of which the
	// candidate's household registration (户籍) or origin (生源地) must
	// start with.
	Household []string `json:"household,omitempty"`
	// Other is free text shown to the candidate and not checked.
	Other string `json:"other,omitempty"`
}

// Condition is one requirement in words, for showing a position.
type Condition struct {
	Label string
	Value string
}

// Describe returns the requirements in the words of a recruitment
// announcement, in a fixed order, with 不限 for unset conditions.
func (r Requirements) Describe() []Condition {
	c := []Condition{
		{"学历", orAny(r.Education != EducationAny, r.Education.String()+"及以上")},
		{"学位", orAny(r.Degree != DegreeNone, r.Degree.String()+"及以上")},
		{"专业", orAny(len(r.Majors) > 0, strings.Join(r.Majors, "、"))},
		{"年龄", orAny(r.MinAge > 0 || r.MaxAge > 0, r.AgeText())},
		{"政治面貌", orAny(len(r.Political) > 0, strings.Join(r.Political, "或"))},
		{"基层工作经历", orAny(r.WorkYears > 0, strconv.Itoa(r.WorkYears)+"年以上")},
		{"性别", orAny(r.Gender != 0, GenderText(r.Gender))},
		{"户籍或生源地", orAny(len(r.Household) > 0, RegionNames(r.Household))},
	}
	if r.Other != "" {
		c = append(c, Condition{"其他条件", r.Other})
	}
	return c
}

// AgeText states the age bounds as an announcement does.
func (r Requirements) AgeText() string {
	switch {
	case r.MinAge > 0 && r.MaxAge > 0:
		return fmt.Sprintf("%d周岁以上、%d周岁以下", r.MinAge, r.MaxAge)
	case r.MinAge > 0:
		return fmt.Sprintf("%d周岁以上", r.MinAge)
	case r.MaxAge > 0:
		return fmt.Sprintf("%d周岁以下", r.MaxAge)
	}
	return "不限"
}

func orAny(set bool, s string) string {
	if set {
		return s
	}
	return "不限"
}

// GenderText returns 男 or 女, or 不限 for no gender.
func GenderText(g cnid.Gender) string {
	switch g {
	case cnid.Male:
		return "男"
	case cnid.Female:
		return "女"
	}
	return "不限"
}

// Catalog is every exam, area, unit and position of one import. Areas,
// units and positions refer to their exam and parents by code.
type Catalog struct {
	Exams     []Exam     `json:"exams"`
	Areas     []Area     `json:"areas"`
	Units     []Unit     `json:"units"`
	Positions []Position `json:"positions"`
}

// Sort orders every list by exam code and then by code, the order stores
// return them in.
func (c *Catalog) Sort() {
	slices.SortFunc(c.Exams, func(a, b Exam) int { return strings.Compare(a.Code, b.Code) })
	slices.SortFunc(c.Areas, func(a, b Area) int { return cmp2(a.ExamCode, b.ExamCode, a.Code, b.Code) })
	slices.SortFunc(c.Units, func(a, b Unit) int { return cmp2(a.ExamCode, b.ExamCode, a.Code, b.Code) })
	slices.SortFunc(c.Positions, func(a, b Position) int { return cmp2(a.ExamCode, b.ExamCode, a.Code, b.Code) })
}

func cmp2(a1, b1, a2, b2 string) int {
	if c := strings.Compare(a1, b1); c != 0 {
		return c
	}
	return strings.Compare(a2, b2)
}

// Validate checks that every code is well formed and unique in its scope
// and that every reference resolves, and reports all problems found.
// ReadCSV returns only catalogs that pass it.
func (c Catalog) Validate() error {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	exams := map[string]bool{}
	for _, e := range c.Exams {
		if !validCode(e.Code) || e.Name == "" {
			add("exam %q: bad code or empty name", e.Code)
		}
		if exams[e.Code] {
			add("exam %q: duplicate", e.Code)
		}
		exams[e.Code] = true
		if !e.Start.Before(e.End) {
			add("exam %q: window start is not before its end", e.Code)
		}
	}
	areas := map[[2]string]bool{}
	for _, a := range c.Areas {
		k := [2]string{a.ExamCode, a.Code}
		if !exams[a.ExamCode] || !validCode(a.Code) || a.Name == "" || areas[k] {
			add("area %q of exam %q: unknown exam, bad code, empty name or duplicate", a.Code, a.ExamCode)
		}
		areas[k] = true
	}
	units := map[[2]string]string{}
	for _, u := range c.Units {
		k := [2]string{u.ExamCode, u.Code}
		_, dup := units[k]
		if !areas[[2]string{u.ExamCode, u.AreaCode}] || !validCode(u.Code) || u.Name == "" || dup {
			add("unit %q of exam %q: unknown area, bad code, empty name or duplicate", u.Code, u.ExamCode)
		}
		units[k] = u.AreaCode
	}
	positions := map[[2]string]bool{}
	for _, p := range c.Positions {
		k := [2]string{p.ExamCode, p.Code}
		area, ok := units[[2]string{p.ExamCode, p.UnitCode}]
		if !ok || area != p.AreaCode || !validCode(p.Code) || p.Name == "" || positions[k] || p.Headcount < 1 {
			add("position %q of exam %q: unknown unit, wrong area, bad code, empty name, duplicate or no headcount", p.Code, p.ExamCode)
		}
		positions[k] = true
	}
	if len(errs) > 0 {
		return fmt.Errorf("catalog: %s", strings.Join(errs, "; "))
	}
	return nil
}

// validCode reports whether s is 1 to 32 letters, digits, '-' or '_',
// starting with a letter or digit.
func validCode(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case (c == '-' || c == '_') && i > 0:
		default:
			return false
		}
	}
	return true
}
