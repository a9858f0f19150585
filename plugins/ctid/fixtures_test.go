package ctid

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk"
)

var update = flag.Bool("update", false, "record testdata/ again from the sandbox")

// The recorded fixtures live in testdata/: platform/*.json are platform
// answers exactly as the sandbox sent them (signed with
// platform_public_key.pem's private half); org.json names the
// organisation they were recorded for, whose key is org_private_key.pem.
const (
	fixtureDir    = "testdata"
	orgFile       = "org.json"
	platformFile  = "platform_public_key.pem"
	orgKeyFile    = "org_private_key.pem"
	replayHandle  = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	recordedOrgID = "org_code"
)

// recorder is a transport that keeps the last answer per path.
type recorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	last map[string][]byte
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	path := req.URL.Path[strings.LastIndex(req.URL.Path, "/v1/"):]
	r.mu.Lock()
	r.last[path] = b
	r.mu.Unlock()
	return resp, nil
}

func (r *recorder) take(t *testing.T, path string) []byte {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.last[path]
	if !ok {
		t.Fatalf("nothing recorded for %s", path)
	}
	delete(r.last, path)
	return b
}

func (v *vendor) recording(t *testing.T, change func(map[string]string)) (*Provider, *recorder) {
	p := newProvider(quiet(), v.Clock.Now)
	if err := p.Configure(context.Background(), v.configWith(0, change)); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{base: http.DefaultTransport, last: map[string][]byte{}}
	p.cur.Load().http.Transport = rec
	return p, rec
}

