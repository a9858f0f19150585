package catalog

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

const header = "exam_code,exam_name,registration_start,registration_end,age_reference_date,area_code,area_name,unit_code,unit_name,position_code,position_name,headcount,education,degree,majors,min_age,max_age,political_status,work_years,gender,household,other\n"

const examCells = "t2022,测试考试,2022-02-27 09:00,2022-03-05 17:00,2022-02-27,"

// row returns one CSV line of a valid position with some cells replaced.
func row(cells map[string]string) string {
	base := map[string]string{
		"exam_code": "t2022", "exam_name": "测试考试", "registration_start": "2022-02-27 09:00",
		"registration_end": "2022-03-05 17:00", "age_reference_date": "2022-02-27",
		"area_code": "01", "area_name": "省直", "unit_code": "01001", "unit_name": "单位",
		"position_code": "P1", "position_name": "科员", "headcount": "1",
	}
	var out []string
	for _, k := range Columns() {
		v, ok := cells[k]
		if !ok {
			v = base[k]
		}
		out = append(out, v)
	}
	return strings.Join(out, ",") + "\n"
}

func readFile(t *testing.T, name string) (Catalog, error) {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return ReadCSV(f)
}

func TestSample(t *testing.T) {
	c, err := Sample()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Exams) != 1 || len(c.Areas) < 3 || len(c.Units) < 20 || len(c.Positions) < 60 {
		t.Fatalf("sample has %d exams, %d areas, %d units, %d positions", len(c.Exams), len(c.Areas), len(c.Units), len(c.Positions))
	}
	e := c.Exams[0]
	wantStart := time.Date(2022, 2, 27, 9, 0, 0, 0, Location())
	wantEnd := time.Date(2022, 3, 5, 17, 0, 0, 0, Location())
	if !e.Start.Equal(wantStart) || !e.End.Equal(wantEnd) {
		t.Errorf("window = %v .. %v, want %v .. %v", e.Start, e.End, wantStart, wantEnd)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("sample does not validate: %v", err)
	}
	// The sample must exercise every kind of requirement.
	var edu, deg, maj, age, pol, work, gender, house bool
	for _, p := range c.Positions {
		r := p.Requirements
		edu = edu || r.Education != EducationAny
		deg = deg || r.Degree != DegreeNone
		maj = maj || len(r.Majors) > 0
		age = age || r.MaxAge > 0
		pol = pol || len(r.Political) > 0
		work = work || r.WorkYears > 0
		gender = gender || r.Gender != 0
		house = house || len(r.Household) > 0
	}
	if !(edu && deg && maj && age && pol && work && gender && house) {
		t.Errorf("sample lacks a requirement kind: education %v degree %v majors %v age %v political %v work %v gender %v household %v",
			edu, deg, maj, age, pol, work, gender, house)
	}
}

func TestSampleOpenAt(t *testing.T) {
	for _, now := range []time.Time{
		time.Date(2026, 7, 1, 0, 30, 0, 0, Location()),
		time.Date(2026, 7, 1, 8, 59, 0, 0, Location()),
		time.Date(2026, 7, 1, 23, 59, 0, 0, Location()),
		time.Date(2021, 1, 1, 12, 0, 0, 0, time.UTC),
	} {
		c, err := SampleOpenAt(now)
		if err != nil {
			t.Fatal(err)
		}
		e := c.Exams[0]
		if e.WindowAt(now) != WindowOpen {
			t.Errorf("at %v the window %v .. %v is not open", now, e.Start, e.End)
		}
		if e.Start.In(Location()).Hour() != 9 || e.End.Sub(e.Start) != (6*24+8)*time.Hour {
			t.Errorf("moved window %v .. %v changed its hours", e.Start, e.End)
		}
	}
}

