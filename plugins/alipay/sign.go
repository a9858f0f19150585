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
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
)

// signatureBase returns the string an OpenAPI v2 request is signed over
// (vendor-protocols §2.2): every parameter except sign whose value is not
// empty, sorted by key in ASCII order, joined as k=v&k=v with the raw,
// not URL-encoded, values. sign_type is included. The plugin never sends a
// key twice; should it, only the first value would count, as the gateway
// refuses such requests anyway.
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

// signRSA2 returns the standard base64 of the SHA256WithRSA (PKCS #1 v1.5)
// signature of data.
func signRSA2(key *rsa.PrivateKey, data []byte) (string, error) {
	sum := sha256.Sum256(data)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("alipay: sign: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// verifyRSA2 checks a standard-base64 SHA256WithRSA signature over data.
func verifyRSA2(pub *rsa.PublicKey, data []byte, sign string) error {
	sig, err := base64.StdEncoding.DecodeString(sign)
	if err != nil {
		return errors.New("alipay: signature is not base64")
	}
	sum := sha256.Sum256(data)
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
}

// nodeName is the response member of a method: dots become underscores,
// then "_response".
func nodeName(method string) string {
	return strings.ReplaceAll(method, ".", "_") + "_response"
}

// errorNode is where the gateway puts failures it does not attribute to
// a method.
const errorNode = "error_response"

// Why a response is not trusted.
var (
	errMalformed = errors.New("alipay: response is not a gateway answer")
	errUnsigned  = errors.New("alipay: response carries no signature")
	errSignature = errors.New("alipay: response signature does not verify with alipay_public_key")
)

// nodeHead is the common part of every node. Alipay sends each as a
// string.
type nodeHead struct {
	Code    string `json:"code"`
	Msg     string `json:"msg"`
	SubCode string `json:"sub_code"`
	SubMsg  string `json:"sub_msg"`
}

// response is a gateway answer whose node has been verified.
type response struct {
	// member is the key that held the node: the method's node name or
	// error_response.
	member string
	// node is the node's JSON value exactly as received (the signed bytes).
	node json.RawMessage
	head nodeHead
}

// parseResponse reads {"<method>_response" | "error_response": {…},
// "sign": "…"} and verifies the signature over the node's raw bytes, as
// received, with the Alipay public key (vendor-protocols §2.3). A
// response whose node is not signed, or not signed right, is refused:
// its errors are returned with the unverified head for the log only.
func parseResponse(body []byte, method string, pub *rsa.PublicKey) (response, error) {
	members, err := topMembers(body)
	if err != nil {
		return response{}, err
	}
	r := response{member: nodeName(method)}
	node, ok := members[r.member]
	if !ok {
		r.member = errorNode
		if node, ok = members[errorNode]; !ok {
			return response{}, errMalformed
		}
	}
	if len(node) == 0 || node[0] != '{' {
		return response{}, errMalformed
	}
	r.node = node
	if err := json.Unmarshal(node, &r.head); err != nil {
		return response{}, errMalformed
	}
	rawSign, signed := members["sign"]
	if !signed {
		return r, errUnsigned
	}
	var sign string
	if json.Unmarshal(rawSign, &sign) != nil || sign == "" {
		return r, errUnsigned
	}
	if verifyRSA2(pub, node, sign) != nil {
		return r, errSignature
	}
	return r, nil
}

// topMembers splits a JSON object into its members' raw values, refusing
// anything but one object with distinct keys.
func topMembers(body []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errMalformed
	}
	members := map[string]json.RawMessage{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, errMalformed
		}
		key, ok := t.(string)
		if !ok {
			return nil, errMalformed
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, errMalformed
		}
		if _, dup := members[key]; dup {
			return nil, errMalformed
		}
		members[key] = v
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, errMalformed
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errMalformed
	}
	return members, nil
}
