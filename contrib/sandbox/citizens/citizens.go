// Package citizens is the sandbox's population registry: fictional people
// with valid GB 11643 ID numbers, the phones registered to them, and the
// quirks the simulated vendors reproduce (faces that fail, names the
// registry holds differently from the card).
//
// Numbers that are valid but not in the registry belong to synthetic
// citizens: the registry accepts whatever name they present and their faces
// pass. The load simulator relies on this to create as many candidates as
// it needs.
package citizens

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/csv"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

//go:embed testdata/citizens.csv
var defaultCSV []byte

// Face is how a person's face verification ends.
type Face string

const (
	FacePasses   Face = ""         // face verification passes
	FaceMismatch Face = "mismatch" // the face does not match the ID photo
	FaceLiveness Face = "liveness" // liveness detection fails
)

// Citizen is one fictional person.
type Citizen struct {
	Key      string
	Name     string // as printed on the card and held by its chip
	IDNumber string
	Phone    string
	Face     Face
	// RegistryName is the name the population registry holds; it differs
	// from Name for people whose name/ID checks fail.
	RegistryName string
	Note         string
	// Synthetic is true for a person made up from a valid number that is
	// not in the file.
	Synthetic bool
}

// Registry holds citizens by key, ID number and phone.
type Registry struct {
	list    []Citizen
	byID    map[string]int
	byKey   map[string]int
	byPhone map[string]int
}

// Default returns the registry of the embedded testdata/citizens.csv.
func Default() *Registry {
	r, err := Load(bytes.NewReader(defaultCSV))
	if err != nil {
		// The embedded file is checked by the package's tests.
		panic("citizens: embedded registry: " + err.Error())
	}
	return r
}

// Load reads a registry in the CSV format of testdata/citizens.csv: lines
// starting with # are comments, the first other line is the header.
func Load(r io.Reader) (*Registry, error) {
	var body strings.Builder
	var lineMap []int // body line index -> file line number
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "#") || strings.TrimSpace(line) == "" {
			continue
		}
		body.WriteString(line)
		body.WriteByte('\n')
		lineMap = append(lineMap, n)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("citizens: read: %w", err)
	}
	rows, err := csv.NewReader(strings.NewReader(body.String())).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("citizens: parse: %w", err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("citizens: no header")
	}
	want := []string{"key", "name", "id_number", "phone", "face", "registry_name", "note"}
	if strings.Join(rows[0], ",") != strings.Join(want, ",") {
		return nil, fmt.Errorf("citizens: header must be %s", strings.Join(want, ","))
	}
	reg := &Registry{byID: map[string]int{}, byKey: map[string]int{}, byPhone: map[string]int{}}
	now := time.Now()
	var problems []string
	for i, row := range rows[1:] {
		line := lineMap[i+1]
		c := Citizen{Key: row[0], Name: row[1], IDNumber: row[2], Phone: row[3], Face: Face(row[4]), RegistryName: row[5], Note: row[6]}
		if c.RegistryName == "" {
			c.RegistryName = c.Name
		}
		switch {
		case c.Key == "" || c.Name == "":
			problems = append(problems, fmt.Sprintf("line %d: key and name are required", line))
			continue
		case !validID(c.IDNumber, now):
			problems = append(problems, fmt.Sprintf("line %d: id_number is not a valid GB 11643 number", line))
			continue
		case !cnid.ValidPhone(c.Phone):
			problems = append(problems, fmt.Sprintf("line %d: phone is not a mainland mobile number", line))
			continue
		case c.Face != FacePasses && c.Face != FaceMismatch && c.Face != FaceLiveness:
			problems = append(problems, fmt.Sprintf("line %d: face must be empty, mismatch or liveness", line))
			continue
		}
		if _, dup := reg.byID[c.IDNumber]; dup {
			problems = append(problems, fmt.Sprintf("line %d: duplicate id_number", line))
			continue
		}
		if _, dup := reg.byKey[c.Key]; dup {
			problems = append(problems, fmt.Sprintf("line %d: duplicate key %q", line, c.Key))
			continue
		}
		reg.byID[c.IDNumber] = len(reg.list)
		reg.byKey[c.Key] = len(reg.list)
		reg.byPhone[c.Phone] = len(reg.list)
		reg.list = append(reg.list, c)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("citizens: %s", strings.Join(problems, "; "))
	}
	return reg, nil
}

