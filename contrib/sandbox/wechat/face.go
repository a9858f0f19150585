package wechat

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// verify_ret values. 10000 and the cancel and timeout codes are documented;
// the 902xx codes are SANDBOX-DEFINED (the documented table is incomplete).
const (
	verifyPassed       = 10000 // 识别成功
	verifyCancelled    = 90002 // 用户取消
	verifyTimeout      = 90017 // 识别过程超时: the verify_id expired unfinished
	verifyFaceMismatch = 90200 // sandbox: 人脸与证件照不一致
	verifyLiveness     = 90201 // sandbox: 活体检测未通过
	verifyNameID       = 90202 // sandbox: 姓名与身份证号不一致
	verifyPending      = 90210 // sandbox: 用户尚未完成核身
)

// faceSession is one verify_id.
type faceSession struct {
	verifyID string
	appID    string
	openID   string
	outSeqNo string
	certType string
	certName string
	certNo   string
	created  time.Time
	expires  time.Time
	result   int // 0 until the person finishes
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

type getVerifyIDResponse struct {
	apiError
	VerifyID  string `json:"verify_id"`
	ExpiresIn int    `json:"expires_in"`
}

type queryVerifyInfoRequest struct {
	VerifyID string `json:"verify_id"`
	OutSeqNo string `json:"out_seq_no"`
	CertHash string `json:"cert_hash"`
	OpenID   string `json:"openid"`
}

type queryVerifyInfoResponse struct {
	apiError
	VerifyRet int `json:"verify_ret"`
}

var outSeqNoRE = regexp.MustCompile(`^[0-9A-Za-z_-]{5,32}$`)

// certHash is WeChat's cert_hash: the hex SHA-256 of
// cert_type=<b64>&cert_name=<b64>&cert_no=<b64>, each value in standard
// base64 of its UTF-8 bytes.
func certHash(certType, certName, certNo string) string {
	b64 := base64.StdEncoding.EncodeToString
	sum := sha256.Sum256([]byte("cert_type=" + b64([]byte(certType)) +
		"&cert_name=" + b64([]byte(certName)) + "&cert_no=" + b64([]byte(certNo))))
	return hex.EncodeToString(sum[:])
}

// decodeBody reads a JSON request body of at most 64 KiB.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

// checkVerifyRequest validates getverifyid's fields; 0 means fine.
func checkVerifyRequest(req getVerifyIDRequest, now time.Time) int {
	switch {
	case req.OpenID == "":
		return 41009
	case !outSeqNoRE.MatchString(req.OutSeqNo),
		req.CertInfo.CertType != "IDENTITY_CARD",
		strings.TrimSpace(req.CertInfo.CertName) == "":
		return 40097
	}
	if _, err := cnid.Parse(req.CertInfo.CertNo, now); err != nil {
		return 40097
	}
	return 0
}

func (s *Sim) getVerifyID(w http.ResponseWriter, r *http.Request) {
	app, errc := s.serverAuth(r)
	if errc != 0 {
		writeErr(w, errc)
		return
	}
	var req getVerifyIDRequest
	if err := decodeBody(r, &req); err != nil {
		writeErr(w, 47001)
		return
	}
	now := s.env.Now()
	if errc := checkVerifyRequest(req, now); errc != 0 {
		writeErr(w, errc)
		return
	}
	seqKey := app.AppID + "\x00" + req.OutSeqNo
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(now)
	if _, ok := s.openIDs[req.OpenID]; !ok || s.openID(app.AppID, s.openIDs[req.OpenID].IDNumber) != req.OpenID {
		writeErr(w, 40003)
		return
	}
	if s.faceSeq[seqKey] {
		writeErr(w, 40097)
		return
	}
	f := &faceSession{
		verifyID: token(32), appID: app.AppID, openID: req.OpenID, outSeqNo: req.OutSeqNo,
		certType: req.CertInfo.CertType, certName: req.CertInfo.CertName, certNo: cnid.Normalize(req.CertInfo.CertNo),
		created: now, expires: now.Add(s.opts.FaceTTL),
	}
	s.faces[f.verifyID] = f
	s.faceSeq[seqKey] = true
	s.log.Info("wechat face session", "app_id", app.AppID, "cert_no", cnid.MaskID(f.certNo))
	writeJSON(w, getVerifyIDResponse{apiError: apiError{0, "ok"}, VerifyID: f.verifyID, ExpiresIn: int(s.opts.FaceTTL / time.Second)})
}

func (s *Sim) queryVerifyInfo(w http.ResponseWriter, r *http.Request) {
	app, errc := s.serverAuth(r)
	if errc != 0 {
		writeErr(w, errc)
		return
	}
	var req queryVerifyInfoRequest
	if err := decodeBody(r, &req); err != nil {
		writeErr(w, 47001)
		return
	}
	now := s.env.Now()
	s.mu.Lock()
	f, ok := s.faces[req.VerifyID]
	var ret int
	if ok {
		ret = f.resultLocked(now)
	}
	s.mu.Unlock()
	switch {
	case !ok || f.appID != app.AppID:
		writeErr(w, 40097)
		return
	case req.OpenID != f.openID, req.OutSeqNo != f.outSeqNo,
		!strings.EqualFold(req.CertHash, certHash(f.certType, f.certName, f.certNo)):
		writeErr(w, 40097)
		return
	}
	writeJSON(w, queryVerifyInfoResponse{apiError: apiError{0, "ok"}, VerifyRet: ret})
}

// resultLocked is the session's verify_ret now.
func (f *faceSession) resultLocked(now time.Time) int {
	if f.result == 0 {
		if now.After(f.expires) {
			return verifyTimeout
		}
		return verifyPending
	}
	return f.result
}

// faceOutcome decides how a person's face check of a certificate ends:
// the registry must hold the name for the number, the face must belong to
// the certificate's person, and the person's face flag must pass.
func faceOutcome(reg *citizens.Registry, now time.Time, certName, certNo string, holder citizens.Citizen) int {
	if reg.CheckNameID(certName, certNo, now) != citizens.NameIDMatch {
		return verifyNameID
	}
	if cnid.Normalize(holder.IDNumber) != certNo {
		return verifyFaceMismatch
	}
	switch holder.Face {
	case citizens.FaceMismatch:
		return verifyFaceMismatch
	case citizens.FaceLiveness:
		return verifyLiveness
	}
	return verifyPassed
}
