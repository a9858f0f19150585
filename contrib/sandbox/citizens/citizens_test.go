package citizens

import (
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)

func TestDefaultRegistry(t *testing.T) {
	r := Default()
	all := r.All()
	if len(all) < 30 {
		t.Fatalf("registry has %d citizens, want at least 30", len(all))
	}
	var faceFails, mismatches int
	for _, c := range all {
		if c.Face != FacePasses {
			faceFails++
		}
		if c.RegistryName != c.Name {
			mismatches++
			if got := r.CheckNameID(c.Name, c.IDNumber, now); got != NameIDMismatch {
				t.Errorf("%s: card name checks as %v, want mismatch", c.Key, got)
			}
		}
		if got := r.CheckNameID(c.RegistryName, c.IDNumber, now); got != NameIDMatch {
			t.Errorf("%s: registry name checks as %v, want match", c.Key, got)
		}
	}
	if faceFails < 2 || mismatches < 2 {
		t.Errorf("want several face failures and name mismatches, got %d and %d", faceFails, mismatches)
	}
}

func TestCheckNameID(t *testing.T) {
	r := Default()
	c, _ := r.ByKey("c001")
	tests := []struct {
		label, name, id string
		want            NameIDResult
	}{
		{"registered match", c.Name, c.IDNumber, NameIDMatch},
		{"registered wrong name", "某某", c.IDNumber, NameIDMismatch},
		{"lower-case x normalised", "欧阳靖", "43012219990520488x", NameIDMatch},
		{"synthetic any name", "任意名", "11010519491231002X", NameIDMatch},
		{"synthetic empty name", "", "11010519491231002X", NameIDMismatch},
		{"bad check digit", c.Name, c.IDNumber[:17] + "0", NameIDInvalidID},
	}
	for _, tc := range tests {
		t.Run(tc.label, func(t *testing.T) {
			if got := r.CheckNameID(tc.name, tc.id, now); got != tc.want {
				t.Fatalf("CheckNameID = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLoadReportsEveryBadLine(t *testing.T) {
	in := `# comment
key,name,id_number,phone,face,registry_name,note
a,甲,11010519491231002X,13800001001,,,
b,乙,110105194912310021,13800001002,,,
c,丙,440305199505132561,123,,,
d,丁,440305199505132561,13800001004,weird,,
`
	_, err := Load(strings.NewReader(in))
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"line 4", "line 5", "line 6"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestResolve(t *testing.T) {
	r := Default()
	c, ok := r.Resolve("任意名", "11010519491231002X", "13900000000", now)
	if !ok || !c.Synthetic || c.Name != "任意名" {
		t.Fatalf("Resolve synthetic = %+v, %v", c, ok)
	}
	if _, ok := r.Resolve("任意名", "110105194912310021", "", now); ok {
		t.Fatal("Resolve accepted an invalid number")
	}
	reg, _ := r.ByKey("c002")
	if got, _ := r.Resolve("x", reg.IDNumber, "", now); got.Key != "c002" {
		t.Fatalf("Resolve registered = %+v", got)
	}
}

func TestCheckCard(t *testing.T) {
	r := Default()
	c, _ := r.ByKey("c035") // the card says 刘䶮, the registry 刘岩
	if got := r.CheckCard(c.Name, c.IDNumber, now); got != NameIDMatch {
		t.Errorf("card name against the card = %v", got)
	}
	if got := r.CheckCard(c.RegistryName, c.IDNumber, now); got != NameIDMismatch {
		t.Errorf("registry name against the card = %v", got)
	}
	if got := r.CheckNameID(c.Name, c.IDNumber, now); got != NameIDMismatch {
		t.Errorf("card name against the registry = %v", got)
	}
	if got := r.CheckCard("任意名", "11010519491231002X", now); got != NameIDMatch {
		t.Errorf("synthetic = %v", got)
	}
}
