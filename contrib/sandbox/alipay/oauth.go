package alipay

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// Lifetimes. The auth code lives the documented minimum ("3 minutes to 24
// hours"); the token lifetimes are those seen in real responses.
const (
	authCodeTTL     = 3 * time.Minute
	accessTokenTTL  = 1296000 * time.Second // 15 days
	refreshTokenTTL = 2592000 * time.Second // 30 days
)

// Scopes of publicAppAuthorize.htm.
const (
	scopeUser = "auth_user"
	scopeBase = "auth_base"
)

type authCode struct {
	appID   string
	holder  citizens.Citizen
	scopes  []string
	expires time.Time
	used    bool
}

type accessToken struct {
	appID   string
	holder  citizens.Citizen
	scopes  []string
	expires time.Time
}

type refreshToken struct {
	appID   string
	holder  citizens.Citizen
	scopes  []string
	expires time.Time
	used    bool
}

// issueAuthCode returns a single-use auth_code for an app and a person.
func (s *Sim) issueAuthCode(appID string, holder citizens.Citizen, scopes []string) string {
	code := randHex(16)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked()
	s.codes[code] = &authCode{appID: appID, holder: holder, scopes: scopes, expires: s.now().Add(authCodeTTL)}
	return code
}

// oauthToken serves alipay.system.oauth.token. grant_type, code and
// refresh_token are top-level parameters (vendor-protocols.md §2.5). Its
// errors come in error_response; its success node has no code or msg, as
// in the official sample.
func (s *Sim) oauthToken(_ context.Context, a *app, params url.Values) reply {
	now := s.now()
	var holder citizens.Citizen
	var scopes []string
	switch params.Get("grant_type") {
	case "authorization_code":
		s.mu.Lock()
		c := s.codes[params.Get("code")]
		valid := c != nil && !c.used && c.appID == a.AppID && now.Before(c.expires)
		if valid {
			c.used = true
			holder, scopes = c.holder, c.scopes
		}
		s.mu.Unlock()
		if !valid {
			return errorReply(fail(codeInvalid, "isv.code-invalid", "授权码code无效"))
		}
	case "refresh_token":
		s.mu.Lock()
		rt := s.refresh[params.Get("refresh_token")]
		var res result
		switch {
		case rt == nil || rt.appID != a.AppID:
			res = fail(codeInvalid, "isv.refresh-token-invalid", "刷新令牌refresh_token无效")
		case rt.used:
			res = fail(codeInvalid, "isv.refreshed-token-invalid", "刷新令牌refresh_token已使用")
		case !now.Before(rt.expires):
			res = fail(codeInvalid, "isv.refresh-token-time-out", "刷新令牌refresh_token过期")
		default:
			rt.used = true
			holder, scopes = rt.holder, rt.scopes
		}
		s.mu.Unlock()
		if res.code != "" {
			return errorReply(res)
		}
	default:
		return errorReply(fail(codeInvalid, "isv.grant-type-invalid", "grant_type参数不正确"))
	}

	access, refresh := "authusrB"+randHex(16), "authusrB"+randHex(16)
	s.mu.Lock()
	s.sweepLocked()
	s.tokens[access] = &accessToken{appID: a.AppID, holder: holder, scopes: scopes, expires: now.Add(accessTokenTTL)}
	s.refresh[refresh] = &refreshToken{appID: a.AppID, holder: holder, scopes: scopes, expires: now.Add(refreshTokenTTL)}
	s.mu.Unlock()
	s.log.Info("alipay: token issued", "app_id", a.AppID, "grant_type", params.Get("grant_type"), "holder", cnid.MaskID(holder.IDNumber))
	return reply{result: result{fields: []field{
		{"access_token", access},
		{"auth_start", now.In(beijing).Format(timeFormat)},
		{"expires_in", int64(accessTokenTTL / time.Second)},
		{"open_id", s.openID(a.AppID, holder)},
		{"re_expires_in", int64(refreshTokenTTL / time.Second)},
		{"refresh_token", refresh},
		{"user_id", s.userID(holder)},
	}}}
}

// userInfoShare serves alipay.user.info.share (auth_token is a top-level
// parameter). Token errors come in the method's node, signed.
func (s *Sim) userInfoShare(_ context.Context, a *app, params url.Values) reply {
	s.mu.Lock()
	t := s.tokens[params.Get("auth_token")]
	var tok accessToken
	if t != nil {
		tok = *t
	}
	s.mu.Unlock()
	switch {
	case t == nil || tok.appID != a.AppID:
		return reply{result: fail(codeTokenPerm, "aop.invalid-auth-token", "")}
	case !s.now().Before(tok.expires):
		return reply{result: fail(codeTokenPerm, "aop.auth-token-time-out", "")}
	case !slices.Contains(tok.scopes, scopeUser):
		// UNCONFIRMED: the answer to an auth_base token.
		return reply{result: fail(codePermission, "isv.insufficient-user-permissions", "")}
	}
	c := tok.holder
	province, city := regionNames(c.IDNumber)
	uid := s.userID(c)
	fields := []field{
		{"avatar", s.env.URL(HostOpenAuth, avatarPath)},
		{"city", city},
		{"gender", gender(c.IDNumber, s.now())},
		{"is_certified", "T"},
		{"is_student_certified", "F"},
		{"nick_name", "沙箱用户" + uid[len(uid)-4:]},
		{"open_id", s.openID(a.AppID, c)},
		{"province", province},
		{"user_id", uid},
		{"user_status", "T"},
		{"user_type", "2"},
	}
	if a.RealNameFields {
		fields = append(fields,
			field{"user_name", c.RegistryName},
			field{"cert_type", "0"},
			field{"cert_no", c.IDNumber},
		)
		if c.Phone != "" {
			fields = append(fields, field{"mobile", c.Phone})
		}
	}
	return reply{result: ok(fields...)}
}

// userID is the person's Alipay user id: 16 digits starting with 2088,
// the same for every app, stable per data folder.
func (s *Sim) userID(c citizens.Citizen) string {
	sum := s.mac("user_id", c.IDNumber)
	return fmt.Sprintf("2088%012d", binary.BigEndian.Uint64(sum[:8])%1_000_000_000_000)
}

// openID is the person's id as one app sees it: 46 characters starting
// with "0", like the real open_id, stable per app and data folder.
func (s *Sim) openID(appID string, c citizens.Citizen) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	sum := append(s.mac("open_id", appID, c.IDNumber), s.mac("open_id_2", appID, c.IDNumber)...)
	b := []byte{'0'}
	for _, x := range sum[:45] {
		b = append(b, alphabet[int(x)%len(alphabet)])
	}
	return string(b)
}

func (s *Sim) mac(parts ...string) []byte {
	m := hmac.New(sha256.New, s.secret)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

// gender is F or M from the ID number's sequence digit.
func gender(idNumber string, now time.Time) string {
	id, err := cnid.Parse(idNumber, now)
	if err != nil {
		return ""
	}
	if id.Gender() == cnid.Male {
		return "M"
	}
	return "F"
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails: crypto/rand aborts the program instead
	return hex.EncodeToString(b)
}
