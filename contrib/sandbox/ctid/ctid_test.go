package ctid

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/fault"
	"github.com/shiming-id/shiming/contrib/sandbox/phone"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

func TestEnvelopeSignature(t *testing.T) {
	testKeys(t)
	pkg := []byte(`{"orgCode":"X","bizData":{"authMode":"0x40"}}`)
	sign, err := Sign(orgKey, pkg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(sign, "+/=") {
		t.Fatalf("sign %q is not unpadded base64url", sign)
	}
	if err := Verify(&orgKey.PublicKey, pkg, sign); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(sign)
	if err := Verify(&orgKey.PublicKey, pkg, base64.URLEncoding.EncodeToString(raw)); err != nil {
		t.Fatalf("padded sign: %v", err)
	}
	for name, tc := range map[string]struct {
		key  *rsa.PublicKey
		pkg  []byte
		sign string
	}{
		"tampered package": {&orgKey.PublicKey, append([]byte(nil), append(pkg[:len(pkg)-1], ' ', '}')...), sign},
		"other key":        {&otherKey.PublicKey, pkg, sign},
		"not base64url":    {&orgKey.PublicKey, pkg, "***"},
		"standard base64":  {&orgKey.PublicKey, pkg, base64.StdEncoding.EncodeToString(raw) + "+/"},
	} {
		if err := Verify(tc.key, tc.pkg, tc.sign); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
}

func TestRetainDataRoundTrip(t *testing.T) {
	testKeys(t)
	data := []byte(`{"name":"张伟","idNo":"430102199503141235"}`)
	enc, err := EncryptRetainData(&platformKey.PublicKey, data)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := decryptRetainData(platformKey, enc); err != nil || string(got) != string(data) {
		t.Fatalf("OAEP round trip = %q, %v", got, err)
	}
	if _, err := decryptRetainData(otherKey, enc); err == nil {
		t.Fatal("decrypted with another key")
	}
	raw, _ := base64.RawURLEncoding.DecodeString(enc)
	raw[len(raw)-1] ^= 0xff
	if _, err := decryptRetainData(platformKey, base64.RawURLEncoding.EncodeToString(raw)); err == nil {
		t.Fatal("decrypted a tampered padding block")
	}
	// A 32-byte AES key, padded base64url.
	secret := make([]byte, 48)
	_, _ = rand.Read(secret)
	head, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, &platformKey.PublicKey, secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(secret[:32])
	body := pkcs7Pad(data, aes.BlockSize)
	cipher.NewCBCEncrypter(block, secret[32:]).CryptBlocks(body, body)
	aes256 := base64.URLEncoding.EncodeToString(append(head, body...))
	if got, err := decryptRetainData(platformKey, aes256); err != nil || string(got) != string(data) {
		t.Fatalf("AES-256 variant = %q, %v", got, err)
	}
	// OAEP with SHA-1 (another label hash) is refused.
	sha1Head, _ := rsa.EncryptOAEP(sha1.New(), rand.Reader, &platformKey.PublicKey, secret[:32], nil)
	if _, err := decryptRetainData(platformKey, base64.RawURLEncoding.EncodeToString(append(sha1Head, body...))); err == nil {
		t.Fatal("accepted OAEP with SHA-1")
	}
	for _, bad := range []string{"", "AAAA", strings.Repeat("A", 400), "***"} {
		if _, err := decryptRetainData(platformKey, bad); !errors.Is(err, errRetainData) {
			t.Errorf("decrypt(%q) = %v", bad, err)
		}
	}
}

func TestPublicKeyPublished(t *testing.T) {
	f := newFixture(t, Options{})
	resp, err := f.srv.Client().Get(f.srv.URL + "/" + Host + PublicKeyPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	pub, err := ParsePublicKey(string(b))
	if err != nil || !pub.Equal(&platformKey.PublicKey) {
		t.Fatalf("published key: %v", err)
	}
}

func TestEnvelopeErrors(t *testing.T) {
	f := newFixture(t, Options{})
	pkg := `{"orgCode":"` + testOrg + `","bizData":{"authMode":"0x40"}}`
	sign, _ := Sign(orgKey, []byte(pkg))
	envelope := func(p, s string) []byte {
		b, _ := json.Marshal(Envelope{BizPackage: p, Sign: s})
		return b
	}
	tests := []struct {
		name string
		body []byte
		want string
	}{
		{"not JSON", []byte("{"), CodeBadMessage},
		{"unknown envelope field", []byte(`{"bizPackage":"{}","sign":"x","extra":1}`), CodeBadMessage},
		{"empty sign", envelope(pkg, ""), CodeBadMessage},
		{"bizPackage not JSON", envelope("not json", sign), CodeBadMessage},
		{"bizData not an object", envelope(`{"orgCode":"`+testOrg+`","bizData":"x"}`, sign), CodeBadMessage},
		{"no orgCode", envelope(`{"bizData":{}}`, sign), CodeBadMessage},
		{"unknown org", envelope(`{"orgCode":"NOPE","bizData":{"authMode":"0x40"}}`, sign), CodeUnknownOrg},
		{"signature of another package", envelope(strings.Replace(pkg, "0x40", "0x42", 1), sign), CodeBadSignature},
		{"good", envelope(pkg, sign), CodeOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want(t, f.post("/v1/apply", tc.body), tc.want)
		})
	}
	t.Run("signed by another org's key", func(t *testing.T) {
		want(t, f.call("/v1/apply", testOrg, otherKey, map[string]string{"authMode": "0x40"}), CodeBadSignature)
	})
	t.Run("unsupported authMode", func(t *testing.T) {
		want(t, f.org("/v1/apply", map[string]string{"authMode": "0x68"}), CodeBadAuthMode)
		want(t, f.org("/v1/apply", map[string]string{"authMode": ""}), CodeBadParameter)
		want(t, f.org("/v1/apply", map[string]string{"authMode": "0x40", "extra": "x"}), CodeBadParameter)
	})
	t.Run("faults", func(t *testing.T) {
		f.faults.Add(fault.Rule{Vendor: Vendor, Path: "/v1/apply", Code: CodeBusy, Count: 1})
		want(t, f.org("/v1/apply", map[string]string{"authMode": "0x40"}), CodeBusy)
		want(t, f.org("/v1/apply", map[string]string{"authMode": "0x40"}), CodeOK)
	})
}

func TestCardReadFlow(t *testing.T) {
	f := newFixture(t, Options{})
	applied := f.apply(ModeRead)
	bsn, qr := applied["bsn"].(string), applied["qrContent"].(string)
	if len(bsn) != 18 || applied["randomNumber"] == "" || applied["expiresIn"] != float64(300) || !strings.HasPrefix(qr, f.srv.URL+"/ctid.sandbox/app/auth?bsn=") {
		t.Fatalf("apply = %v", applied)
	}
	q := f.org("/v1/query", map[string]string{"bsn": bsn})
	if q.BizData["status"] != StatePending || q.BizData["authCode"] != nil {
		t.Fatalf("query = %v", q.BizData)
	}
	item, ok := f.sim.Lookup(context.Background(), qr)
	if !ok || item.Kind != KindRead || item.State != StatePending || len(item.Actions) != 2 {
		t.Fatalf("Lookup = %+v %v", item, ok)
	}
	if p := f.sim.Pending(context.Background()); len(p) != 1 || p[0].ID != item.ID {
		t.Fatalf("Pending = %+v", p)
	}
	holder := f.citizen("c035") // card 刘䶮, registry 刘岩
	if _, err := f.sim.Act(context.Background(), item.ID, phone.Read, holder); err != nil {
		t.Fatalf("read: %v", err)
	}
	if _, err := f.sim.Act(context.Background(), item.ID, phone.Read, holder); !errors.Is(err, phone.ErrNotAllowed) {
		t.Fatalf("second read: %v", err)
	}
	q = f.org("/v1/query", map[string]string{"bsn": bsn})
	code, _ := q.BizData["authCode"].(string)
	if q.BizData["status"] != StateRead || code == "" {
		t.Fatalf("query after read = %v", q.BizData)
	}
	want(t, f.call("/v1/query", otherOrg, otherKey, map[string]string{"bsn": bsn}), CodeUnknownBSN)
	want(t, f.call("/v1/identity", otherOrg, otherKey, map[string]string{"authCode": code}), CodeUnknownCode)
	id := f.org("/v1/identity", map[string]string{"authCode": code})
	want(t, id, CodeOK)
	if id.BizData["name"] != holder.Name || id.BizData["idNo"] != holder.IDNumber || id.BizData["bsn"] != bsn ||
		len(id.BizData["bid"].(string)) != 32 || len(id.BizData["idStartDate"].(string)) != 8 || id.BizData["idEndDate"] == "" {
		t.Fatalf("identity = %v", id.BizData)
	}
	want(t, f.org("/v1/identity", map[string]string{"authCode": code}), CodeUsedCode)
	want(t, f.org("/v1/identity", map[string]string{"authCode": "nope"}), CodeUnknownCode)
	if q := f.org("/v1/query", map[string]string{"bsn": bsn}); q.BizData["status"] != StateConfirmed || q.BizData["authCode"] != code {
		t.Fatalf("query after exchange = %v", q.BizData)
	}
	want(t, f.org("/v1/query", map[string]string{"bsn": "nope"}), CodeUnknownBSN)
}

func TestCardReadEndings(t *testing.T) {
	f := newFixture(t, Options{SessionTTL: time.Minute, CodeTTL: 2 * time.Minute})
	read := func() (string, string) {
		bsn := f.apply(ModeRead)["bsn"].(string)
		if _, err := f.sim.Act(context.Background(), itemID(bsn), phone.Read, f.citizen("c001")); err != nil {
			t.Fatal(err)
		}
		return bsn, f.org("/v1/query", map[string]string{"bsn": bsn}).BizData["authCode"].(string)
	}
	_, code := read()
	cancelled := f.apply(ModeRead)["bsn"].(string)
	if _, err := f.sim.Act(context.Background(), itemID(cancelled), phone.Cancel, f.citizen("c001")); err != nil {
		t.Fatal(err)
	}
	if q := f.org("/v1/query", map[string]string{"bsn": cancelled}); q.BizData["status"] != StateCancelled {
		t.Fatalf("cancelled = %v", q.BizData)
	}
	expiring := f.apply(ModeRead)["bsn"].(string)
	f.clock.Add(time.Minute + time.Second)
	if q := f.org("/v1/query", map[string]string{"bsn": expiring}); q.BizData["status"] != StateExpired {
		t.Fatalf("expired = %v", q.BizData)
	}
	if _, err := f.sim.Act(context.Background(), itemID(expiring), phone.Read, f.citizen("c001")); !errors.Is(err, phone.ErrExpired) {
		t.Fatalf("read after expiry: %v", err)
	}
	f.clock.Add(time.Minute)
	want(t, f.org("/v1/identity", map[string]string{"authCode": code}), CodeExpiredCode)
	if len(f.sim.Pending(context.Background())) != 0 {
		t.Fatal("finished reads still pending")
	}
}

func TestTwoFactor(t *testing.T) {
	f := newFixture(t, Options{SessionTTL: time.Minute})
	c001, c035 := f.citizen("c001"), f.citizen("c035")
	tests := []struct {
		name, person, idNo string
		want               string
	}{
		{"registry match", c001.Name, c001.IDNumber, CodeOK},
		{"card name the registry holds differently", c035.Name, c035.IDNumber, CodeNameMismatch},
		{"registry name", c035.RegistryName, c035.IDNumber, CodeOK},
		{"wrong name", "某某", c001.IDNumber, CodeNameMismatch},
		{"lower-case x", "胡斌", "43110219960309879x", CodeOK},
		{"synthetic citizen", "赵六", "11010519491231002X", CodeOK},
		{"invalid number", c001.Name, c001.IDNumber[:17] + "0", CodeInvalidID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bsn := f.apply(ModeTwoFactor)["bsn"].(string)
			r := f.org("/v1/verification", map[string]string{"bsn": bsn, "authMode": ModeTwoFactor, "authApplyRetainData": f.retain(tc.person, tc.idNo)})
			want(t, r, tc.want)
			if tc.want == CodeNameMismatch && r.ResultDesc != "姓名和身份证号码不匹配" {
				t.Fatalf("resultDesc = %s", r.ResultDesc)
			}
			q := f.org("/v1/query", map[string]string{"bsn": bsn})
			wantStatus := StatePassed
			if tc.want != CodeOK {
				wantStatus = StateFailed
			} else if len(r.BizData["bid"].(string)) != 32 {
				t.Fatalf("verification = %v", r.BizData)
			}
			if q.BizData["status"] != wantStatus || q.BizData["verifyResultCode"] != tc.want {
				t.Fatalf("query = %v", q.BizData)
			}
			want(t, f.org("/v1/verification", map[string]string{"bsn": bsn, "authMode": ModeTwoFactor, "authApplyRetainData": f.retain(tc.person, tc.idNo)}), CodeBadState)
		})
	}
	t.Run("request errors", func(t *testing.T) {
		bsn := f.apply(ModeTwoFactor)["bsn"].(string)
		good := f.retain(c001.Name, c001.IDNumber)
		noName, _ := EncryptRetainData(&platformKey.PublicKey, []byte(`{"idNo":"`+c001.IDNumber+`"}`))
		otherKeyData, _ := EncryptRetainData(&otherKey.PublicKey, []byte(`{"name":"张伟","idNo":"`+c001.IDNumber+`"}`))
		cases := []struct {
			name string
			data map[string]string
			want string
		}{
			{"unknown bsn", map[string]string{"bsn": "nope", "authMode": ModeTwoFactor, "authApplyRetainData": good}, CodeUnknownBSN},
			{"mode differs from apply", map[string]string{"bsn": bsn, "authMode": ModeTwoPortrait, "authApplyRetainData": good}, CodeBadState},
			{"missing retain data", map[string]string{"bsn": bsn, "authMode": ModeTwoFactor}, CodeBadParameter},
			{"retain data for another key", map[string]string{"bsn": bsn, "authMode": ModeTwoFactor, "authApplyRetainData": otherKeyData}, CodeBadRetainData},
			{"retain data without a name", map[string]string{"bsn": bsn, "authMode": ModeTwoFactor, "authApplyRetainData": noName}, CodeBadParameter},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) { want(t, f.org("/v1/verification", tc.data), tc.want) })
		}
		f.clock.Add(time.Minute + time.Second)
		want(t, f.org("/v1/verification", map[string]string{"bsn": bsn, "authMode": ModeTwoFactor, "authApplyRetainData": good}), CodeExpiredBSN)
	})
	t.Run("a read bsn cannot verify", func(t *testing.T) {
		bsn := f.apply(ModeRead)["bsn"].(string)
		want(t, f.org("/v1/verification", map[string]string{"bsn": bsn, "authMode": ModeRead, "authApplyRetainData": f.retain(c001.Name, c001.IDNumber)}), CodeBadState)
	})
}

