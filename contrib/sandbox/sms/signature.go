package sms

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/url"
	"sort"
	"strings"
)

// PercentEncode encodes s as Alibaba Cloud's RPC signature requires:
// RFC 3986 over UTF-8 bytes, leaving only A-Z a-z 0-9 - _ . ~ unencoded,
// with upper-case hex (a space is %20, * is %2A, ~ stays ~).
func PercentEncode(s string) string {
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
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// CanonicalQuery is the sorted, encoded query of every parameter except
// Signature. Only the first value of a repeated parameter counts.
func CanonicalQuery(params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = PercentEncode(k) + "=" + PercentEncode(params.Get(k))
	}
	return strings.Join(parts, "&")
}

// StringToSign is METHOD&%2F&PercentEncode(CanonicalQuery).
func StringToSign(method string, params url.Values) string {
	return method + "&" + PercentEncode("/") + "&" + PercentEncode(CanonicalQuery(params))
}

// Sign is Base64(HMAC-SHA1(secret + "&", StringToSign)), the value of the
// Signature parameter before URL encoding.
func Sign(method string, params url.Values, secret string) string {
	m := hmac.New(sha1.New, []byte(secret+"&"))
	m.Write([]byte(StringToSign(method, params)))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
