package wechat

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// WeChat's face verification (微信人脸核身, v2 server API, §1.8).
const (
	pathGetVerifyID     = "/cityservice/face/identify/getverifyid"
	pathQueryVerifyInfo = "/cityservice/face/identify/queryverifyinfo"
	certTypeIDCard      = "IDENTITY_CARD"
	defaultVerifyTTL    = time.Hour // getverifyid's documented default expires_in
)

// tokenCache keeps the server access token (cgi-bin/token) of the face
// app. lock is a one-slot semaphore, so that a caller waiting for another
// one's fetch can still give up with its context.
type tokenCache struct {
	lock    chan struct{}
	token   string
	expires time.Time
}

// serverTokenAnswer answers cgi-bin/token.
type serverTokenAnswer struct {
	apiStatus
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

// serverToken returns the cached server access token, fetching a new one
// when none is cached or the cached one expires within a few minutes.
func (st *state) serverToken(ctx context.Context) (string, error) {
	c := st.tokens
	select {
	case c.lock <- struct{}{}:
	case <-ctx.Done():
		return "", fmt.Errorf("wechat: server token: %w", ctx.Err())
	}
	defer func() { <-c.lock }()
	now := st.now()
	if c.token != "" && now.Before(c.expires) {
		return c.token, nil
	}
	q := url.Values{
		"grant_type": {"client_credential"},
		"appid":      {st.cfg.faceAppID()},
		"secret":     {st.cfg.faceAppSecret()},
	}
	body, err := st.fetch(ctx, http.MethodGet, st.cfg.apiBase+"/cgi-bin/token?"+q.Encode(), nil, "server token")
	if err != nil {
		return "", err
	}
	var ans serverTokenAnswer
	if err := decodeAPI(body, &ans, "server token"); err != nil {
		return "", err
	}
	if ans.ErrCode != 0 {
		return "", st.apiError(epServerToken, ans.ErrCode, "server token")
	}
	if ans.AccessToken == "" {
		return "", sdk.Vendor(sdk.VendorUnavailable, httpCode(http.StatusOK), "wechat: server token: answer lacks access_token")
	}
	c.token, c.expires = ans.AccessToken, now.Add(tokenLifetime(ans.ExpiresIn))
	st.log.InfoContext(ctx, "wechat: server access token fetched", "app_id", st.cfg.faceAppID(), "expires_in", ans.ExpiresIn)
	return c.token, nil
}

// tokenLifetime is how long a token answered with expires_in seconds is
// used: until five minutes before it expires (half its life if shorter).
func tokenLifetime(expiresIn int) time.Duration {
	life := time.Duration(expiresIn) * time.Second
	if life <= 0 {
		life = 10 * time.Minute
	}
	return life - min(5*time.Minute, life/2)
}

// dropToken forgets tok if it is still the cached token, after WeChat
// refused it.
func (st *state) dropToken(ctx context.Context, tok string) {
	c := st.tokens
	select {
	case c.lock <- struct{}{}:
	case <-ctx.Done():
		return
	}
	if c.token == tok {
		c.token = ""
	}
	<-c.lock
}

// faceCall POSTs a JSON body to a face API with the server access token
// and returns the answer once its errcode is 0. A token WeChat refuses
// (40001, 42001: another process fetched a newer one, or it expired
// early) is dropped and the call repeated once with a fresh one.
func (st *state) faceCall(ctx context.Context, path string, body any, ep endpoint, step string) ([]byte, error) {
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, &sdk.Error{Kind: sdk.Internal, Message: "wechat: " + step + ": encode request", Err: err}
	}
	for attempt := 0; ; attempt++ {
		tok, err := st.serverToken(ctx)
		if err != nil {
			return nil, err
		}
		ans, err := st.fetch(ctx, http.MethodPost, st.cfg.apiBase+path+"?access_token="+url.QueryEscape(tok), payload, step)
		if err != nil {
			return nil, err
		}
		var s apiStatus
		if err := decodeAPI(ans, &s, step); err != nil {
			return nil, err
		}
		switch {
		case s.ErrCode == 0:
			return ans, nil
		case (s.ErrCode == 40001 || s.ErrCode == 42001) && attempt == 0:
			st.log.InfoContext(ctx, "wechat: server access token refused; fetching another", "vendor_code", s.ErrCode)
			st.dropToken(ctx, tok)
		default:
			return nil, st.apiError(ep, s.ErrCode, step)
		}
	}
}

