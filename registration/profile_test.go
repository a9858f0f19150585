package registration

import (
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shiming-id/shiming/registration/catalog"
)

var now = time.Date(2022, 3, 1, 12, 0, 0, 0, catalog.Location())

func keys(fe FieldErrors) []string {
	var out []string
	for k, v := range fe {
		if v == "" {
			out = append(out, k+"(empty message)")
		}
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func with(base url.Values, kv ...string) url.Values {
	v := url.Values{}
	for k, vs := range base {
		v[k] = slices.Clone(vs)
	}
	for i := 0; i < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

var goodBasic = url.Values{
	"ethnicity": {"汉族"}, "political": {"群众"}, "household": {"4301"}, "origin": {"44"},
	"address": {" 长沙市某路1号 "}, "postcode": {"410000"}, "email": {""},
}

func TestParseBasic(t *testing.T) {
	tests := []struct {
		name string
		v    url.Values
		want []string
	}{
		{"valid", goodBasic, nil},
		{"empty", url.Values{}, []string{"address", "ethnicity", "household", "origin", "political", "postcode"}},
		{"unknown ethnicity", with(goodBasic, "ethnicity", "火星族"), []string{"ethnicity"}},
		{"province code for Hunan", with(goodBasic, "household", "43"), []string{"household"}},
		{"five-digit postcode", with(goodBasic, "postcode", "41000"), []string{"postcode"}},
		{"letters in postcode", with(goodBasic, "postcode", "41000a"), []string{"postcode"}},
		{"bad email", with(goodBasic, "email", "zhang@"), []string{"email"}},
		{"email with name", with(goodBasic, "email", "张三 <a@example.com>"), []string{"email"}},
		{"good email", with(goodBasic, "email", "a@example.com"), nil},
		{"address too long", with(goodBasic, "address", strings.Repeat("路", 101)), []string{"address"}},
		{"control character", with(goodBasic, "address", "某路\x07"), []string{"address"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, fe := ParseBasic(tt.v)
			if got := keys(fe); !slices.Equal(got, tt.want) {
				t.Errorf("errors on %v, want %v (%v)", got, tt.want, fe)
			}
			if len(fe) == 0 && b.Address != strings.TrimSpace(tt.v.Get("address")) {
				t.Errorf("address %q not trimmed", b.Address)
			}
		})
	}
}

var goodEducation = url.Values{
	"level": {"3"}, "degree": {"1"}, "school": {"湖南大学"}, "graduated": {"2021-06"},
	"major_category": {"计算机类"}, "major": {"软件工程"},
}

func TestParseEducation(t *testing.T) {
	tests := []struct {
		name string
		v    url.Values
		want []string
	}{
		{"valid", goodEducation, nil},
		{"empty", url.Values{}, []string{"degree", "graduated", "level", "major", "major_category", "school"}},
		{"level out of range", with(goodEducation, "level", "6"), []string{"level"}},
		{"level zero", with(goodEducation, "level", "0"), []string{"level"}},
		{"degree without bachelor", with(goodEducation, "level", "2"), []string{"degree"}},
		{"college without degree", with(goodEducation, "level", "2", "degree", "0"), nil},
		{"master degree with bachelor education", with(goodEducation, "degree", "2"), nil},
		{"bad month", with(goodEducation, "graduated", "2021/6"), []string{"graduated"}},
		{"graduating this summer", with(goodEducation, "graduated", "2022-07"), nil},
		{"graduating in two years", with(goodEducation, "graduated", "2024-07"), []string{"graduated"}},
		{"category mismatch", with(goodEducation, "major_category", "法学类"), []string{"major_category"}},
		{"unknown category", with(goodEducation, "major_category", "魔法类"), []string{"major_category"}},
		{"other category, unknown major", with(goodEducation, "major_category", "其他", "major", "飞行器动力工程"), nil},
		{"known major typed with spaces", with(goodEducation, "major", "软件 工程"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, fe := ParseEducation(tt.v, now)
			if got := keys(fe); !slices.Equal(got, tt.want) {
				t.Errorf("errors on %v, want %v (%v)", got, tt.want, fe)
			}
		})
	}
	e, _ := ParseEducation(goodEducation, now)
	want := Education{Level: catalog.Bachelor, Degree: catalog.DegreeBachelor, School: "湖南大学", Graduated: "2021-06", MajorCategory: "计算机类", Major: "软件工程"}
	if e != want {
		t.Errorf("ParseEducation = %+v", e)
	}
	if back, _ := ParseEducation(e.Form(), now); back != e {
		t.Errorf("Form does not round-trip: %+v", back)
	}
}

func TestParseWork(t *testing.T) {
	tests := []struct {
		name string
		v    url.Values
		want []string
	}{
		{"none", url.Values{"grassroots_years": {"0"}}, nil},
		{"missing years", url.Values{}, []string{"grassroots_years"}},
		{"negative years", url.Values{"grassroots_years": {"-1"}}, []string{"grassroots_years"}},
		{"words for years", url.Values{"grassroots_years": {"两年"}}, []string{"grassroots_years"}},
		{"years without resume", url.Values{"grassroots_years": {"2"}}, []string{"resume"}},
		{"years with resume", url.Values{"grassroots_years": {"2"}, "resume": {"2019.07-2021.08 某乡人民政府 科员\r\n2021.09-至今 某公司"}}, nil},
		{"bad start month", url.Values{"grassroots_years": {"0"}, "started_work": {"2019-13"}}, []string{"started_work"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, fe := ParseWork(tt.v, now)
			if got := keys(fe); !slices.Equal(got, tt.want) {
				t.Errorf("errors on %v, want %v (%v)", got, tt.want, fe)
			}
		})
	}
	w, _ := ParseWork(url.Values{"grassroots_years": {"2"}, "resume": {"a\r\nb"}}, now)
	if w.Resume != "a\nb" || w.GrassrootsYears != 2 {
		t.Errorf("ParseWork = %+v", w)
	}
}

func TestParseOther(t *testing.T) {
	o, fe := ParseOther(url.Values{"family": {"父 某某\n母 某某"}, "awards": {strings.Repeat("奖", 501)}})
	if got := keys(fe); !slices.Equal(got, []string{"awards"}) {
		t.Errorf("errors on %v", got)
	}
	if o.Family != "父 某某\n母 某某" {
		t.Errorf("family = %q", o.Family)
	}
	if _, fe := ParseOther(url.Values{}); fe["family"] != "请填写家庭成员及主要社会关系" {
		t.Errorf("empty family: %v", fe)
	}
}

func TestProfileForms(t *testing.T) {
	b, _ := ParseBasic(goodBasic)
	if back, fe := ParseBasic(b.Form()); len(fe) > 0 || back != b {
		t.Errorf("Basic.Form round trip = %+v, %v", back, fe)
	}
	p := Profile{Basic: &b}
	if !reflect.DeepEqual(p.Form(PageBasic), b.Form()) || p.Form(PageWork) != nil {
		t.Error("Profile.Form")
	}
	if !p.Reachable(PageEducation) || p.Reachable(PageWork) || p.NextPage() != PageEducation || p.Complete() {
		t.Error("page order")
	}
}

func TestExportCell(t *testing.T) {
	for in, want := range map[string]string{
		"=HYPERLINK(\"x\")": "'=HYPERLINK(\"x\")",
		"+86":               "'+86",
		"-1":                "'-1",
		"@SUM(A1)":          "'@SUM(A1)",
		"湖南大学":              "湖南大学",
		"":                  "",
	} {
		if got := cell(in); got != want {
			t.Errorf("cell(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParsePages feeds arbitrary text to every field of the four pages:
// parsing never panics, and a page that parses without errors reads back
// the same from its own form values.
func FuzzParsePages(f *testing.F) {
	f.Add("汉族", "4301", "长沙市某路1号", "410000", "3", "1", "2021-06", "计算机类", "软件工程", "2", "2019.07-至今 某乡")
	f.Add("", "", "", "", "", "", "", "", "", "", "")
	f.Add("回族", "43", "\x00", "4100０0", "9", "-1", "2021-13", "其他", "软件 工程", "1e3", "\r\n")
	f.Fuzz(func(t *testing.T, ethnicity, region, address, postcode, level, degree, month, category, major, years, resume string) {
		b, fe := ParseBasic(url.Values{"ethnicity": {ethnicity}, "political": {"群众"}, "household": {region}, "origin": {region},
			"address": {address}, "postcode": {postcode}, "email": {address}})
		if len(fe) == 0 {
			if back, fe := ParseBasic(b.Form()); len(fe) > 0 || back != b {
				t.Fatalf("basic round trip: %+v, %v", back, fe)
			}
		}
		e, fe := ParseEducation(url.Values{"level": {level}, "degree": {degree}, "school": {address}, "graduated": {month},
			"major_category": {category}, "major": {major}}, now)
		if len(fe) == 0 {
			if back, fe := ParseEducation(e.Form(), now); len(fe) > 0 || back != e {
				t.Fatalf("education round trip: %+v, %v", back, fe)
			}
		}
		w, fe := ParseWork(url.Values{"employer": {address}, "started_work": {month}, "grassroots_years": {years}, "resume": {resume}}, now)
		if len(fe) == 0 {
			if back, fe := ParseWork(w.Form(), now); len(fe) > 0 || back != w {
				t.Fatalf("work round trip: %+v, %v", back, fe)
			}
		}
		o, fe := ParseOther(url.Values{"family": {resume}, "awards": {address}})
		if len(fe) == 0 {
			if back, fe := ParseOther(o.Form()); len(fe) > 0 || back != o {
				t.Fatalf("other round trip: %+v, %v", back, fe)
			}
		}
	})
}
