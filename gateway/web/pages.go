package web

import "github.com/shiming-id/shiming/gateway/config"

// The data of each page, by template name.

// PortalsData is the data of "portals", the portal chooser.
type PortalsData struct {
	Portals []config.Portal
}

// Choice is one button of a list of providers or issuers.
type Choice struct {
	ID    string
	Label string
}

// PortalData is the data of "portal", a portal's home with the guide's
// notices and its entry buttons.
type PortalData struct {
	Issuers []Choice
	ExamURL string
}

// HomeData is the data of "home", the candidate's home.
type HomeData struct {
	Name, IDNumber, Phone string // masked
	Evidence              []EvidenceRow
	ExamURL               string
}

// EvidenceRow is one verification shown on the candidate's home.
type EvidenceRow struct {
	Provider string
	Level    string
	Date     string
}

// ChooseData is the data of "realname_choose".
type ChooseData struct {
	Action    string
	Providers []Choice
}

// IdentityData is the data of "realname_identity".
type IdentityData struct {
	Action   string
	Provider string
	// FromProvider says the provider vouches for name and number: they
	// are compared with what the candidate types, not sent to a vendor.
	FromProvider bool
}

// MismatchData is the data of "realname_mismatch".
type MismatchData struct {
	// CTIDAction switches the flow to the CTID provider; empty when the
	// flow already used it or CTID is not offered.
	CTIDAction string
	RetryURL   string
}

// PhoneData is the data of the SMS forms ("realname_phone",
// "forgot_change", "forgot_reset").
type PhoneData struct {
	Action string
	// Sent says a code was sent, to MaskedPhone.
	Sent         bool
	MaskedPhone  string
	ValidFor     string // how long the code lives, e.g. "5 分钟"
	ResendIn     string
	AttemptsLeft int
	// Known values shown read-only (masked), when the page has them.
	MaskedName, MaskedID string
}

// FaceData is the data of "face", the page before a face verification.
type FaceData struct {
	Action       string
	Provider     string
	AttemptsLeft int
	Failed       bool
}

// PasswordData is the data of "realname_password" and "forgot_reset".
type PasswordData struct {
	Action                            string
	MaskedName, MaskedID, MaskedPhone string
}

// LoginData is the data of "login".
type LoginData struct {
	Tab    string
	Portal string
	// SMS tab.
	SMSSent     bool
	MaskedPhone string
	ValidFor    string
	ResendIn    string
	// Scan tab.
	ScanProviders []Choice
	// Government-portal tab.
	Issuers []Choice
}

// ConfirmData is the data of "forgot_confirm".
type ConfirmData struct {
	Action             string
	OldPhone, NewPhone string // masked
}

// OptionsData is the data of "forgot_options".
type OptionsData struct {
	ChangeURL, ResetURL string
	MaskedID            string
}
