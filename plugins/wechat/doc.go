// Package wechat is the built-in WeChat provider: website QR login
// (微信扫码登录) and real-name face verification (微信人脸核身).
//
// The gateway serves it as `shiming plugin wechat` (sdk.Serve(wechat.New())).
//
// # Configuration
//
// Configure takes a JSON object; every bad field is reported at once and
// Configure never calls WeChat. Pointing the provider at the sandbox is a
// base-URL change only ({sandbox}/api.weixin.qq.com and so on).
//
//	field          required  default                         meaning
//	app_id         yes                                       website app AppID (open platform)
//	app_secret     yes                                       its AppSecret
//	handle_key     yes                                       base64 of 32 bytes, the same on every replica
//	api_base       no        https://api.weixin.qq.com       sns/*, cgi-bin/token and the face APIs
//	open_base      no        https://open.weixin.qq.com      connect/qrconnect; the QR content is built from it
//	lp_base        no        https://lp.open.weixin.qq.com   the QR long-poll
//	face_page_url  for face                                  the page the face QR encodes: the mini-program's
//	                                                         registered "普通链接二维码" URL; ?verify_id=… is added.
//	                                                         Sandbox: {sandbox}/wxa.sandbox/face
//	mp_app_id      no        app_id                          mini-program that runs face verification
//	mp_app_secret  with mp_app_id                            its AppSecret
//	http_timeout   no        10s                             per WeChat request (100ms to 2m)
//	qr_ttl         no        5m                              how long a QR session is offered (1m to 30m)
//
// Unknown fields are errors. Base URLs are absolute http(s) URLs without
// query.
//
// # Scan login
//
// BeginScan fetches {open_base}/connect/qrconnect (appid, redirect_uri =
// the request's CallbackURL, response_type=code, scope=snsapi_login,
// state) server-side and takes WeChat's QR uuid from the page's
// js_qrcode_img image. The QR content is {open_base}/connect/confirm?uuid=…,
// the page a phone opens for that uuid. PollScan reads
// {lp_base}/connect/l/qrconnect?uuid=…&_=… without last, so WeChat answers
// at once: 408 waiting, 404 scanned, 405 confirmed with the code, 403
// cancelled, 402 expired, 400 (sandbox-defined) unknown uuid. The
// long-poll is not documented by WeChat (vendor-protocols §1.4); the
// documented path is the redirect, which ScanCallback interprets
// (?code=…&state=…, or no code when the user refused). ExchangeCode redeems
// the code at sns/oauth2/access_token and reads sns/userinfo: Subject is
// the unionid when WeChat gives one, else the openid, and SubjectIDs
// keeps both; website login does not vouch for a real name, so Level is
// zero.
//
// # Face verification
//
// BeginFace calls getverifyid with a fresh out_seq_no, the certificate
// (IDENTITY_CARD, name, ID number) and an openid, and QueryFace calls
// queryverifyinfo: passed iff errcode 0 and verify_ret 10000. WeChat binds
// the check to a user of the face app, so FaceRequest.Subject MUST be the
// person's openid under that app: the gateway passes
// Identity.SubjectIDs["openid"] of the person's WeChat login (never the
// unionid); a missing or malformed subject is InvalidRequest naming
// "subject", an openid WeChat did not issue to the app is InvalidRequest
// with vendor code 40003. On the real platform the face app is a
// mini-program (mp_app_id), whose openids differ from the website app's;
// a website-login openid only works when both are one app, as in the
// sandbox. The server access token (cgi-bin/token) is cached until five
// minutes before it expires and fetched again once when WeChat refuses it
// (40001, 42001).
//
// # Handles
//
// QR-session uuids and face certify ids are sealed with plugins/sdk/handle
// (AES-256-GCM under a key derived from handle_key, bound to the handle's
// kind and the app id that issued it): any replica opens them, and an altered handle or one issued under another app id is
// UUIDInvalid without a call to WeChat. A QR handle carries WeChat's uuid,
// the state and the expiry; a certify id carries verify_id, out_seq_no,
// openid and cert_hash (never the name or ID number).
//
// # Errors
//
// errcode is mapped per endpoint (errmsg is never compared: it ends in a
// request id): 40163 CodeReused, 40029 CodeInvalid, 42003 Expired, 45009
// and 45011 RateLimited, -1 VendorUnavailable, refused credentials
// (40013, 40125, 40001 on token endpoints, 41002, 41004, 40164 IP not
// allowed, 48001) InvalidConfig naming the field, queryverifyinfo 40097
// UUIDInvalid, anything unknown VendorUnavailable with the errcode as
// vendor code. Transport failures, HTTP statuses other than 200 and
// bodies that are not what the endpoint answers are VendorUnavailable
// with vendor code http_<status>.
package wechat
