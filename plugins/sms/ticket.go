package sms

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// ticketPrefix starts every ticket.
const ticketPrefix = "sms1."

// maxTicket bounds the tickets VerifyCode looks at.
const maxTicket = 1024

// ticket is what a sealed ticket carries. The code itself is not in it,
// only its MAC under a key derived from handle_key.
type ticket struct {
	Phone   string `json:"p"`
	Purpose string `json:"u"`
	CodeMAC []byte `json:"c"`
	Expires int64  `json:"e"` // unix seconds
}

// ticketSealer seals tickets with AES-256-GCM. Both keys are derived
// with HKDF-SHA256 from handle_key and the AccessKeyId, so any replica
// configured alike opens a ticket and one sealed under other credentials
// does not.
type ticketSealer struct {
	aead    cipher.AEAD
	codeKey []byte
}

func newTicketSealer(handleKey []byte, accessKeyID string) (*ticketSealer, error) {
	sealKey, err := hkdf.Key(sha256.New, handleKey, nil, "shiming/sms/ticket/v1\x00"+accessKeyID, 32)
	if err != nil {
		return nil, fmt.Errorf("sms: derive ticket key: %w", err)
	}
	codeKey, err := hkdf.Key(sha256.New, handleKey, nil, "shiming/sms/code/v1\x00"+accessKeyID, 32)
	if err != nil {
		return nil, fmt.Errorf("sms: derive code key: %w", err)
	}
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return nil, fmt.Errorf("sms: ticket cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("sms: ticket cipher: %w", err)
	}
	return &ticketSealer{aead: aead, codeKey: codeKey}, nil
}

// codeMAC is HMAC-SHA256 of a code under the code key.
func (s *ticketSealer) codeMAC(code string) []byte {
	m := hmac.New(sha256.New, s.codeKey)
	m.Write([]byte(code))
	return m.Sum(nil)
}

func (s *ticketSealer) seal(t ticket) (string, error) {
	plain, err := json.Marshal(t)
	if err != nil {
		return "", fmt.Errorf("sms: seal ticket: %w", err)
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("sms: seal ticket: %w", err)
	}
	return ticketPrefix + base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte(ticketPrefix))), nil
}

// open returns the ticket sealed in s; false if it is not one of ours.
func (s *ticketSealer) open(sealed string) (ticket, bool) {
	if len(sealed) > maxTicket || !strings.HasPrefix(sealed, ticketPrefix) {
		return ticket{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(sealed[len(ticketPrefix):])
	n := s.aead.NonceSize()
	if err != nil || len(raw) < n+s.aead.Overhead() {
		return ticket{}, false
	}
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(ticketPrefix))
	if err != nil {
		return ticket{}, false
	}
	var t ticket
	if json.Unmarshal(plain, &t) != nil || len(t.CodeMAC) != sha256.Size {
		return ticket{}, false
	}
	return t, true
}

// VerifyCode checks a code against the ticket SendCode returned: a
// ticket this provider did not seal (altered, or sealed under other
// credentials) is UUIDInvalid; one presented with another phone or
// purpose InvalidRequest; a late one Expired; a wrong code CodeInvalid,
// compared in constant time. It is stateless: the gateway keeps tickets
// single-use and limits the attempts.
func (p *Provider) VerifyCode(ctx context.Context, sealed, phone, purpose, code string) error {
	st, err := p.state()
	if err != nil {
		return err
	}
	t, ok := st.tickets.open(sealed)
	if !ok {
		return sdk.E(sdk.UUIDInvalid, "sms: verify code: not a ticket of this provider")
	}
	var bad []string
	if n, err := cnid.ParsePhone(phone); err != nil || n != t.Phone {
		bad = append(bad, "phone")
	}
	if purpose != t.Purpose {
		bad = append(bad, "purpose")
	}
	if len(bad) > 0 {
		return sdk.Fields(sdk.InvalidRequest, "sms: verify code: the ticket is for another phone or purpose", bad...)
	}
	if !st.now().Before(time.Unix(t.Expires, 0)) {
		return sdk.E(sdk.Expired, "sms: verify code: the code has expired")
	}
	if !hmac.Equal(st.tickets.codeMAC(code), t.CodeMAC) {
		return sdk.E(sdk.CodeInvalid, "sms: verify code: wrong code")
	}
	st.log.InfoContext(ctx, "sms: code verified", "phone", cnid.MaskPhone(t.Phone), "purpose", t.Purpose)
	return nil
}
