package sms

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk"
)

func TestVerifyCode(t *testing.T) {
	s, c := newStub(t), newClock()
	p := s.provider(c, nil)
	ctx := context.Background()
	tk, err := p.SendCode(ctx, stubPhone, "bind_phone")
	if err != nil {
		t.Fatal(err)
	}
	code := s.lastCode()
	wrong := []byte(code)
	wrong[0] = '0' + (wrong[0]-'0'+1)%10
	otherKey := s.provider(c, map[string]string{"access_key_id": "LTAIanother"})
	otherHandleKey := s.provider(c, map[string]string{"handle_key": "HyAdHBsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA="})
	tampered := []byte(tk.Ticket)
	tampered[len(tampered)-5] ^= 1
	cases := []struct {
		name                   string
		p                      *Provider
		ticket, phone, purpose string
		code                   string
		kind                   sdk.Kind
		fields                 []string
	}{
		{"the code sent", p, tk.Ticket, stubPhone, "bind_phone", code, sdk.KindUnknown, nil},
		{"again: the provider keeps no state", p, tk.Ticket, stubPhone, "bind_phone", code, sdk.KindUnknown, nil},
		{"the phone written otherwise", p, tk.Ticket, "+86 138 0000 1001", "bind_phone", code, sdk.KindUnknown, nil},
		{"a wrong code", p, tk.Ticket, stubPhone, "bind_phone", string(wrong), sdk.CodeInvalid, nil},
		{"no code", p, tk.Ticket, stubPhone, "bind_phone", "", sdk.CodeInvalid, nil},
		{"the code with a space", p, tk.Ticket, stubPhone, "bind_phone", code + " ", sdk.CodeInvalid, nil},
		{"another phone", p, tk.Ticket, "13900000000", "bind_phone", code, sdk.InvalidRequest, []string{"phone"}},
		{"not a phone", p, tk.Ticket, "x", "bind_phone", code, sdk.InvalidRequest, []string{"phone"}},
		{"another purpose", p, tk.Ticket, stubPhone, "change_phone", code, sdk.InvalidRequest, []string{"purpose"}},
		{"both", p, tk.Ticket, "13900000000", "login", code, sdk.InvalidRequest, []string{"phone", "purpose"}},
		{"tampered", p, string(tampered), stubPhone, "bind_phone", code, sdk.UUIDInvalid, nil},
		{"empty", p, "", stubPhone, "bind_phone", code, sdk.UUIDInvalid, nil},
		{"the code as ticket", p, code, stubPhone, "bind_phone", code, sdk.UUIDInvalid, nil},
		{"another access key's", otherKey, tk.Ticket, stubPhone, "bind_phone", code, sdk.UUIDInvalid, nil},
		{"another handle key's", otherHandleKey, tk.Ticket, stubPhone, "bind_phone", code, sdk.UUIDInvalid, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.VerifyCode(ctx, tc.ticket, tc.phone, tc.purpose, tc.code)
			if tc.kind == sdk.KindUnknown {
				if err != nil {
					t.Fatalf("VerifyCode = %v", err)
				}
				return
			}
			if sdk.KindOf(err) != tc.kind {
				t.Fatalf("VerifyCode = %v, want kind %v", err, tc.kind)
			}
			if tc.fields != nil {
				var e *sdk.Error
				if !errors.As(err, &e) || !slices.Equal(e.Fields, tc.fields) {
					t.Errorf("VerifyCode = %v, want fields %v", err, tc.fields)
				}
			}
		})
	}
	if n := len(s.requests()); n != 1 {
		t.Errorf("verifying asked the vendor: %d requests", n)
	}
	t.Run("expired", func(t *testing.T) {
		c.Advance(5*time.Minute - time.Second)
		if err := p.VerifyCode(ctx, tk.Ticket, stubPhone, "bind_phone", code); err != nil {
			t.Fatalf("a second before expiry: %v", err)
		}
		c.Advance(time.Second)
		err := p.VerifyCode(ctx, tk.Ticket, stubPhone, "bind_phone", code)
		if sdk.KindOf(err) != sdk.Expired {
			t.Fatalf("at expiry: %v, want expired", err)
		}
		err = p.VerifyCode(ctx, tk.Ticket, stubPhone, "bind_phone", string(wrong))
		if sdk.KindOf(err) != sdk.Expired {
			t.Fatalf("a wrong code at expiry: %v, want expired", err)
		}
	})
}
