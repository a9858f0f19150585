package flowpage

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/shiming-id/shiming/gateway/smscode"
	"github.com/shiming-id/shiming/gateway/web"
	"github.com/shiming-id/shiming/plugins/sdk"
)

func TestCheckName(t *testing.T) {
	tests := []struct {
		typed, normal string
		err           error
	}{
		{"张伟", "张伟", nil},
		{" 张 伟 ", "张伟", nil},
		{"刘䶮", "刘䶮", nil},
		{"阿依古丽•买买提", "阿依古丽·买买提", nil},
		{"阿依古丽.买买提", "阿依古丽·买买提", nil},
		{"", "", ErrNameEmpty},
		{"张", "张", ErrNameShape},
		{"Zhang Wei", "ZhangWei", ErrNameShape},
		{"张伟1", "张伟1", ErrNameShape},
		{"·张伟", "·张伟", ErrNameShape},
		{"张伟张伟张伟张伟张伟张伟张伟张伟张伟张伟张", "张伟张伟张伟张伟张伟张伟张伟张伟张伟张伟张", ErrNameShape},
	}
	for _, tc := range tests {
		t.Run(tc.typed, func(t *testing.T) {
			n := NormalizeName(tc.typed)
			if n != tc.normal {
				t.Fatalf("NormalizeName = %q, want %q", n, tc.normal)
			}
			if err := CheckName(n); !errors.Is(err, tc.err) {
				t.Fatalf("CheckName = %v, want %v", err, tc.err)
			}
		})
	}
}

func FuzzName(f *testing.F) {
	for _, s := range []string{"张伟", "阿依古丽•买买提", " 王　芳 ", "x", "\xff\xfe", "··"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormalizeName(s)
		if NormalizeName(n) != n {
			t.Fatalf("NormalizeName is not idempotent on %q", s)
		}
		if CheckName(n) == nil {
			if c := utf8.RuneCountInString(n); c < 2 || c > 20 || !utf8.ValidString(n) {
				t.Fatalf("accepted %q", n)
			}
		}
		_ = NameError(CheckName(n))
	})
}

func TestSMSRefusal(t *testing.T) {
	tests := []struct {
		name         string
		err          error
		field        string
		noticeKind   string
		noticeSubstr string
	}{
		{"cooldown", &smscode.LimitError{Rule: smscode.RuleResend, RetryAfter: 40 * time.Second}, "", "rate_limited", "40 秒后再试"},
		{"daily", &smscode.LimitError{Rule: smscode.RulePhone, RetryAfter: 3 * time.Hour}, "", "rate_limited", "今日"},
		{"not sent", smscode.ErrNotSent, "", KindNoCode, web.TextSMSNotSent},
		{"wrong phone", smscode.ErrWrongPhone, web.TextSMSWrongPhone, "", ""},
		{"attempts", smscode.ErrAttempts, web.TextSMSAttempts, "", ""},
		{"wrong code", sdk.E(sdk.CodeInvalid, "x"), web.TextSMSWrong, "", ""},
		{"vendor down", sdk.E(sdk.VendorUnavailable, "x"), "", "vendor_unavailable", "短信服务暂时繁忙"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			field, n := SMSRefusal(tc.err, "sms")
			if field != tc.field {
				t.Fatalf("field %q, want %q", field, tc.field)
			}
			if (n == nil) != (tc.noticeKind == "") {
				t.Fatalf("notice %+v", n)
			}
			if n != nil && (n.Kind != tc.noticeKind || !contains(n.Text, tc.noticeSubstr)) {
				t.Fatalf("notice %+v", n)
			}
		})
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
