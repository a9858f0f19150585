// Package alipay is the built-in Alipay (支付宝开放平台) provider: scan login
// through the website authorization page and face verification through
// alipay.user.certify.open.*, over the OpenAPI v2 gateway (gateway.do) with
// RSA2-signed requests and verified responses.
//
// # Configuration
//
// Configure takes a JSON object; unknown keys are refused.
//
//	app_id            required  the application's APPID (digits)
//	app_private_key   required  应用私钥, RSA ≥ 2048 bits: PEM (PKCS #1 or
//	                            PKCS #8) or the bare base64 the console shows
//	alipay_public_key required  支付宝公钥 that verifies every response: PEM
//	                            (PKIX or PKCS #1) or bare base64
//	handle_key        required  base64 of 32 bytes; seals the handles this
//	                            plugin returns (the gateway derives it)
//	gateway_url       optional  default https://openapi.alipay.com/gateway.do
//	openauth_base     optional  default https://openauth.alipay.com
//	http_timeout      optional  Go duration, default 10s, at most 2m
//
// Pointing the plugin at the sandbox is a base-URL change only:
// gateway_url {sandbox}/openapi.alipay.com/gateway.do and openauth_base
// {sandbox}/openauth.alipay.com.
//
// # Scan login
//
// Alipay's website login has no status API: BeginScan builds the
// publicAppAuthorize.htm URL (scope auth_user) without calling Alipay, and
// the only news of the scan is the redirect of the person's browser to the
// callback URL. PollScan therefore reports WAITING until the session's five
// minutes are up and EXPIRED after; ScanCallback reads auth_code and state
// (CONFIRMED) or their absence / error=access_denied (CANCELLED).
// ExchangeCode calls alipay.system.oauth.token and alipay.user.info.share.
// Alipay answers isv.code-invalid for a used, expired or unknown code
// alike; since the gateway only exchanges codes Alipay delivered through the
// redirect, the plugin reports it as CodeReused.
//
// # Face verification
//
// BeginFace calls alipay.user.certify.open.initialize (biz_code FACE) and
// returns, as the QR content, the signed alipay.user.certify.open.certify
// URL the phone opens; QueryFace calls alipay.user.certify.open.query.
//
// # Handles
//
// The QR-session uuid and the face certify id are sealed with
// plugins/sdk/handle (AES-GCM under a key derived from handle_key, bound
// to app_id) so that any replica's
// plugin recognises them and a forged or foreign one is UUIDInvalid
// without asking Alipay.
package alipay
