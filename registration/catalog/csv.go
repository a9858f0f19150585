package catalog

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// MaxCSVBytes is the largest catalog file ReadCSV accepts.
const MaxCSVBytes = 16 << 20

// maxProblems caps the problems one import reports; a file with more is
// usually in the wrong format altogether.
const maxProblems = 200

// column is one CSV column: its key (used in the header and in messages)
// and the Chinese label an operator may use in the header instead.
type column struct {
	key      string
	label    string
	required bool
}

// columns are the catalog CSV columns in their canonical order. The
// requirement columns may be left out of a file; every other one must be
// present. See README.md.
var columns = []column{
	{"exam_code", "考试代码", true},
	{"exam_name", "考试名称", true},
	{"registration_start", "报名开始时间", true},
	{"registration_end", "报名结束时间", true},
	{"age_reference_date", "年龄计算基准日", true},
	{"area_code", "考区代码", true},
	{"area_name", "考区名称", true},
	{"unit_code", "单位代码", true},
	{"unit_name", "单位名称", true},
	{"position_code", "职位代码", true},
	{"position_name", "职位名称", true},
	{"headcount", "招录人数", true},
	{"education", "学历", false},
	{"degree", "学位", false},
	{"majors", "专业", false},
	{"min_age", "最低年龄", false},
	{"max_age", "最高年龄", false},
	{"political_status", "政治面貌", false},
	{"work_years", "基层工作经历年限", false},
	{"gender", "性别", false},
	{"household", "户籍或生源地", false},
	{"other", "其他条件", false},
}

// Columns returns the CSV column keys in canonical order.
func Columns() []string {
	out := make([]string, len(columns))
	for i, c := range columns {
		out[i] = c.key
	}
	return out
}

// Problem is one reason a catalog file was refused. Message is Chinese
// text for the operator who uploaded the file.
type Problem struct {
	Line    int    // 1-based line in the file; 0 for the file as a whole
	Column  string // column key, or empty
	Message string
}

// ImportError lists every problem found in a catalog file. Nothing of a
// file with problems is imported.
type ImportError struct {
	Problems []Problem
	// Truncated is set when more problems were found than are listed.
	Truncated bool
}

func (e *ImportError) Error() string {
	if len(e.Problems) == 0 {
		return "catalog: invalid CSV"
	}
	return fmt.Sprintf("catalog: %d problem(s) in CSV, first at line %d", len(e.Problems), e.Problems[0].Line)
}

// Lines returns the distinct line numbers with problems, in order.
func (e *ImportError) Lines() []int {
	var out []int
	for _, p := range e.Problems {
		if len(out) == 0 || out[len(out)-1] != p.Line {
			out = append(out, p.Line)
		}
	}
	return out
}

// Time layouts accepted in the CSV. Excel rewrites 2022-02-27 09:00 as
// 2022/2/27 9:00 when it saves, so both forms are read.
var (
	dateTimeLayouts = []string{"2006-1-2 15:04", "2006-1-2 15:04:05", "2006/1/2 15:04", "2006/1/2 15:04:05"}
	dateLayouts     = []string{"2006-1-2", "2006/1/2"}
)

// ReadCSV parses and validates a whole catalog file: the header row names
// the columns (by key or Chinese label, in any order), every other row is
// one position. Lines starting with # are comments. The file may be UTF-8
// (with or without a byte-order mark) or GB18030, the encoding Chinese
// Excel saves CSV in. Every problem is reported in one *ImportError with
// its line number.
func ReadCSV(r io.Reader) (Catalog, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxCSVBytes+1))
	if err != nil {
		return Catalog{}, fmt.Errorf("catalog: read CSV: %w", err)
	}
	if len(data) > MaxCSVBytes {
		return Catalog{}, &ImportError{Problems: []Problem{{Message: fmt.Sprintf("文件超过%dMB", MaxCSVBytes>>20)}}}
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		if data, err = simplifiedchinese.GB18030.NewDecoder().Bytes(data); err != nil {
			return Catalog{}, &ImportError{Problems: []Problem{{Message: "文件编码无法识别，请另存为“CSV UTF-8”格式"}}}
		}
	}
	p := &parser{
		exams:     map[string]seenExam{},
		areas:     map[[2]string]seenArea{},
		units:     map[[2]string]seenUnit{},
		positions: map[[2]string]int{},
	}
	p.read(data)
	if len(p.problems) > 0 {
		return Catalog{}, &ImportError{Problems: p.problems, Truncated: p.truncated}
	}
	p.cat.Sort()
	return p.cat, nil
}

