package ctid

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
	"github.com/shiming-id/shiming/contrib/sandbox/simenv"
)

func fuzzSim(f *testing.F) *Sim {
	testKeys(f)
	sim, err := New(simenv.Env{Now: time.Now, PublicURL: "http://sandbox.test", Citizens: citizens.Default()},
		[]Org{{OrgCode: testOrg, OrgPublicKeyPEM: PublicKeyPEM(&orgKey.PublicKey)}}, Options{PlatformKey: platformKey})
	if err != nil {
		f.Fatal(err)
	}
	return sim
}

func FuzzParseEnvelope(f *testing.F) {
	sim := fuzzSim(f)
	pkg := `{"orgCode":"` + testOrg + `","bizData":{"authMode":"0x40"}}`
	sign, _ := Sign(orgKey, []byte(pkg))
	good, _ := json.Marshal(Envelope{BizPackage: pkg, Sign: sign})
	f.Add(string(good))
	f.Add(`{"bizPackage":"{\"orgCode\":\"X\",\"bizData\":{}}","sign":"AAAA"}`)
	f.Add(`{"bizPackage":1}`)
	f.Add(`{}{}`)
	f.Fuzz(func(t *testing.T, body string) {
		o, p, err := sim.parseEnvelope(strings.NewReader(body))
		if err != nil {
			if codeOf(err) == CodeBusy {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		var env Envelope
		if json.Unmarshal([]byte(body), &env) != nil || Verify(o.key, []byte(env.BizPackage), env.Sign) != nil || p.OrgCode != o.OrgCode {
			t.Fatalf("accepted an envelope that does not verify: %q", body)
		}
	})
}

func FuzzDecryptRetainData(f *testing.F) {
	testKeys(f)
	enc, _ := EncryptRetainData(&platformKey.PublicKey, []byte(`{"name":"张伟","idNo":"430102199503141235"}`))
	f.Add(enc)
	f.Add("")
	f.Add(strings.Repeat("A", 384))
	f.Add("====")
	f.Fuzz(func(t *testing.T, s string) {
		out, err := decryptRetainData(platformKey, s)
		if err == nil && s != enc && len(out) > len(s) {
			t.Fatalf("decrypted %d bytes from %d characters", len(out), len(s))
		}
	})
}

func FuzzBizData(f *testing.F) {
	f.Add(`{"bsn":"A","authMode":"0x40","authApplyRetainData":"x"}`)
	f.Add(`{"bsn":1}`)
	f.Add(`{"bsn":"A","other":true}`)
	f.Fuzz(func(t *testing.T, raw string) {
		var req verificationRequest
		if err := decodeBizData(json.RawMessage(raw), &req); err != nil && codeOf(err) != CodeBadParameter {
			t.Fatalf("decodeBizData error %v is not %s", err, CodeBadParameter)
		}
	})
}
