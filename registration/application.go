package registration

import (
	"time"

	"github.com/shiming-id/shiming/registration/review"
)

// Step is where an application stands: the step the candidate does next.
// The numbers follow the guide's nine steps and are stable, so a store may
// keep them as integers.
type Step int

const (
	StepPledge       Step = 1 // 诚信考试承诺书: tick 我同意以上条款, submit
	StepNotice       Step = 2 // 考生考前须知: tick 我已阅读并同意以上条款, submit
	StepInfo         Step = 3 // 个人信息: four pages, then submit
	StepPosition     Step = 4 // 选择考区、报考单位、报考职位, submit
	StepTerms        Step = 5 // 初审自动审核条款: 我已知晓
	StepReviewFailed Step = 6 // 初审意见: 改报职位 or 重新报考
	StepEligible     Step = 7 // 符合报考条件: 下一步
	StepConfirm      Step = 8 // 确认信息, submit
	StepComplete     Step = 9 // 报名成功
)

var stepNames = map[Step]string{
	StepPledge: "pledge", StepNotice: "notice", StepInfo: "info", StepPosition: "position", StepTerms: "terms",
	StepReviewFailed: "review_failed", StepEligible: "eligible", StepConfirm: "confirm", StepComplete: "complete",
}

var stepLabels = map[Step]string{
	StepPledge: "诚信考试承诺书", StepNotice: "考生考前须知", StepInfo: "填写个人信息", StepPosition: "选择报考职位",
	StepTerms: "初审自动审核条款", StepReviewFailed: "初审意见", StepEligible: "符合报考条件", StepConfirm: "确认信息",
	StepComplete: "完成报名",
}

// Steps lists the nine steps in order.
func Steps() []Step {
	return []Step{StepPledge, StepNotice, StepInfo, StepPosition, StepTerms, StepReviewFailed, StepEligible, StepConfirm, StepComplete}
}

// String returns the step in lower snake case, as in metric labels.
func (s Step) String() string {
	if n, ok := stepNames[s]; ok {
		return n
	}
	return "unknown"
}

// Label returns the step's Chinese title, as in the guide.
func (s Step) Label() string { return stepLabels[s] }

// Valid reports whether s is one of Steps.
func (s Step) Valid() bool { _, ok := stepNames[s]; return ok }

// Outcome is the result of the preliminary automatic review.
type Outcome string

const (
	OutcomeNone   Outcome = ""       // not reviewed for the current position
	OutcomePassed Outcome = "passed" // meets every checked requirement
	OutcomeFailed Outcome = "failed" // see Reasons
)

// Review is the latest automatic review (初审) of an application.
type Review struct {
	Outcome      Outcome         `json:"outcome,omitempty"`
	PositionCode string          `json:"position_code,omitempty"`
	Reasons      []review.Reason `json:"reasons,omitempty"`
	At           time.Time       `json:"at"`
}

// Application is one candidate's registration for one exam. There is at
// most one per (ExamCode, AccountID). It holds no ID number and no phone:
// those are read from the Candidate when needed.
type Application struct {
	ExamCode  string `json:"exam_code"`
	AccountID string `json:"account_id"`
	// Portal is the entry point the candidate started from.
	Portal string `json:"portal"`
	Step   Step   `json:"step"`
	// Profile is the personal information of step 3.
	Profile Profile `json:"profile"`
	// PositionCode is the chosen position, empty before step 4.
	PositionCode string `json:"position_code,omitempty"`
	Review       Review `json:"review"`

	PledgedAt       time.Time `json:"pledged_at"`
	NoticeAt        time.Time `json:"notice_at"`
	TermsAcceptedAt time.Time `json:"terms_accepted_at"`
	// SubmittedAt and Number are set by Store.Submit only. Number is the
	// exam-wide sequence number of the completed registration (报名序号).
	SubmittedAt time.Time `json:"submitted_at"`
	Number      int64     `json:"number,omitempty"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Version increases by one on every stored change; UpdateApplication
	// refuses a stale one.
	Version int64 `json:"version"`
}

// Done reports whether step s is behind the application.
func (a Application) Done(s Step) bool {
	switch {
	case a.Step == StepComplete:
		return true
	case s == StepReviewFailed:
		// The review step is behind once it passed, whatever the path.
		return a.Step >= StepEligible
	}
	return s < a.Step
}

// Clone returns a deep copy of a, so that a store never shares pages or
// reasons with its callers.
func (a Application) Clone() Application {
	a.Profile = a.Profile.clone()
	a.Review.Reasons = append([]review.Reason(nil), a.Review.Reasons...)
	return a
}
