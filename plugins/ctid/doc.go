// Package ctid is the built-in CTID (居民身份证网上功能凭证, 网证) provider:
// scan login in which the CTID app reads the ID card's chip, the
// two-factor identity check (authMode 0x40) and the portrait check
// (0x42), over the sandbox-defined CTID protocol of contrib/sandbox.
//
// The official CTID platform API is not public; resellers differ. This
// plugin speaks the reseller-shaped protocol the sandbox defines (signed
// JSON envelopes, apply → bsn + randomNumber, retain data encrypted to the
// platform key, resultCode/resultDesc). A real deployment needs the
// reseller's format, which is why base_url has no default.
//
// # Configuration
//
// Configure takes a JSON object; unknown keys are refused.
//
//	org_code            required  the organisation code the platform issued
//	org_private_key     required  the organisation's RSA key (≥ 2048 bits)
//	                              that signs requests: PEM, PKCS #1 or #8
//	platform_public_key required  the platform's RSA key: verifies every
//	                              response, encrypts the retain data; PEM
//	                              (PKIX or PKCS #1)
//	base_url            required  e.g. {sandbox}/ctid.sandbox
//	handle_key          required  base64 of 32 bytes; seals the handles this
//	                              plugin returns (the gateway derives it)
//	http_timeout        optional  Go duration, default 10s, at most 2m
//
// # Wire protocol
//
// Every request is POST {base_url}/v1/<endpoint> with the body
// {"bizPackage":"<JSON text>","sign":"<base64url RSA-SHA256>"}, the JSON
// text being {"orgCode","bizType":6000,"bizData":{…}} signed with the
// organisation's key; every answer has the same shape, signed with the
// platform's key, and is refused unless it verifies. authApplyRetainData is
// base64url(RSA-OAEP-SHA256(platform key, aesKey‖iv) ‖
// AES-128-CBC-PKCS7(aesKey, iv, {"name","idNo"})).
//
// # Scan login
//
// BeginScan applies for authMode 0x10 and shows the platform's qrContent;
// PollScan asks /v1/query: pending is WAITING, read (the card was read,
// authCode issued) and confirmed (the code was exchanged) are CONFIRMED
// with the authCode, cancelled and expired are themselves. CTID has no
// browser redirect, so ScanCallback answers what PollScan answers.
// ExchangeCode calls /v1/identity once per authCode (a second time is
// CodeReused) and returns the chip identity: the card's name and number,
// the 网证 bid as subject, level ctid, the bsn as reference.
//
// # Handles
//
// The QR-session uuid and the face certify id seal the bsn and its expiry
// with plugins/sdk/handle (AES-GCM under a key derived from handle_key,
// bound to org_code), so any
// replica's plugin recognises them and a forged or foreign one is
// UUIDInvalid without asking the platform.
package ctid