type seenExam struct {
	line int
	exam Exam
}

type seenArea struct {
	line int
	name string
}

type seenUnit struct {
	line int
	area string
	name string
}

type parser struct {
	cat       Catalog
	problems  []Problem
	truncated bool
	index     map[string]int // column key -> field index
	exams     map[string]seenExam
	areas     map[[2]string]seenArea
	units     map[[2]string]seenUnit
	positions map[[2]string]int
}

func (p *parser) problem(line int, col, format string, args ...any) {
	if len(p.problems) >= maxProblems {
		p.truncated = true
		return
	}
	p.problems = append(p.problems, Problem{Line: line, Column: col, Message: fmt.Sprintf(format, args...)})
}

func (p *parser) read(data []byte) {
	r := csv.NewReader(bytes.NewReader(data))
	r.Comment = '#'
	r.FieldsPerRecord = -1
	header := true
	rows := 0
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				p.problem(pe.Line, "", "CSV格式错误：%s", csvErrorText(pe.Err))
			} else {
				p.problem(0, "", "无法读取文件")
			}
			return
		}
		line, _ := r.FieldPos(0)
		if header {
			header = false
			if !p.header(line, rec) {
				return
			}
			continue
		}
		if blank(rec) {
			continue
		}
		rows++
		if len(rec) != len(p.index) {
			p.problem(line, "", "本行有%d列，表头有%d列", len(rec), len(p.index))
			continue
		}
		p.row(line, rec)
		if p.truncated {
			return
		}
	}
	if header {
		p.problem(0, "", "文件为空，第一行应为表头")
		return
	}
	if rows == 0 {
		p.problem(0, "", "文件中没有职位数据")
	}
}

func csvErrorText(err error) string {
	switch {
	case errors.Is(err, csv.ErrBareQuote):
		return "未加引号的字段中出现了引号"
	case errors.Is(err, csv.ErrQuote):
		return "引号不成对"
	}
	return "无法解析"
}

