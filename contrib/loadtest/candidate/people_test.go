package candidate

import (
	"testing"
	"time"
	"unicode/utf8"

	"github.com/shiming-id/shiming/contrib/sandbox/sandboxclient"
	gwpassword "github.com/shiming-id/shiming/gateway/password"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

func TestSyntheticPeople(t *testing.T) {
	seed := [32]byte{1, 2, 3}
	const taken = "13800001001"
	p := NewPeople(&seed, taken)
	// The sample exam counts ages on 2022-02-27; its positions admit 18
	// to 35.
	ref := time.Date(2022, 2, 27, 0, 0, 0, 0, time.UTC)
	ids, phones := map[string]bool{}, map[string]bool{}
	for i := range 5000 {
		person := p.Synthetic()
		id, err := cnid.Parse(person.IDNumber, time.Now())
		if err != nil {
			t.Fatalf("person %d: %s is not a valid number: %v", i, person.IDNumber, err)
		}
		if age := id.AgeOn(ref); age < 18 || age > 35 {
			t.Errorf("person %d is %d on the reference day", i, age)
		}
		if id.Region()[:2] != "43" {
			t.Errorf("person %d: region %s is not in Hunan", i, id.Region())
		}
		if !cnid.ValidPhone(person.Phone) || person.Phone == taken {
			t.Errorf("person %d: phone %s", i, person.Phone)
		}
		if n := utf8.RuneCountInString(person.Name); n < 2 || n > 3 {
			t.Errorf("person %d: name %q", i, person.Name)
		}
		if ids[person.IDNumber] || phones[person.Phone] {
			t.Fatalf("person %d repeats a number or a phone: %s", i, person)
		}
		ids[person.IDNumber], phones[person.Phone] = true, true
	}
}

func TestSyntheticPeopleFollowTheSeed(t *testing.T) {
	seed := [32]byte{9}
	a, b := NewPeople(&seed), NewPeople(&seed)
	for range 10 {
		if x, y := a.Synthetic(), b.Synthetic(); x != y {
			t.Fatalf("same seed, different people: %s and %s", x, y)
		}
	}
	if x, y := NewPeople(nil).Synthetic(), NewPeople(nil).Synthetic(); x.IDNumber == y.IDNumber {
		t.Errorf("two random generators start with the same number %s", cnid.MaskID(x.IDNumber))
	}
}

func TestPersonStringIsMasked(t *testing.T) {
	p := Person{Name: "张伟", IDNumber: "430102199503141235", Phone: "13800001001"}
	if s := p.String(); s != "张伟 430***********1235 138****1001" {
		t.Errorf("String() = %q", s)
	}
}

func TestPasswordPassesThePolicy(t *testing.T) {
	seed := [32]byte{4}
	people := NewPeople(&seed)
	seen := map[string]bool{}
	for range 200 {
		p := people.Synthetic()
		pw := password(p)
		if err := gwpassword.CheckPolicy(pw, p.IDNumber, p.Phone); err != nil {
			t.Fatalf("the password of %s is refused: %v", p, err)
		}
		if seen[pw] {
			t.Fatalf("two people share the password %q", pw)
		}
		seen[pw] = true
	}
}

func TestHolder(t *testing.T) {
	tests := []struct {
		name string
		p    Person
		want sandboxclient.Holder
	}{
		{"registry citizen by key", Person{Citizen: "c035", Name: "刘䶮", IDNumber: "x", Phone: "y"}, sandboxclient.Holder{Citizen: "c035"}},
		{"synthetic person", Person{Name: "王芳", IDNumber: "430102199501011234", Phone: "13512345678"},
			sandboxclient.Holder{Name: "王芳", IDNumber: "430102199501011234", Phone: "13512345678"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.holder(); got != tt.want {
				t.Errorf("holder() = %+v, want %+v", got, tt.want)
			}
		})
	}
}
