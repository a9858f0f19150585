package providertest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// pollInterval is the pause between polls while the kit waits for the
// vendor's test double to move a session on.
const pollInterval = 20 * time.Millisecond

var scanTests = []namedTest{
	{"happy_path_and_code_reused", func(t *testing.T, h *Harness, tg target) {
		c := tg.open(t, h.Config)
		ctx := callCtx(t)
		uuid, code, err := scanLogin(ctx, h, c, "happy")
		if err != nil {
			t.Fatal(err)
		}
		id, err := c.ExchangeCode(ctx, uuid, code)
		if err != nil {
			t.Fatalf("ExchangeCode: %v", err)
		}
		if id.Subject == "" {
			t.Errorf("identity without a subject: %+v", id)
		}
		_, err = c.ExchangeCode(ctx, uuid, code)
		wantKind(t, "the same code exchanged twice", err, sdk.CodeReused)
	}},
	{"unknown_uuid", func(t *testing.T, h *Harness, tg target) {
		c := tg.open(t, h.Config)
		for _, uuid := range []string{"providertest-unknown-0f3c9a", ""} {
			_, err := c.PollScan(callCtx(t), uuid)
			wantKind(t, fmt.Sprintf("PollScan(%q)", uuid), err, sdk.UUIDInvalid)
		}
	}},
	{"foreign_uuid", func(t *testing.T, h *Harness, tg target) {
		other := tg.open(t, h.OtherConfig)
		ss, err := other.BeginScan(callCtx(t), sdk.BeginScanRequest{CallbackURL: h.CallbackURL, State: "foreign"})
		if err != nil {
			t.Fatalf("BeginScan with OtherConfig: %v", err)
		}
		c := tg.open(t, h.Config)
		_, err = c.PollScan(callCtx(t), ss.UUID)
		wantKind(t, "PollScan of a uuid issued under other credentials", err, sdk.UUIDInvalid)
	}},
	{"expired", func(t *testing.T, h *Harness, tg target) {
		c := tg.open(t, h.Config)
		ctx := callCtx(t)
		ss := beginScan(t, ctx, h, c, "expire")
		if err := h.Phone.Expire(ctx, ss.QRContent); err != nil {
			t.Fatalf("harness Expire: %v", err)
		}
		st, err := c.PollScan(ctx, ss.UUID)
		if err != nil || st.State != sdk.ScanExpired {
			t.Fatalf("PollScan of an expired session = %v, %v; want %v", st.State, err, sdk.ScanExpired)
		}
	}},
	{"cancelled", func(t *testing.T, h *Harness, tg target) {
		c := tg.open(t, h.Config)
		ctx := callCtx(t)
		ss := beginScan(t, ctx, h, c, "cancel")
		if err := h.Phone.Scan(ctx, ss.QRContent); err != nil {
			t.Fatalf("harness Scan: %v", err)
		}
		q, err := h.Phone.Cancel(ctx, ss.QRContent)
		if err != nil {
			t.Fatalf("harness Cancel: %v", err)
		}
		if q != nil {
			st, err := c.ScanCallback(ctx, ss.UUID, q)
			if st.State != sdk.ScanCancelled && sdk.KindOf(err) != sdk.Cancelled {
				t.Errorf("ScanCallback after a cancel = %v, %v; want %v", st.State, err, sdk.ScanCancelled)
			}
		}
		st, err := c.PollScan(ctx, ss.UUID)
		ok := st.State == sdk.ScanCancelled
		if q != nil {
			// A vendor that reports the cancel only by the redirect
			// (Alipay) has no state to poll: the callback told the host.
			ok = ok || st.State == sdk.ScanWaiting
		}
		if err != nil || !ok {
			t.Fatalf("PollScan after a cancel = %v, %v; want %v", st.State, err, sdk.ScanCancelled)
		}
	}},
}

func beginScan(t *testing.T, ctx context.Context, h *Harness, c *sdk.Client, state string) sdk.ScanSession {
	t.Helper()
	ss, err := c.BeginScan(ctx, sdk.BeginScanRequest{CallbackURL: h.CallbackURL, State: state})
	if err != nil {
		t.Fatalf("BeginScan: %v", err)
	}
	if ss.UUID == "" || ss.QRContent == "" {
		t.Fatalf("BeginScan = %+v: uuid and QR content are required", ss)
	}
	if !ss.ExpiresAt.IsZero() && !ss.ExpiresAt.After(time.Now()) {
		t.Fatalf("BeginScan: the session expires at %v, in the past", ss.ExpiresAt)
	}
	return ss
}

