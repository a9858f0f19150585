package ctid

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	ctidsim "github.com/shiming-id/shiming/contrib/sandbox/ctid"
	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
	"github.com/shiming-id/shiming/plugins/sdk/handle"
)

func fixtureBodies(f *testing.F) [][]byte {
	files, _ := filepath.Glob(filepath.Join(fixtureDir, "platform", "*.json"))
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

// FuzzOpenResponse feeds arbitrary bodies to the envelope reader: it
// never panics, accepts only packages whose sign verifies, and refuses a
// body whose signed package changed.
func FuzzOpenResponse(f *testing.F) {
	for _, b := range fixtureBodies(f) {
		f.Add(b, 0)
	}
	f.Add([]byte(`{"bizPackage":"{\"resultCode\":\"0\"}","sign":"AAAA"}`), 1)
	pub, err := parsePublicKey(string(readFixture(f, platformFile)))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, flip int) {
		pkg, err := openResponse(body, pub)
		if err != nil {
			if !errors.Is(err, errMalformed) && !errors.Is(err, errSignature) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		var env envelope
		if json.Unmarshal(body, &env) != nil || verify(pub, []byte(env.BizPackage), env.Sign) != nil || pkg.ResultCode == "" {
			t.Fatal("accepted an envelope that does not verify")
		}
		i := bytes.Index(body, []byte(`"bizPackage"`))
		if i < 0 {
			return // the key was written with escapes
		}
		changed := bytes.Clone(body)
		pos := i + 14 + (flip%16+16)%16
		if pos >= len(changed) {
			return
		}
		changed[pos] ^= 0x01
		if _, err := openResponse(changed, pub); err == nil {
			var env2 envelope
			_ = json.Unmarshal(changed, &env2)
			if env2.BizPackage != env.BizPackage {
				t.Fatalf("accepted a changed bizPackage at %d", pos)
			}
		}
	})
}

// FuzzSealRequest signs arbitrary bizData: the sandbox verifies every
// envelope, and the bizPackage carries the data unchanged.
func FuzzSealRequest(f *testing.F) {
	f.Add("ORG1", "authMode", "0x10")
	f.Add("", "bsn", "\u2028<&>\"\\")
	key, err := parsePrivateKey(string(readFixture(f, orgKeyFile)))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, org, k, v string) {
		body, err := sealRequest(key, org, map[string]string{k: v})
		if err != nil {
			t.Fatal(err)
		}
		var env ctidsim.Envelope
		if err := json.Unmarshal(body, &env); err != nil {
			t.Fatal(err)
		}
		if err := ctidsim.Verify(&key.PublicKey, []byte(env.BizPackage), env.Sign); err != nil {
			t.Fatalf("the sandbox refuses the envelope: %v", err)
		}
		var pkg struct {
			OrgCode string            `json:"orgCode"`
			BizData map[string]string `json:"bizData"`
		}
		if err := json.Unmarshal([]byte(env.BizPackage), &pkg); err != nil {
			t.Fatal(err)
		}
		if pkg.OrgCode != toValidUTF8(org) || pkg.BizData[toValidUTF8(k)] != toValidUTF8(v) {
			t.Fatalf("bizPackage %s lost data", env.BizPackage)
		}
	})
}

// toValidUTF8 is what encoding/json makes of a Go string: every byte
// that is not UTF-8 becomes U+FFFD.
func toValidUTF8(s string) string {
	b, _ := json.Marshal(s)
	var out string
	_ = json.Unmarshal(b, &out)
	return out
}

// FuzzRetainData encrypts arbitrary names and numbers; the platform's key
// decrypts them unchanged.
func FuzzRetainData(f *testing.F) {
	f.Add("张伟", "430102199503141235")
	f.Add("", "")
	key, err := parsePrivateKey(string(readFixture(f, orgKeyFile)))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, name, id string) {
		in := retainData{Name: toValidUTF8(name), IDNo: toValidUTF8(id)}
		s, err := encryptRetainData(&key.PublicKey, in)
		if err != nil {
			t.Fatal(err)
		}
		if got := decryptRetain(t, key, s); got != in {
			t.Fatalf("round trip %+v → %+v", in, got)
		}
	})
}

// FuzzStatus decodes arbitrary query answers into scan and face states.
func FuzzStatus(f *testing.F) {
	f.Add([]byte(`{"bsn":"B","status":"read","authCode":"c"}`))
	f.Add([]byte(`{"status":"failed","verifyResultCode":"4005"}`))
	f.Add([]byte(`{"status":"nonsense"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var q queryAnswer
		_ = json.Unmarshal(data, &q)
		if st, err := scanStatus(q); err == nil {
			if (st.State == sdk.ScanConfirmed) != (st.Code != "") || st.State < sdk.ScanWaiting || st.State > sdk.ScanCancelled {
				t.Fatalf("scan %+v from %+v", st, q)
			}
		} else if sdk.KindOf(err) != sdk.VendorUnavailable {
			t.Fatalf("scan error %v", err)
		}
		if st, err := faceStatus(q, "B"); err == nil {
			if (st.Result == sdk.FaceFailed) != (st.Reason != sdk.KindUnknown) {
				t.Fatalf("face %+v from %+v", st, q)
			}
		} else if sdk.KindOf(err) != sdk.VendorUnavailable {
			t.Fatalf("face error %v", err)
		}
	})
}

// FuzzIdentity decodes arbitrary identity answers: an identity always has
// a subject, a name and a valid number.
func FuzzIdentity(f *testing.F) {
	f.Add(readFixture(f, "platform/identity_ok.json"))
	f.Add([]byte(`{"name":"张三","idNo":"11010519491231002x"}`))
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		var a identityAnswer
		_ = json.Unmarshal(data, &a)
		id, err := identityOf(a, []byte("k"), now)
		if err != nil {
			return
		}
		if _, perr := cnid.Parse(id.IDNumber, now); perr != nil || id.Subject == "" || id.Name == "" || id.Level != sdk.LevelCTID {
			t.Fatalf("identity %+v", id)
		}
	})
}

// FuzzHandle opens arbitrary text: only the seed's sealed handle opens.
func FuzzHandle(f *testing.F) {
	s, _ := handle.NewSealer(make([]byte, 32), handleLabel)
	c := &configured{config: &config{orgCode: "ORG1"}, handles: s}
	want := payload{BSN: "B", Exp: 1_800_000_000}
	sealed, _ := c.sealHandle(handleFace, want)
	f.Add(sealed)
	f.Add("")
	f.Fuzz(func(t *testing.T, text string) {
		if h, ok := c.openHandle(handleFace, text); ok && h != want {
			t.Fatalf("opened text no sealer sealed: %q", text)
		}
	})
}

// FuzzConfigure: any configuration is accepted or refused as
// InvalidConfig naming fields.
func FuzzConfigure(f *testing.F) {
	f.Add([]byte(configJSON(f, nil)))
	f.Add([]byte(`{"base_url":"http://[::1","org_code":[]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		err := newProvider(quiet(), time.Now).Configure(context.Background(), raw)
		var e *sdk.Error
		if err != nil && (!errors.As(err, &e) || e.Kind != sdk.InvalidConfig || len(e.Fields) == 0) {
			t.Fatalf("Configure(%q) = %v", raw, err)
		}
	})
}
