package alipay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/phone"
)

func initBiz(order, name, certNo string) map[string]any {
	return map[string]any{
		"outer_order_no":  order,
		"biz_code":        "FACE",
		"identity_param":  map[string]string{"identity_type": "CERT_INFO", "cert_type": "IDENTITY_CARD", "cert_name": name, "cert_no": certNo},
		"merchant_config": map[string]string{"return_url": "https://gateway.example/face/return"},
	}
}

// initialize returns the certify_id for a citizen.
func (f *fixture) initialize(t *testing.T, order, key string) string {
	t.Helper()
	c := f.citizen(t, key)
	r := check(t, f, f.post(t, f.signed(t, appA, testKey(t, "app_a"), methodCertInit, nil, initBiz(order, c.RegistryName, c.IDNumber))), methodCertInit, want{code: codeSuccess})
	id := r.str("certify_id")
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
		t.Fatalf("certify_id %q", id)
	}
	return id
}

// certifyURL is the signed GET URL a merchant builds (smartwalle's
// BuildURL), on the sandbox.
func (f *fixture) certifyURL(t *testing.T, certifyID string) string {
	t.Helper()
	return f.gatewayURL() + "?" + f.signed(t, appA, testKey(t, "app_a"), methodCertify, nil, map[string]string{"certify_id": certifyID}).Encode()
}

func (f *fixture) query(t *testing.T, certifyID string) response {
	t.Helper()
	return check(t, f, f.post(t, f.signed(t, appA, testKey(t, "app_a"), methodCertQuery, nil, map[string]string{"certify_id": certifyID})), methodCertQuery, want{code: codeSuccess})
}

