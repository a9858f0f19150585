package wechat

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk"
)

// The person of the face tests: the name of WeChat's cert_hash example
// with a number valid under GB 11643 (the document's example number,
// 310101199801011234, fails the check digit).
const (
	faceName   = "张三"
	faceID     = "310101199801011232"
	faceOpenID = "oLVPpjqs9BhvzwPj5A-vTYAX3GLc"
	faceVerify = "AEAJk4nGTwHqWbkXf1Bj1yQxgQ6lS9oW7r4K0tU3vN8mC2eH5aI"
)

func TestCertHashDocumentExample(t *testing.T) {
	// developers.weixin.qq.com …/face2/api_getfaceidentifyimage
	const want = "3c241f7ff324977aeb91f173bb2a7b06569e6fd784d5573db34a636d8671108b"
	if got := certHash("IDENTITY_CARD", "张三", "310101199801011234"); got != want {
		t.Fatalf("certHash = %s, want %s", got, want)
	}
}

func faceRequest() sdk.FaceRequest {
	return sdk.FaceRequest{Name: faceName, IDNumber: faceID, Subject: faceOpenID, ReturnURL: "http://127.0.0.1:8080/face"}
}

func beginFace(t *testing.T, p *Provider) sdk.FaceSession {
	t.Helper()
	fs, err := p.BeginFace(context.Background(), faceRequest())
	if err != nil {
		t.Fatalf("BeginFace: %v", err)
	}
	return fs
}

var outSeqNoRE = regexp.MustCompile(`^[0-9A-Za-z_-]{5,32}$`)

func TestBeginFace(t *testing.T) {
	s, c := newStub(t), newFixedClock()
	p := s.provider(c, nil)
	fs := beginFace(t, p)
	if want := "https://exam.example/wxface?verify_id=" + url.QueryEscape(faceVerify); fs.QRContent != want {
		t.Errorf("QRContent = %q, want %q", fs.QRContent, want)
	}
	if want := c.Now().Add(time.Hour); !fs.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v", fs.ExpiresAt, want)
	}
	reqs := s.requests()
	if len(reqs) != 2 || reqs[0].Path != routeServerToken || reqs[1].Path != routeGetVerifyID {
		t.Fatalf("requests %+v", reqs)
	}
	var body getVerifyIDRequest
	if err := json.Unmarshal(reqs[1].Body, &body); err != nil {
		t.Fatal(err)
	}
	if !outSeqNoRE.MatchString(body.OutSeqNo) || body.OpenID != faceOpenID ||
		body.CertInfo != (certInfo{CertType: "IDENTITY_CARD", CertName: faceName, CertNo: faceID}) {
		t.Errorf("getverifyid body %s", reqs[1].Body)
	}
	st, _ := p.state()
	var h faceHandle
	if !st.handles.Open(handleFace, st.cfg.faceAppID(), fs.CertifyID, &h) {
		t.Fatal("certify id does not open")
	}
	if h != (faceHandle{VerifyID: faceVerify, OutSeqNo: body.OutSeqNo, OpenID: faceOpenID,
		CertHash: certHash("IDENTITY_CARD", faceName, faceID), Expires: fs.ExpiresAt.Unix()}) {
		t.Errorf("handle %+v", h)
	}
	second := beginFace(t, p)
	reqs = s.requests()
	var again getVerifyIDRequest
	_ = json.Unmarshal(reqs[len(reqs)-1].Body, &again)
	if again.OutSeqNo == body.OutSeqNo || second.CertifyID == fs.CertifyID {
		t.Error("two verifications share an out_seq_no or a certify id")
	}
	if n := s.count(routeServerToken); n != 1 {
		t.Errorf("server token fetched %d times for two calls, want 1 (cached)", n)
	}
	c.Advance(2 * time.Hour)
	beginFace(t, p)
	if n := s.count(routeServerToken); n != 2 {
		t.Errorf("server token fetched %d times after it expired, want 2", n)
	}
}

func TestBeginFaceRefusesBadRequests(t *testing.T) {
	cases := []struct {
		name   string
		req    sdk.FaceRequest
		fields []string
	}{
		{"no subject", sdk.FaceRequest{Name: faceName, IDNumber: faceID}, []string{"subject"}},
		{"unionid-looking subject with a colon", sdk.FaceRequest{Name: faceName, IDNumber: faceID, Subject: "unionid:o6_x"}, []string{"subject"}},
		{"bad check digit", sdk.FaceRequest{Name: faceName, IDNumber: "310101199801011234", Subject: faceOpenID}, []string{"id_number"}},
		{"everything", sdk.FaceRequest{Name: "  "}, []string{"name", "id_number", "subject"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStub(t)
			_, err := s.provider(newFixedClock(), nil).BeginFace(context.Background(), tc.req)
			wantErr(t, err, sdk.InvalidRequest, "", tc.fields...)
			if len(s.requests()) != 0 {
				t.Error("WeChat was asked")
			}
		})
	}
	t.Run("no face_page_url", func(t *testing.T) {
		s := newStub(t)
		_, err := s.provider(newFixedClock(), map[string]string{"face_page_url": ""}).BeginFace(context.Background(), faceRequest())
		wantErr(t, err, sdk.InvalidConfig, "", "face_page_url")
	})
}

