package registration

import (
	"fmt"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/shiming-id/shiming/registration/catalog"
)

// Page is one of the four personal-information pages of step 3.
type Page string

const (
	PageBasic     Page = "basic"     // 基本信息
	PageEducation Page = "education" // 教育
	PageWork      Page = "work"      // 工作
	PageOther     Page = "other"     // 其他
)

// Pages lists the four pages in the order they are filled.
func Pages() []Page { return []Page{PageBasic, PageEducation, PageWork, PageOther} }

// Label returns the page title, as in the guide.
func (p Page) Label() string {
	switch p {
	case PageBasic:
		return "基本信息"
	case PageEducation:
		return "教育"
	case PageWork:
		return "工作"
	case PageOther:
		return "其他"
	}
	return ""
}

// Valid reports whether p is one of Pages.
func (p Page) Valid() bool { return p.Label() != "" }

// Profile is what the candidate declares on the four pages. A nil page has
// not been saved yet. Name, ID number, birth date and gender are not here:
// they come from the verified Candidate.
type Profile struct {
	Basic     *Basic     `json:"basic,omitempty"`
	Education *Education `json:"education,omitempty"`
	Work      *Work      `json:"work,omitempty"`
	Other     *Other     `json:"other,omitempty"`
}

// Basic is the 基本信息 page.
type Basic struct {
	Ethnicity string `json:"ethnicity"` // 民族
	Political string `json:"political"` // 政治面貌
	Household string `json:"household"` // 户籍所在地, a region code
	Origin    string `json:"origin"`    // 生源地, a region code
	Address   string `json:"address"`   // 通讯地址
	Postcode  string `json:"postcode"`  // 邮政编码
	Email     string `json:"email,omitempty"`
}

// Education is the 教育 page: the highest education.
type Education struct {
	Level         catalog.Education `json:"level"`
	Degree        catalog.Degree    `json:"degree"`
	School        string            `json:"school"`
	Graduated     string            `json:"graduated"` // YYYY-MM
	MajorCategory string            `json:"major_category"`
	Major         string            `json:"major"`
}

// Work is the 工作 page.
type Work struct {
	Employer        string `json:"employer,omitempty"` // 现工作单位
	Title           string `json:"title,omitempty"`    // 职务
	StartedWork     string `json:"started_work,omitempty"`
	GrassrootsYears int    `json:"grassroots_years"` // 基层工作经历年限
	Resume          string `json:"resume,omitempty"` // 工作经历
}

// Other is the 其他 page.
type Other struct {
	Family  string `json:"family"` // 家庭成员及主要社会关系
	Awards  string `json:"awards,omitempty"`
	Remarks string `json:"remarks,omitempty"`
}

// Saved reports whether page p has been saved.
func (p Profile) Saved(page Page) bool {
	switch page {
	case PageBasic:
		return p.Basic != nil
	case PageEducation:
		return p.Education != nil
	case PageWork:
		return p.Work != nil
	case PageOther:
		return p.Other != nil
	}
	return false
}

// Complete reports whether all four pages are saved.
func (p Profile) Complete() bool {
	return p.Basic != nil && p.Education != nil && p.Work != nil && p.Other != nil
}

// Reachable reports whether page may be opened: every page before it must
// have been saved.
func (p Profile) Reachable(page Page) bool {
	for _, q := range Pages() {
		if q == page {
			return true
		}
		if !p.Saved(q) {
			return false
		}
	}
	return false
}

// NextPage returns the first page not yet saved, or PageOther when all
// are.
func (p Profile) NextPage() Page {
	for _, q := range Pages() {
		if !p.Saved(q) {
			return q
		}
	}
	return PageOther
}

// FieldErrors maps a form field name to a Chinese message for the
// candidate.
type FieldErrors map[string]string

// ethnicities are the 56 ethnic groups of China.
var ethnicities = []string{
	"汉族", "蒙古族", "回族", "藏族", "维吾尔族", "苗族", "彝族", "壮族", "布依族", "朝鲜族",
	"满族", "侗族", "瑶族", "白族", "土家族", "哈尼族", "哈萨克族", "傣族", "黎族", "傈僳族",
	"佤族", "畲族", "高山族", "拉祜族", "水族", "东乡族", "纳西族", "景颇族", "柯尔克孜族", "土族",
	"达斡尔族", "仫佬族", "羌族", "布朗族", "撒拉族", "毛南族", "仡佬族", "锡伯族", "阿昌族", "普米族",
	"塔吉克族", "怒族", "乌孜别克族", "俄罗斯族", "鄂温克族", "德昂族", "保安族", "裕固族", "京族", "塔塔尔族",
	"独龙族", "鄂伦春族", "赫哲族", "门巴族", "珞巴族", "基诺族",
}