func validID(s string, now time.Time) bool {
	_, err := cnid.Parse(s, now)
	return err == nil
}

// All returns every registered citizen, ordered by key.
func (r *Registry) All() []Citizen {
	out := append([]Citizen(nil), r.list...)
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// ByKey returns the citizen with the given key.
func (r *Registry) ByKey(key string) (Citizen, bool) {
	i, ok := r.byKey[key]
	if !ok {
		return Citizen{}, false
	}
	return r.list[i], true
}

// ByIDNumber returns the registered citizen with the given number.
func (r *Registry) ByIDNumber(id string) (Citizen, bool) {
	i, ok := r.byID[cnid.Normalize(id)]
	if !ok {
		return Citizen{}, false
	}
	return r.list[i], true
}

// ByPhone returns the registered citizen the phone belongs to.
func (r *Registry) ByPhone(phone string) (Citizen, bool) {
	i, ok := r.byPhone[phone]
	if !ok {
		return Citizen{}, false
	}
	return r.list[i], true
}

// Resolve returns the person holding an ID number: the registered citizen,
// or a synthetic one named name with the given phone when the number is
// valid but unregistered. ok is false for an invalid number.
func (r *Registry) Resolve(name, idNumber, phone string, now time.Time) (Citizen, bool) {
	idNumber = cnid.Normalize(idNumber)
	if c, ok := r.ByIDNumber(idNumber); ok {
		return c, true
	}
	if !validID(idNumber, now) || strings.TrimSpace(name) == "" {
		return Citizen{}, false
	}
	return Citizen{Key: "synthetic", Name: name, RegistryName: name, IDNumber: idNumber, Phone: phone, Synthetic: true}, true
}

// NameIDResult is the answer of the population registry to a name/ID check.
type NameIDResult int

const (
	NameIDMatch     NameIDResult = iota + 1 // 姓名和身份证号一致
	NameIDMismatch                          // 姓名和身份证号码不匹配
	NameIDInvalidID                         // 非法身份证号 (length, date or check digit)
	NameIDNoRecord                          // 证件库中无此身份证记录 (never returned while synthetic citizens are on)
)

// CheckNameID compares a name and number with the registry, as a 二要素
// service does: registered citizens match only their registry name;
// unregistered valid numbers are synthetic citizens and match any name.
func (r *Registry) CheckNameID(name, idNumber string, now time.Time) NameIDResult {
	idNumber = cnid.Normalize(idNumber)
	if !validID(idNumber, now) {
		return NameIDInvalidID
	}
	c, ok := r.ByIDNumber(idNumber)
	if !ok {
		if strings.TrimSpace(name) == "" {
			return NameIDMismatch
		}
		return NameIDMatch
	}
	if strings.TrimSpace(name) != c.RegistryName {
		return NameIDMismatch
	}
	return NameIDMatch
}

// CheckCard compares a name and number with the ID card itself, as a
// check against the card's chip data (a CTID 网证) does: registered
// citizens match only the name printed on their card, which may differ
// from the registry's; synthetic citizens match any name.
func (r *Registry) CheckCard(name, idNumber string, now time.Time) NameIDResult {
	idNumber = cnid.Normalize(idNumber)
	if !validID(idNumber, now) {
		return NameIDInvalidID
	}
	name = strings.TrimSpace(name)
	c, ok := r.ByIDNumber(idNumber)
	switch {
	case name == "":
		return NameIDMismatch
	case !ok, name == c.Name:
		return NameIDMatch
	}
	return NameIDMismatch
}