// scanLogin runs a QR session from begin to a confirmed code: the phone
// scans and approves; the code comes from ScanCallback on the redirect
// query when the vendor gives one, else from polling.
func scanLogin(ctx context.Context, h *Harness, c *sdk.Client, state string) (uuid, code string, err error) {
	ss, err := c.BeginScan(ctx, sdk.BeginScanRequest{CallbackURL: h.CallbackURL, State: state})
	if err != nil {
		return "", "", fmt.Errorf("BeginScan: %w", err)
	}
	if ss.UUID == "" || ss.QRContent == "" {
		return "", "", fmt.Errorf("BeginScan = %+v: uuid and QR content are required", ss)
	}
	st, err := c.PollScan(ctx, ss.UUID)
	if err != nil || st.State != sdk.ScanWaiting {
		return "", "", fmt.Errorf("PollScan of a new session = %v, %v; want %v", st.State, err, sdk.ScanWaiting)
	}
	if err := h.Phone.Scan(ctx, ss.QRContent); err != nil {
		return "", "", fmt.Errorf("harness Scan: %w", err)
	}
	st, err = c.PollScan(ctx, ss.UUID)
	if err != nil || (st.State != sdk.ScanWaiting && st.State != sdk.ScanScanned) {
		return "", "", fmt.Errorf("PollScan of a scanned session = %v, %v; want waiting or scanned", st.State, err)
	}
	q, err := h.Phone.Approve(ctx, ss.QRContent)
	if err != nil {
		return "", "", fmt.Errorf("harness Approve: %w", err)
	}
	if q != nil {
		st, err := c.ScanCallback(ctx, ss.UUID, q)
		if err != nil || st.State != sdk.ScanConfirmed || st.Code == "" {
			return "", "", fmt.Errorf("ScanCallback on the approve redirect = %+v, %v; want confirmed with a code", st, err)
		}
		return ss.UUID, st.Code, nil
	}
	for {
		st, err := c.PollScan(ctx, ss.UUID)
		switch {
		case err != nil:
			return "", "", fmt.Errorf("PollScan after approve: %w", err)
		case st.State == sdk.ScanConfirmed:
			if st.Code == "" {
				return "", "", fmt.Errorf("PollScan: confirmed without a code")
			}
			return ss.UUID, st.Code, nil
		case st.State != sdk.ScanWaiting && st.State != sdk.ScanScanned:
			return "", "", fmt.Errorf("PollScan after approve = %v, want confirmed", st.State)
		}
		select {
		case <-ctx.Done():
			return "", "", fmt.Errorf("PollScan never reported confirmed: %w", ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

var identityTests = []namedTest{
	{"match", func(t *testing.T, h *Harness, tg target) {
		m := h.People.Match
		if _, err := tg.open(t, h.Config).CheckIdentity(callCtx(t), m.Name, m.IDNumber); err != nil {
			t.Fatalf("CheckIdentity(People.Match): %v", err)
		}
	}},
	{"mismatch", func(t *testing.T, h *Harness, tg target) {
		m := h.People.Mismatch
		_, err := tg.open(t, h.Config).CheckIdentity(callCtx(t), m.Name, m.IDNumber)
		wantKind(t, "CheckIdentity(People.Mismatch)", err, sdk.NameIDMismatch)
	}},
}

// faceCheck begins a face session for p, lets the phone perform it and
// polls until the result is no longer pending.
func faceCheck(ctx context.Context, h *Harness, c *sdk.Client, p Person) (sdk.FaceStatus, error) {
	fs, err := c.BeginFace(ctx, sdk.FaceRequest{Name: p.Name, IDNumber: p.IDNumber, Subject: p.Subject, ReturnURL: h.CallbackURL})
	if err != nil {
		return sdk.FaceStatus{}, fmt.Errorf("BeginFace: %w", err)
	}
	if fs.CertifyID == "" || fs.QRContent == "" {
		return sdk.FaceStatus{}, fmt.Errorf("BeginFace = %+v: certify id and QR content are required", fs)
	}
	st, err := c.QueryFace(ctx, fs.CertifyID)
	if err != nil || st.Result != sdk.FacePending {
		return sdk.FaceStatus{}, fmt.Errorf("QueryFace before the check = %+v, %v; want pending", st, err)
	}
	if err := h.Phone.Face(ctx, fs.QRContent); err != nil {
		return sdk.FaceStatus{}, fmt.Errorf("harness Face: %w", err)
	}
	for {
		st, err := c.QueryFace(ctx, fs.CertifyID)
		if err != nil {
			return sdk.FaceStatus{}, fmt.Errorf("QueryFace: %w", err)
		}
		if st.Result != sdk.FacePending {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return sdk.FaceStatus{}, fmt.Errorf("QueryFace stayed pending: %w", ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

var faceTests = []namedTest{
	{"pass", func(t *testing.T, h *Harness, tg target) {
		st, err := faceCheck(callCtx(t), h, tg.open(t, h.Config), h.People.Match)
		if err != nil {
			t.Fatal(err)
		}
		if st.Result != sdk.FacePassed {
			t.Fatalf("face check of People.Match = %+v, want passed", st)
		}
	}},
	{"fail", func(t *testing.T, h *Harness, tg target) {
		st, err := faceCheck(callCtx(t), h, tg.open(t, h.Config), h.People.FaceFail)
		if err != nil {
			t.Fatal(err)
		}
		if st.Result != sdk.FaceFailed || (st.Reason != sdk.FaceMismatch && st.Reason != sdk.LivenessFailed) {
			t.Fatalf("face check of People.FaceFail = result %d reason %v, want failed with %v or %v",
				st.Result, st.Reason, sdk.FaceMismatch, sdk.LivenessFailed)
		}
	}},
}

var phoneTests = []namedTest{
	{"send_and_verify", func(t *testing.T, h *Harness, tg target) {
		c := tg.open(t, h.Config)
		ctx := callCtx(t)
		phone, purpose := h.People.Match.Phone, "bind_phone"
		tk, err := c.SendCode(ctx, phone, purpose)
		if err != nil {
			t.Fatalf("SendCode: %v", err)
		}
		if tk.Ticket == "" {
			t.Fatal("SendCode returned no ticket")
		}
		code, err := h.Phone.SMSCode(ctx, phone)
		if err != nil {
			t.Fatalf("harness SMSCode: %v", err)
		}
		other := "13900000000"
		if other == phone {
			other = "13900000001"
		}
		wantKind(t, "VerifyCode with a wrong code", c.VerifyCode(ctx, tk.Ticket, phone, purpose, wrongCode(code)), sdk.CodeInvalid)
		wantKind(t, "VerifyCode of the ticket for another phone", c.VerifyCode(ctx, tk.Ticket, other, purpose, code), sdk.InvalidRequest)
		wantKind(t, "VerifyCode of the ticket for another purpose", c.VerifyCode(ctx, tk.Ticket, phone, "change_phone", code), sdk.InvalidRequest)
		if err := c.VerifyCode(ctx, tk.Ticket, phone, purpose, code); err != nil {
			t.Fatalf("VerifyCode with the code sent: %v", err)
		}
	}},
}

// wrongCode changes the last character of code.
func wrongCode(code string) string {
	if code == "" {
		return "0"
	}
	b := []byte(code)
	last := b[len(b)-1]
	if last >= '0' && last <= '9' {
		b[len(b)-1] = '0' + (last-'0'+1)%10
	} else {
		b[len(b)-1] = '0'
	}
	return string(b)
}

var ownerTests = []namedTest{
	{"match", func(t *testing.T, h *Harness, tg target) {
		m := h.People.Match
		if err := tg.open(t, h.Config).CheckOwner(callCtx(t), m.Phone, m.Name, m.IDNumber); err != nil {
			t.Fatalf("CheckOwner(People.Match): %v", err)
		}
	}},
	{"mismatch", func(t *testing.T, h *Harness, tg target) {
		m, x := h.People.Match, h.People.Mismatch
		err := tg.open(t, h.Config).CheckOwner(callCtx(t), m.Phone, x.Name, x.IDNumber)
		wantKind(t, "CheckOwner of People.Match's phone for People.Mismatch", err, sdk.NameIDMismatch)
	}},
}

// noticeNewPhone is the new number a phone_changed notice of the kit
// announces, masked.
const noticeNewPhone = "13912345678"

// phoneChanged is the phone_changed notice of a change to newPhone.
func phoneChanged(newPhone string) sdk.Notice {
	return sdk.Notice{Kind: sdk.NoticePhoneChanged, Params: map[string]string{"phone": cnid.MaskPhone(newPhone)}}
}

var noticeTests = []namedTest{
	{"phone_changed", func(t *testing.T, h *Harness, tg target) {
		c := tg.open(t, h.Config)
		ctx := callCtx(t)
		phone := h.People.Match.Phone
		if err := c.SendNotice(ctx, phone, phoneChanged(noticeNewPhone)); err != nil {
			t.Fatalf("SendNotice(phone_changed) to People.Match.Phone: %v", err)
		}
		r, ok := h.Phone.(SMSReader)
		if !ok {
			return
		}
		text, err := r.SMSText(ctx, phone)
		if err != nil {
			t.Fatalf("harness SMSText: %v", err)
		}
		if masked := cnid.MaskPhone(noticeNewPhone); !strings.Contains(text, masked) || strings.Contains(text, noticeNewPhone) {
			t.Errorf("the phone_changed notice reads %q: want the new number masked (%s), never in full", text, masked)
		}
	}},
	{"unknown_kind", func(t *testing.T, h *Harness, tg target) {
		err := tg.open(t, h.Config).SendNotice(callCtx(t), h.People.Match.Phone, sdk.Notice{Kind: "providertest_unknown", Params: map[string]string{"phone": cnid.MaskPhone(noticeNewPhone)}})
		wantKind(t, "SendNotice of an unknown kind", err, sdk.InvalidRequest)
	}},
	{"missing_param", func(t *testing.T, h *Harness, tg target) {
		err := tg.open(t, h.Config).SendNotice(callCtx(t), h.People.Match.Phone, sdk.Notice{Kind: sdk.NoticePhoneChanged})
		wantKind(t, "SendNotice of phone_changed without its phone param", err, sdk.InvalidRequest)
	}},
	{"invalid_phone", func(t *testing.T, h *Harness, tg target) {
		err := tg.open(t, h.Config).SendNotice(callCtx(t), "12345", phoneChanged(noticeNewPhone))
		wantKind(t, "SendNotice to a malformed phone", err, sdk.InvalidRequest)
	}},
}