func TestBeginFaceErrcodes(t *testing.T) {
	cases := []struct {
		code   int
		kind   sdk.Kind
		fields []string
	}{
		{41009, sdk.InvalidRequest, []string{"subject"}},
		{40003, sdk.InvalidRequest, []string{"subject"}},
		{40097, sdk.InvalidRequest, []string{}},
		{47001, sdk.Internal, nil},
		{43002, sdk.Internal, nil},
		{45011, sdk.RateLimited, nil},
		{-1, sdk.VendorUnavailable, nil},
		{48001, sdk.InvalidConfig, nil},
		{40001, sdk.VendorUnavailable, nil}, // refused twice: a fresh token did not help
	}
	for _, tc := range cases {
		t.Run(errcodeName(tc.code), func(t *testing.T) {
			s := newStub(t)
			s.on(routeGetVerifyID, errcodeFixture(tc.code))
			_, err := s.provider(newFixedClock(), nil).BeginFace(context.Background(), faceRequest())
			wantErr(t, err, tc.kind, errcodeName(tc.code), tc.fields...)
		})
	}
	t.Run("no verify_id", func(t *testing.T) {
		s := newStub(t)
		s.on(routeGetVerifyID, fx("api/queryverifyinfo_10000.json"))
		_, err := s.provider(newFixedClock(), nil).BeginFace(context.Background(), faceRequest())
		wantErr(t, err, sdk.VendorUnavailable, "http_200")
	})
}

func TestFaceTokenRefusedOnceIsRefreshed(t *testing.T) {
	for _, code := range []int{40001, 42001} {
		t.Run(errcodeName(code), func(t *testing.T) {
			s := newStub(t)
			s.on(routeGetVerifyID, errcodeFixture(code), fx("api/getverifyid.json"))
			p := s.provider(newFixedClock(), nil)
			beginFace(t, p)
			if n := s.count(routeServerToken); n != 2 {
				t.Errorf("server token fetched %d times, want 2", n)
			}
			if n := s.count(routeGetVerifyID); n != 2 {
				t.Errorf("getverifyid asked %d times, want 2", n)
			}
		})
	}
}

func TestServerTokenErrcodes(t *testing.T) {
	cases := []struct {
		code   int
		mp     bool
		kind   sdk.Kind
		fields []string
	}{
		{40001, false, sdk.InvalidConfig, []string{"app_secret"}},
		{40125, false, sdk.InvalidConfig, []string{"app_secret"}},
		{40013, false, sdk.InvalidConfig, []string{"app_id"}},
		{40013, true, sdk.InvalidConfig, []string{"mp_app_id"}},
		{40001, true, sdk.InvalidConfig, []string{"mp_app_secret"}},
		{40164, false, sdk.InvalidConfig, []string{}},
		{40002, false, sdk.Internal, nil},
		{45009, false, sdk.RateLimited, nil},
		{45011, false, sdk.RateLimited, nil},
		{-1, false, sdk.VendorUnavailable, nil},
	}
	for _, tc := range cases {
		name := errcodeName(tc.code)
		if tc.mp {
			name += " mini-program"
		}
		t.Run(name, func(t *testing.T) {
			s := newStub(t)
			s.on(routeServerToken, errcodeFixture(tc.code))
			var extra map[string]string
			if tc.mp {
				extra = map[string]string{"mp_app_id": "wx1111111111111111", "mp_app_secret": "fedcba9876543210fedcba9876543210"}
			}
			_, err := s.provider(newFixedClock(), extra).BeginFace(context.Background(), faceRequest())
			wantErr(t, err, tc.kind, errcodeName(tc.code), tc.fields...)
			if s.count(routeGetVerifyID) != 0 {
				t.Error("getverifyid asked without a token")
			}
		})
	}
	t.Run("mini-program credentials are used", func(t *testing.T) {
		s := newStub(t)
		beginFace(t, s.provider(newFixedClock(), map[string]string{"mp_app_id": "wx1111111111111111", "mp_app_secret": "fedcba9876543210fedcba9876543210"}))
		q := s.requests()[0].Query
		if q["appid"] != "wx1111111111111111" || q["secret"] != "fedcba9876543210fedcba9876543210" {
			t.Errorf("cgi-bin/token query %v", q)
		}
	})
	for _, tc := range []struct {
		name string
		a    answer
		want string
	}{
		{"garbage", fx("garbage.txt"), "http_200"},
		{"HTTP 503", status(http.StatusServiceUnavailable, "html_502.html"), "http_503"},
		{"no token", errcodeFixture(0), "http_200"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStub(t)
			s.on(routeServerToken, tc.a)
			_, err := s.provider(newFixedClock(), nil).BeginFace(context.Background(), faceRequest())
			wantErr(t, err, sdk.VendorUnavailable, tc.want)
		})
	}
}

