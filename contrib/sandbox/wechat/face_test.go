package wechat

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/phone"
)

// faceStart logs a citizen in through the mini-program (so that their
// openid is known) and starts a face check of cert name and number.
func (f *fixture) faceStart(tok, loginKey, certName, certNo, seq string) (map[string]any, string) {
	f.t.Helper()
	m := f.api("GET", "/sns/jscode2session", url.Values{"appid": {f.app.AppID}, "secret": {f.app.Secret},
		"js_code": {f.jsCode(loginKey)}, "grant_type": {"authorization_code"}}, nil)
	openID, _ := m["openid"].(string)
	body := map[string]any{"out_seq_no": seq, "openid": openID,
		"cert_info": map[string]string{"cert_type": "IDENTITY_CARD", "cert_name": certName, "cert_no": certNo}}
	return f.api("POST", "/cityservice/face/identify/getverifyid", url.Values{"access_token": {tok}}, body), openID
}

func (f *fixture) faceQuery(tok, verifyID, seq, certName, certNo, openID string) map[string]any {
	return f.api("POST", "/cityservice/face/identify/queryverifyinfo", url.Values{"access_token": {tok}},
		map[string]string{"verify_id": verifyID, "out_seq_no": seq, "openid": openID,
			"cert_hash": certHash("IDENTITY_CARD", certName, certNo)})
}

func TestFaceVerification(t *testing.T) {
	tests := []struct {
		name    string
		subject string // the person the certificate names
		holder  string // who faces the phone
		action  phone.Action
		want    int
	}{
		{"passes", "c001", "c001", phone.Pass, verifyPassed},
		{"someone else's face", "c001", "c002", phone.Pass, verifyFaceMismatch},
		{"face flag mismatch", "c031", "c031", phone.Pass, verifyFaceMismatch},
		{"face flag liveness", "c033", "c033", phone.Pass, verifyLiveness},
		{"registry holds another name", "c035", "c035", phone.Pass, verifyNameID},
		{"failed on purpose", "c001", "c001", phone.Fail, verifyFaceMismatch},
		{"cancelled", "c001", "c001", phone.Cancel, verifyCancelled},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{}, "")
			tok := f.serverToken(f.app)
			c := f.citizen(tc.subject)
			seq := "seq_" + strconv.Itoa(i) + "-abc"
			m, openID := f.faceStart(tok, tc.subject, c.Name, c.IDNumber, seq)
			verifyID, _ := m["verify_id"].(string)
			if errcode(m) != 0 || verifyID == "" || m["expires_in"] != float64(3600) {
				t.Fatalf("getverifyid = %v", m)
			}
			if q := f.faceQuery(tok, verifyID, seq, c.Name, c.IDNumber, openID); errcode(q) != 0 || q["verify_ret"] != float64(verifyPending) {
				t.Fatalf("query before the face = %v", q)
			}
			item, ok := f.sim.Lookup(context.Background(), f.sim.faceURL(verifyID))
			if !ok || item.Kind != KindFace || item.State != "pending" {
				t.Fatalf("Lookup = %+v %v", item, ok)
			}
			if _, err := f.act(item.ID, tc.action, tc.holder); err != nil {
				t.Fatalf("act: %v", err)
			}
			q := f.faceQuery(tok, verifyID, seq, c.Name, c.IDNumber, openID)
			if errcode(q) != 0 || q["verify_ret"] != float64(tc.want) {
				t.Fatalf("query = %v, want verify_ret %d", q, tc.want)
			}
			if _, err := f.act(item.ID, phone.Pass, tc.holder); !errors.Is(err, phone.ErrNotAllowed) {
				t.Fatalf("second act: %v", err)
			}
		})
	}
}

