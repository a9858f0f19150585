package realname_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shiming-id/shiming/gateway/flow"
	"github.com/shiming-id/shiming/gateway/flowpage"
	jt "github.com/shiming-id/shiming/gateway/journey/journeytest"
	"github.com/shiming-id/shiming/gateway/password"
	"github.com/shiming-id/shiming/gateway/realname"
	"github.com/shiming-id/shiming/gateway/smscode"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// The fuzz tests below post arbitrary bodies (malformed encodings,
// duplicate keys, control characters, huge values) to the forms of the
// registration steps, with the flow put back at the step before each
// post. Whatever arrives, the gateway answers without a server error, and
// a vendor is called only for input that passed the form's validation:
// what reaches the vendor was decoded and checked first.

// formRig is a browser with a registration flow of 张伟 (scanned with
// WeChat); reset gives it a fresh flow at a step for each post.
type formRig struct {
	h        *jt.Harness
	b        *jt.Browser
	binding  string
	template realname.State
	base     string
}

func newFormRig(f *testing.F) *formRig {
	h := jt.New(f, jt.Options{})
	b := h.Browser()
	qr := h.StartRealName(b, "hunanpea", "wechat")
	b.Expect(h.ConfirmScan(b, qr, "wechat", jt.ZhangWei.Identity("wechat")), "realname_identity")
	fl, err := flow.Load[realname.State](context.Background(), h.Flows, realname.Kind, qr.FlowID(), "")
	if err != nil {
		f.Fatal(err)
	}
	return &formRig{h: h, b: b, binding: fl.Binding, template: fl.State}
}

// reset gives the browser a new flow like the scanned one, with change
// applied, and makes it the one post uses.
func (g *formRig) reset(t *testing.T, change func(s *realname.State)) {
	st := g.template
	change(&st)
	fl, err := flow.Create(context.Background(), g.h.Flows, realname.Kind, g.binding, time.Hour, st)
	if err != nil {
		t.Fatal(err)
	}
	g.base = "/hunanpea/realname/" + fl.ID + "/"
}