// Ethnicities lists the 56 ethnic groups, 汉族 first.
func Ethnicities() []string { return append([]string(nil), ethnicities...) }

// form reads trimmed values and collects errors.
type form struct {
	v    url.Values
	errs FieldErrors
}

func (f *form) get(name string) string { return strings.TrimSpace(f.v.Get(name)) }

func (f *form) fail(name, format string, args ...any) {
	if _, ok := f.errs[name]; !ok {
		f.errs[name] = fmt.Sprintf(format, args...)
	}
}

// text reads a free-text field of at most max characters.
func (f *form) text(name, label string, max int, required, multiline bool) string {
	s := f.get(name)
	if multiline {
		s = strings.ReplaceAll(s, "\r\n", "\n")
	}
	switch {
	case s == "" && required:
		f.fail(name, "请填写%s", label)
	case utf8.RuneCountInString(s) > max:
		f.fail(name, "%s不能超过%d个字，现有%d个字", label, max, utf8.RuneCountInString(s))
	case !printable(s, multiline):
		f.fail(name, "%s含有无法识别的字符", label)
	}
	return s
}

func printable(s string, multiline bool) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && r == '\n') {
			return false
		}
	}
	return true
}

// choice reads a field that must be one of options.
func (f *form) choice(name, label string, options []string) string {
	s := f.get(name)
	if s == "" {
		f.fail(name, "请选择%s", label)
		return ""
	}
	for _, o := range options {
		if o == s {
			return s
		}
	}
	f.fail(name, "请从列表中选择%s", label)
	return s
}

// month reads a YYYY-MM field, as <input type="month"> sends it.
func (f *form) month(name, label string, required bool, now time.Time) string {
	s := f.get(name)
	if s == "" {
		if required {
			f.fail(name, "请填写%s", label)
		}
		return ""
	}
	t, err := time.Parse("2006-01", s)
	if err != nil {
		f.fail(name, "%s应按“2021-06”的格式填写年月", label)
		return s
	}
	if t.Year() < 1950 || t.After(now.AddDate(1, 0, 0)) {
		f.fail(name, "%s不在有效范围内", label)
	}
	return s
}

func regionCodes() []string {
	var out []string
	for _, r := range catalog.CandidateRegions() {
		out = append(out, r.Code)
	}
	return out
}

// ParseBasic validates the 基本信息 page.
func ParseBasic(v url.Values) (Basic, FieldErrors) {
	f := &form{v, FieldErrors{}}
	b := Basic{
		Ethnicity: f.choice("ethnicity", "民族", ethnicities),
		Political: f.choice("political", "政治面貌", catalog.PoliticalStatuses()),
		Household: f.choice("household", "户籍所在地", regionCodes()),
		Origin:    f.choice("origin", "生源地", regionCodes()),
		Address:   f.text("address", "通讯地址", 100, true, false),
		Postcode:  f.get("postcode"),
		Email:     f.get("email"),
	}
	if len(b.Postcode) != 6 || strings.Trim(b.Postcode, "0123456789") != "" {
		f.fail("postcode", "邮政编码应为6位数字")
	}
	if b.Email != "" {
		if a, err := mail.ParseAddress(b.Email); err != nil || a.Address != b.Email || len(b.Email) > 100 {
			f.fail("email", "电子邮箱格式不正确，例如 zhangsan@example.com；没有可不填")
		}
	}
	return b, f.errs
}

// Form returns the page as form values, for showing it again.
func (b Basic) Form() url.Values {
	return url.Values{
		"ethnicity": {b.Ethnicity}, "political": {b.Political}, "household": {b.Household}, "origin": {b.Origin},
		"address": {b.Address}, "postcode": {b.Postcode}, "email": {b.Email},
	}
}

