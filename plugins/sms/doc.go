// Package sms is the built-in SMS provider: one-time codes sent with
// Alibaba Cloud SMS (阿里云短信服务, dysmsapi SendSms) and verified from a
// sealed ticket, and notices (no code) sent the same way.
//
// The gateway serves it as `shiming plugin sms` (sdk.Serve(sms.New())).
// It declares the phone and phone_notice capabilities; the owner check
// (运营商三要素) is not offered.
//
// # Configuration
//
// Configure takes a JSON object; every bad field is reported at once and
// Configure never calls the vendor. Pointing the provider at the sandbox
// is a base-URL change only ({sandbox}/dysmsapi.aliyuncs.com/).
//
//	field              required  default                          meaning
//	access_key_id      yes                                        AccessKeyId (RAM user allowed to send SMS)
//	access_key_secret  yes                                        its AccessKeySecret
//	sign_name          yes                                        the approved signature (签名), shown as 【…】
//	handle_key         yes                                        base64 of 32 bytes, the same on every replica
//	template_code      no        SMS_SHIMING_CODE                 a verification-code template with ${code} and ${minutes}
//	notice_templates   no        {phone_changed: SMS_SHIMING_PHONE_CHANGED}
//	                                                              the notice template of each notice kind (an object;
//	                                                              kinds not named keep their default); phone_changed
//	                                                              takes ${phone}
//	api_base           no        https://dysmsapi.aliyuncs.com/   the RPC endpoint
//	http_timeout       no        10s                              per request (100ms to 2m)
//	code_ttl           no        5m                               how long a code is valid (1m to 1h); ${minutes} is it rounded up
//
// Unknown fields are errors.
//
// # Sending
//
// SendCode validates the number (cnid.ParsePhone; +86 and spaces are
// accepted, the ticket keeps the normalised number), draws six digits
// with crypto/rand and POSTs Action=SendSms, Version=2017-05-25,
// Format=JSON with PhoneNumbers, SignName, TemplateCode,
// TemplateParam {"code":"…","minutes":"…"} and a random OutId, signed
// with Alibaba Cloud's RPC signature 1.0: HMAC-SHA1 with
// AccessKeySecret + "&" over POST&%2F&percentEncode(canonical query),
// a random SignatureNonce and a UTC Timestamp.
//
// Vendor codes: isv.BUSINESS_LIMIT_CONTROL, isv.DAY_LIMIT_CONTROL and
// Throttling.* are RateLimited; isv.MOBILE_NUMBER_ILLEGAL and
// isv.MOBILE_COUNT_OVER_LIMIT InvalidRequest (phone); a refused key,
// signature, signature name or template InvalidConfig naming the field
// (InvalidAccessKeyId.* access_key_id, SignatureDoesNotMatch
// access_key_secret, isv.SMS_SIGNATURE_ILLEGAL sign_name,
// isv.SMS_TEMPLATE_ILLEGAL and template-parameter errors template_code,
// InvalidAction.NotFound api_base, Forbidden.* access_key_id); anything
// else, HTTP 5xx and transport failures VendorUnavailable with the code
// (or http_<status> for a body that is not Alibaba Cloud's JSON).
//
// # Notices
//
// SendNotice sends a notice kind's template to the number with the
// notice's params as TemplateParam, in the same signed SendSms call. The
// only kind is phone_changed (sdk.NoticePhoneChanged), sent to the old
// number of an account whose phone was changed, with
// TemplateParam {"phone":"139****5678"}: the new number, masked by the
// gateway. An unknown kind is InvalidRequest (kind); params other than
// the kind's, or a phone param that is not masked as cnid.MaskPhone does,
// InvalidRequest (params), so that a notice never carries a full number
// other than its destination. Vendor codes map to kinds as for codes, a
// refused template or template parameters naming notice_templates.
// Alibaba Cloud limits notices per template and day apart from codes.
//
// # Tickets
//
// The ticket is {phone, purpose, HMAC of the code, expiry} sealed with
// plugins/sdk/handle (AES-256-GCM under a key derived from handle_key,
// bound to the AccessKeyId; the HMAC key is derived from both), so any
// replica verifies it and a ticket sealed under other credentials, or
// altered, is UUIDInvalid. VerifyCode answers InvalidRequest for another
// phone or purpose, Expired after code_ttl and CodeInvalid for a wrong
// code (compared in constant time). The provider is stateless: a ticket
// verifies as often as it is presented until it expires, so keeping it
// single-use and limiting attempts is the gateway's job.
package sms