func TestPortrait(t *testing.T) {
	tests := []struct {
		name, subject, holder string
		action                phone.Action
		status, code          string
		minScore, maxScore    float64
	}{
		{"passes", "c001", "c001", phone.Pass, StatePassed, CodeOK, 80, 99},
		{"someone else", "c001", "c002", phone.Pass, StateFailed, CodeFaceMismatch, 20, 49},
		{"face mismatch flag", "c031", "c031", phone.Pass, StateFailed, CodeFaceMismatch, 20, 49},
		{"liveness flag", "c033", "c033", phone.Pass, StateFailed, CodeLiveness, 0, 0},
		{"failed on purpose", "c001", "c001", phone.Fail, StateFailed, CodeFaceMismatch, 20, 49},
		{"cancelled", "c001", "c001", phone.Cancel, StateCancelled, CodeCancelled, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			c := f.citizen(tc.subject)
			applied := f.apply(ModeTwoPortrait)
			bsn := applied["bsn"].(string)
			if it, ok := f.sim.Lookup(context.Background(), applied["qrContent"].(string)); !ok || it.State != StatePending || len(it.Actions) != 0 {
				t.Fatalf("before verification: %+v %v", it, ok)
			}
			r := f.org("/v1/verification", map[string]string{"bsn": bsn, "authMode": ModeTwoPortrait, "authApplyRetainData": f.retain(c.Name, c.IDNumber)})
			want(t, r, CodeOK)
			if r.BizData["status"] != StateVerifying {
				t.Fatalf("verification = %v", r.BizData)
			}
			items := f.sim.Pending(context.Background())
			if len(items) != 1 || items[0].Kind != KindFace || len(items[0].Actions) != 3 {
				t.Fatalf("Pending = %+v", items)
			}
			if _, err := f.sim.Act(context.Background(), items[0].ID, tc.action, f.citizen(tc.holder)); err != nil {
				t.Fatalf("act: %v", err)
			}
			q := f.org("/v1/query", map[string]string{"bsn": bsn}).BizData
			score, _ := q["photoCompareScore"].(float64)
			if q["status"] != tc.status || q["verifyResultCode"] != tc.code || score < tc.minScore || score > tc.maxScore {
				t.Fatalf("query = %v", q)
			}
		})
	}
	t.Run("a name not on the card is answered at once", func(t *testing.T) {
		f := newFixture(t, Options{})
		c := f.citizen("c036") // the card says 王喆, the registry 王吉吉
		bsn := f.apply(ModeTwoPortrait)["bsn"].(string)
		want(t, f.org("/v1/verification", map[string]string{"bsn": bsn, "authMode": ModeTwoPortrait, "authApplyRetainData": f.retain(c.RegistryName, c.IDNumber)}), CodeNameMismatch)
		if len(f.sim.Pending(context.Background())) != 0 {
			t.Fatal("a refused portrait check is pending")
		}
	})
	t.Run("the card's name passes where the registry holds another", func(t *testing.T) {
		f := newFixture(t, Options{})
		c := f.citizen("c036")
		bsn := f.apply(ModeTwoPortrait)["bsn"].(string)
		r := f.org("/v1/verification", map[string]string{"bsn": bsn, "authMode": ModeTwoPortrait, "authApplyRetainData": f.retain(c.Name, c.IDNumber)})
		want(t, r, CodeOK)
		if r.BizData["status"] != StateVerifying {
			t.Fatalf("verification = %v", r.BizData)
		}
	})
}