// post sends body as the form of step, same-origin, without following a
// redirect, and fails the test on a server error.
func (g *formRig) post(t *testing.T, step, body string) (status int, page string) {
	req, err := http.NewRequest(http.MethodPost, g.h.URL+g.base+step, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("User-Agent", jt.DesktopUA)
	client := *g.b.Client
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 {
		t.Fatalf("POST %s %q: %d", step, body, resp.StatusCode)
	}
	return resp.StatusCode, string(b)
}

// values decodes body as net/http does for PostFormValue: the pairs
// that parse, the first value of each key.
func values(body string) url.Values {
	v, _ := url.ParseQuery(body)
	return v
}

func addFormSeeds(f *testing.F, seeds ...string) {
	for _, s := range append(seeds, "", "%", "%zz=1", "a;b=c", "&&&", strings.Repeat("x=1&", 300), "name=%00%ff", "=\x00") {
		f.Add(s)
	}
}

// FuzzIdentityForm is 实名登录 (name + ID number): the name/ID vendor is
// asked only when the name is a Chinese name and the ID number passes
// GB 11643.
func FuzzIdentityForm(f *testing.F) {
	addFormSeeds(f,
		"name=%E5%BC%A0%E4%BC%9F&id_number=430102199503141235",
		"name=%E5%BC%A0%E4%BC%9F&id_number=43010219950314123x",
		"name=+%E5%BC%A0+%E4%BC%9F+&id_number=430102+19950314+1235",
		"name=%3Cscript%3E&id_number=430102199503141236",
		"id_number=430102199503141235&id_number=1&name=%E6%9D%8E%E5%A8%9C&name=x",
	)
	g := newFormRig(f)
	checker := g.h.Providers.Identity["ctid"]
	f.Fuzz(func(t *testing.T, body string) {
		g.reset(t, func(s *realname.State) {
			s.Step, s.Checks, s.Name, s.IDNumber, s.Mismatch, s.MismatchBy = realname.StepIdentity, 0, "", "", false, ""
		})
		v := values(body)
		name, id := flowpage.NormalizeName(v.Get("name")), cnid.Normalize(v.Get("id_number"))
		_, idErr := cnid.Parse(id, g.h.Clock.Now())
		valid := flowpage.CheckName(name) == nil && idErr == nil
		before := checker.Calls("CheckIdentity")
		status, page := g.post(t, realname.StepIdentity, body)
		asked := checker.Calls("CheckIdentity") > before
		if asked && !valid {
			t.Fatalf("the vendor was asked about an invalid name %q or ID number", name)
		}
		if !valid && (status != http.StatusOK || !strings.Contains(page, `data-field-error=`)) {
			t.Fatalf("invalid input: status %d without a field error", status)
		}
	})
}

// FuzzPhoneForm is 绑定手机 (send a code, or verify one): a code is sent
// only to a number that parses, and a code is checked only when it looks
// like one and a code was sent to that number.
func FuzzPhoneForm(f *testing.F) {
	addFormSeeds(f,
		"action=send&phone=13800001001",
		"action=send&phone=%2B86+138+0000+1001",
		"action=verify&phone=13800001001&code=123456",
		"action=verify&phone=13800001001&code=+123456+",
		"action=verify&phone=1380000100&code=12345678901",
	)
	g := newFormRig(f)
	sms := g.h.Providers.SMS["sms"]
	f.Fuzz(func(t *testing.T, body string) {
		g.reset(t, func(s *realname.State) {
			s.Step, s.Name, s.IDNumber, s.SMS = realname.StepPhone, jt.ZhangWei.Name, jt.ZhangWei.IDNumber, smscode.Ticket{}
		})
		v := values(body)
		phone, phoneErr := cnid.ParsePhone(v.Get("phone"))
		verify := v.Get("action") == "verify"
		sent, checked := sms.Calls("SendCode"), sms.Calls("VerifyCode")
		g.post(t, realname.StepPhone, body)
		if sms.Calls("SendCode") > sent && (phoneErr != nil || verify) {
			t.Fatalf("a code was sent for phone %q, action %q", v.Get("phone"), v.Get("action"))
		}
		if sms.Calls("VerifyCode") > checked {
			t.Fatalf("a code was checked though none was sent in this flow (phone %q)", phone)
		}
	})
}

// FuzzPasswordForm is 设置密码: the account is created only with a
// password that meets the policy, typed the same twice. Each post is for
// a new (fictional) person, so every creation is seen.
func FuzzPasswordForm(f *testing.F) {
	addFormSeeds(f,
		"password=Kaoshi2026ok&password2=Kaoshi2026ok",
		"password=Kaoshi2026ok&password2=Kaoshi2026oK",
		"password=430102199001010011a&password2=430102199001010011a",
		"password=short1&password2=short1",
		"password=%E5%AF%86%E7%A0%81abc12345&password2=%E5%AF%86%E7%A0%81abc12345",
	)
	g := newFormRig(f)
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, body string) {
		id, phone := person(t, n.Add(1))
		g.reset(t, func(s *realname.State) {
			s.Step, s.Name, s.IDNumber, s.Phone, s.Links = realname.StepPassword, "张伟", id, phone, nil
		})
		v := values(body)
		pw := v.Get("password")
		valid := password.CheckPolicy(pw, id, phone) == nil && pw == v.Get("password2")
		status, _ := g.post(t, realname.StepPassword, body)
		_, err := g.h.Accounts.ByIDNumber(context.Background(), id)
		if created := err == nil; created != valid {
			t.Fatalf("account created = %v for a form that is valid = %v (status %d)", created, valid, status)
		}
		if !valid && status != http.StatusOK {
			t.Fatalf("an invalid password form was not answered with the form again: %d", status)
		}
	})
}

// person returns the n-th fictional ID number (valid GB 11643, born from
// 1990 on) and a phone number of its own.
func person(t *testing.T, n int64) (id, phone string) {
	born := time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(n/1000))
	first17 := "430102" + born.Format("20060102") + fmt.Sprintf("%03d", n%1000)
	c, err := cnid.CheckChar(first17)
	if err != nil {
		t.Fatal(err)
	}
	return first17 + string(c), fmt.Sprintf("139%08d", n)
}