func TestQueryFaceVerifyRet(t *testing.T) {
	cases := []struct {
		fixture string
		result  sdk.FaceResult
		reason  sdk.Kind
	}{
		{"10000", sdk.FacePassed, sdk.KindUnknown},
		{"90210", sdk.FacePending, sdk.KindUnknown},
		{"no_ret", sdk.FacePending, sdk.KindUnknown},
		{"90002", sdk.FaceFailed, sdk.Cancelled},
		{"90001", sdk.FaceFailed, sdk.Cancelled},
		{"90017", sdk.FaceFailed, sdk.Expired},
		{"90107", sdk.FaceFailed, sdk.LivenessFailed},
		{"90200", sdk.FaceFailed, sdk.FaceMismatch},
		{"90201", sdk.FaceFailed, sdk.LivenessFailed},
		{"90202", sdk.FaceFailed, sdk.FaceMismatch},
	}
	for _, tc := range cases {
		t.Run(tc.fixture, func(t *testing.T) {
			s := newStub(t)
			p := s.provider(newFixedClock(), nil)
			fs := beginFace(t, p)
			s.on(routeQueryVerify, fx("api/queryverifyinfo_"+tc.fixture+".json"))
			st, err := p.QueryFace(context.Background(), fs.CertifyID)
			if err != nil {
				t.Fatalf("QueryFace: %v", err)
			}
			if st.Result != tc.result || st.Reason != tc.reason {
				t.Errorf("QueryFace = %+v, want result %d reason %v", st, tc.result, tc.reason)
			}
			if (st.Reference != "") != (tc.result == sdk.FacePassed) {
				t.Errorf("Reference %q on result %d", st.Reference, st.Result)
			}
		})
	}
	t.Run("unknown verify_ret", func(t *testing.T) {
		s := newStub(t)
		p := s.provider(newFixedClock(), nil)
		fs := beginFace(t, p)
		s.on(routeQueryVerify, fx("api/queryverifyinfo_99999.json"))
		_, err := p.QueryFace(context.Background(), fs.CertifyID)
		wantErr(t, err, sdk.VendorUnavailable, "99999")
	})
}

func TestQueryFaceRequestAndErrcodes(t *testing.T) {
	s := newStub(t)
	p := s.provider(newFixedClock(), nil)
	fs := beginFace(t, p)
	if _, err := p.QueryFace(context.Background(), fs.CertifyID); err != nil {
		t.Fatal(err)
	}
	reqs := s.requests()
	var sent getVerifyIDRequest
	_ = json.Unmarshal(reqs[1].Body, &sent)
	var q queryVerifyInfoRequest
	if err := json.Unmarshal(reqs[2].Body, &q); err != nil || reqs[2].Path != routeQueryVerify {
		t.Fatalf("request %+v: %v", reqs[2], err)
	}
	if q != (queryVerifyInfoRequest{VerifyID: faceVerify, OutSeqNo: sent.OutSeqNo, OpenID: faceOpenID,
		CertHash: certHash("IDENTITY_CARD", faceName, faceID)}) {
		t.Errorf("queryverifyinfo body %s", reqs[2].Body)
	}
	cases := []struct {
		code int
		kind sdk.Kind
	}{
		{40097, sdk.UUIDInvalid},
		{45011, sdk.RateLimited},
		{-1, sdk.VendorUnavailable},
		{47001, sdk.Internal},
		{42001, sdk.VendorUnavailable},
	}
	for _, tc := range cases {
		t.Run(errcodeName(tc.code), func(t *testing.T) {
			s.on(routeQueryVerify, errcodeFixture(tc.code))
			_, err := p.QueryFace(context.Background(), fs.CertifyID)
			wantErr(t, err, tc.kind, errcodeName(tc.code))
		})
	}
}

func TestQueryFaceHandles(t *testing.T) {
	s, c := newStub(t), newFixedClock()
	p := s.provider(c, nil)
	fs := beginFace(t, p)
	scan := beginScan(t, p, "st1")
	other := s.provider(c, map[string]string{"app_id": "wx0000000000000000"})
	viaMP := s.provider(c, map[string]string{"mp_app_id": "wx1111111111111111", "mp_app_secret": "fedcba9876543210fedcba9876543210"})
	tampered := []byte(fs.CertifyID)
	tampered[10] ^= 1
	for _, tc := range []struct {
		name   string
		p      *Provider
		handle string
	}{
		{"a QR handle", p, scan.UUID},
		{"tampered", p, string(tampered)},
		{"another app's", other, fs.CertifyID},
		{"another face app's", viaMP, fs.CertifyID},
		{"the verify_id itself", p, faceVerify},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.count(routeQueryVerify)
			_, err := tc.p.QueryFace(context.Background(), tc.handle)
			wantErr(t, err, sdk.UUIDInvalid, "")
			if s.count(routeQueryVerify) != before {
				t.Error("WeChat was asked about a certify id that is not ours")
			}
		})
	}
}
