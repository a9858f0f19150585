package alipay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
	"github.com/shiming-id/shiming/plugins/sdk/handle"
)

func fixtureBodies(f *testing.F) [][]byte {
	files, _ := filepath.Glob(filepath.Join(fixtureDir, "gateway", "*.json"))
	var out [][]byte
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzSignedValues signs requests with arbitrary parameter values and
// checks that what the gateway parses from the wire verifies with the app
// public key over the signing base, and stops verifying when a value
// changes.
func FuzzSignedValues(f *testing.F) {
	f.Add("alipay.system.oauth.token", "code", "ca34ea491e7146cc87d25fca24c4cD11", `{"certify_id":"x"}`)
	f.Add("m", "auth_token", "a+b&c=d%e f", `{"k":"张三 & <b>"}`)
	f.Add("", "", "", "")
	key, err := parsePrivateKey(string(readFixtureF(f, appKeyFile)))
	if err != nil {
		f.Fatal(err)
	}
	c := &config{appID: "2021000000000001", appKey: key}
	now := time.Date(2026, 3, 1, 1, 2, 3, 0, time.UTC)
	f.Fuzz(func(t *testing.T, method, topKey, topValue, biz string) {
		top := map[string]string{}
		if topKey != "" && topKey != "sign" {
			top[topKey] = topValue
		}
		var bizContent any
		if json.Valid([]byte(biz)) {
			bizContent = json.RawMessage(biz)
		}
		v, err := signedValues(c, now, method, top, bizContent)
		if err != nil {
			return // biz_content JSON that does not re-encode
		}
		wire, err := url.ParseQuery(v.Encode())
		if err != nil {
			t.Fatalf("the encoded request does not parse: %v", err)
		}
		for k := range v {
			if wire.Get(k) != v.Get(k) {
				t.Fatalf("%s changed on the wire: %q → %q", k, v.Get(k), wire.Get(k))
			}
		}
		if err := verifyRSA2(&key.PublicKey, []byte(signatureBase(wire)), wire.Get("sign")); err != nil {
			t.Fatalf("a signed request does not verify: %v", err)
		}
		if signatureBase(wire) != independentBase(wire) && uniqueKeyPrefixes(wire) {
			t.Fatalf("signing base differs from the pair-sorted one:\n%s\n%s", signatureBase(wire), independentBase(wire))
		}
		wire.Set("timestamp", "2026-03-01 09:02:04")
		if verifyRSA2(&key.PublicKey, []byte(signatureBase(wire)), wire.Get("sign")) == nil {
			t.Fatal("a changed request still verifies")
		}
	})
}

// uniqueKeyPrefixes reports whether no key is a prefix of another, the
// case in which sorting keys and sorting k=v pairs agree.
func uniqueKeyPrefixes(v url.Values) bool {
	for a := range v {
		for b := range v {
			if a != b && len(a) < len(b) && b[:len(a)] == a {
				return false
			}
		}
	}
	return true
}

func readFixtureF(f *testing.F, name string) []byte {
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzParseResponse feeds arbitrary bodies to the verifier: it never
// panics, accepts only nodes that verify, and refuses any body whose
// signed node lost or changed a byte.
func FuzzParseResponse(f *testing.F) {
	for _, b := range fixtureBodies(f) {
		f.Add(b, 0)
	}
	f.Add([]byte(`{"error_response":{"code":"40002"},"sign":"AAAA"}`), 3)
	f.Add([]byte(`{}`), 0)
	pub, err := parsePublicKey(string(readFixtureF(f, publicKeyFile)))
	if err != nil {
		f.Fatal(err)
	}
	methods := []string{methodOAuthToken, methodUserInfo, methodCertifyInit, methodCertifyQuery}
	f.Fuzz(func(t *testing.T, body []byte, flip int) {
		for _, method := range methods {
			r, err := parseResponse(body, method, pub)
			if err != nil {
				continue
			}
			members, _ := topMembers(body)
			var sign string
			if json.Unmarshal(members["sign"], &sign) != nil || verifyRSA2(pub, r.node, sign) != nil {
				t.Fatalf("%s: accepted a node that does not verify", method)
			}
			i := bytes.Index(body, r.node)
			if i < 0 {
				t.Fatalf("%s: the node is not the body's bytes", method)
			}
			changed := bytes.Clone(body)
			pos := i + (flip%len(r.node)+len(r.node))%len(r.node)
			changed[pos] ^= 0x01
			if _, err := parseResponse(changed, method, pub); err == nil {
				t.Fatalf("%s: accepted a body whose signed node changed at %d", method, pos)
			}
		}
	})
}

// FuzzIdentity decodes arbitrary token and user-info nodes: a name is
// only ever returned with a valid ID number and level name_id.
func FuzzIdentity(f *testing.F) {
	f.Add([]byte(`{"user_id":"2088","access_token":"t"}`), readFixtureF(f, "gateway/user_info_real_name.json"))
	f.Add([]byte(`{"open_id":"0a"}`), []byte(`{"is_certified":"T","user_name":"张三","cert_no":"11010519491231002x","mobile":"+86 138-0013-8000"}`))
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, token, info []byte) {
		var tok tokenNode
		var ui userInfoNode
		_ = json.Unmarshal(token, &tok)
		_ = json.Unmarshal(info, &ui)
		id := identityOf(tok, ui, now)
		if id.Name != "" || id.IDNumber != "" {
			if _, err := cnid.Parse(id.IDNumber, now); err != nil || id.Level != sdk.LevelNameID || id.Name == "" {
				t.Fatalf("identity %+v: a name without a valid number and level", id)
			}
		}
		if id.Phone != "" && !cnid.ValidPhone(id.Phone) {
			t.Fatalf("phone %q is not a mobile number", id.Phone)
		}
		if id.Subject != "" && id.Subject != id.SubjectIDs["user_id"] && id.Subject != id.SubjectIDs["open_id"] {
			t.Fatalf("subject %q is not one of %v", id.Subject, id.SubjectIDs)
		}
	})
}

