package smscode_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shiming-id/shiming/gateway/config"
	jt "github.com/shiming-id/shiming/gateway/journey/journeytest"
	"github.com/shiming-id/shiming/gateway/ratelimit"
	"github.com/shiming-id/shiming/gateway/smscode"
	"github.com/shiming-id/shiming/gateway/store/sqlite"
	"github.com/shiming-id/shiming/plugins/sdk"
)

func TestReserve(t *testing.T) {
	now := time.Date(2026, 2, 27, 9, 0, 0, 0, time.UTC)
	sent := smscode.Ticket{Ticket: "t1", Phone: "13800001001", Purpose: smscode.PurposeBindPhone, SentAt: now, ExpiresAt: now.Add(10 * time.Minute)}
	tests := []struct {
		name    string
		ticket  func(smscode.Ticket) smscode.Ticket
		phone   string
		purpose string
		at      time.Time
		want    error
	}{
		{"ok", nil, "13800001001", smscode.PurposeBindPhone, now, nil},
		{"nothing sent", func(smscode.Ticket) smscode.Ticket { return smscode.Ticket{} }, "13800001001", smscode.PurposeBindPhone, now, smscode.ErrNotSent},
		{"used", func(t smscode.Ticket) smscode.Ticket { t.Used = true; return t }, "13800001001", smscode.PurposeBindPhone, now, smscode.ErrNotSent},
		{"another phone", nil, "13800001002", smscode.PurposeBindPhone, now, smscode.ErrWrongPhone},
		{"another purpose", nil, "13800001001", smscode.PurposeLogin, now, smscode.ErrWrongPhone},
		{"attempts used up", func(t smscode.Ticket) smscode.Ticket { t.Attempts = smscode.MaxAttempts; return t }, "13800001001", smscode.PurposeBindPhone, now, smscode.ErrAttempts},
		{"expired", nil, "13800001001", smscode.PurposeBindPhone, now.Add(10 * time.Minute), smscode.ErrExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tk := sent
			if tc.ticket != nil {
				tk = tc.ticket(tk)
			}
			before := tk.Attempts
			err := smscode.Reserve(&tk, tc.phone, tc.purpose, tc.at)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Reserve = %v, want %v", err, tc.want)
			}
			if (err == nil) != (tk.Attempts == before+1) {
				t.Fatalf("attempts %d → %d", before, tk.Attempts)
			}
		})
	}
}

func TestValidCode(t *testing.T) {
	for code, ok := range map[string]bool{"123456": true, "0000": true, "12345678": true, "123": false, "123456789": false, "12a456": false, "": false, "-1234": false} {
		if smscode.ValidCode(code) != ok {
			t.Errorf("ValidCode(%q) = %v", code, !ok)
		}
	}
}