type certInfo struct {
	CertType string `json:"cert_type"`
	CertName string `json:"cert_name"`
	CertNo   string `json:"cert_no"`
}

type getVerifyIDRequest struct {
	OutSeqNo string   `json:"out_seq_no"`
	CertInfo certInfo `json:"cert_info"`
	OpenID   string   `json:"openid"`
}

type getVerifyIDAnswer struct {
	apiStatus
	VerifyID  string `json:"verify_id"`
	ExpiresIn int    `json:"expires_in"`
}

type queryVerifyInfoRequest struct {
	VerifyID string `json:"verify_id"`
	OutSeqNo string `json:"out_seq_no"`
	CertHash string `json:"cert_hash"`
	OpenID   string `json:"openid"`
}

type queryVerifyInfoAnswer struct {
	apiStatus
	VerifyRet int `json:"verify_ret"`
}

var openIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// BeginFace starts a face verification with getverifyid. req.Subject must
// be the person's openid under the face app (Identity.SubjectIDs["openid"]
// of a WeChat login with the same app). The certify id seals verify_id,
// out_seq_no, openid and cert_hash; the QR encodes face_page_url with the
// verify_id, the page of the mini-program that calls
// wx.requestFacialVerify.
func (p *Provider) BeginFace(ctx context.Context, req sdk.FaceRequest) (sdk.FaceSession, error) {
	st, err := p.state()
	if err != nil {
		return sdk.FaceSession{}, err
	}
	if st.cfg.facePageURL == nil {
		return sdk.FaceSession{}, sdk.Fields(sdk.InvalidConfig, "wechat: begin face: face_page_url is not configured", "face_page_url")
	}
	now := st.now()
	var bad []string
	name := strings.TrimSpace(req.Name)
	if name == "" || utf8.RuneCountInString(name) > 64 {
		bad = append(bad, "name")
	}
	id, err := cnid.Parse(req.IDNumber, now)
	if err != nil {
		bad = append(bad, "id_number")
	}
	if !openIDRE.MatchString(req.Subject) {
		bad = append(bad, "subject")
	}
	if len(bad) > 0 {
		return sdk.FaceSession{}, sdk.Fields(sdk.InvalidRequest, "wechat: begin face: invalid request", bad...)
	}
	outSeqNo, err := newOutSeqNo()
	if err != nil {
		return sdk.FaceSession{}, err
	}
	ci := certInfo{CertType: certTypeIDCard, CertName: name, CertNo: id.String()}
	body, err := st.faceCall(ctx, pathGetVerifyID, getVerifyIDRequest{OutSeqNo: outSeqNo, CertInfo: ci, OpenID: req.Subject}, epGetVerifyID, "begin face")
	if err != nil {
		return sdk.FaceSession{}, err
	}
	var ans getVerifyIDAnswer
	if err := decodeAPI(body, &ans, "begin face"); err != nil {
		return sdk.FaceSession{}, err
	}
	if ans.VerifyID == "" || len(ans.VerifyID) > 256 || !utf8.ValidString(ans.VerifyID) {
		return sdk.FaceSession{}, sdk.Vendor(sdk.VendorUnavailable, httpCode(http.StatusOK), "wechat: begin face: answer lacks a usable verify_id")
	}
	ttl := time.Duration(ans.ExpiresIn) * time.Second
	if ttl <= 0 {
		ttl = defaultVerifyTTL
	}
	expires := time.Unix(now.Add(ttl).Unix(), 0)
	h, err := st.handles.Seal(handleFace, st.cfg.faceAppID(), faceHandle{
		VerifyID: ans.VerifyID, OutSeqNo: outSeqNo, OpenID: req.Subject,
		CertHash: certHash(ci.CertType, ci.CertName, ci.CertNo), Expires: expires.Unix(),
	})
	if err != nil {
		return sdk.FaceSession{}, fmt.Errorf("wechat: begin face: %w", err)
	}
	st.log.InfoContext(ctx, "wechat: face verification started", "app_id", st.cfg.faceAppID(), "out_seq_no", outSeqNo)
	return sdk.FaceSession{CertifyID: h, QRContent: st.facePage(ans.VerifyID), ExpiresAt: expires}, nil
}

// facePage is the face_page_url with verify_id added to its query.
func (st *state) facePage(verifyID string) string {
	u := *st.cfg.facePageURL
	q := u.Query()
	q.Set("verify_id", verifyID)
	u.RawQuery = q.Encode()
	return u.String()
}

