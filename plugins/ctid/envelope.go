package ctid

import (
	"bytes"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/shiming-id/shiming/plugins/sdk"
)

// Endpoints under base_url.
const (
	pathApply        = "/v1/apply"
	pathQuery        = "/v1/query"
	pathIdentity     = "/v1/identity"
	pathVerification = "/v1/verification"
)

// bizType is the business type resellers put in every package.
const bizType = 6000

const (
	maxResponse   = 1 << 20
	resultOK      = "0"
	vendorCodeBad = "unverified_response"
)

// envelope is the body of every request and answer.
type envelope struct {
	BizPackage string `json:"bizPackage"`
	Sign       string `json:"sign"`
}

type requestPackage struct {
	OrgCode string `json:"orgCode"`
	BizType int    `json:"bizType"`
	BizData any    `json:"bizData"`
}

// responsePackage is the bizPackage of an answer.
type responsePackage struct {
	ResultCode string          `json:"resultCode"`
	ResultDesc string          `json:"resultDesc"`
	OrgCode    string          `json:"orgCode"`
	BizData    json.RawMessage `json:"bizData"`
}

// sign returns base64url (no padding) of the RSA-SHA256 (PKCS #1 v1.5)
// signature of a bizPackage's bytes.
func sign(key *rsa.PrivateKey, bizPackage []byte) (string, error) {
	sum := sha256.Sum256(bizPackage)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("ctid: sign: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sig), nil
}

// verify checks a sign (base64url, padded or not) over a bizPackage.
func verify(pub *rsa.PublicKey, bizPackage []byte, sig string) error {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(sig, "="))
	if err != nil {
		return errors.New("ctid: sign is not base64url")
	}
	sum := sha256.Sum256(bizPackage)
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], raw)
}

// sealRequest returns the signed envelope of a request.
func sealRequest(key *rsa.PrivateKey, orgCode string, bizData any) ([]byte, error) {
	pkg, err := json.Marshal(requestPackage{OrgCode: orgCode, BizType: bizType, BizData: bizData})
	if err != nil {
		return nil, fmt.Errorf("ctid: encode request: %w", err)
	}
	s, err := sign(key, pkg)
	if err != nil {
		return nil, err
	}
	return json.Marshal(envelope{BizPackage: string(pkg), Sign: s})
}

// Why an answer is not trusted.
var (
	errMalformed = errors.New("ctid: answer is not a CTID envelope")
	errSignature = errors.New("ctid: answer signature does not verify with platform_public_key")
)

// openResponse reads an answer envelope, verifies its sign over the
// bizPackage bytes with the platform key and decodes the package. An
// unverified package is returned only for the log, with errSignature.
func openResponse(body []byte, pub *rsa.PublicKey) (responsePackage, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil || env.BizPackage == "" {
		return responsePackage{}, errMalformed
	}
	var pkg responsePackage
	if err := json.Unmarshal([]byte(env.BizPackage), &pkg); err != nil || pkg.ResultCode == "" {
		return responsePackage{}, errMalformed
	}
	if env.Sign == "" || verify(pub, []byte(env.BizPackage), env.Sign) != nil {
		return pkg, errSignature
	}
	return pkg, nil
}

// call sends one request and decodes the bizData of a successful answer
// into out. A result code other than 0 comes back as an *sdk.Error with
// the code as vendor code.
func (p *Provider) call(ctx context.Context, c *configured, path string, bizData, out any) error {
	body, err := sealRequest(c.orgKey, c.orgCode, bizData)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.baseURL+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("ctid: %s: %w", path, err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("ctid: %s: %w", path, ctx.Err())
		}
		return &sdk.Error{Kind: sdk.VendorUnavailable, Message: "ctid: " + path + ": platform unreachable", Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("ctid: %s: %w", path, ctx.Err())
		}
		return &sdk.Error{Kind: sdk.VendorUnavailable, Message: "ctid: " + path + ": reading the answer", Err: err}
	}
	status := strconv.Itoa(resp.StatusCode)
	if resp.StatusCode != http.StatusOK || len(raw) > maxResponse {
		p.log.Warn("ctid: platform answered HTTP error", "path", path, "http_status", resp.StatusCode, "bytes", len(raw))
		return sdk.Vendor(sdk.VendorUnavailable, status, "ctid: "+path+": HTTP "+status)
	}
	pkg, err := openResponse(raw, c.platformKey)
	switch {
	case errors.Is(err, errMalformed):
		p.log.Warn("ctid: platform answer is not an envelope", "path", path, "bytes", len(raw))
		return sdk.Vendor(sdk.VendorUnavailable, status, "ctid: "+path+": malformed answer")
	case err != nil:
		p.log.Error("ctid: refusing an answer whose signature does not verify; check platform_public_key",
			"path", path, "claimed_result_code", pkg.ResultCode)
		return &sdk.Error{Kind: sdk.VendorUnavailable, VendorCode: vendorCodeBad, Message: "ctid: " + path + ": answer not signed by the platform", Err: err}
	}
	if pkg.ResultCode != resultOK {
		k := kindFor(pkg.ResultCode)
		p.log.LogAttrs(ctx, levelFor(k), "ctid: platform refused the call", slog.String("path", path),
			slog.String("result_code", pkg.ResultCode), slog.String("kind", k.String()))
		e := sdk.Vendor(k, pkg.ResultCode, "ctid: "+path+": result "+pkg.ResultCode)
		if pkg.ResultCode == "4002" {
			e.Fields = []string{"id_number"}
		}
		return e
	}
	if pkg.OrgCode != "" && pkg.OrgCode != c.orgCode {
		// A success meant for another organisation is not ours to use.
		p.log.Error("ctid: answer is for another organisation", "path", path)
		return sdk.Vendor(sdk.VendorUnavailable, "org_mismatch", "ctid: "+path+": answer for another organisation")
	}
	if err := json.Unmarshal(pkg.BizData, out); err != nil {
		p.log.Warn("ctid: bizData does not decode", "path", path)
		return &sdk.Error{Kind: sdk.VendorUnavailable, VendorCode: "bad_biz_data", Message: "ctid: " + path + ": malformed bizData", Err: err}
	}
	return nil
}

