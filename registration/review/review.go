// Package review runs the preliminary automatic review (初审自动审核): it
// checks what a candidate declared against a position's requirements and
// says, in words the candidate can act on, every requirement not met.
package review

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk/cnid"
	"github.com/shiming-id/shiming/registration/catalog"
)

// Requirement names a kind of requirement. The values are lower snake
// case and bounded, so they serve as metric labels.
type Requirement string

const (
	Education Requirement = "education"
	Degree    Requirement = "degree"
	Major     Requirement = "major"
	Age       Requirement = "age"
	Political Requirement = "political_status"
	WorkYears Requirement = "work_years"
	Gender    Requirement = "gender"
	Household Requirement = "household"
	// None labels a review that found nothing unmet.
	None Requirement = "none"
)

// Requirements lists every requirement kind in the order they are checked.
func Requirements() []Requirement {
	return []Requirement{Education, Degree, Major, Age, Political, WorkYears, Gender, Household}
}

// Applicant is what the review knows of a candidate: BirthDate and Gender
// come from the verified identity, the rest from what the candidate
// declared.
type Applicant struct {
	BirthDate     time.Time
	Gender        cnid.Gender
	Education     catalog.Education
	Degree        catalog.Degree
	Major         string
	MajorCategory string
	Political     string
	WorkYears     int
	Household     string // region code, see catalog.CandidateRegions
	Origin        string // region code of 生源地
}

// Reason is one unmet requirement. Message is Chinese text for the
// candidate's review opinion (初审意见).
type Reason struct {
	Requirement Requirement `json:"requirement"`
	Message     string      `json:"message"`
}

// Check reviews a against the position's requirements, counting ages on
// ageReference, and returns every unmet requirement in the order of
// Requirements. No reasons means the candidate may apply.
func Check(a Applicant, req catalog.Requirements, ageReference time.Time) []Reason {
	var out []Reason
	add := func(r Requirement, format string, args ...any) {
		out = append(out, Reason{r, fmt.Sprintf(format, args...)})
	}
	if req.Education != catalog.EducationAny && a.Education < req.Education {
		add(Education, "本职位要求学历为%s及以上，您填写的最高学历为%s", req.Education, a.Education)
	}
	if req.Degree != catalog.DegreeNone && a.Degree < req.Degree {
		if a.Degree == catalog.DegreeNone {
			add(Degree, "本职位要求学位为%s及以上，您填写的最高学位为“无”", req.Degree)
		} else {
			add(Degree, "本职位要求学位为%s及以上，您填写的最高学位为%s", req.Degree, a.Degree)
		}
	}
	if len(req.Majors) > 0 && !MajorMatches(req.Majors, a.Major, a.MajorCategory) {
		add(Major, "本职位要求专业为%s，您填写的所学专业为%s（%s），不在其中", strings.Join(req.Majors, "、"), a.Major, a.MajorCategory)
	}
	if req.MinAge > 0 || req.MaxAge > 0 {
		age := cnid.AgeOn(a.BirthDate, ageReference)
		if (req.MinAge > 0 && age < req.MinAge) || (req.MaxAge > 0 && age > req.MaxAge) {
			add(Age, "本职位要求年龄为%s，按%s计算，您的年龄为%d周岁",
				req.AgeText(), ageReference.Format("2006年1月2日"), age)
		}
	}
	if len(req.Political) > 0 && !slices.Contains(req.Political, a.Political) {
		add(Political, "本职位要求政治面貌为%s，您填写的政治面貌为%s", strings.Join(req.Political, "或"), a.Political)
	}
	if req.WorkYears > 0 && a.WorkYears < req.WorkYears {
		if a.WorkYears == 0 {
			add(WorkYears, "本职位要求具有%d年以上基层工作经历，您填写的基层工作经历年限为0年", req.WorkYears)
		} else {
			add(WorkYears, "本职位要求具有%d年以上基层工作经历，您填写的基层工作经历年限为%d年", req.WorkYears, a.WorkYears)
		}
	}
	if req.Gender != 0 && a.Gender != req.Gender {
		add(Gender, "本职位限%s性报考，您的性别为%s", catalog.GenderText(req.Gender), catalog.GenderText(a.Gender))
	}
	if len(req.Household) > 0 && !regionMatches(req.Household, a.Household) && !regionMatches(req.Household, a.Origin) {
		add(Household, "本职位要求户籍或生源地为%s，您填写的户籍所在地为%s、生源地为%s",
			catalog.RegionNames(req.Household), regionName(a.Household), regionName(a.Origin))
	}
	return out
}

// MajorMatches reports whether a major, or the category it belongs to, is
// among the accepted entries. Majors compare after catalog.NormalizeMajor.
func MajorMatches(accepted []string, major, category string) bool {
	major = catalog.NormalizeMajor(major)
	for _, e := range accepted {
		e = catalog.NormalizeMajor(e)
		if catalog.IsCategory(e) {
			if e == category {
				return true
			}
			continue
		}
		if major != "" && e == major {
			return true
		}
	}
	return false
}

// regionMatches reports whether code starts with one of the prefixes.
func regionMatches(prefixes []string, code string) bool {
	if code == "" {
		return false
	}
	for _, p := range prefixes {
		if strings.HasPrefix(code, p) {
			return true
		}
	}
	return false
}

func regionName(code string) string {
	for _, r := range catalog.CandidateRegions() {
		if r.Code == code {
			return r.Name
		}
	}
	if code == "" {
		return "（未填写）"
	}
	return code
}