// QueryFace asks queryverifyinfo for the result: passed iff errcode is 0
// and verify_ret is 10000.
func (p *Provider) QueryFace(ctx context.Context, certifyID string) (sdk.FaceStatus, error) {
	st, err := p.state()
	if err != nil {
		return sdk.FaceStatus{}, err
	}
	var h faceHandle
	if !st.handles.Open(handleFace, st.cfg.faceAppID(), certifyID, &h) || h.VerifyID == "" {
		return sdk.FaceStatus{}, sdk.E(sdk.UUIDInvalid, "wechat: query face: not a face verification of this app")
	}
	body, err := st.faceCall(ctx, pathQueryVerifyInfo, queryVerifyInfoRequest{
		VerifyID: h.VerifyID, OutSeqNo: h.OutSeqNo, CertHash: h.CertHash, OpenID: h.OpenID,
	}, epQueryVerifyInfo, "query face")
	if err != nil {
		return sdk.FaceStatus{}, err
	}
	var ans queryVerifyInfoAnswer
	if err := decodeAPI(body, &ans, "query face"); err != nil {
		return sdk.FaceStatus{}, err
	}
	fs, err := faceStatus(ans.VerifyRet)
	if err != nil {
		return sdk.FaceStatus{}, err
	}
	if fs.Result == sdk.FacePassed {
		fs.Reference = h.VerifyID
	}
	if fs.Result != sdk.FacePending {
		st.log.InfoContext(ctx, "wechat: face verification finished", "app_id", st.cfg.faceAppID(),
			"out_seq_no", h.OutSeqNo, "verify_ret", ans.VerifyRet)
	}
	return fs, nil
}

// faceStatus maps verify_ret. 10000 and the 900xx codes are documented;
// the 902xx codes are the sandbox's (WeChat's table is incomplete).
// Failures a person could not help (device, permissions, network) end the
// session as Cancelled, so that the gateway offers a fresh QR without
// counting a failed attempt; 90017 (the verify_id ran out unfinished) is
// Expired.
func faceStatus(ret int) (sdk.FaceStatus, error) {
	vc := strconv.Itoa(ret)
	failed := func(k sdk.Kind) (sdk.FaceStatus, error) {
		return sdk.FaceStatus{Result: sdk.FaceFailed, Reason: k, VendorCode: vc}, nil
	}
	switch ret {
	case 10000: // 识别成功
		return sdk.FaceStatus{Result: sdk.FacePassed, VendorCode: vc}, nil
	case 0, 90210: // no verify_ret yet; sandbox: 用户尚未完成核身
		return sdk.FaceStatus{Result: sdk.FacePending, VendorCode: vc}, nil
	case 90200, 90202: // sandbox: 人脸与证件照不一致; 姓名与身份证号不一致
		return failed(sdk.FaceMismatch)
	case 90201, // sandbox: 活体检测未通过
		90011, 90013, 90014, // 人脸数据采集无效
		90107: // 用户检测超时
		return failed(sdk.LivenessFailed)
	case 90017: // 识别过程超时
		return failed(sdk.Expired)
	case 90002, 90003, 90004, 90005, 90006, // 用户取消
		90001, 90109, // 设备不支持人脸检测
		90007, 90012, 90018, 90199, // 网络错误, 上传失败, 系统错误, 用户系统错误
		90008, 90009, 90010, // 相机/麦克风权限未授权
		90104, 90105, 90106, 90110: // 获取配置/确认数据/协议信息失败, 相机失败
		return failed(sdk.Cancelled)
	}
	return sdk.FaceStatus{}, sdk.Vendor(sdk.VendorUnavailable, vc, "wechat: query face: unexpected verify_ret")
}

// certHash is WeChat's cert_hash: the lowercase hex SHA-256 of
// cert_type=<b64>&cert_name=<b64>&cert_no=<b64>, each value in standard
// base64 of its UTF-8 bytes.
func certHash(certType, certName, certNo string) string {
	b64 := base64.StdEncoding.EncodeToString
	sum := sha256.Sum256([]byte("cert_type=" + b64([]byte(certType)) +
		"&cert_name=" + b64([]byte(certName)) + "&cert_no=" + b64([]byte(certNo))))
	return hex.EncodeToString(sum[:])
}

// newOutSeqNo returns a fresh out_seq_no: 24 characters of [0-9A-Za-z_-]
// from 144 random bits, unique without bookkeeping.
func newOutSeqNo() (string, error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", &sdk.Error{Kind: sdk.Internal, Message: "wechat: out_seq_no", Err: err}
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