func blank(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

func (p *parser) header(line int, rec []string) bool {
	p.index = map[string]int{}
	ok := true
	for i, h := range rec {
		h = strings.TrimSpace(h)
		key := ""
		for _, c := range columns {
			if h == c.key || h == c.label {
				key = c.key
			}
		}
		switch {
		case key == "":
			p.problem(line, "", "表头中有未知的列“%s”", clip(h))
			ok = false
		case p.has(key):
			p.problem(line, key, "表头中“%s”列重复", key)
			ok = false
		default:
			p.index[key] = i
		}
	}
	for _, c := range columns {
		if c.required && !p.has(c.key) {
			p.problem(line, c.key, "表头缺少“%s”（%s）列", c.key, c.label)
			ok = false
		}
	}
	return ok
}

func (p *parser) has(key string) bool {
	_, ok := p.index[key]
	return ok
}

// row parses one position row and the exam, area and unit it carries.
func (p *parser) row(line int, rec []string) {
	get := func(key string) string {
		if i, ok := p.index[key]; ok {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	bad := len(p.problems)

	exam := Exam{
		Code:         p.code(line, "exam_code", get("exam_code")),
		Name:         p.text(line, "exam_name", get("exam_name"), 100, true),
		Start:        p.dateTime(line, "registration_start", get("registration_start")),
		End:          p.dateTime(line, "registration_end", get("registration_end")),
		AgeReference: p.date(line, "age_reference_date", get("age_reference_date")),
	}
	if !exam.Start.IsZero() && !exam.End.IsZero() && !exam.Start.Before(exam.End) {
		p.problem(line, "registration_end", "报名结束时间应晚于报名开始时间")
	}
	area := Area{ExamCode: exam.Code, Code: p.code(line, "area_code", get("area_code")), Name: p.text(line, "area_name", get("area_name"), 100, true)}
	unit := Unit{ExamCode: exam.Code, AreaCode: area.Code, Code: p.code(line, "unit_code", get("unit_code")), Name: p.text(line, "unit_name", get("unit_name"), 100, true)}
	pos := Position{
		ExamCode:  exam.Code,
		AreaCode:  area.Code,
		UnitCode:  unit.Code,
		Code:      p.code(line, "position_code", get("position_code")),
		Name:      p.text(line, "position_name", get("position_name"), 100, true),
		Headcount: p.number(line, "headcount", get("headcount"), 1, 9999, true),
		Requirements: Requirements{
			Education: p.education(line, get("education")),
			Degree:    p.degree(line, get("degree")),
			Majors:    p.majors(line, get("majors")),
			MinAge:    p.number(line, "min_age", get("min_age"), 16, 70, false),
			MaxAge:    p.number(line, "max_age", get("max_age"), 16, 70, false),
			Political: p.political(line, get("political_status")),
			WorkYears: p.number(line, "work_years", get("work_years"), 0, 40, false),
			Gender:    p.gender(line, get("gender")),
			Household: p.household(line, get("household")),
			Other:     p.text(line, "other", get("other"), 500, false),
		},
	}
	if r := pos.Requirements; r.MinAge > 0 && r.MaxAge > 0 && r.MinAge > r.MaxAge {
		p.problem(line, "max_age", "最高年龄%d小于最低年龄%d", r.MaxAge, r.MinAge)
	}
	if len(p.problems) > bad {
		return
	}
	p.relate(line, exam, area, unit, pos)
}

// relate checks a valid row against the rows before it and adds what is
// new to the catalog.
func (p *parser) relate(line int, exam Exam, area Area, unit Unit, pos Position) {
	if s, ok := p.exams[exam.Code]; ok {
		prev := s.exam
		switch {
		case prev.Name != exam.Name:
			p.problem(line, "exam_name", "考试“%s”的名称与第%d行不一致", exam.Code, s.line)
		case !prev.Start.Equal(exam.Start) || !prev.End.Equal(exam.End):
			p.problem(line, "registration_start", "考试“%s”的报名时间与第%d行不一致", exam.Code, s.line)
		case !prev.AgeReference.Equal(exam.AgeReference):
			p.problem(line, "age_reference_date", "考试“%s”的年龄计算基准日与第%d行不一致", exam.Code, s.line)
		}
	} else {
		p.exams[exam.Code] = seenExam{line, exam}
		p.cat.Exams = append(p.cat.Exams, exam)
	}
	ak := [2]string{exam.Code, area.Code}
	if s, ok := p.areas[ak]; ok {
		if s.name != area.Name {
			p.problem(line, "area_name", "考区“%s”的名称与第%d行不一致", area.Code, s.line)
		}
	} else {
		p.areas[ak] = seenArea{line, area.Name}
		p.cat.Areas = append(p.cat.Areas, area)
	}
	uk := [2]string{exam.Code, unit.Code}
	if s, ok := p.units[uk]; ok {
		switch {
		case s.area != unit.AreaCode:
			p.problem(line, "unit_code", "单位“%s”在第%d行属于考区“%s”，一个单位只能属于一个考区", unit.Code, s.line, s.area)
		case s.name != unit.Name:
			p.problem(line, "unit_name", "单位“%s”的名称与第%d行不一致", unit.Code, s.line)
		}
	} else {
		p.units[uk] = seenUnit{line, unit.AreaCode, unit.Name}
		p.cat.Units = append(p.cat.Units, unit)
	}
	pk := [2]string{exam.Code, pos.Code}
	if first, ok := p.positions[pk]; ok {
		p.problem(line, "position_code", "职位代码“%s”与第%d行重复", pos.Code, first)
		return
	}
	p.positions[pk] = line
	p.cat.Positions = append(p.cat.Positions, pos)
}

func clip(s string) string {
	if utf8.RuneCountInString(s) <= 20 {
		return s
	}
	return string([]rune(s)[:20]) + "…"
}

func (p *parser) code(line int, col, s string) string {
	if s == "" {
		p.problem(line, col, "不能为空")
		return ""
	}
	if !validCode(s) {
		p.problem(line, col, "“%s”不是有效的代码：只能使用字母、数字、-和_，不超过32个字符", clip(s))
		return ""
	}
	return s
}

func (p *parser) text(line int, col, s string, max int, required bool) string {
	switch {
	case s == "" && required:
		p.problem(line, col, "不能为空")
	case utf8.RuneCountInString(s) > max:
		p.problem(line, col, "不能超过%d个字", max)
	case !cleanText(s, col == "other"):
		p.problem(line, col, "含有无法识别的字符或控制字符")
	default:
		return s
	}
	return ""
}

// cleanText reports whether s has no control characters (newlines only
// where multiline is set) and no replacement characters left by a bad
// encoding.
func cleanText(s string, multiline bool) bool {
	for _, r := range s {
		if r == utf8.RuneError || (unicode.IsControl(r) && !(multiline && r == '\n')) {
			return false
		}
	}
	return true
}

func (p *parser) dateTime(line int, col, s string) time.Time {
	if s == "" {
		p.problem(line, col, "不能为空")
		return time.Time{}
	}
	for _, layout := range dateTimeLayouts {
		if t, err := time.ParseInLocation(layout, s, shanghai); err == nil && t.Year() >= 2000 && t.Year() <= 2100 {
			return t
		}
	}
	p.problem(line, col, "“%s”不是有效的时间，应写作“2022-02-27 09:00”（北京时间）", clip(s))
	return time.Time{}
}

func (p *parser) date(line int, col, s string) time.Time {
	if s == "" {
		p.problem(line, col, "不能为空")
		return time.Time{}
	}
	for _, layout := range dateLayouts {
		if t, err := time.ParseInLocation(layout, s, shanghai); err == nil && t.Year() >= 2000 && t.Year() <= 2100 {
			return t
		}
	}
	p.problem(line, col, "“%s”不是有效的日期，应写作“2022-02-27”", clip(s))
	return time.Time{}
}

func (p *parser) number(line int, col, s string, min, max int, required bool) int {
	if s == "" {
		if required {
			p.problem(line, col, "不能为空")
		}
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		p.problem(line, col, "“%s”应为%d到%d之间的整数", clip(s), min, max)
		return 0
	}
	return n
}

func (p *parser) education(line int, s string) Education {
	e, ok := ParseEducation(s)
	if !ok {
		p.problem(line, "education", "无法识别的学历“%s”，可填：高中/中专、大专、本科、硕士研究生、博士研究生或不限", clip(s))
	}
	return e
}

func (p *parser) degree(line int, s string) Degree {
	d, ok := ParseDegree(s)
	if !ok {
		p.problem(line, "degree", "无法识别的学位“%s”，可填：学士、硕士、博士或不限", clip(s))
	}
	return d
}

// splitList splits a list cell on the separators operators use.
func splitList(s string, extra ...string) []string {
	if s == "" || s == "不限" {
		return nil
	}
	seps := append([]string{";", "；", "、", "，", ","}, extra...)
	for _, sep := range seps[1:] {
		s = strings.ReplaceAll(s, sep, seps[0])
	}
	var out []string
	for _, f := range strings.Split(s, seps[0]) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (p *parser) majors(line int, s string) []string {
	var out []string
	for _, m := range splitList(s) {
		m = NormalizeMajor(m)
		switch {
		case utf8.RuneCountInString(m) > 50 || !cleanText(m, false):
			p.problem(line, "majors", "专业“%s”过长或含有无法识别的字符", clip(m))
		case IsCategory(m) && !KnownCategory(m):
			p.problem(line, "majors", "未知的专业类别“%s”，专业类别须为README中列出的类别之一", clip(m))
		default:
			out = append(out, m)
		}
	}
	return out
}

func (p *parser) political(line int, s string) []string {
	var out []string
	for _, v := range splitList(s, "或") {
		if !ValidPolitical(v) {
			p.problem(line, "political_status", "无法识别的政治面貌“%s”", clip(v))
			continue
		}
		out = append(out, v)
	}
	return out
}

func (p *parser) gender(line int, s string) cnid.Gender {
	switch s {
	case "", "不限":
		return 0
	case "男":
		return cnid.Male
	case "女":
		return cnid.Female
	}
	p.problem(line, "gender", "性别“%s”应为男、女或不限", clip(s))
	return 0
}

func (p *parser) household(line int, s string) []string {
	var out []string
	for _, v := range splitList(s, "或") {
		code, ok := regionCode(v)
		if !ok {
			p.problem(line, "household", "未知的地区“%s”，请填写省级代码（如43）、湖南省市州代码（如4301）或其名称", clip(v))
			continue
		}
		out = append(out, code)
	}
	return out
}

// regionCode reads a region written as a code or a name (湖南省长沙市 or
// 长沙市 for a city of Hunan).
func regionCode(s string) (string, bool) {
	if _, ok := RegionName(s); ok {
		return s, true
	}
	for _, r := range Regions() {
		if r.Name == s {
			return r.Code, true
		}
	}
	for _, r := range hunanCities {
		if "湖南省"+r.Name == s {
			return r.Code, true
		}
	}
	return "", false
}

// WriteCSV writes a catalog in the format ReadCSV reads, one row per
// position, with every column and the keys as header.
func WriteCSV(w io.Writer, c Catalog) error {
	exams := map[string]Exam{}
	for _, e := range c.Exams {
		exams[e.Code] = e
	}
	areas := map[[2]string]string{}
	for _, a := range c.Areas {
		areas[[2]string{a.ExamCode, a.Code}] = a.Name
	}
	units := map[[2]string]string{}
	for _, u := range c.Units {
		units[[2]string{u.ExamCode, u.Code}] = u.Name
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(Columns()); err != nil {
		return fmt.Errorf("catalog: write CSV: %w", err)
	}
	for _, p := range c.Positions {
		e := exams[p.ExamCode]
		r := p.Requirements
		rec := []string{
			e.Code, e.Name, formatDateTime(e.Start), formatDateTime(e.End), e.AgeReference.In(shanghai).Format("2006-01-02"),
			p.AreaCode, areas[[2]string{p.ExamCode, p.AreaCode}],
			p.UnitCode, units[[2]string{p.ExamCode, p.UnitCode}],
			p.Code, p.Name, strconv.Itoa(p.Headcount),
			educationCell(r.Education), degreeCell(r.Degree), strings.Join(r.Majors, ";"),
			intCell(r.MinAge), intCell(r.MaxAge), strings.Join(r.Political, ";"), intCell(r.WorkYears),
			genderCell(r.Gender), strings.Join(r.Household, ";"), r.Other,
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("catalog: write CSV: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("catalog: write CSV: %w", err)
	}
	return nil
}

func formatDateTime(t time.Time) string {
	t = t.In(shanghai)
	if t.Second() != 0 {
		return t.Format("2006-01-02 15:04:05")
	}
	return t.Format("2006-01-02 15:04")
}

func educationCell(e Education) string {
	if e == EducationAny {
		return ""
	}
	return e.String()
}

func degreeCell(d Degree) string {
	if d == DegreeNone {
		return ""
	}
	return d.String()
}

func genderCell(g cnid.Gender) string {
	if g == 0 {
		return ""
	}
	return GenderText(g)
}

func intCell(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}
