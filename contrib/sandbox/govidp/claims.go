package govidp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"slices"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
)

// ScopeRealName asks for the real-name claims (id_number,
// real_name_verified, real_name_level).
const ScopeRealName = "realname"

// Claims beyond the standard ones. The relying party decides by
// configuration whether it trusts them as real-name evidence.
const (
	// ClaimIDNumber is the 18-character resident ID number.
	ClaimIDNumber = "id_number"
	// ClaimRealNameVerified is true: the portal checked name and number
	// against the population registry when the account was opened.
	ClaimRealNameVerified = "real_name_verified"
	// ClaimRealNameLevel is LevelFace or LevelNameID.
	ClaimRealNameLevel = "real_name_level"
)

// Real-name levels (sandbox-defined, modelled on the portals' 实名 / 实人
// grades).
const (
	// LevelNameID (实名): name and ID number match the population registry.
	LevelNameID = "L1"
	// LevelFace (实人): LevelNameID plus a face check against the registry
	// photo.
	LevelFace = "L2"
)

// subject is a citizen's stable, opaque sub: an HMAC of the ID number
// under the data folder's secret, 32 hex digits.
func (p *IdP) subject(c citizens.Citizen) string {
	m := hmac.New(sha256.New, p.secret)
	m.Write([]byte("govidp sub\x00" + c.IDNumber))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// level is the real-name level the portal holds for a citizen: citizens
// whose face fails never reached 实人.
func level(c citizens.Citizen) string {
	if c.Face != citizens.FacePasses {
		return LevelNameID
	}
	return LevelFace
}

// setUserinfo fills the claims a subject's scopes release: profile gives
// name (as the population registry holds it), phone gives phone_number,
// realname gives the real-name claims.
func (p *IdP) setUserinfo(info *oidc.UserInfo, subject string, scopes []string) bool {
	c, found := p.subjects[subject]
	if !found {
		return false
	}
	info.Subject = subject
	if slices.Contains(scopes, oidc.ScopeProfile) {
		info.Name = c.RegistryName
	}
	if slices.Contains(scopes, oidc.ScopePhone) && c.Phone != "" {
		info.PhoneNumber = c.Phone
		info.PhoneNumberVerified = true
	}
	if slices.Contains(scopes, ScopeRealName) {
		info.AppendClaims(ClaimIDNumber, c.IDNumber)
		info.AppendClaims(ClaimRealNameVerified, true)
		info.AppendClaims(ClaimRealNameLevel, level(c))
	}
	return true
}
