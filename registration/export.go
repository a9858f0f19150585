package registration

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/shiming-id/shiming/plugins/sdk/cnid"
	"github.com/shiming-id/shiming/registration/catalog"
)

// ExportOptions select what an export contains.
type ExportOptions struct {
	// FullIDNumbers exports ID numbers unmasked. Operators must ask for it
	// explicitly and confirm; it is audited either way.
	FullIDNumbers bool
	// CompleteOnly leaves out applications that are not complete.
	CompleteOnly bool
}

var exportHeader = []string{
	"报名序号", "姓名", "身份证号码", "性别", "出生日期", "手机号码",
	"民族", "政治面貌", "户籍所在地", "生源地", "通讯地址", "邮政编码", "电子邮箱",
	"最高学历", "最高学位", "毕业院校", "毕业时间", "专业类别", "所学专业",
	"现工作单位", "基层工作经历年限",
	"考区", "单位代码", "单位名称", "职位代码", "职位名称",
	"初审结果", "初审意见", "当前步骤", "报名入口", "提交时间",
}

// Export writes an exam's applications as CSV (UTF-8 with a byte-order
// mark, so that Excel reads it). The export is audited before any data is
// produced; if the audit record cannot be written, nothing is exported.
// Phone numbers are always masked; ID numbers unless opts.FullIDNumbers.
// It returns the file and the number of applications in it.
func (s *Service) Export(ctx context.Context, operator, exam string, opts ExportOptions) ([]byte, int, error) {
	c, err := s.store.Catalog(ctx, exam)
	if err != nil {
		return nil, 0, fmt.Errorf("registration: export: %w", err)
	}
	if err := s.auditor.Record(ctx, "registration.export", operator, map[string]string{
		"exam":            exam,
		"full_id_numbers": strconv.FormatBool(opts.FullIDNumbers),
		"complete_only":   strconv.FormatBool(opts.CompleteOnly),
	}); err != nil {
		return nil, 0, fmt.Errorf("registration: export: audit: %w", err)
	}
	areas := map[string]string{}
	for _, a := range c.Areas {
		areas[a.Code] = a.Name
	}
	units := map[string]string{}
	for _, u := range c.Units {
		units[u.Code] = u.Name
	}
	positions := map[string]catalog.Position{}
	for _, p := range c.Positions {
		positions[p.Code] = p
	}

	var buf bytes.Buffer
	buf.WriteString("\ufeff")
	w := csv.NewWriter(&buf)
	w.UseCRLF = true
	if err := w.Write(exportHeader); err != nil {
		return nil, 0, fmt.Errorf("registration: export: %w", err)
	}
	rows := 0
	after := ""
	for {
		page, err := s.store.ListApplications(ctx, exam, ListOptions{After: after, Limit: 500, CompleteOnly: opts.CompleteOnly})
		if err != nil {
			return nil, 0, fmt.Errorf("registration: export: list: %w", err)
		}
		if len(page) == 0 {
			break
		}
		for _, a := range page {
			cand, err := s.candidates.Lookup(ctx, a.AccountID)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return nil, 0, fmt.Errorf("registration: export: look up candidate: %w", err)
			}
			p := positions[a.PositionCode]
			rec := exportRow(a, cand, opts, p, areas[p.AreaCode], units[p.UnitCode])
			if err := w.Write(rec); err != nil {
				return nil, 0, fmt.Errorf("registration: export: %w", err)
			}
			rows++
		}
		after = page[len(page)-1].AccountID
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, 0, fmt.Errorf("registration: export: %w", err)
	}
	s.log.InfoContext(ctx, "registration: export", "operator", operator, "exam", exam, "rows", rows, "full_id_numbers", opts.FullIDNumbers)
	return buf.Bytes(), rows, nil
}

func exportRow(a Application, c Candidate, opts ExportOptions, p catalog.Position, area, unit string) []string {
	var name, id, gender, birth, phone string
	if c != nil {
		name = c.Name()
		id = cnid.MaskID(c.IDNumber())
		if opts.FullIDNumbers {
			id = c.IDNumber()
		}
		gender = catalog.GenderText(c.Gender())
		birth = c.BirthDate().Format("2006-01-02")
		phone = cnid.MaskPhone(c.Phone())
	} else {
		name = "（账户不存在）"
	}
	number := ""
	submitted := ""
	if a.Step == StepComplete {
		number = FormatNumber(a.Number)
		submitted = a.SubmittedAt.In(catalog.Location()).Format("2006-01-02 15:04:05")
	}
	row := []string{number, name, id, gender, birth, phone}
	if b := a.Profile.Basic; b != nil {
		row = append(row, b.Ethnicity, b.Political, regionName(b.Household), regionName(b.Origin), b.Address, b.Postcode, b.Email)
	} else {
		row = append(row, make([]string, 7)...)
	}
	if e := a.Profile.Education; e != nil {
		row = append(row, e.Level.String(), e.Degree.String(), e.School, e.Graduated, e.MajorCategory, e.Major)
	} else {
		row = append(row, make([]string, 6)...)
	}
	if w := a.Profile.Work; w != nil {
		row = append(row, w.Employer, strconv.Itoa(w.GrassrootsYears))
	} else {
		row = append(row, "", "")
	}
	var opinion []string
	for _, r := range a.Review.Reasons {
		opinion = append(opinion, r.Message)
	}
	row = append(row, area, p.UnitCode, unit, p.Code, p.Name,
		outcomeText(a.Review.Outcome), strings.Join(opinion, "；"), a.Step.Label(), a.Portal, submitted)
	for i, f := range row {
		row[i] = cell(f)
	}
	return row
}

// cell defuses text that a spreadsheet would run as a formula (CSV
// injection): candidates typed much of it.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func outcomeText(o Outcome) string {
	switch o {
	case OutcomePassed:
		return "通过"
	case OutcomeFailed:
		return "未通过"
	}
	return ""
}

// regionName names a candidate region code.
func regionName(code string) string {
	for _, r := range catalog.CandidateRegions() {
		if r.Code == code {
			return r.Name
		}
	}
	return code
}

// FormatNumber formats a registration sequence number (报名序号) as shown
// to candidates and operators.
func FormatNumber(n int64) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf("%06d", n)
}