func TestCertifyInitialize(t *testing.T) {
	f := newFixture(t)
	keyA := testKey(t, "app_a")
	c001, c035 := f.citizen(t, "c001"), f.citizen(t, "c035")
	post := func(biz any) []byte { return f.post(t, f.signed(t, appA, keyA, methodCertInit, nil, biz)) }
	with := func(change func(m map[string]any)) map[string]any {
		m := initBiz("ORDER0001", c001.Name, c001.IDNumber)
		change(m)
		return m
	}
	invalid := want{code: codeInvalid, subCode: "isv.invalid-parameter"}
	tests := []struct {
		name string
		biz  any
		want want
	}{
		{"valid", with(func(map[string]any) {}), want{code: codeSuccess}},
		{"identity_param and merchant_config as JSON strings, as the official docs write them", with(func(m map[string]any) {
			m["outer_order_no"] = "ORDER0002"
			m["identity_param"] = `{"identity_type":"CERT_INFO","cert_type":"IDENTITY_CARD","cert_name":"` + c001.Name + `","cert_no":"` + c001.IDNumber + `"}`
			m["merchant_config"] = `{"return_url":"https://gateway.example/r"}`
		}), want{code: codeSuccess}},
		{"lower-case x in the number", with(func(m map[string]any) {
			c := f.citizen(t, "c013")
			m["outer_order_no"] = "ORDER0003"
			m["identity_param"] = map[string]string{"identity_type": "CERT_INFO", "cert_type": "IDENTITY_CARD", "cert_name": c.Name, "cert_no": strings.ToLower(c.IDNumber)}
		}), want{code: codeSuccess}},
		{"unregistered valid number (synthetic citizen)", with(func(m map[string]any) {
			m["outer_order_no"] = "ORDER0004"
			m["identity_param"] = map[string]string{"identity_type": "CERT_INFO", "cert_type": "IDENTITY_CARD", "cert_name": "路人甲", "cert_no": "11010519491231002X"}
		}), want{code: codeSuccess}},
		{"registry name differs from the card", with(func(m map[string]any) {
			m["outer_order_no"] = "ORDER0005"
			m["identity_param"] = map[string]string{"identity_type": "CERT_INFO", "cert_type": "IDENTITY_CARD", "cert_name": c035.Name, "cert_no": c035.IDNumber}
		}), want{code: codeBusiness, subCode: "NAME_CERT_NO_NOT_MATCH"}},
		{"wrong name", with(func(m map[string]any) {
			m["outer_order_no"] = "ORDER0006"
			m["identity_param"] = map[string]string{"identity_type": "CERT_INFO", "cert_type": "IDENTITY_CARD", "cert_name": "李四", "cert_no": c001.IDNumber}
		}), want{code: codeBusiness, subCode: "NAME_CERT_NO_NOT_MATCH"}},
		{"bad check digit", with(func(m map[string]any) {
			m["outer_order_no"] = "ORDER0007"
			m["identity_param"] = map[string]string{"identity_type": "CERT_INFO", "cert_type": "IDENTITY_CARD", "cert_name": "张三", "cert_no": "310101199801011234"}
		}), want{code: codeBusiness, subCode: "INVALID_CERT_NO"}},
		{"biz_content not JSON", "{", invalid},
		{"outer_order_no missing", with(func(m map[string]any) { delete(m, "outer_order_no") }), invalid},
		{"outer_order_no too long", with(func(m map[string]any) { m["outer_order_no"] = strings.Repeat("A", 33) }), invalid},
		{"outer_order_no with a hyphen", with(func(m map[string]any) { m["outer_order_no"] = "ORDER-1" }), invalid},
		{"unknown biz_code", with(func(m map[string]any) { m["biz_code"] = "VOICE" }), invalid},
		{"identity_param missing", with(func(m map[string]any) { delete(m, "identity_param") }), invalid},
		{"identity_type other", with(func(m map[string]any) {
			m["identity_param"] = map[string]string{"identity_type": "USER_ID", "cert_type": "IDENTITY_CARD", "cert_name": c001.Name, "cert_no": c001.IDNumber}
		}), invalid},
		{"passport", with(func(m map[string]any) {
			m["identity_param"] = map[string]string{"identity_type": "CERT_INFO", "cert_type": "PASSPORT", "cert_name": c001.Name, "cert_no": c001.IDNumber}
		}), invalid},
		{"empty name", with(func(m map[string]any) {
			m["identity_param"] = map[string]string{"identity_type": "CERT_INFO", "cert_type": "IDENTITY_CARD", "cert_name": " ", "cert_no": c001.IDNumber}
		}), invalid},
		{"return_url missing", with(func(m map[string]any) { m["merchant_config"] = map[string]string{} }), invalid},
		{"return_url not a web URL", with(func(m map[string]any) { m["merchant_config"] = map[string]string{"return_url": "javascript:alert(1)"} }), invalid},
		{"same order again, same identity: same certify_id", with(func(map[string]any) {}), want{code: codeSuccess}},
		{"same order again, other identity", with(func(m map[string]any) {
			c := f.citizen(t, "c002")
			m["identity_param"] = map[string]string{"identity_type": "CERT_INFO", "cert_type": "IDENTITY_CARD", "cert_name": c.Name, "cert_no": c.IDNumber}
		}), want{code: codeBusiness, subCode: "OUTER_ORDER_NO_DUPLICATE"}},
	}
	var firstID string
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := check(t, f, post(tc.biz), methodCertInit, tc.want)
			if tc.name == "valid" {
				firstID = r.str("certify_id")
			}
			if strings.HasPrefix(tc.name, "same order again, same") && r.str("certify_id") != firstID {
				t.Fatalf("retried initialize gave %q, first gave %q", r.str("certify_id"), firstID)
			}
		})
	}
}