// TestSendLimits checks the order of the limits: the resend cooldown
// refuses before a daily budget is spent.
func TestSendLimits(t *testing.T) {
	ctx := context.Background()
	clock := jt.NewClock(time.Date(2026, 2, 27, 9, 0, 0, 0, time.UTC))
	st, err := sqlite.Open(ctx, t.TempDir()+"/db", sqlite.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	lim, err := ratelimit.New(ratelimit.Options{Counters: st, KV: st, Now: clock.Now, Registerer: prometheus.NewRegistry(), Names: smscode.RuleNames()})
	if err != nil {
		t.Fatal(err)
	}
	fake := jt.NewSMS(clock.Now)
	limits := config.Limits{SMSPerPhonePerDay: 2, SMSPerIDPerDay: 3, SMSPerIPPerDay: 100, SMSPerDay: 1000, SMSResendAfter: config.Duration(time.Minute)}
	s, err := smscode.New(smscode.Options{Provider: "sms", Providers: &jt.Providers{SMS: map[string]*jt.SMS{"sms": fake}},
		Limiter: lim, Limits: limits, Now: clock.Now, Hash: func(kind, v string) string { return kind + ":" + v }})
	if err != nil {
		t.Fatal(err)
	}
	send := func(phone string) error {
		_, err := s.Send(ctx, smscode.Request{Phone: phone, Purpose: smscode.PurposeLogin, IDNumber: "430102199503141235", IP: "10.0.0.1"})
		return err
	}
	rule := func(err error) string {
		var le *smscode.LimitError
		if errors.As(err, &le) {
			return le.Rule
		}
		return ""
	}
	if err := send("13800001001"); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if r := rule(send("13800001001")); r != smscode.RuleResend {
			t.Fatalf("inside the cooldown: %q", r)
		}
	}
	clock.Advance(time.Minute)
	if err := send("13800001001"); err != nil {
		t.Fatalf("the cooldown spent the daily budget: %v", err)
	}
	clock.Advance(time.Minute)
	if r := rule(send("13800001001")); r != smscode.RulePhone {
		t.Fatalf("third of the day: %q", r)
	}
	if err := send("13800001002"); err != nil { // the third for the ID number
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if r := rule(send("13800001003")); r != smscode.RuleID {
		t.Fatalf("fourth for the ID number: %q", r)
	}
	if fake.Sent("") != 3 {
		t.Fatalf("%d codes sent", fake.Sent(""))
	}
	fake.FailNext("SendCode", sdk.E(sdk.VendorUnavailable, "down"))
	clock.Advance(time.Minute)
	if _, err := s.Send(ctx, smscode.Request{Phone: "13800001004", Purpose: smscode.PurposeLogin}); sdk.KindOf(err) != sdk.VendorUnavailable {
		t.Fatalf("vendor down: %v", err)
	}
}

// TestSendBudgetsPerIPAndPerDay pumps codes to many different numbers
// (SMS pumping): the per-address budget stops one client, the gateway's
// daily budget stops all of them together; neither reaches the vendor.
func TestSendBudgetsPerIPAndPerDay(t *testing.T) {
	ctx := context.Background()
	clock := jt.NewClock(time.Date(2026, 2, 27, 9, 0, 0, 0, time.UTC))
	st, err := sqlite.Open(ctx, t.TempDir()+"/db", sqlite.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	lim, err := ratelimit.New(ratelimit.Options{Counters: st, KV: st, Now: clock.Now, Registerer: prometheus.NewRegistry(), Names: smscode.RuleNames()})
	if err != nil {
		t.Fatal(err)
	}
	fake := jt.NewSMS(clock.Now)
	limits := config.Limits{SMSPerPhonePerDay: 10, SMSPerIDPerDay: 10, SMSPerIPPerDay: 3, SMSPerDay: 5, SMSResendAfter: config.Duration(time.Minute)}
	s, err := smscode.New(smscode.Options{Provider: "sms", Providers: &jt.Providers{SMS: map[string]*jt.SMS{"sms": fake}},
		Limiter: lim, Limits: limits, Now: clock.Now, Hash: func(kind, v string) string { return kind + ":" + v }})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	send := func(ip string) error {
		n++
		_, err := s.Send(ctx, smscode.Request{Phone: fmt.Sprintf("139%08d", n), Purpose: smscode.PurposeBindPhone, IP: ip})
		return err
	}
	rule := func(err error) string {
		var le *smscode.LimitError
		if errors.As(err, &le) {
			return le.Rule
		}
		return fmt.Sprint(err)
	}
	for i := range 3 {
		if err := send("10.0.0.1"); err != nil {
			t.Fatalf("send %d from one address: %v", i, err)
		}
	}
	if r := rule(send("10.0.0.1")); r != smscode.RuleIP {
		t.Fatalf("fourth from one address: %q", r)
	}
	for i := range 2 {
		if err := send(fmt.Sprintf("10.0.1.%d", i)); err != nil {
			t.Fatalf("send from another address: %v", err)
		}
	}
	if r := rule(send("10.0.2.1")); r != smscode.RuleDay {
		t.Fatalf("sixth of the day: %q", r)
	}
	if got := fake.Sent(""); got != 5 {
		t.Fatalf("%d codes reached the vendor, want 5", got)
	}
	clock.Advance(6*time.Hour + 59*time.Minute) // 15:59 UTC, 23:59 in China: the same day
	if r := rule(send("10.0.3.1")); r != smscode.RuleDay {
		t.Fatalf("a minute before midnight in China: %q", r)
	}
	clock.Advance(2 * time.Minute) // 00:01 in China: the next day
	if err := send("10.0.0.1"); err != nil {
		t.Fatalf("the budgets did not renew at midnight in China: %v", err)
	}
}

func TestTicketValidFor(t *testing.T) {
	sent := time.Date(2026, 2, 27, 9, 0, 0, 0, time.UTC)
	if got := (smscode.Ticket{SentAt: sent, ExpiresAt: sent.Add(5 * time.Minute)}).ValidFor(); got != 5*time.Minute {
		t.Fatalf("ValidFor = %v", got)
	}
	if got := (smscode.Ticket{SentAt: sent}).ValidFor(); got != 0 {
		t.Fatalf("ValidFor without an expiry = %v", got)
	}
}