func TestWindowAt(t *testing.T) {
	e := Exam{Start: time.Date(2022, 2, 27, 9, 0, 0, 0, Location()), End: time.Date(2022, 3, 5, 17, 0, 0, 0, Location())}
	tests := []struct {
		name string
		now  time.Time
		want Window
	}{
		{"a minute before", time.Date(2022, 2, 27, 8, 59, 0, 0, Location()), WindowBefore},
		{"at the opening", e.Start, WindowOpen},
		{"same instant in UTC", time.Date(2022, 2, 27, 1, 0, 0, 0, time.UTC), WindowOpen},
		{"a nanosecond before the end", e.End.Add(-1), WindowOpen},
		{"at the end", e.End, WindowClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.WindowAt(tt.now); got != tt.want {
				t.Errorf("WindowAt = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReadCSVTwoBadRows(t *testing.T) {
	c, err := readFile(t, "testdata/two_bad_rows.csv")
	var ie *ImportError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v, want *ImportError", err)
	}
	if got := ie.Lines(); !slices.Equal(got, []int{4, 6}) {
		t.Errorf("lines = %v, want [4 6]; problems %+v", got, ie.Problems)
	}
	if !reflect.DeepEqual(c, Catalog{}) {
		t.Errorf("a refused file returned a catalog: %+v", c)
	}
	if !strings.Contains(ie.Problems[1].Message, "第3行") {
		t.Errorf("duplicate message %q does not name the first line", ie.Problems[1].Message)
	}
}

func TestReadCSVExcelFiles(t *testing.T) {
	for _, name := range []string{"testdata/excel_utf8_bom.csv", "testdata/excel_gb18030.csv"} {
		t.Run(name, func(t *testing.T) {
			c, err := readFile(t, name)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Positions) != 1 || c.Units[0].Name != "湖南省测试中心" {
				t.Fatalf("catalog = %+v", c)
			}
			if want := time.Date(2022, 2, 27, 9, 0, 0, 0, Location()); !c.Exams[0].Start.Equal(want) {
				t.Errorf("start = %v, want %v", c.Exams[0].Start, want)
			}
		})
	}
	c, err := readFile(t, "testdata/excel_utf8_bom.csv")
	if err != nil {
		t.Fatal(err)
	}
	r := c.Positions[0].Requirements
	if !slices.Equal(r.Majors, []string{"法学类", "计算机科学与技术"}) || !slices.Equal(r.Household, []string{"4301", "44"}) {
		t.Errorf("lists = %q %q", r.Majors, r.Household)
	}
}

func TestReadCSVProblems(t *testing.T) {
	tests := []struct {
		name   string
		file   string
		line   int
		column string
	}{
		{"empty file", "", 0, ""},
		{"header only", header, 0, ""},
		{"unknown column", strings.Replace(header, "other", "remark", 1), 1, ""},
		{"missing required column", strings.Replace(header, "headcount,", "", 1), 1, "headcount"},
		{"wrong field count", header + examCells + "01,省直,01001,单位,P1,科员,1\n", 2, ""},
		{"bad code", header + row(map[string]string{"unit_code": "01 001"}), 2, "unit_code"},
		{"bad time", header + row(map[string]string{"registration_start": "2022-02-30 09:00"}), 2, "registration_start"},
		{"end before start", header + row(map[string]string{"registration_end": "2022-02-27 08:00"}), 2, "registration_end"},
		{"zero headcount", header + row(map[string]string{"headcount": "0"}), 2, "headcount"},
		{"unknown degree", header + row(map[string]string{"degree": "学霸"}), 2, "degree"},
		{"unknown category", header + row(map[string]string{"majors": "魔法类"}), 2, "majors"},
		{"min above max", header + row(map[string]string{"min_age": "36", "max_age": "35"}), 2, "max_age"},
		{"unknown political", header + row(map[string]string{"political_status": "党员"}), 2, "political_status"},
		{"bad gender", header + row(map[string]string{"gender": "M"}), 2, "gender"},
		{"unknown region", header + row(map[string]string{"household": "430102"}), 2, "household"},
		{"control character", header + row(map[string]string{"unit_name": "单\x01位"}), 2, "unit_name"},
		{"unbalanced quote", header + row(map[string]string{"unit_name": "\"单位"}), 2, ""},
		{"exam name differs", header + row(nil) + row(map[string]string{"exam_name": "别的考试", "position_code": "P2"}), 3, "exam_name"},
		{"unit in two areas", header + row(nil) + row(map[string]string{"area_code": "02", "position_code": "P2"}), 3, "unit_code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadCSV(strings.NewReader(tt.file))
			var ie *ImportError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want *ImportError", err)
			}
			p := ie.Problems[0]
			if p.Line != tt.line || p.Column != tt.column || p.Message == "" {
				t.Errorf("first problem = %+v, want line %d column %q", p, tt.line, tt.column)
			}
		})
	}
}

