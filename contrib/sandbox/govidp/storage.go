package govidp

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/url"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// authRequest is an authorization request between /authorize and the
// token endpoint. Values handed to the op package are copies.
type authRequest struct {
	id           string
	clientID     string
	redirectURI  string
	state        string
	nonce        string
	scopes       []string
	responseType oidc.ResponseType
	responseMode oidc.ResponseMode
	challenge    *oidc.CodeChallenge
	created      time.Time
	subject      string
	authTime     time.Time
	done         bool
}

func (a *authRequest) GetID() string                         { return a.id }
func (a *authRequest) GetACR() string                        { return "" }
func (a *authRequest) GetAudience() []string                 { return []string{a.clientID} }
func (a *authRequest) GetAuthTime() time.Time                { return a.authTime }
func (a *authRequest) GetClientID() string                   { return a.clientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return a.challenge }
func (a *authRequest) GetNonce() string                      { return a.nonce }
func (a *authRequest) GetRedirectURI() string                { return a.redirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType    { return a.responseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode    { return a.responseMode }
func (a *authRequest) GetScopes() []string                   { return a.scopes }
func (a *authRequest) GetState() string                      { return a.state }
func (a *authRequest) GetSubject() string                    { return a.subject }
func (a *authRequest) Done() bool                            { return a.done }

// GetAMR says the person signed in with a password.
func (a *authRequest) GetAMR() []string {
	if a.done {
		return []string{"pwd"}
	}
	return nil
}

// token is an issued access token.
type token struct {
	id       string
	clientID string
	subject  string
	scopes   []string
	expires  time.Time
}

// codeEntry binds an authorization code to its request.
type codeEntry struct {
	requestID string
	expires   time.Time
}

// storage is the IdP's in-memory op.Storage.
type storage struct {
	idp     *IdP
	clients map[string]*Client

	mu       sync.Mutex
	requests map[string]*authRequest
	codes    map[string]codeEntry
	tokens   map[string]*token
	swept    time.Time
}

func newStorage(p *IdP, clients map[string]*Client) *storage {
	return &storage{
		idp:      p,
		clients:  clients,
		requests: map[string]*authRequest{},
		codes:    map[string]codeEntry{},
		tokens:   map[string]*token{},
	}
}

// errNotFound is returned for unknown or expired requests, codes, tokens
// and clients.
var errNotFound = errors.New("govidp: not found or expired")

// errRefreshUnsupported: the sandbox IdP issues no refresh tokens.
var errRefreshUnsupported = oidc.ErrUnsupportedGrantType().WithDescription("refresh tokens are not issued")

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails: crypto/rand aborts the program instead
	return hex.EncodeToString(b)
}

// CreateAuthRequest stores a validated authorization request. It refuses
// requests without PKCE or with the plain method (RFC 9700 §2.1.1), and
// prompt=none, since the IdP keeps no session.
func (s *storage) CreateAuthRequest(_ context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	switch {
	case req.CodeChallenge == "":
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge is required (PKCE, S256)")
	case req.CodeChallengeMethod != oidc.CodeChallengeMethodS256:
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
	case slices.Contains(req.Prompt, oidc.PromptNone):
		return nil, oidc.ErrLoginRequired()
	}
	now := s.idp.now()
	a := &authRequest{
		id:           randomID(),
		clientID:     req.ClientID,
		redirectURI:  req.RedirectURI,
		state:        req.State,
		nonce:        req.Nonce,
		scopes:       slices.Clone(req.Scopes),
		responseType: req.ResponseType,
		responseMode: req.ResponseMode,
		challenge:    &oidc.CodeChallenge{Challenge: req.CodeChallenge, Method: req.CodeChallengeMethod},
		created:      now,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(now)
	s.requests[a.id] = a
	c := *a
	return &c, nil
}

// requestLocked returns a live request. The caller holds s.mu.
func (s *storage) requestLocked(id string) (*authRequest, bool) {
	a := s.requests[id]
	if a == nil || !s.idp.now().Before(a.created.Add(authRequestTTL)) {
		return nil, false
	}
	return a, true
}

// AuthRequestByID implements op.Storage.
func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, found := s.requestLocked(id)
	if !found {
		return nil, errNotFound
	}
	c := *a
	return &c, nil
}

// AuthRequestByCode implements op.Storage.
func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	e, found := s.codes[code]
	s.mu.Unlock()
	if !found || !s.idp.now().Before(e.expires) {
		return nil, errNotFound
	}
	return s.AuthRequestByID(ctx, e.requestID)
}