func TestCardValidity(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, id := range []string{"11010519491231002X", "430111200206145469", "430102199503141235", "430121198701256572"} {
		for _, seed := range []string{"0000", "1234", "8000", "ffff"} {
			start, end := cardValidity(id, seed, now)
			s, err := time.Parse("20060102", start)
			if err != nil || s.After(now) {
				t.Fatalf("%s/%s: start %q", id, seed, start)
			}
			parsed, _ := cnid.Parse(id, now)
			age := cnid.AgeOn(parsed.BirthDate(), s)
			want := map[bool]string{true: "长期"}[age > 45]
			switch {
			case age < 16:
				want = s.AddDate(5, 0, 0).Format("20060102")
			case age <= 25:
				want = s.AddDate(10, 0, 0).Format("20060102")
			case age <= 45:
				want = s.AddDate(20, 0, 0).Format("20060102")
			}
			if end != want {
				t.Fatalf("%s/%s: issued at %d, valid %s–%s, want end %s", id, seed, age, start, end, want)
			}
		}
	}
}

func TestGenerateOrg(t *testing.T) {
	o, err := GenerateOrg("机构")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicKey(o.OrgPublicKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ParsePrivateKey(o.OrgPrivateKeyPEM)
	if err != nil || !priv.PublicKey.Equal(pub) || pub.N.BitLen() != 2048 || !strings.HasPrefix(o.OrgCode, "SBX") {
		t.Fatalf("GenerateOrg = %+v %v", o, err)
	}
}
