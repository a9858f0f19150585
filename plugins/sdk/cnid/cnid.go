// Package cnid validates, parses and masks the personal identifiers of
// mainland China: resident identity numbers (GB 11643-1999) and mobile
// phone numbers. The gateway, the registration app, the sandbox vendors and
// third-party plugins share it so that every party rejects the same inputs
// before any vendor call is made or billed.
package cnid

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Problem says why an identifier was rejected. The values are stable and
// may be shown to a person through a translated message.
type Problem int

const (
	ProblemNone     Problem = iota
	ProblemLength           // not 18 characters
	ProblemFormat           // not 17 digits followed by a digit or X
	ProblemRegion           // the first two digits name no province
	ProblemBirth            // no such calendar date, or outside 1900..today
	ProblemChecksum         // the ISO 7064 MOD 11-2 check character is wrong
	ProblemPhone            // not an 11-digit mainland mobile number
)

var problemText = map[Problem]string{
	ProblemLength:   "must be 18 characters",
	ProblemFormat:   "must be 17 digits followed by a digit or X",
	ProblemRegion:   "region code names no province",
	ProblemBirth:    "birth date is not a real date",
	ProblemChecksum: "check digit does not match",
	ProblemPhone:    "must be an 11-digit mainland mobile number",
}

// Error is returned for an identifier that fails validation. It never
// carries the identifier itself, so it is safe to log.
type Error struct {
	Problem Problem
}

func (e *Error) Error() string { return "cnid: " + problemText[e.Problem] }

// ProblemOf returns the Problem behind err, or ProblemNone.
func ProblemOf(err error) Problem {
	var e *Error
	if errors.As(err, &e) {
		return e.Problem
	}
	return ProblemNone
}

// weights are 2^(17-i) mod 11 for positions 0..16 (ISO 7064 MOD 11-2).
var weights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// checkChars maps the weighted sum mod 11 to the check character.
const checkChars = "10X98765432"

// provinces are the first two digits of every GB/T 2260 province-level
// division, plus 71/81/82 (Taiwan, Hong Kong, Macao) and 83, which residence
// permits for Taiwan residents use.
var provinces = map[string]bool{
	"11": true, "12": true, "13": true, "14": true, "15": true,
	"21": true, "22": true, "23": true,
	"31": true, "32": true, "33": true, "34": true, "35": true, "36": true, "37": true,
	"41": true, "42": true, "43": true, "44": true, "45": true, "46": true,
	"50": true, "51": true, "52": true, "53": true, "54": true,
	"61": true, "62": true, "63": true, "64": true, "65": true,
	"71": true, "81": true, "82": true, "83": true,
}

// ID is a validated resident identity number.
type ID struct {
	number string
	birth  time.Time
}

// Gender as encoded by the sequence digits: odd is male, even is female.
type Gender int

const (
	Female Gender = iota + 1
	Male
)

func (g Gender) String() string {
	switch g {
	case Male:
		return "male"
	case Female:
		return "female"
	}
	return "unknown"
}

// Normalize trims spaces and upper-cases a trailing x, the two changes a
// person's typing most often needs.
func Normalize(s string) string {
	return strings.ToUpper(strings.TrimSpace(s))
}

// CheckChar returns the check character for the first 17 digits of a number.
func CheckChar(first17 string) (byte, error) {
	if len(first17) != 17 {
		return 0, &Error{ProblemLength}
	}
	sum := 0
	for i := 0; i < 17; i++ {
		c := first17[i]
		if c < '0' || c > '9' {
			return 0, &Error{ProblemFormat}
		}
		sum += int(c-'0') * weights[i]
	}
	return checkChars[sum%11], nil
}