// SaveAuthCode implements op.Storage.
func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = codeEntry{requestID: id, expires: s.idp.now().Add(authCodeTTL)}
	return nil
}

// DeleteAuthRequest implements op.Storage; the op package calls it once
// the code has been exchanged, which makes codes single-use.
func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.requests, id)
	for code, e := range s.codes {
		if e.requestID == id {
			delete(s.codes, code)
		}
	}
	return nil
}

// completeLogin marks a request as signed in by subject.
func (s *storage) completeLogin(id, subject string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, found := s.requestLocked(id)
	if !found || a.done {
		return errNotFound
	}
	a.subject, a.authTime, a.done = subject, s.idp.now(), true
	return nil
}

// pendingRequest reports whether a request waits for its login.
func (s *storage) pendingRequest(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, found := s.requestLocked(id)
	return found && !a.done
}

// CreateAccessToken implements op.Storage.
func (s *storage) CreateAccessToken(_ context.Context, req op.TokenRequest) (string, time.Time, error) {
	var clientID string
	if a, isAuth := req.(*authRequest); isAuth {
		clientID = a.clientID
	}
	now := s.idp.now()
	t := &token{id: randomID(), clientID: clientID, subject: req.GetSubject(), scopes: slices.Clone(req.GetScopes()), expires: now.Add(accessTokenTTL)}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[t.id] = t
	return t.id, t.expires, nil
}

// CreateAccessAndRefreshTokens implements op.Storage; never called, since
// no client has the refresh_token grant.
func (s *storage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errRefreshUnsupported
}

// TokenRequestByRefreshToken implements op.Storage.
func (s *storage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, errRefreshUnsupported
}

// TerminateSession implements op.Storage (end_session): the subject's
// tokens for the client are revoked.
func (s *storage) TerminateSession(_ context.Context, userID, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, t := range s.tokens {
		if t.subject == userID && t.clientID == clientID {
			delete(s.tokens, id)
		}
	}
	return nil
}

// RevokeToken implements op.Storage.
func (s *storage) RevokeToken(_ context.Context, tokenID, _, clientID string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tokens[tokenID]
	if t == nil {
		return nil
	}
	if t.clientID != clientID {
		return oidc.ErrInvalidClient().WithDescription("token was not issued to this client")
	}
	delete(s.tokens, tokenID)
	return nil
}

// GetRefreshTokenInfo implements op.Storage.
func (s *storage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

// SigningKey implements op.Storage.
func (s *storage) SigningKey(context.Context) (op.SigningKey, error) {
	return s.idp.keys.signing(), nil
}

// SignatureAlgorithms implements op.Storage.
func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

// KeySet implements op.Storage: the current key and the previous ones
// whose tokens may still be live.
func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	return s.idp.keys.public(), nil
}

// GetClientByClientID implements op.Storage.
func (s *storage) GetClientByClientID(_ context.Context, clientID string) (op.Client, error) {
	c := s.clients[clientID]
	if c == nil {
		return nil, errNotFound
	}
	return &opClient{Client: c, loginURL: s.idp.issuer + loginPath}, nil
}

// AuthorizeClientIDSecret implements op.Storage.
func (s *storage) AuthorizeClientIDSecret(_ context.Context, clientID, secret string) error {
	c := s.clients[clientID]
	if c == nil || c.Secret == "" || subtle.ConstantTimeCompare([]byte(c.Secret), []byte(secret)) != 1 {
		return errNotFound
	}
	return nil
}