func writeFixture(t *testing.T, name string, b []byte) {
	t.Helper()
	path := filepath.Join(fixtureDir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRecordFixtures drives the sandbox through the provider and the
// phone and saves what the platform answered. Run with -update.
func TestRecordFixtures(t *testing.T) {
	if !*update {
		t.Skip("records testdata/ with -update")
	}
	v := newVendor(t)
	ctx := context.Background()
	writeFixture(t, platformFile, []byte(v.Sandbox.CTIDPlatformPublicKeyPEM()))
	writeFixture(t, orgKeyFile, []byte(v.orgs[0].OrgPrivateKeyPEM))
	org, _ := json.Marshal(map[string]string{recordedOrgID: v.orgs[0].OrgCode})
	writeFixture(t, orgFile, append(org, '\n'))
	p, rec := v.recording(t, nil)
	c := p.cur.Load()
	var raw json.RawMessage
	save := func(path, file string) { writeFixture(t, "platform/"+file, rec.take(t, path)) }

	// Scan login: read, exchanged, exchanged again.
	ss, err := p.BeginScan(ctx, sdk.BeginScanRequest{})
	if err != nil {
		t.Fatal(err)
	}
	save(pathApply, "apply_read.json")
	if _, err := p.PollScan(ctx, ss.UUID); err != nil {
		t.Fatal(err)
	}
	save(pathQuery, "query_read_pending.json")
	if _, err := v.Approve(ctx, ss.QRContent); err != nil {
		t.Fatal(err)
	}
	st, err := p.PollScan(ctx, ss.UUID)
	if err != nil {
		t.Fatal(err)
	}
	save(pathQuery, "query_read.json")
	if _, err := p.ExchangeCode(ctx, ss.UUID, st.Code); err != nil {
		t.Fatal(err)
	}
	save(pathIdentity, "identity_ok.json")
	_, _ = p.PollScan(ctx, ss.UUID)
	save(pathQuery, "query_confirmed.json")
	_, _ = p.ExchangeCode(ctx, ss.UUID, st.Code)
	save(pathIdentity, "identity_3002.json")
	_ = p.call(ctx, c, pathIdentity, map[string]string{"authCode": "unknown-code"}, &raw)
	save(pathIdentity, "identity_3001.json")

	ss2, _ := p.BeginScan(ctx, sdk.BeginScanRequest{})
	rec.take(t, pathApply)
	if _, err := v.Cancel(ctx, ss2.QRContent); err != nil {
		t.Fatal(err)
	}
	_, _ = p.PollScan(ctx, ss2.UUID)
	save(pathQuery, "query_read_cancelled.json")

	// Two factors.
	m, x := v.people.Match, v.people.Mismatch
	if _, err := p.CheckIdentity(ctx, m.Name, m.IDNumber); err != nil {
		t.Fatal(err)
	}
	save(pathApply, "apply_two_factor.json")
	save(pathVerification, "verification_passed.json")
	_, _ = p.CheckIdentity(ctx, x.Name, x.IDNumber)
	save(pathVerification, "verification_4003.json")
	apply := func(mode string) string {
		var a applyAnswer
		if err := p.call(ctx, c, pathApply, map[string]string{"authMode": mode}, &a); err != nil {
			t.Fatal(err)
		}
		rec.take(t, pathApply)
		return a.BSN
	}
	verify := func(bsn, mode, name, id string) {
		retain, _ := encryptRetainData(c.platformKey, retainData{Name: name, IDNo: id})
		_ = p.call(ctx, c, pathVerification, map[string]string{"bsn": bsn, "authMode": mode, "authApplyRetainData": retain}, &raw)
	}
	bsn := apply(modeTwoFactor)
	verify(bsn, modeTwoFactor, "张伟", "110105194912310021")
	save(pathVerification, "verification_4002.json")
	verify(bsn, modeTwoFactor, m.Name, m.IDNumber)
	save(pathVerification, "verification_2003.json")
	bsn = apply(modeTwoFactor)
	_ = p.call(ctx, c, pathVerification, map[string]string{"bsn": bsn, "authMode": modeTwoFactor, "authApplyRetainData": "bm90IGVuY3J5cHRlZA"}, &raw)
	save(pathVerification, "verification_4001.json")

	// Portrait checks.
	face := func(key string, action string) (sdk.FaceSession, *sdk.Error) {
		c, _ := v.Citizens.ByKey(key)
		fs, err := p.BeginFace(ctx, sdk.FaceRequest{Name: c.Name, IDNumber: c.IDNumber})
		if err != nil {
			t.Fatal(err)
		}
		if action != "" {
			if _, err := v.Act(ctx, fs.QRContent, action, c.IDNumber); err != nil {
				t.Fatal(err)
			}
		}
		_, qerr := p.QueryFace(ctx, fs.CertifyID)
		var e *sdk.Error
		errors.As(qerr, &e)
		return fs, e
	}
	face("c001", "")
	save(pathApply, "apply_portrait.json")
	save(pathVerification, "verification_verifying.json")
	save(pathQuery, "query_face_verifying.json")
	face("c001", "pass")
	save(pathQuery, "query_face_passed.json")
	face("c031", "pass")
	save(pathQuery, "query_face_4004.json")
	face("c033", "pass")
	save(pathQuery, "query_face_4005.json")
	face("c001", "cancel")
	save(pathQuery, "query_face_4006.json")

	// Refusals of the message itself.
	_ = p.call(ctx, c, pathApply, map[string]string{"authMode": "0x12"}, &raw)
	save(pathApply, "apply_1005.json")
	_ = p.call(ctx, c, pathApply, map[string]string{"mode": "0x40"}, &raw)
	save(pathApply, "apply_1004.json")
	_ = p.call(ctx, c, pathQuery, map[string]string{"bsn": "000000000000000000"}, &raw)
	save(pathQuery, "query_2001.json")
	resp, err := c.http.Post(c.baseURL+pathApply, "application/json", strings.NewReader(`{"hello":"world"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	save(pathApply, "apply_1001.json")
	v.inject(pathApply, "9999")
	_ = p.call(ctx, c, pathApply, map[string]string{"authMode": modeRead}, &raw)
	save(pathApply, "apply_9999.json")
	v.inject(pathApply, "garbage")
	_ = p.call(ctx, c, pathApply, map[string]string{"authMode": modeRead}, &raw)
	save(pathApply, "apply_garbage.json")
	pw, recw := v.recording(t, func(m map[string]string) { m["org_private_key"] = v.orgs[1].OrgPrivateKeyPEM })
	_, _ = pw.BeginScan(ctx, sdk.BeginScanRequest{})
	writeFixture(t, "platform/apply_1002.json", recw.take(t, pathApply))
	pu, recu := v.recording(t, func(m map[string]string) { m["org_code"] = "SBXUNKNOWN" })
	_, _ = pu.BeginScan(ctx, sdk.BeginScanRequest{})
	writeFixture(t, "platform/apply_1003.json", recu.take(t, pathApply))

	// Time runs out: a bsn, a verification and an authCode.
	ss3, _ := p.BeginScan(ctx, sdk.BeginScanRequest{})
	rec.take(t, pathApply)
	_, _ = v.Approve(ctx, ss3.QRContent)
	st3, _ := p.PollScan(ctx, ss3.UUID)
	rec.take(t, pathQuery)
	ss4, _ := p.BeginScan(ctx, sdk.BeginScanRequest{})
	rec.take(t, pathApply)
	h4, _ := c.openHandle(handleScan, ss4.UUID)
	fsLate, _ := face("c001", "")
	hLate, _ := c.openHandle(handleFace, fsLate.CertifyID)
	bsn = apply(modeTwoFactor)
	v.Clock.Advance(defaultTTL + time.Minute)
	_, _ = p.ExchangeCode(ctx, ss3.UUID, st3.Code)
	save(pathIdentity, "identity_3003.json")
	_ = p.call(ctx, c, pathQuery, map[string]string{"bsn": h4.BSN}, &raw)
	save(pathQuery, "query_read_expired.json")
	_ = p.call(ctx, c, pathQuery, map[string]string{"bsn": hLate.BSN}, &raw)
	save(pathQuery, "query_face_expired.json")
	verify(bsn, modeTwoFactor, m.Name, m.IDNumber)
	save(pathVerification, "verification_2002.json")
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatalf("fixture %s: %v (record with go test -run TestRecordFixtures -update)", name, err)
	}
	return b
}

// fixtureBizData decodes a recorded answer's bizData.
func fixtureBizData(t testing.TB, file string, out any) {
	t.Helper()
	var env envelope
	if err := json.Unmarshal(readFixture(t, "platform/"+file), &env); err != nil {
		t.Fatal(err)
	}
	var pkg responsePackage
	if err := json.Unmarshal([]byte(env.BizPackage), &pkg); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(pkg.BizData, out); err != nil {
		t.Fatalf("%s: bizData: %v", file, err)
	}
}

// replay is a platform answering each path with a recorded body.
type replay struct {
	t       testing.TB
	mu      sync.Mutex
	answers map[string]string
}

func (r *replay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	file, ok := r.answers[req.URL.Path]
	r.mu.Unlock()
	if !ok {
		http.Error(w, "unexpected path "+req.URL.Path, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(readFixture(r.t, "platform/"+file))
}

func (r *replay) answer(path, file string) {
	r.mu.Lock()
	r.answers[path] = file
	r.mu.Unlock()
}

func replayConfig(t testing.TB, baseURL string) json.RawMessage {
	t.Helper()
	var org map[string]string
	if err := json.Unmarshal(readFixture(t, orgFile), &org); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]string{
		"org_code":            org[recordedOrgID],
		"org_private_key":     string(readFixture(t, orgKeyFile)),
		"platform_public_key": string(readFixture(t, platformFile)),
		"base_url":            baseURL,
		"handle_key":          replayHandle,
	})
	return b
}

// replayProvider is a provider configured for the recorded organisation,
// talking to a platform that answers with fixtures.
func replayProvider(t *testing.T, now func() time.Time) (*Provider, *replay) {
	t.Helper()
	r := &replay{t: t, answers: map[string]string{}}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	p := newProvider(quiet(), now)
	if err := p.Configure(context.Background(), replayConfig(t, srv.URL)); err != nil {
		t.Fatal(err)
	}
	return p, r
}

// sealFor seals a handle of kind for the bsn a fixture is about.
func sealFor(t *testing.T, p *Provider, kind, file string) string {
	t.Helper()
	var a struct {
		BSN string `json:"bsn"`
	}
	fixtureBizData(t, file, &a)
	s, err := p.cur.Load().sealHandle(kind, payload{BSN: a.BSN, Exp: time.Now().Add(defaultTTL).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func wantErr(t *testing.T, err error, kind sdk.Kind, vendorCode string) {
	t.Helper()
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != kind || e.VendorCode != vendorCode {
		t.Fatalf("err = %v, want kind %v vendor code %q", err, kind, vendorCode)
	}
}

func TestRecordedScan(t *testing.T) {
	ctx := context.Background()
	t.Run("begin", func(t *testing.T) {
		p, r := replayProvider(t, time.Now)
		r.answer(pathApply, "apply_read.json")
		ss, err := p.BeginScan(ctx, sdk.BeginScanRequest{})
		var a applyAnswer
		fixtureBizData(t, "apply_read.json", &a)
		if err != nil || ss.QRContent != a.QRContent || ss.UUID == "" {
			t.Fatalf("BeginScan = %+v, %v", ss, err)
		}
	})
	t.Run("poll", func(t *testing.T) {
		cases := []struct {
			file  string
			state sdk.ScanState
			code  bool
			kind  sdk.Kind
		}{
			{file: "query_read_pending.json", state: sdk.ScanWaiting},
			{file: "query_read.json", state: sdk.ScanConfirmed, code: true},
			{file: "query_confirmed.json", state: sdk.ScanConfirmed, code: true},
			{file: "query_read_cancelled.json", state: sdk.ScanCancelled},
			{file: "query_read_expired.json", state: sdk.ScanExpired},
			{file: "query_face_passed.json", kind: sdk.VendorUnavailable},
		}
		for _, tc := range cases {
			t.Run(tc.file, func(t *testing.T) {
				p, r := replayProvider(t, time.Now)
				r.answer(pathQuery, tc.file)
				uuid := sealFor(t, p, handleScan, tc.file)
				for _, call := range []func() (sdk.ScanStatus, error){
					func() (sdk.ScanStatus, error) { return p.PollScan(ctx, uuid) },
					func() (sdk.ScanStatus, error) { return p.ScanCallback(ctx, uuid, map[string]string{"x": "y"}) },
				} {
					st, err := call()
					if tc.kind != 0 {
						if sdk.KindOf(err) != tc.kind {
							t.Fatalf("= %+v, %v; want kind %v", st, err, tc.kind)
						}
						continue
					}
					if err != nil || st.State != tc.state || (st.Code != "") != tc.code {
						t.Fatalf("= %+v, %v; want %v", st, err, tc.state)
					}
				}
			})
		}
	})
	t.Run("poll of another bsn's answer", func(t *testing.T) {
		p, r := replayProvider(t, time.Now)
		r.answer(pathQuery, "query_read.json")
		uuid := sealFor(t, p, handleScan, "query_read_cancelled.json")
		_, err := p.PollScan(ctx, uuid)
		wantErr(t, err, sdk.VendorUnavailable, "bsn_mismatch")
	})
	t.Run("exchange", func(t *testing.T) {
		cases := []struct {
			file   string
			kind   sdk.Kind
			vendor string
		}{
			{file: "identity_ok.json"},
			{file: "identity_3001.json", kind: sdk.CodeInvalid, vendor: "3001"},
			{file: "identity_3002.json", kind: sdk.CodeReused, vendor: "3002"},
			{file: "identity_3003.json", kind: sdk.Expired, vendor: "3003"},
		}
		for _, tc := range cases {
			t.Run(tc.file, func(t *testing.T) {
				p, r := replayProvider(t, time.Now)
				r.answer(pathIdentity, tc.file)
				uuid := sealFor(t, p, handleScan, "identity_ok.json")
				id, err := p.ExchangeCode(ctx, uuid, "recorded-code")
				if tc.kind != 0 {
					wantErr(t, err, tc.kind, tc.vendor)
					return
				}
				var a identityAnswer
				fixtureBizData(t, tc.file, &a)
				if err != nil || id.Subject != a.BID || id.SubjectIDs["bid"] != a.BID || id.Name != a.Name ||
					id.IDNumber != a.IDNo || id.Level != sdk.LevelCTID || id.Reference != a.BSN {
					t.Fatalf("ExchangeCode = %+v, %v", id, err)
				}
			})
		}
	})
	t.Run("a code of another session", func(t *testing.T) {
		p, r := replayProvider(t, time.Now)
		r.answer(pathIdentity, "identity_ok.json")
		uuid := sealFor(t, p, handleScan, "query_read_cancelled.json")
		_, err := p.ExchangeCode(ctx, uuid, "recorded-code")
		wantErr(t, err, sdk.CodeInvalid, "")
	})
}

func TestRecordedIdentityCheck(t *testing.T) {
	cases := []struct {
		apply, verification string
		kind                sdk.Kind
		vendor              string
		fields              []string
	}{
		{apply: "apply_two_factor.json", verification: "verification_passed.json"},
		{apply: "apply_two_factor.json", verification: "verification_4003.json", kind: sdk.NameIDMismatch, vendor: "4003"},
		{apply: "apply_two_factor.json", verification: "verification_4002.json", kind: sdk.InvalidRequest, vendor: "4002", fields: []string{"id_number"}},
		{apply: "apply_two_factor.json", verification: "verification_4001.json", kind: sdk.InvalidConfig, vendor: "4001"},
		{apply: "apply_two_factor.json", verification: "verification_2003.json", kind: sdk.InvalidRequest, vendor: "2003"},
		{apply: "apply_two_factor.json", verification: "verification_2002.json", kind: sdk.Expired, vendor: "2002"},
		{apply: "apply_two_factor.json", verification: "verification_verifying.json", kind: sdk.VendorUnavailable, vendor: "bsn_mismatch"},
		{apply: "apply_1001.json", kind: sdk.Internal, vendor: "1001"},
		{apply: "apply_1002.json", kind: sdk.InvalidConfig, vendor: "1002"},
		{apply: "apply_1003.json", kind: sdk.InvalidConfig, vendor: "1003"},
		{apply: "apply_1004.json", kind: sdk.InvalidRequest, vendor: "1004"},
		{apply: "apply_1005.json", kind: sdk.NotSupported, vendor: "1005"},
		{apply: "apply_9999.json", kind: sdk.VendorUnavailable, vendor: "9999"},
		{apply: "apply_garbage.json", kind: sdk.VendorUnavailable, vendor: "200"},
	}
	for _, tc := range cases {
		t.Run(tc.apply+" "+tc.verification, func(t *testing.T) {
			p, r := replayProvider(t, time.Now)
			r.answer(pathApply, tc.apply)
			r.answer(pathVerification, tc.verification)
			ref, err := p.CheckIdentity(context.Background(), "张伟", "11010519491231002X")
			if tc.kind != 0 {
				wantErr(t, err, tc.kind, tc.vendor)
				var e *sdk.Error
				if errors.As(err, &e) && !slices.Equal(e.Fields, tc.fields) {
					t.Errorf("fields %v, want %v", e.Fields, tc.fields)
				}
				return
			}
			var a applyAnswer
			fixtureBizData(t, tc.apply, &a)
			if err != nil || ref != a.BSN {
				t.Fatalf("CheckIdentity = %q, %v; want the bsn %q", ref, err, a.BSN)
			}
		})
	}
}

func TestRecordedFace(t *testing.T) {
	ctx := context.Background()
	t.Run("begin", func(t *testing.T) {
		p, r := replayProvider(t, time.Now)
		r.answer(pathApply, "apply_portrait.json")
		r.answer(pathVerification, "verification_verifying.json")
		fs, err := p.BeginFace(ctx, sdk.FaceRequest{Name: "张伟", IDNumber: "11010519491231002X"})
		var v verificationAnswer
		fixtureBizData(t, "verification_verifying.json", &v)
		if err != nil || fs.QRContent != v.QRContent || fs.CertifyID == "" {
			t.Fatalf("BeginFace = %+v, %v", fs, err)
		}
	})
	cases := []struct {
		file   string
		result sdk.FaceResult
		reason sdk.Kind
		vendor string
	}{
		{file: "query_face_verifying.json", result: sdk.FacePending},
		{file: "query_face_passed.json", result: sdk.FacePassed},
		{file: "query_face_4004.json", result: sdk.FaceFailed, reason: sdk.FaceMismatch, vendor: "4004"},
		{file: "query_face_4005.json", result: sdk.FaceFailed, reason: sdk.LivenessFailed, vendor: "4005"},
		{file: "query_face_4006.json", result: sdk.FaceFailed, reason: sdk.Cancelled, vendor: "4006"},
		{file: "query_face_expired.json", result: sdk.FaceFailed, reason: sdk.Expired},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			p, r := replayProvider(t, time.Now)
			r.answer(pathQuery, tc.file)
			id := sealFor(t, p, handleFace, tc.file)
			st, err := p.QueryFace(ctx, id)
			if err != nil || st.Result != tc.result || st.Reason != tc.reason || st.VendorCode != tc.vendor || st.Reference == "" {
				t.Fatalf("QueryFace = %+v, %v; want result %d reason %v", st, err, tc.result, tc.reason)
			}
		})
	}
	t.Run("a forgotten bsn", func(t *testing.T) {
		for _, late := range []bool{false, true} {
			now := time.Now
			if late {
				now = func() time.Time { return time.Now().Add(time.Hour) }
			}
			p, r := replayProvider(t, now)
			r.answer(pathQuery, "query_2001.json")
			st, err := p.QueryFace(ctx, sealFor(t, p, handleFace, "query_face_passed.json"))
			switch {
			case late && (err != nil || st.Result != sdk.FaceFailed || st.Reason != sdk.Expired):
				t.Errorf("QueryFace of a forgotten, expired bsn = %+v, %v; want failed, expired", st, err)
			case !late:
				wantErr(t, err, sdk.UUIDInvalid, "2001")
			}
		}
	})
}
