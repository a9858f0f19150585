package sms

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
	"github.com/shiming-id/shiming/plugins/sdk/handle"
)

// ticketLabel keys the tickets under handle_key; see plugins/sdk/handle.
const ticketLabel = "shiming sms ticket v1"

// ticketKind is the handle kind of a ticket.
const ticketKind = "ticket"

// ticket is what a sealed ticket carries. The code itself is not in it,
// only its MAC under a key derived from handle_key.
type ticket struct {
	Phone   string `json:"p"`
	Purpose string `json:"u"`
	CodeMAC []byte `json:"c"`
	Expires int64  `json:"e"` // unix seconds
}

// ticketSealer seals tickets bound to the AccessKeyId, so any replica
// configured alike opens a ticket and one sealed under other credentials
// does not. The code key is derived with HKDF-SHA256 from handle_key and
// the AccessKeyId too.
type ticketSealer struct {
	sealer      *handle.Sealer
	accessKeyID string
	codeKey     []byte
}

func newTicketSealer(handleKey []byte, accessKeyID string) (*ticketSealer, error) {
	sealer, err := handle.NewSealer(handleKey, ticketLabel)
	if err != nil {
		return nil, fmt.Errorf("sms: ticket sealer: %w", err)
	}
	codeKey, err := hkdf.Key(sha256.New, handleKey, nil, "shiming/sms/code/v1\x00"+accessKeyID, 32)
	if err != nil {
		return nil, fmt.Errorf("sms: derive code key: %w", err)
	}
	return &ticketSealer{sealer: sealer, accessKeyID: accessKeyID, codeKey: codeKey}, nil
}

// codeMAC is HMAC-SHA256 of a code under the code key.
func (s *ticketSealer) codeMAC(code string) []byte {
	m := hmac.New(sha256.New, s.codeKey)
	m.Write([]byte(code))
	return m.Sum(nil)
}

func (s *ticketSealer) seal(t ticket) (string, error) {
	sealed, err := s.sealer.Seal(ticketKind, s.accessKeyID, t)
	if err != nil {
		return "", fmt.Errorf("sms: seal ticket: %w", err)
	}
	return sealed, nil
}

// open returns the ticket sealed in s; false if it is not one of ours.
func (s *ticketSealer) open(sealed string) (ticket, bool) {
	var t ticket
	if !s.sealer.Open(ticketKind, s.accessKeyID, sealed, &t) || len(t.CodeMAC) != sha256.Size {
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