// SetUserinfoFromScopes implements op.Storage; SetUserinfoFromRequest
// does the work.
func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest implements op.CanSetUserinfoFromRequest: the
// claims of the ID token.
func (s *storage) SetUserinfoFromRequest(_ context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if !s.idp.setUserinfo(info, req.GetSubject(), scopes) {
		return errNotFound
	}
	return nil
}

// SetUserinfoFromToken implements op.Storage: the userinfo endpoint.
func (s *storage) SetUserinfoFromToken(_ context.Context, info *oidc.UserInfo, tokenID, _, _ string) error {
	t, found := s.liveToken(tokenID)
	if !found || !s.idp.setUserinfo(info, t.subject, t.scopes) {
		return errNotFound
	}
	return nil
}

// SetIntrospectionFromToken implements op.Storage.
func (s *storage) SetIntrospectionFromToken(_ context.Context, resp *oidc.IntrospectionResponse, tokenID, _, clientID string) error {
	t, found := s.liveToken(tokenID)
	if !found || t.clientID != clientID {
		return errNotFound
	}
	info := new(oidc.UserInfo)
	if !s.idp.setUserinfo(info, t.subject, t.scopes) {
		return errNotFound
	}
	resp.SetUserInfo(info)
	resp.Scope = t.scopes
	resp.ClientID = t.clientID
	resp.Expiration = oidc.FromTime(t.expires)
	return nil
}

func (s *storage) liveToken(id string) (token, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tokens[id]
	if t == nil || !s.idp.now().Before(t.expires) {
		return token{}, false
	}
	return *t, true
}

// GetPrivateClaimsFromScopes implements op.Storage; access tokens are
// opaque, so there are none.
func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID implements op.Storage; JWT client authentication
// is not offered.
func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errNotFound
}

// ValidateJWTProfileScopes implements op.Storage; the JWT profile grant is
// not offered.
func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, oidc.ErrUnsupportedGrantType()
}

// Health implements op.Storage.
func (s *storage) Health(context.Context) error { return nil }

// sweepLocked forgets, at most once a minute, expired requests, codes and
// tokens. The caller holds s.mu.
func (s *storage) sweepLocked(now time.Time) {
	if now.Sub(s.swept) < time.Minute {
		return
	}
	s.swept = now
	for id, a := range s.requests {
		if !now.Before(a.created.Add(authRequestTTL)) {
			delete(s.requests, id)
		}
	}
	for c, e := range s.codes {
		if !now.Before(e.expires) {
			delete(s.codes, c)
		}
	}
	for id, t := range s.tokens {
		if !now.Before(t.expires) {
			delete(s.tokens, id)
		}
	}
}

// opClient adapts a Client to op.Client: a confidential web client (or a
// public one without secret) for the authorization code flow only.
type opClient struct {
	*Client
	loginURL string
}

func (c *opClient) GetID() string                       { return c.ID }
func (c *opClient) RedirectURIs() []string              { return c.Client.RedirectURIs }
func (c *opClient) PostLogoutRedirectURIs() []string    { return nil }
func (c *opClient) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *opClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *opClient) GrantTypes() []oidc.GrantType        { return []oidc.GrantType{oidc.GrantTypeCode} }
func (c *opClient) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c *opClient) IDTokenLifetime() time.Duration      { return idTokenTTL }
func (c *opClient) DevMode() bool                       { return false }
func (c *opClient) IsScopeAllowed(scope string) bool    { return scope == ScopeRealName }
func (c *opClient) IDTokenUserinfoClaimsAssertion() bool {
	return true
}
func (c *opClient) ClockSkew() time.Duration { return 0 }

func (c *opClient) AuthMethod() oidc.AuthMethod {
	if c.Secret == "" {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}

func (c *opClient) LoginURL(id string) string {
	return c.loginURL + "?authRequestID=" + url.QueryEscape(id)
}

func (c *opClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (c *opClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

var (
	_ op.Storage                   = (*storage)(nil)
	_ op.CanSetUserinfoFromRequest = (*storage)(nil)
	_ op.AuthRequest               = (*authRequest)(nil)
	_ op.Client                    = (*opClient)(nil)
)