func TestReadCSVValues(t *testing.T) {
	file := header + examCells +
		"01,省直,01001,单位,P1,科员,3,硕士,学士,法学类； 经济法 （方向）,18,35,中共党员或中共预备党员,2,女,湖南省;长沙市,\"须通过法律职业资格考试\n（A证）\"\n"
	c, err := ReadCSV(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	want := Requirements{
		Education: Master, Degree: DegreeBachelor,
		Majors: []string{"法学类", "经济法(方向)"},
		MinAge: 18, MaxAge: 35,
		Political: []string{"中共党员", "中共预备党员"},
		WorkYears: 2, Gender: cnid.Female,
		Household: []string{"43", "4301"},
		Other:     "须通过法律职业资格考试\n（A证）",
	}
	if got := c.Positions[0].Requirements; !reflect.DeepEqual(got, want) {
		t.Errorf("requirements =\n%+v\nwant\n%+v", got, want)
	}
	if got := c.Positions[0].Headcount; got != 3 {
		t.Errorf("headcount = %d", got)
	}
}

func TestWriteCSVRoundTrip(t *testing.T) {
	c, err := Sample()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, c); err != nil {
		t.Fatal(err)
	}
	back, err := ReadCSV(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Error("catalog changed on a round trip through WriteCSV and ReadCSV")
	}
}

func TestDescribe(t *testing.T) {
	r := Requirements{Education: Bachelor, Majors: []string{"法学类", "会计学"}, MinAge: 18, MaxAge: 35, Gender: cnid.Male, Household: []string{"4301"}, Other: "限应届"}
	got := map[string]string{}
	for _, c := range r.Describe() {
		got[c.Label] = c.Value
	}
	want := map[string]string{
		"学历": "本科及以上", "学位": "不限", "专业": "法学类、会计学", "年龄": "18周岁以上、35周岁以下",
		"政治面貌": "不限", "基层工作经历": "不限", "性别": "男", "户籍或生源地": "长沙市", "其他条件": "限应届",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Describe = %v\nwant %v", got, want)
	}
}

func FuzzReadCSV(f *testing.F) {
	f.Add(SampleCSV())
	for _, name := range []string{"testdata/two_bad_rows.csv", "testdata/excel_utf8_bom.csv", "testdata/excel_gb18030.csv"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(header + row(map[string]string{"majors": "法学类;会计学", "household": "43", "gender": "女"})))
	f.Add([]byte("\"a\nb\",c\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ReadCSV(bytes.NewReader(data))
		if err != nil {
			var ie *ImportError
			if !errors.As(err, &ie) || len(ie.Problems) == 0 {
				t.Fatalf("error %v is not an *ImportError with problems", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("ReadCSV returned an invalid catalog: %v", err)
		}
		var buf bytes.Buffer
		if err := WriteCSV(&buf, c); err != nil {
			t.Fatal(err)
		}
		back, err := ReadCSV(&buf)
		if err != nil {
			t.Fatalf("rereading written catalog: %v\n%s", err, buf.String())
		}
		if !reflect.DeepEqual(back, c) {
			t.Fatalf("round trip changed the catalog:\n%+v\n%+v", c, back)
		}
	})
}