func TestFaceErrors(t *testing.T) {
	f := newFixture(t, Options{FaceTTL: 10 * time.Minute}, "")
	tok := f.serverToken(f.app)
	c := f.citizen("c001")
	m, openID := f.faceStart(tok, "c001", c.Name, c.IDNumber, "order-0001")
	verifyID := m["verify_id"].(string)
	cert := map[string]string{"cert_type": "IDENTITY_CARD", "cert_name": c.Name, "cert_no": c.IDNumber}
	body := func(seq string, ci map[string]string, oid string) map[string]any {
		return map[string]any{"out_seq_no": seq, "cert_info": ci, "openid": oid}
	}
	withCert := func(k, v string) map[string]string {
		out := map[string]string{}
		for key, val := range cert {
			out[key] = val
		}
		out[k] = v
		return out
	}
	tok2 := f.serverToken(f.other)
	tests := []struct {
		name   string
		method string
		tok    string
		body   any
		want   int
	}{
		{"GET is refused", "GET", tok, nil, 43002},
		{"missing token", "POST", "", body("order-0002", cert, openID), 41001},
		{"bad token", "POST", "nope", body("order-0002", cert, openID), 40001},
		{"not JSON", "POST", tok, "not an object", 47001},
		{"short out_seq_no", "POST", tok, body("abc", cert, openID), 40097},
		{"bad out_seq_no chars", "POST", tok, body("order 0002", cert, openID), 40097},
		{"repeated out_seq_no", "POST", tok, body("order-0001", cert, openID), 40097},
		{"other cert type", "POST", tok, body("order-0003", withCert("cert_type", "PASSPORT"), openID), 40097},
		{"invalid ID number", "POST", tok, body("order-0004", withCert("cert_no", c.IDNumber[:17]+"0"), openID), 40097},
		{"missing openid", "POST", tok, body("order-0005", cert, ""), 41009},
		{"unknown openid", "POST", tok, body("order-0006", cert, "oNotAnOpenIDTheSandboxIssued"), 40003},
		{"openid of another app", "POST", tok2, body("order-0007", cert, openID), 40003},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, f.api(tc.method, "/cityservice/face/identify/getverifyid", url.Values{"access_token": {tc.tok}}, tc.body), tc.want)
		})
	}
	query := func(tok, vid, seq, hash, oid string) map[string]any {
		return f.api("POST", "/cityservice/face/identify/queryverifyinfo", url.Values{"access_token": {tok}},
			map[string]string{"verify_id": vid, "out_seq_no": seq, "cert_hash": hash, "openid": oid})
	}
	hash := certHash("IDENTITY_CARD", c.Name, c.IDNumber)
	wantErr(t, query(tok, "nosuch", "order-0001", hash, openID), 40097)
	wantErr(t, query(tok2, verifyID, "order-0001", hash, openID), 40097)
	wantErr(t, query(tok, verifyID, "order-0009", hash, openID), 40097)
	wantErr(t, query(tok, verifyID, "order-0001", certHash("IDENTITY_CARD", "李四", c.IDNumber), openID), 40097)
	f.clock.Advance(10*time.Minute + time.Second)
	if q := query(tok, verifyID, "order-0001", hash, openID); errcode(q) != 0 || q["verify_ret"] != float64(verifyTimeout) {
		t.Fatalf("expired query = %v", q)
	}
	if _, err := f.act(itemFace+verifyID, phone.Pass, "c001"); !errors.Is(err, phone.ErrExpired) {
		t.Fatalf("act after expiry: %v", err)
	}
	f.clock.Advance(2 * time.Hour)
	wantErr(t, query(tok, verifyID, "order-0001", hash, openID), 42001)
}

func TestCGITokenErrors(t *testing.T) {
	f := newFixture(t, Options{}, "")
	tests := []struct {
		name string
		q    url.Values
		want int
	}{
		{"wrong grant_type", url.Values{"grant_type": {"authorization_code"}, "appid": {f.app.AppID}, "secret": {f.app.Secret}}, 40002},
		{"unknown appid", url.Values{"grant_type": {"client_credential"}, "appid": {"wx0"}, "secret": {"x"}}, 40013},
		{"wrong secret", url.Values{"grant_type": {"client_credential"}, "appid": {f.app.AppID}, "secret": {"x"}}, 40001},
		{"missing appid", url.Values{"grant_type": {"client_credential"}, "secret": {"x"}}, 41002},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, f.api("GET", "/cgi-bin/token", tc.q, nil), tc.want)
		})
	}
}

func TestGetPhoneNumber(t *testing.T) {
	f := newFixture(t, Options{}, "")
	tok := f.serverToken(f.app)
	status, m := f.mint("/getphonenumber", `{"appid":"`+f.app.AppID+`","citizen":"c012"}`)
	code, _ := m["code"].(string)
	if status != 200 || code == "" {
		t.Fatalf("mint: HTTP %d %v", status, m)
	}
	q := url.Values{"access_token": {tok}}
	got := f.api("POST", "/wxa/business/getuserphonenumber", q, map[string]string{"code": code})
	info, _ := got["phone_info"].(map[string]any)
	if errcode(got) != 0 || info["purePhoneNumber"] != f.citizen("c012").Phone || info["countryCode"] != "86" {
		t.Fatalf("getuserphonenumber = %v", got)
	}
	wantErr(t, f.api("POST", "/wxa/business/getuserphonenumber", q, map[string]string{"code": code}), 40163)
	wantErr(t, f.api("POST", "/wxa/business/getuserphonenumber", q, map[string]string{"code": "nope"}), 40029)
	if status, _ := f.mint("/getphonenumber", `{"appid":"`+f.app.AppID+`","name":"赵六","id_number":"11010519491231002X"}`); status != 400 {
		t.Fatalf("a person without a phone got a phone code: HTTP %d", status)
	}
}