// ParseEducation validates the 教育 page; now bounds the graduation month
// (at most a year ahead, for graduates of this year).
func ParseEducation(v url.Values, now time.Time) (Education, FieldErrors) {
	f := &form{v, FieldErrors{}}
	e := Education{
		School:        f.text("school", "毕业院校", 50, true, false),
		Graduated:     f.month("graduated", "毕业时间", true, now),
		MajorCategory: f.get("major_category"),
		Major:         catalog.NormalizeMajor(f.text("major", "所学专业", 50, true, false)),
	}
	level, ok := parseEnum(f.get("level"), len(catalog.Educations()))
	if !ok || level == 0 {
		f.fail("level", "请选择最高学历")
	}
	e.Level = catalog.Education(level)
	degree, ok := parseEnum(f.get("degree"), len(catalog.Degrees())-1)
	if !ok || f.get("degree") == "" {
		f.fail("degree", "请选择最高学位，没有学位请选择“无”")
	}
	e.Degree = catalog.Degree(degree)
	if e.Degree != catalog.DegreeNone && e.Level != 0 && e.Level < catalog.Bachelor {
		f.fail("degree", "取得%s学位的，最高学历应为本科及以上，请核对学历和学位", e.Degree)
	}
	switch {
	case e.MajorCategory == "":
		f.fail("major_category", "请选择专业类别")
	case e.MajorCategory != catalog.OtherCategory && !catalog.KnownCategory(e.MajorCategory):
		f.fail("major_category", "请从列表中选择专业类别")
	default:
		if cat, ok := catalog.CategoryOf(e.Major); ok && cat != e.MajorCategory {
			f.fail("major_category", "“%s”专业属于%s，请选择%s", e.Major, cat, cat)
		}
	}
	return e, f.errs
}

// parseEnum reads a small integer 0..max.
func parseEnum(s string, max int) (int, bool) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > max {
		return 0, false
	}
	return n, true
}

// Form returns the page as form values.
func (e Education) Form() url.Values {
	return url.Values{
		"level": {strconv.Itoa(int(e.Level))}, "degree": {strconv.Itoa(int(e.Degree))}, "school": {e.School},
		"graduated": {e.Graduated}, "major_category": {e.MajorCategory}, "major": {e.Major},
	}
}

// ParseWork validates the 工作 page.
func ParseWork(v url.Values, now time.Time) (Work, FieldErrors) {
	f := &form{v, FieldErrors{}}
	w := Work{
		Employer:    f.text("employer", "现工作单位", 50, false, false),
		Title:       f.text("title", "职务", 30, false, false),
		StartedWork: f.month("started_work", "参加工作时间", false, now),
		Resume:      f.text("resume", "工作经历", 1000, false, true),
	}
	years := f.get("grassroots_years")
	n, err := strconv.Atoi(years)
	switch {
	case years == "":
		f.fail("grassroots_years", "请填写基层工作经历年限，没有请填0")
	case err != nil || n < 0 || n > 50:
		f.fail("grassroots_years", "基层工作经历年限应为0到50之间的整数")
	default:
		w.GrassrootsYears = n
	}
	if w.GrassrootsYears > 0 && w.Resume == "" {
		f.fail("resume", "填写了基层工作经历的，请在工作经历中写明起止年月、单位和职务")
	}
	return w, f.errs
}

// Form returns the page as form values.
func (w Work) Form() url.Values {
	return url.Values{
		"employer": {w.Employer}, "title": {w.Title}, "started_work": {w.StartedWork},
		"grassroots_years": {strconv.Itoa(w.GrassrootsYears)}, "resume": {w.Resume},
	}
}

// ParseOther validates the 其他 page.
func ParseOther(v url.Values) (Other, FieldErrors) {
	f := &form{v, FieldErrors{}}
	o := Other{
		Family:  f.text("family", "家庭成员及主要社会关系", 1000, true, true),
		Awards:  f.text("awards", "奖惩情况", 500, false, true),
		Remarks: f.text("remarks", "备注", 500, false, true),
	}
	return o, f.errs
}

// Form returns the page as form values.
func (o Other) Form() url.Values {
	return url.Values{"family": {o.Family}, "awards": {o.Awards}, "remarks": {o.Remarks}}
}

// Form returns the saved values of page, or nil if it is not saved.
func (p Profile) Form(page Page) url.Values {
	switch {
	case page == PageBasic && p.Basic != nil:
		return p.Basic.Form()
	case page == PageEducation && p.Education != nil:
		return p.Education.Form()
	case page == PageWork && p.Work != nil:
		return p.Work.Form()
	case page == PageOther && p.Other != nil:
		return p.Other.Form()
	}
	return nil
}

// clone returns a deep copy, so that stores never share pages.
func (p Profile) clone() Profile {
	c := Profile{}
	if p.Basic != nil {
		b := *p.Basic
		c.Basic = &b
	}
	if p.Education != nil {
		e := *p.Education
		c.Education = &e
	}
	if p.Work != nil {
		w := *p.Work
		c.Work = &w
	}
	if p.Other != nil {
		o := *p.Other
		c.Other = &o
	}
	return c
}
