package alipay

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"sort"
	"strings"
)

// signatureBase returns the string an OpenAPI v2 request is signed over:
// every parameter except sign whose value is not empty, sorted by key in
// ASCII order and joined as k=v&k=v with the raw, not URL-encoded, values.
// sign_type is included (vendor-protocols.md §2.2). A key given more than
// once contributes its first value; the gateway refuses such requests
// before it verifies anything.
func signatureBase(params url.Values) string {
	keys := make([]string, 0, len(params))
	for k, v := range params {
		if k == "sign" || len(v) == 0 || v[0] == "" {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(params[k][0])
	}
	return b.String()
}

// signRSA2 signs data with SHA256WithRSA (PKCS #1 v1.5) and returns the
// standard base64 of the signature.
func signRSA2(key *rsa.PrivateKey, data []byte) (string, error) {
	sum := sha256.Sum256(data)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// verifyRSA2 checks a base64 SHA256WithRSA signature over data.
func verifyRSA2(pub *rsa.PublicKey, data []byte, sign string) error {
	sig, err := base64.StdEncoding.DecodeString(sign)
	if err != nil {
		return errors.New("signature is not base64")
	}
	sum := sha256.Sum256(data)
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
}

// field is one member of a response node. val is a string, an int64 or a
// bool.
type field struct {
	key string
	val any
}

// result is the business content of a response node.
type result struct {
	code, msg, subCode, subMsg string
	fields                     []field
}

// ok returns a successful result with the given fields.
func ok(fields ...field) result {
	return result{code: codeSuccess, msg: "Success", fields: fields}
}

// nodeJSON renders a result the way the real gateway does: code, msg,
// sub_code and sub_msg first, the other members in key order, UTF-8 text
// unescaped and every "/" escaped as "\/". These bytes are what gets signed
// and sent.
func nodeJSON(r result) []byte {
	var head []field
	for _, f := range []field{{"code", r.code}, {"msg", r.msg}, {"sub_code", r.subCode}, {"sub_msg", r.subMsg}} {
		if f.val != "" {
			head = append(head, f)
		}
	}
	rest := append([]field(nil), r.fields...)
	sort.SliceStable(rest, func(i, j int) bool { return rest[i].key < rest[j].key })
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range append(head, rest...) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(jsonValue(f.key))
		b.WriteByte(':')
		b.Write(jsonValue(f.val))
	}
	b.WriteByte('}')
	return b.Bytes()
}

// jsonValue encodes one scalar without HTML escaping, with "/" as "\/".
func jsonValue(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only strings, integers and booleans are encoded.
		return []byte(`""`)
	}
	// A "/" can only occur inside a JSON string, where "\/" is a valid escape.
	return bytes.ReplaceAll(bytes.TrimSuffix(b.Bytes(), []byte("\n")), []byte("/"), []byte(`\/`))
}

// responseBody renders {"<node>":<value>,"sign":"<sign>"}, node first; the
// sign member is left out when sign is empty.
func responseBody(node string, value []byte, sign string) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	b.Write(jsonValue(node))
	b.WriteByte(':')
	b.Write(value)
	if sign != "" {
		// Base64 needs no escaping; the real gateway leaves its "/" as is,
		// and SDKs (smartwalle) decode the sign member's raw bytes.
		b.WriteString(`,"sign":"`)
		b.WriteString(sign)
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.Bytes()
}

// nodeName is the response member of a method: dots become underscores,
// then "_response".
func nodeName(method string) string {
	return strings.ReplaceAll(method, ".", "_") + "_response"
}
