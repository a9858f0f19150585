package realname_test

import (
	"context"
	"slices"
	"testing"

	"github.com/shiming-id/shiming/gateway/account"
	jt "github.com/shiming-id/shiming/gateway/journey/journeytest"
)

func evidenceOf(t *testing.T, h *jt.Harness, id string) []string {
	t.Helper()
	ev, err := h.Accounts.Evidence(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ev {
		out = append(out, e.Provider+":"+e.Level)
	}
	slices.Sort(out)
	return out
}

func TestRegistrationByEachScanProvider(t *testing.T) {
	tests := []struct {
		provider string
		person   jt.Person
		face     string
		evidence []string
	}{
		{"wechat", jt.ZhangWei, "wechat", []string{"ctid:name_id", "sms:phone", "wechat:face", "wechat:name_id"}},
		{"alipay", jt.LiNa, "alipay", []string{"alipay:face", "alipay:name_id", "sms:phone"}},
		{"ctid", jt.WangFang, "ctid", []string{"ctid:ctid", "ctid:face", "sms:phone"}},
	}
	for _, tc := range tests {
		t.Run(tc.provider, func(t *testing.T) {
			h := jt.New(t, jt.Options{})
			b := h.Browser()
			login := h.RegisterPerson(b, "hxw", tc.provider, tc.person, "Kaoshi2026ok")
			if login.Path() != "/hxw/login" || !login.HasErrorKind("registered") {
				t.Fatalf("ended on %s with %v", login.URL, login.ErrorKinds())
			}
			if login.Attr("signed-in") != "" {
				t.Fatal("registration signed the candidate in; the guide sends them to the login page")
			}
			a, err := h.Accounts.ByIDNumber(context.Background(), tc.person.IDNumber)
			if err != nil {
				t.Fatal(err)
			}
			if a.Name != tc.person.Name || a.Phone != tc.person.Phone || a.Portal != "hxw" {
				t.Fatalf("account %+v", a)
			}
			if got := evidenceOf(t, h, a.ID); !slices.Equal(got, tc.evidence) {
				t.Fatalf("evidence %v, want %v", got, tc.evidence)
			}
			links, err := h.Accounts.Links(context.Background(), a.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := account.Link{Provider: tc.provider, Subject: tc.person.Identity(tc.provider).Subject}
			if len(links) != 1 || links[0] != want {
				t.Fatalf("links %v, want %v", links, want)
			}
			if n := h.Providers.Scan[tc.provider].Calls("ExchangeCode"); n != 1 {
				t.Fatalf("ExchangeCode called %d times", n)
			}
			if got := h.Counter("shiming_realname_flows_total", "portal", "hxw", "provider", tc.provider, "outcome", "completed"); got != 1 {
				t.Fatalf("completed flows %v", got)
			}
			// The password works, by the login form.
			home := b.Post("/hxw/login/password", map[string][]string{"id_number": {tc.person.IDNumber}, "password": {"Kaoshi2026ok"}})
			b.Expect(home, "home")
		})
	}
}