// FuzzFaceStatus decodes arbitrary query nodes: the answer is a known
// result, with a reason exactly when it failed.
func FuzzFaceStatus(f *testing.F) {
	f.Add([]byte(`{"code":"10000","passed":"T"}`), false)
	f.Add([]byte(`{"passed":"F","fail_reason":"活体检测不通过"}`), true)
	f.Add([]byte(`{"passed":"X"}`), false)
	f.Fuzz(func(t *testing.T, node []byte, late bool) {
		var q queryNode
		_ = json.Unmarshal(node, &q)
		h := payload{ID: "c", Exp: 1_800_000_000}
		now := h.expires().Add(-time.Minute)
		if late {
			now = h.expires()
		}
		st, err := faceStatus(q, h, now)
		if err != nil {
			if sdk.KindOf(err) != sdk.VendorUnavailable {
				t.Fatalf("faceStatus error of kind %v", sdk.KindOf(err))
			}
			return
		}
		switch st.Result {
		case sdk.FacePassed, sdk.FacePending:
			if st.Reason != sdk.KindUnknown {
				t.Fatalf("%+v: a reason without a failure", st)
			}
		case sdk.FaceFailed:
			if st.Reason == sdk.KindUnknown {
				t.Fatalf("%+v: a failure without a reason", st)
			}
		default:
			t.Fatalf("unknown result %d", st.Result)
		}
	})
}

// FuzzHandle opens arbitrary text: nothing but what a sealer with this
// key sealed opens (the only handle sealed is the seed's), and that opens
// as sealed.
func FuzzHandle(f *testing.F) {
	s, _ := handle.NewSealer(make([]byte, 32), handleLabel)
	c := &configured{config: &config{appID: "2021000000000001"}, handles: s}
	want := payload{State: "st", Exp: 1_800_000_000}
	sealed, _ := c.sealHandle(handleScan, want)
	f.Add(sealed)
	f.Add("")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, text string) {
		if h, ok := c.openHandle(handleScan, text); ok && h != want {
			t.Fatalf("opened text no sealer sealed: %q", text)
		}
	})
}

// FuzzScanCallback feeds arbitrary redirect queries: a code is confirmed
// only for this app and this session's state, with no error.
func FuzzScanCallback(f *testing.F) {
	f.Add("2021000000000001", "st", "code", "")
	f.Add("2021000000000001", "st", "", "access_denied")
	f.Add("other", "st", "code", "")
	f.Add("2021000000000001", "other", "code", "")
	p := newProvider(quiet(), time.Now)
	if err := p.Configure(context.Background(), configJSONF(f)); err != nil {
		f.Fatal(err)
	}
	ss, err := p.BeginScan(context.Background(), sdk.BeginScanRequest{CallbackURL: "https://gateway.example/cb", State: "st"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, appID, state, code, errParam string) {
		q := map[string]string{"app_id": appID, "state": state, "auth_code": code, "error": errParam}
		st, err := p.ScanCallback(context.Background(), ss.UUID, q)
		mine := appID == "2021000000000001" && state == "st"
		switch {
		case err != nil:
			if sdk.KindOf(err) != sdk.InvalidRequest {
				t.Fatalf("ScanCallback error of kind %v", sdk.KindOf(err))
			}
			if mine && errParam == "" && code != "" && printable(code) && len(code) <= maxCode {
				t.Fatalf("refused a good callback: %v", err)
			}
		case st.State == sdk.ScanConfirmed:
			if !mine || errParam != "" || st.Code != code {
				t.Fatalf("confirmed %+v for %v", st, q)
			}
		case st.State == sdk.ScanCancelled:
			if !mine {
				t.Fatalf("cancelled a foreign callback %v", q)
			}
		default:
			t.Fatalf("state %v", st.State)
		}
	})
}

func configJSONF(f *testing.F) json.RawMessage {
	b, _ := json.Marshal(map[string]string{
		"app_id":            "2021000000000001",
		"app_private_key":   string(readFixtureF(f, appKeyFile)),
		"alipay_public_key": string(readFixtureF(f, publicKeyFile)),
		"handle_key":        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	})
	return b
}

// FuzzConfigure: any configuration is accepted or refused as
// InvalidConfig naming fields.
func FuzzConfigure(f *testing.F) {
	f.Add([]byte(configJSONF(f)))
	f.Add([]byte(`{"app_id":1,"gateway_url":"http://[::1"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		err := newProvider(quiet(), time.Now).Configure(context.Background(), raw)
		if err == nil {
			return
		}
		var e *sdk.Error
		if sdk.KindOf(err) != sdk.InvalidConfig || !errors.As(err, &e) || len(e.Fields) == 0 {
			t.Fatalf("Configure(%q) = %v", raw, err)
		}
	})
}
