// Package providertest is the conformance kit every provider plugin
// passes: Run proves a provider in-process and again over a real
// go-plugin process.
//
// A vendor writes one test. It starts the vendor's own test double (an
// httptest server faking the vendor's HTTP API), builds the plugin
// binary, and fills a Harness:
//
//	func TestConformance(t *testing.T) {
//		vendor := newFakeVendor(t)            // the vendor's test double
//		bin := providertest.BuildPlugin(t, ".")
//		providertest.Run(t, providertest.Harness{
//			New:         func() sdk.Provider { return acme.New() },
//			Command:     func() *exec.Cmd { return exec.Command(bin) },
//			Config:      vendor.config("app-1", "secret-1"),
//			OtherConfig: vendor.config("app-2", "secret-2"),
//			BadConfig:   json.RawMessage(`{"base_url":"not a url"}`),
//			BadFields:   []string{"base_url", "app_id"},
//			Phone:       vendor,                  // implements providertest.Phone
//			People:      vendor.people(),
//			Slow:        vendor.slow,
//		})
//	}
//
// The Phone is how the kit acts as the user: it scans, approves and
// cancels QR sessions, lets a session expire, performs a face check and
// reads the SMS the vendor sent. It drives the test double directly,
// never through the plugin.
//
// What Run checks, for the capabilities the provider declares (the
// others are skipped, after checking that they answer NotSupported):
//
//   - Info names the provider and declares known capabilities, and every
//     method of a declared capability answers something else than
//     NotSupported; Configure rejects a bad configuration with
//     InvalidConfig naming its fields.
//   - Scan login: the happy path (the code comes from PollScan CONFIRMED,
//     or from ScanCallback on the query Approve returns); a code
//     exchanged twice is CodeReused; an unknown, empty or foreign uuid
//     (issued by an instance configured with OtherConfig) is UUIDInvalid;
//     an expired session polls EXPIRED; a cancelled one CANCELLED (when
//     Cancel returns a redirect query, ScanCallback must say CANCELLED and
//     PollScan may still say WAITING: such a vendor has no state to poll).
//   - Identity check: a match passes, a mismatch is NameIDMismatch.
//   - Face: People.Match passes; People.FaceFail fails with FaceMismatch
//     or LivenessFailed.
//   - Phone: the code sent verifies; a wrong code is CodeInvalid; the
//     ticket presented with another phone or purpose is InvalidRequest.
//   - Phone owner: a match passes, a mismatch is NameIDMismatch.
//   - Phone notice: a phone_changed notice to People.Match.Phone is sent
//     (and, when the Phone is an SMSReader, arrives with the masked new
//     number in its text and never the full one); an unknown notice kind,
//     a phone_changed notice without its phone param and a malformed
//     phone are InvalidRequest.
//   - A call whose context is cancelled while the vendor is slow returns
//     within 5 s (a liveness check, not a benchmark); for scan login the
//     call is BeginScan followed by ExchangeCode.
//   - 50 flows at once succeed (run the kit with -race).
//   - Every error kind survives the plugin transport (checked with a
//     small provider built into the kit).
package providertest

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"

	"github.com/shiming-id/shiming/plugins/sdk"
)

// Harness is what a provider supplies to the kit.
type Harness struct {
	// New returns a fresh, unconfigured provider for the in-process run.
	// The kit calls it for every subtest. Required.
	New func() sdk.Provider
	// Command returns an unstarted command running the plugin binary; the
	// kit starts one process per subtest of the over-the-wire run and
	// gives it only go-plugin's environment plus Command's Env. Without
	// it that run is skipped. BuildPlugin makes the binary.
	Command func() *exec.Cmd

	// Config is a valid configuration pointing at the vendor's test
	// double. Required.
	Config json.RawMessage
	// OtherConfig is valid too, with other credentials: QR sessions it
	// issues must be foreign to an instance configured with Config.
	// Required for scan login.
	OtherConfig json.RawMessage
	// BadConfig is invalid; Configure must fail with InvalidConfig naming
	// at least BadFields. Required.
	BadConfig json.RawMessage
	BadFields []string

	// Phone acts as the user's phone at the vendor's test double.
	// Required for every capability but the identity and owner checks.
	Phone Phone
	// People are persons the vendor's test double knows.
	People People
	// Slow makes the vendor's test double answer slowly (longer than 5 s,
	// or until restored) until the returned function is called. Required.
	Slow func() (restore func())

	// CallbackURL is given to BeginScan; default
	// "https://gateway.example/callback".
	CallbackURL string
}

