package cnid

import (
	"testing"
	"time"
)

var today = time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Problem
	}{
		{"standard example with X", "11010519491231002X", ProblemNone},
		{"standard example digits", "440524188001010014", ProblemBirth}, // born 1880: before 1900
		{"valid 1995", "440305199505132561", ProblemNone},
		{"lower-case x", "11010519491231002x", ProblemNone},
		{"tencent doc sample fails checksum", "11204416541220243X", ProblemBirth},
		{"wechat doc sample fails checksum", "310101199801011234", ProblemChecksum},
		{"too short", "1101051949123100", ProblemLength},
		{"letters", "11010519491231A02X", ProblemFormat},
		{"X in the middle", "1101051949123X0021", ProblemFormat},
		{"no province 99", "99010519491231002X", ProblemRegion},
		{"30 February", "110105199502300019", ProblemBirth},
		{"born tomorrow", "110105202611280011", ProblemBirth},
		{"empty", "", ProblemLength},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.in, today)
			if got := ProblemOf(err); got != tc.want {
				t.Fatalf("Parse(%q) problem = %v, want %v (err %v)", tc.in, got, tc.want, err)
			}
		})
	}
}

func TestParseFields(t *testing.T) {
	id, err := Parse("11010519491231002X", today)
	if err != nil {
		t.Fatal(err)
	}
	if got := id.BirthDate().Format("2006-01-02"); got != "1949-12-31" {
		t.Errorf("birth = %s", got)
	}
	if id.Gender() != Female {
		t.Errorf("gender = %v, want female (sequence 002)", id.Gender())
	}
	if id.Region() != "110105" {
		t.Errorf("region = %s", id.Region())
	}
	if id.Masked() != "110***********002X" {
		t.Errorf("masked = %s", id.Masked())
	}
}

func TestAgeOn(t *testing.T) {
	leap := time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		day  time.Time
		want int
	}{
		{time.Date(2018, 2, 28, 0, 0, 0, 0, time.UTC), 17},
		{time.Date(2018, 3, 1, 0, 0, 0, 0, time.UTC), 18},
		{time.Date(2020, 2, 29, 0, 0, 0, 0, time.UTC), 20},
		{time.Date(2020, 2, 28, 0, 0, 0, 0, time.UTC), 19},
	}
	for _, tc := range tests {
		if got := AgeOn(leap, tc.day); got != tc.want {
			t.Errorf("AgeOn(%s) = %d, want %d", tc.day.Format("2006-01-02"), got, tc.want)
		}
	}
}

func TestPhone(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"13800138000", "13800138000", true},
		{"+86 138-0013-8000", "13800138000", true},
		{"8613800138000", "13800138000", true},
		{"12800138000", "", false},
		{"1380013800", "", false},
		{"1380013800a", "", false},
	}
	for _, tc := range tests {
		got, err := ParsePhone(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParsePhone(%q) = %q, %v", tc.in, got, err)
		}
	}
	if MaskPhone("13800138000") != "138****8000" {
		t.Errorf("MaskPhone = %s", MaskPhone("13800138000"))
	}
}

func TestUpgrade15(t *testing.T) {
	got, err := Upgrade15("110105491231002")
	if err != nil || got != "11010519491231002X" {
		t.Fatalf("Upgrade15 = %q, %v", got, err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"11010519491231002X", "440305199505132561", "", "x", "99999999999999999X", "11010519491231002x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := Parse(s, today)
		if err != nil {
			if ProblemOf(err) == ProblemNone {
				t.Fatalf("error without a problem: %v", err)
			}
			return
		}
		// A number that parses has a correct check character, a birth date
		// that round-trips, and masks to the same length without leaking
		// the birth date.
		n := id.String()
		if c, _ := CheckChar(n[:17]); c != n[17] {
			t.Fatalf("accepted %q with wrong check char", s)
		}
		if id.BirthDate().Format("20060102") != n[6:14] {
			t.Fatalf("birth date does not round-trip for %q", s)
		}
		if m := id.Masked(); len(m) != 18 || m[6:14] != "********" {
			t.Fatalf("mask %q leaks the birth date", m)
		}
	})
}

func TestMaskName(t *testing.T) {
	for in, want := range map[string]string{"张伟": "张*", "欧阳婧": "欧**", "刘䶮": "刘*", "": "", " 王 ": "王", "阿依古丽·买买提": "阿*******"} {
		if got := MaskName(in); got != want {
			t.Errorf("MaskName(%q) = %q, want %q", in, got, want)
		}
	}
}