// Parse validates s as a GB 11643-1999 number: length, format, a province
// region code, a real birth date between 1900-01-01 and now, and the check
// character. Lower-case x is accepted; surrounding spaces are not.
func Parse(s string, now time.Time) (ID, error) {
	if len(s) != 18 {
		return ID{}, &Error{ProblemLength}
	}
	s = strings.ToUpper(s)
	for i := 0; i < 17; i++ {
		if s[i] < '0' || s[i] > '9' {
			return ID{}, &Error{ProblemFormat}
		}
	}
	if last := s[17]; (last < '0' || last > '9') && last != 'X' {
		return ID{}, &Error{ProblemFormat}
	}
	if !provinces[s[:2]] {
		return ID{}, &Error{ProblemRegion}
	}
	birth, err := time.Parse("20060102", s[6:14])
	if err != nil || birth.Year() < 1900 || birth.After(now) {
		return ID{}, &Error{ProblemBirth}
	}
	want, _ := CheckChar(s[:17])
	if s[17] != want {
		return ID{}, &Error{ProblemChecksum}
	}
	return ID{number: s, birth: birth}, nil
}

// Valid reports whether s parses as a resident identity number today.
func Valid(s string) bool {
	_, err := Parse(s, time.Now())
	return err == nil
}

// String returns the full number. Callers must not log it; use Masked.
func (id ID) String() string { return id.number }

// Masked returns the number with the birth date and sequence hidden.
func (id ID) Masked() string { return MaskID(id.number) }

// Region returns the six-digit administrative division code.
func (id ID) Region() string { return id.number[:6] }

// BirthDate returns the birth date, at midnight UTC.
func (id ID) BirthDate() time.Time { return id.birth }

// Gender returns the gender the sequence digits encode.
func (id ID) Gender() Gender {
	if (id.number[16]-'0')%2 == 1 {
		return Male
	}
	return Female
}

// AgeOn returns the age in whole years on the given day: a person born on
// 29 February becomes a year older on 1 March in common years.
func (id ID) AgeOn(day time.Time) int {
	return AgeOn(id.birth, day)
}

// AgeOn returns the whole years between birth and day, by calendar date.
func AgeOn(birth, day time.Time) int {
	y, m, d := day.Date()
	by, bm, bd := birth.Date()
	age := y - by
	if m < bm || (m == bm && d < bd) {
		age--
	}
	return age
}

// MaskID hides all but the first three and the last four characters, the
// pattern shown to people and written to logs: 430***********123X.
// Input of an unexpected length is masked entirely.
func MaskID(s string) string {
	if len(s) != 18 {
		return strings.Repeat("*", len(s))
	}
	return s[:3] + strings.Repeat("*", 11) + s[14:]
}

// MaskName keeps a name's first character and hides the rest: 张*,
// 欧阳**, 刘*.
func MaskName(name string) string {
	r := []rune(strings.TrimSpace(name))
	if len(r) == 0 {
		return ""
	}
	return string(r[0]) + strings.Repeat("*", len(r)-1)
}

// ValidPhone reports whether s is an 11-digit mainland mobile number
// (first digit 1, second 3-9).
func ValidPhone(s string) bool {
	if len(s) != 11 || s[0] != '1' || s[1] < '3' || s[1] > '9' {
		return false
	}
	for i := 2; i < 11; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ParsePhone normalizes and validates a mobile number. A +86 or 86 prefix
// and spaces or dashes are removed.
func ParsePhone(s string) (string, error) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "+86")
	if len(s) == 13 && strings.HasPrefix(s, "86") {
		s = s[2:]
	}
	if !ValidPhone(s) {
		return "", &Error{ProblemPhone}
	}
	return s, nil
}

// MaskPhone keeps the first three and last four digits: 138****5678.
func MaskPhone(s string) string {
	if len(s) != 11 {
		return strings.Repeat("*", len(s))
	}
	return s[:3] + "****" + s[7:]
}

// Upgrade15 converts a legacy 15-digit number (YYMMDD birth, no check
// character) into its 18-character form.
func Upgrade15(s string) (string, error) {
	if len(s) != 15 {
		return "", &Error{ProblemLength}
	}
	first17 := s[:6] + "19" + s[6:]
	c, err := CheckChar(first17)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s%c", first17, c), nil
}