// Person is a test person.
type Person struct {
	Name     string
	IDNumber string
	// Phone is registered to the person at the vendor (for the owner
	// check) and receives SMS codes.
	Phone string
	// Subject is the person's provider subject, passed as
	// FaceRequest.Subject to vendors that bind a face check to one of
	// their users (WeChat's openid). Optional.
	Subject string
}

// People are the test persons the kit uses.
type People struct {
	// Match: name and ID number belong together, the face check passes
	// and Phone is theirs.
	Match Person
	// Mismatch: a name that does not belong to the ID number.
	Mismatch Person
	// FaceFail: a consistent person whose face check fails.
	FaceFail Person
}

// Phone is the user's phone at the vendor's test double. qrContent is
// what the plugin put in the QR code (ScanSession.QRContent or
// FaceSession.QRContent), which is all a real phone sees.
type Phone interface {
	// Scan opens the QR session in the vendor's app without confirming.
	Scan(ctx context.Context, qrContent string) error
	// Approve confirms the login as People.Match. It returns the query of
	// the vendor's redirect to the callback URL, or nil when the vendor
	// reports the confirmation through polling only.
	Approve(ctx context.Context, qrContent string) (callbackQuery map[string]string, err error)
	// Cancel refuses the login, returning the redirect query likewise.
	Cancel(ctx context.Context, qrContent string) (callbackQuery map[string]string, err error)
	// Expire lets the QR session run out of time at the vendor (or moves
	// the vendor's clock past its expiry).
	Expire(ctx context.Context, qrContent string) error
	// Face performs the face check of a face session as the person it was
	// begun for: it passes for People.Match and fails for
	// People.FaceFail.
	Face(ctx context.Context, qrContent string) error
	// SMSCode returns the last code the vendor sent to phone.
	SMSCode(ctx context.Context, phone string) (string, error)
}

// SMSReader is optionally implemented by a Phone that can read the text
// of the messages the vendor delivered. With it, the kit checks that a
// notice arrived, and what it says.
type SMSReader interface {
	// SMSText returns the text of the newest message sent to phone.
	SMSText(ctx context.Context, phone string) (string, error)
}

func (h *Harness) check() error {
	var errs []error
	if h.New == nil {
		errs = append(errs, errors.New("providertest: Harness.New is required"))
	}
	if len(h.Config) == 0 {
		errs = append(errs, errors.New("providertest: Harness.Config is required"))
	}
	if len(h.BadConfig) == 0 || len(h.BadFields) == 0 {
		errs = append(errs, errors.New("providertest: Harness.BadConfig and BadFields are required"))
	}
	if h.Slow == nil {
		errs = append(errs, errors.New("providertest: Harness.Slow is required"))
	}
	if h.CallbackURL == "" {
		h.CallbackURL = "https://gateway.example/callback"
	}
	return errors.Join(errs...)
}

// needs reports what the harness lacks for the declared capabilities.
func (h *Harness) needs(info sdk.Info) error {
	var errs []error
	if h.Phone == nil && (info.Has(sdk.CapabilityScanLogin) || info.Has(sdk.CapabilityFaceVerification) || info.Has(sdk.CapabilityPhone)) {
		errs = append(errs, errors.New("providertest: Harness.Phone is required for scan login, face verification and phone"))
	}
	if info.Has(sdk.CapabilityScanLogin) && len(h.OtherConfig) == 0 {
		errs = append(errs, errors.New("providertest: Harness.OtherConfig is required for scan login"))
	}
	p := h.People
	if (info.Has(sdk.CapabilityIdentityCheck) || info.Has(sdk.CapabilityPhoneOwner)) && (p.Match.Name == "" || p.Mismatch.Name == "") {
		errs = append(errs, errors.New("providertest: Harness.People.Match and Mismatch are required"))
	}
	if info.Has(sdk.CapabilityFaceVerification) && p.FaceFail.Name == "" {
		errs = append(errs, errors.New("providertest: Harness.People.FaceFail is required for face verification"))
	}
	if (info.Has(sdk.CapabilityPhone) || info.Has(sdk.CapabilityPhoneOwner) || info.Has(sdk.CapabilityPhoneNotice)) && p.Match.Phone == "" {
		errs = append(errs, errors.New("providertest: Harness.People.Match.Phone is required for phone"))
	}
	return errors.Join(errs...)
}
