package sms

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/url"
	"sort"
	"strings"
)

// percentEncode encodes s as Alibaba Cloud's RPC signature (version 1.0)
// requires: every byte of the UTF-8 text but A-Z a-z 0-9 - _ . ~ becomes
// %XY with upper-case hex, so a space is %20, * is %2A and ~ stays ~
// (the document's recipe: URL-encode, then + → %20, * → %2A, %7E → ~).
func percentEncode(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) * 3)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0x0f])
	}
	return b.String()
}

// canonicalQuery is the canonicalised query string: every parameter but
// Signature, sorted by name (byte order), name and value percent-encoded,
// joined as name=value with &. A parameter never has several values in a
// request this package makes; only the first would count.
func canonicalQuery(params url.Values) string {
	names := make([]string, 0, len(params))
	for k := range params {
		if k != "Signature" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for i, k := range names {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(percentEncode(k))
		b.WriteByte('=')
		b.WriteString(percentEncode(params.Get(k)))
	}
	return b.String()
}

// stringToSign is HTTPMethod & percentEncode("/") & percentEncode(canonical query).
func stringToSign(method string, params url.Values) string {
	return method + "&" + percentEncode("/") + "&" + percentEncode(canonicalQuery(params))
}

// sign is the Signature parameter: Base64(HMAC-SHA1(AccessKeySecret + "&",
// StringToSign)).
func sign(method string, params url.Values, secret string) string {
	m := hmac.New(sha1.New, []byte(secret+"&"))
	m.Write([]byte(stringToSign(method, params)))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