// kindFor maps a sandbox-defined result code (contrib/sandbox/README.md,
// CTID) to a kind.
func kindFor(code string) sdk.Kind {
	switch code {
	case "1001": // 请求报文格式错误: the plugin built a bad message
		return sdk.Internal
	case "1002", "1003": // 签名验证失败, 机构不存在或未开通
		return sdk.InvalidConfig
	case "1004", "2003": // 请求参数错误, 业务流水号当前状态不允许此操作
		return sdk.InvalidRequest
	case "1005": // 认证模式不支持
		return sdk.NotSupported
	case "2001": // 业务流水号不存在
		return sdk.UUIDInvalid
	case "2002", "3003": // 业务流水号已过期, 授权码已过期
		return sdk.Expired
	case "3001": // 授权码无效
		return sdk.CodeInvalid
	case "3002": // 授权码已使用
		return sdk.CodeReused
	case "4001": // 认证数据解密失败: encrypted to another key than the platform's
		return sdk.InvalidConfig
	case "4002": // 身份证号码不合法
		return sdk.InvalidRequest
	case "4003": // 姓名和身份证号码不匹配
		return sdk.NameIDMismatch
	case "4004": // 人像比对不通过
		return sdk.FaceMismatch
	case "4005": // 活体检测不通过
		return sdk.LivenessFailed
	case "4006": // 用户已取消
		return sdk.Cancelled
	case "9999": // 系统繁忙
		return sdk.VendorUnavailable
	}
	return sdk.VendorUnavailable
}

// levelFor logs what needs an operator at warn, a person's doing at info.
func levelFor(k sdk.Kind) slog.Level {
	switch k {
	case sdk.CodeReused, sdk.CodeInvalid, sdk.Expired, sdk.NameIDMismatch, sdk.InvalidRequest,
		sdk.FaceMismatch, sdk.LivenessFailed, sdk.Cancelled, sdk.UUIDInvalid:
		return slog.LevelInfo
	}
	return slog.LevelWarn
}

// retainData is the plaintext of authApplyRetainData; the platform reads
// name and idNo.
type retainData struct {
	Name string `json:"name"`
	IDNo string `json:"idNo"`
}

// encryptRetainData builds authApplyRetainData: base64url (no padding) of
// RSA-OAEP-SHA256(platform key, aesKey‖iv) followed by AES-128-CBC with
// PKCS #7 padding of the JSON, a fresh 16-byte key and IV each time.
func encryptRetainData(platform *rsa.PublicKey, d retainData) (string, error) {
	plain, err := json.Marshal(d)
	if err != nil {
		return "", fmt.Errorf("ctid: encode retain data: %w", err)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return "", fmt.Errorf("ctid: retain data key: %w", err)
	}
	head, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, platform, secret, nil)
	if err != nil {
		return "", fmt.Errorf("ctid: encrypt retain data key: %w", err)
	}
	block, err := aes.NewCipher(secret[:16])
	if err != nil {
		return "", fmt.Errorf("ctid: retain data cipher: %w", err)
	}
	n := aes.BlockSize - len(plain)%aes.BlockSize
	body := append(plain, bytes.Repeat([]byte{byte(n)}, n)...)
	cipher.NewCBCEncrypter(block, secret[16:]).CryptBlocks(body, body)
	return base64.RawURLEncoding.EncodeToString(append(head, body...)), nil
}