func TestCertifyOnThePhone(t *testing.T) {
	tests := []struct {
		name    string
		subject string // whom the certification is for
		holder  string // who holds the phone
		action  phone.Action
		passed  string
		reason  string
	}{
		{"pass", "c001", "c001", phone.Pass, "T", ""},
		{"fail on purpose", "c001", "c001", phone.Fail, "F", reasonMismatch},
		{"face does not match the ID photo", "c031", "c031", phone.Pass, "F", reasonMismatch},
		{"liveness fails", "c033", "c033", phone.Pass, "F", reasonLiveness},
		{"someone else's face", "c001", "c002", phone.Pass, "F", reasonMismatch},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			id := f.initialize(t, "FACE"+string(rune('A'+i)), tc.subject)
			r := f.query(t, id)
			if r.str("passed") != "F" || r.fields["fail_reason"] != nil {
				t.Fatalf("before the face check: %s", r.raw)
			}
			var identity map[string]string
			if err := json.Unmarshal([]byte(r.str("identity_info")), &identity); err != nil || identity["cert_no"] != f.citizen(t, tc.subject).IDNumber {
				t.Fatalf("identity_info %q: %v", r.str("identity_info"), err)
			}
			if len(f.sim.Pending(ctx)) != 0 {
				t.Fatal("a face item before the certify URL was opened")
			}

			resp, body := get(t, f, f.certifyURL(t, id))
			if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("支付宝身份验证")) || !bytes.Contains(body, []byte("https://gateway.example/face/return")) {
				t.Fatalf("certify page %d: %s", resp.StatusCode, body)
			}
			items := f.sim.Pending(ctx)
			if len(items) != 1 || items[0].Kind != "face" || items[0].Vendor != "alipay" || len(items[0].Actions) != 2 {
				t.Fatalf("pending %+v", items)
			}
			if _, err := f.sim.Act(ctx, items[0].ID, phone.Confirm, f.citizen(t, tc.holder)); !errors.Is(err, phone.ErrNotAllowed) {
				t.Fatalf("login action on a face item: %v", err)
			}
			out, err := f.sim.Act(ctx, items[0].ID, tc.action, f.citizen(t, tc.holder))
			if err != nil {
				t.Fatal(err)
			}
			if out.Redirect != "https://gateway.example/face/return" {
				t.Fatalf("redirect %q", out.Redirect)
			}
			if _, err := f.sim.Act(ctx, items[0].ID, phone.Pass, f.citizen(t, tc.holder)); !errors.Is(err, phone.ErrNotAllowed) {
				t.Fatalf("second face check: %v", err)
			}
			r = f.query(t, id)
			if r.str("passed") != tc.passed || r.str("fail_reason") != tc.reason {
				t.Fatalf("query: %s", r.raw)
			}
			if r.str("material_info") == "" {
				t.Fatal("material_info missing")
			}
		})
	}
}

func TestCertifyURLErrors(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := f.initialize(t, "ERR1", "c001")
	stranger := f.gatewayURL() + "?" + f.signed(t, appA, testKey(t, "stranger"), methodCertify, nil, map[string]string{"certify_id": id}).Encode()
	otherApp := f.gatewayURL() + "?" + f.signed(t, appB, testKey(t, "app_b"), methodCertify, nil, map[string]string{"certify_id": id}).Encode()
	tests := []struct {
		name string
		url  func() string
		code string
	}{
		{"bad signature", func() string { return stranger }, "invalid-signature"},
		{"another app's certify_id", func() string { return otherApp }, "OPEN_CERTIFY_BILL_NOT_EXIST"},
		{"unknown certify_id", func() string { return f.certifyURL(t, "ffffffffffffffffffffffffffffffff") }, "OPEN_CERTIFY_BILL_NOT_EXIST"},
		{"expired", func() string {
			f.clock.Advance(certifyTTL)
			return f.certifyURL(t, id)
		}, "OPEN_CERTIFY_BILL_EXPIRED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := tc.url()
			resp, body := get(t, f, u)
			if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("调试错误")) || !bytes.Contains(body, []byte(`<code id="error-code">`+tc.code+`</code>`)) {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if _, found := f.sim.Lookup(ctx, u); found {
				t.Fatal("Lookup accepted a certify URL the gateway refuses")
			}
			if len(f.sim.Pending(ctx)) != 0 {
				t.Fatal("a face item for a refused URL")
			}
		})
	}
	t.Run("query after expiry still answers", func(t *testing.T) {
		if r := f.query(t, id); r.str("passed") != "F" {
			t.Fatalf("%s", r.raw)
		}
	})
}

func TestCertifyURLScannedByThePhone(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := f.initialize(t, "SCAN1", "c001")
	u := f.certifyURL(t, id)
	it, found := f.sim.Lookup(ctx, u)
	if !found || it.Kind != "face" || it.QRContent != u || it.State != certWaiting {
		t.Fatalf("%+v %v", it, found)
	}
	again, _ := f.sim.Lookup(ctx, u)
	if again.ID != it.ID {
		t.Fatal("two items for one certification")
	}
	if _, err := f.sim.Act(ctx, it.ID, phone.Pass, f.citizen(t, "c001")); err != nil {
		t.Fatal(err)
	}
	if _, found := f.sim.Lookup(ctx, u); !found {
		t.Fatal("a finished certification is no longer recognised")
	}
	if r := f.query(t, id); r.str("passed") != "T" {
		t.Fatalf("%s", r.raw)
	}
	f.clock.Advance(time.Hour)
	if len(f.sim.Pending(ctx)) != 0 {
		t.Fatal("finished certification pending")
	}
}
