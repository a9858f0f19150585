package cnid

import (
	"strings"
	"testing"
)

// FuzzParsePhone checks the phone field's decoding: what ParsePhone
// accepts is a valid 11-digit mobile number that parses to itself again,
// and its mask keeps only the first three and last four digits.
func FuzzParsePhone(f *testing.F) {
	for _, s := range []string{"13800138000", "+86 138-0013-8000", "8613800138000", " 138 0013 8000 ", "12800138000", "1380013800０", "", "+86"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePhone(s)
		if err != nil {
			if ProblemOf(err) != ProblemPhone {
				t.Fatalf("ParsePhone(%q) = %v: not a phone problem", s, err)
			}
			return
		}
		if !ValidPhone(p) {
			t.Fatalf("ParsePhone(%q) = %q, not a valid phone", s, p)
		}
		if again, err := ParsePhone(p); err != nil || again != p {
			t.Fatalf("ParsePhone is not idempotent on %q: %q, %v", p, again, err)
		}
		if m := MaskPhone(p); len(m) != 11 || m[:3] != p[:3] || m[3:7] != "****" || m[7:] != p[7:] {
			t.Fatalf("MaskPhone(%q) = %q", p, m)
		}
	})
}

// FuzzMask checks that the masks never show the hidden part of any input:
// an ID number keeps its first three and last four characters (the birth
// date is hidden), a phone its first three and last four digits, and
// input of another length is hidden entirely.
func FuzzMask(f *testing.F) {
	for _, s := range []string{"430102199503141235", "43010219950314123X", "13800138000", "", "张伟", "4301021995031412356"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, phone := MaskID(s), MaskPhone(s)
		switch len(s) {
		case 18:
			if id[:3] != s[:3] || id[14:] != s[14:] || id[3:14] != strings.Repeat("*", 11) {
				t.Fatalf("MaskID(%q) = %q", s, id)
			}
		default:
			if id != strings.Repeat("*", len(s)) {
				t.Fatalf("MaskID(%q) = %q shows part of an input of length %d", s, id, len(s))
			}
		}
		switch len(s) {
		case 11:
			if phone[:3] != s[:3] || phone[7:] != s[7:] || phone[3:7] != "****" {
				t.Fatalf("MaskPhone(%q) = %q", s, phone)
			}
		default:
			if phone != strings.Repeat("*", len(s)) {
				t.Fatalf("MaskPhone(%q) = %q shows part of an input of length %d", s, phone, len(s))
			}
		}
	})
}
