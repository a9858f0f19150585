package wechat

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// grant is a single-use code: a website OAuth code, a js_code or a
// phone-number code.
type grant struct {
	appID   string
	citizen citizens.Citizen
	scope   string
	expires time.Time
	used    bool
}

// userToken is an sns access token or refresh token.
type userToken struct {
	appID   string
	openID  string
	citizen citizens.Citizen
	scope   string
	expires time.Time
}

// serverToken is an access token from /cgi-bin/token.
type serverToken struct {
	appID   string
	expires time.Time
}

// api serves api.weixin.qq.com. Paths are case-sensitive; an unknown path
// is errcode 40066 invalid url.
func (s *Sim) api(w http.ResponseWriter, r *http.Request) {
	code, handled := s.env.Inject(w, r, Vendor, r.URL.Path)
	if handled {
		return
	}
	if code != "" {
		n, err := strconv.Atoi(code)
		if err != nil {
			n = -1
		}
		writeErr(w, n)
		return
	}
	switch r.URL.Path {
	case "/sns/oauth2/access_token":
		s.snsAccessToken(w, r)
	case "/sns/oauth2/refresh_token":
		s.snsRefresh(w, r)
	case "/sns/auth":
		s.snsAuth(w, r)
	case "/sns/userinfo":
		s.snsUserInfo(w, r)
	case "/sns/jscode2session":
		s.jscode2session(w, r)
	case "/cgi-bin/token":
		s.cgiToken(w, r)
	case "/cityservice/face/identify/getverifyid":
		s.getVerifyID(w, r)
	case "/cityservice/face/identify/queryverifyinfo":
		s.queryVerifyInfo(w, r)
	case "/wxa/business/getuserphonenumber":
		s.getPhoneNumber(w, r)
	default:
		writeErr(w, 40066)
	}
}

// appAuth checks appid and secret; it returns the app or an errcode.
// wrongSecret is the code a bad secret gets on this endpoint.
func (s *Sim) appAuth(q url.Values, wrongSecret int) (App, int) {
	id, secret := q.Get("appid"), q.Get("secret")
	switch {
	case id == "":
		return App{}, 41002
	case secret == "":
		return App{}, 41004
	}
	app, ok := s.apps[id]
	if !ok {
		return App{}, 40013
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(app.Secret)) != 1 {
		return App{}, wrongSecret
	}
	return app, 0
}

// redeem uses up a single-use code of an app: unknown (or another app's)
// is 40029, used 40163, expired expiredCode.
func (s *Sim) redeem(codes map[string]*grant, appID, code string, expiredCode int) (*grant, int) {
	now := s.env.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := codes[code]
	switch {
	case !ok || g.appID != appID:
		return nil, 40029
	case g.used:
		return nil, 40163
	case now.After(g.expires):
		return nil, expiredCode
	}
	g.used = true
	return g, 0
}

type accessTokenResponse struct {
	AccessToken  string `json:"access_token"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	OpenID       string `json:"openid"`
	Scope        string `json:"scope"`
	UnionID      string `json:"unionid,omitempty"`
}

// snsAccessToken exchanges a website login code.
func (s *Sim) snsAccessToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	app, errc := s.appAuth(q, 40125)
	if errc != 0 {
		writeErr(w, errc)
		return
	}
	switch {
	case q.Get("code") == "":
		writeErr(w, 41008)
		return
	case q.Get("grant_type") != "authorization_code":
		writeErr(w, 40002)
		return
	}
	g, errc := s.redeem(s.codes, app.AppID, q.Get("code"), 42003)
	if errc != 0 {
		writeErr(w, errc)
		return
	}
	openID := s.openID(app.AppID, g.citizen.IDNumber)
	access, refresh := s.issueUserTokens(app.AppID, openID, g.citizen, g.scope)
	writeJSON(w, accessTokenResponse{
		AccessToken: access, ExpiresIn: int(accessTokenTTL / time.Second), RefreshToken: refresh,
		OpenID: openID, Scope: g.scope, UnionID: s.unionID(g.citizen.IDNumber),
	})
}

func (s *Sim) issueUserTokens(appID, openID string, c citizens.Citizen, scope string) (access, refresh string) {
	now := s.env.Now()
	access, refresh = token(48), token(48)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(now)
	s.tokens[access] = &userToken{appID: appID, openID: openID, citizen: c, scope: scope, expires: now.Add(accessTokenTTL)}
	s.refresh[refresh] = &userToken{appID: appID, openID: openID, citizen: c, scope: scope, expires: now.Add(refreshTokenTTL)}
	s.openIDs[openID] = c
	return access, refresh
}

// snsRefresh renews an access token with a refresh token.
func (s *Sim) snsRefresh(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch {
	case q.Get("appid") == "":
		writeErr(w, 41002)
		return
	case s.apps[q.Get("appid")].AppID == "":
		writeErr(w, 40013)
		return
	case q.Get("grant_type") != "refresh_token":
		writeErr(w, 40002)
		return
	}
	now := s.env.Now()
	s.mu.Lock()
	rt, ok := s.refresh[q.Get("refresh_token")]
	s.mu.Unlock()
	switch {
	case !ok || rt.appID != q.Get("appid"):
		writeErr(w, 40030)
		return
	case now.After(rt.expires):
		writeErr(w, 42002)
		return
	}
	access := token(48)
	s.mu.Lock()
	s.tokens[access] = &userToken{appID: rt.appID, openID: rt.openID, citizen: rt.citizen, scope: rt.scope, expires: now.Add(accessTokenTTL)}
	s.mu.Unlock()
	writeJSON(w, accessTokenResponse{
		AccessToken: access, ExpiresIn: int(accessTokenTTL / time.Second), RefreshToken: q.Get("refresh_token"),
		OpenID: rt.openID, Scope: rt.scope,
	})
}

// userTokenFor checks an sns access token and the openid it is used with.
func (s *Sim) userTokenFor(q url.Values) (*userToken, int) {
	tok := q.Get("access_token")
	if tok == "" {
		return nil, 41001
	}
	s.mu.Lock()
	t, ok := s.tokens[tok]
	s.mu.Unlock()
	switch {
	case !ok:
		return nil, 40001
	case s.env.Now().After(t.expires):
		return nil, 42001
	case q.Get("openid") == "":
		return nil, 41009
	case q.Get("openid") != t.openID:
		return nil, 40003
	}
	return t, 0
}

func (s *Sim) snsAuth(w http.ResponseWriter, r *http.Request) {
	if _, errc := s.userTokenFor(r.URL.Query()); errc != 0 {
		writeErr(w, errc)
		return
	}
	writeJSON(w, apiError{ErrCode: 0, ErrMsg: "ok"})
}

type userInfo struct {
	OpenID     string   `json:"openid"`
	Nickname   string   `json:"nickname"`
	Sex        int      `json:"sex"`
	Province   string   `json:"province"`
	City       string   `json:"city"`
	Country    string   `json:"country"`
	HeadImgURL string   `json:"headimgurl"`
	Privilege  []string `json:"privilege"`
	UnionID    string   `json:"unionid"`
}

// snsUserInfo answers the profile of the token's user; the token's scope
// must allow it (snsapi_login or snsapi_userinfo), else 48001.
func (s *Sim) snsUserInfo(w http.ResponseWriter, r *http.Request) {
	t, errc := s.userTokenFor(r.URL.Query())
	if errc != 0 {
		writeErr(w, errc)
		return
	}
	if !scopeAllowsUserInfo(t.scope) {
		writeErr(w, 48001)
		return
	}
	writeJSON(w, s.profile(t.openID, t.citizen))
}

func scopeAllowsUserInfo(scope string) bool {
	for _, sc := range splitComma(scope) {
		if sc == "snsapi_login" || sc == "snsapi_userinfo" {
			return true
		}
	}
	return false
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// profile is a fictional but stable WeChat profile of a person.
func (s *Sim) profile(openID string, c citizens.Citizen) userInfo {
	seed := s.derive("profile", c.IDNumber)
	sex := 0
	province := ""
	if id, err := cnid.Parse(c.IDNumber, s.env.Now()); err == nil {
		if id.Gender() == cnid.Male {
			sex = 1
		} else {
			sex = 2
		}
		province = provinces[c.IDNumber[:2]]
	}
	return userInfo{
		OpenID:     openID,
		Nickname:   nicknames[int(seed[0])%len(nicknames)],
		Sex:        sex,
		Province:   province,
		Country:    "CN",
		HeadImgURL: s.env.URL(AvatarHost, "/mmopen/vi_32/"+seed[:24]+"/132"),
		Privilege:  []string{},
		UnionID:    s.unionID(c.IDNumber),
	}
}

var nicknames = []string{"晨光", "青柠", "远山", "小满", "知秋", "听雨", "南风", "木木", "一苇", "星河", "拾光", "半夏",
	"西柚", "北辰", "云朵", "阿June", "Leo", "小鹿", "清欢", "麦穗", "向阳", "白露", "橙子", "逐梦"}

// provinces names provinces by the first two digits of an ID number, in
// the English form WeChat profiles use.
var provinces = map[string]string{
	"11": "Beijing", "12": "Tianjin", "13": "Hebei", "14": "Shanxi", "15": "Inner Mongolia",
	"21": "Liaoning", "22": "Jilin", "23": "Heilongjiang", "31": "Shanghai", "32": "Jiangsu",
	"33": "Zhejiang", "34": "Anhui", "35": "Fujian", "36": "Jiangxi", "37": "Shandong",
	"41": "Henan", "42": "Hubei", "43": "Hunan", "44": "Guangdong", "45": "Guangxi", "46": "Hainan",
	"50": "Chongqing", "51": "Sichuan", "52": "Guizhou", "53": "Yunnan", "54": "Tibet",
	"61": "Shaanxi", "62": "Gansu", "63": "Qinghai", "64": "Ningxia", "65": "Xinjiang",
}

type sessionResponse struct {
	OpenID     string `json:"openid"`
	SessionKey string `json:"session_key"`
	UnionID    string `json:"unionid,omitempty"`
}

// jscode2session exchanges a mini-program js_code. An expired js_code is
// 40029, as the code2Session table has no expiry code.
func (s *Sim) jscode2session(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	app, errc := s.appAuth(q, 40125)
	if errc != 0 {
		writeErr(w, errc)
		return
	}
	switch {
	case q.Get("js_code") == "":
		writeErr(w, 41008)
		return
	case q.Get("grant_type") != "authorization_code":
		writeErr(w, 40002)
		return
	}
	g, errc := s.redeem(s.jsCodes, app.AppID, q.Get("js_code"), 40029)
	if errc != 0 {
		writeErr(w, errc)
		return
	}
	openID := s.openID(app.AppID, g.citizen.IDNumber)
	s.mu.Lock()
	s.openIDs[openID] = g.citizen
	s.mu.Unlock()
	writeJSON(w, sessionResponse{OpenID: openID, SessionKey: token(16), UnionID: s.unionID(g.citizen.IDNumber)})
}

type serverTokenResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

// cgiToken issues the server access token (client_credential).
func (s *Sim) cgiToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("grant_type") != "client_credential" {
		writeErr(w, 40002)
		return
	}
	app, errc := s.appAuth(q, 40001)
	if errc != 0 {
		writeErr(w, errc)
		return
	}
	now := s.env.Now()
	tok := token(96)
	s.mu.Lock()
	s.sweepLocked(now)
	s.serverTokens[tok] = &serverToken{appID: app.AppID, expires: now.Add(accessTokenTTL)}
	s.mu.Unlock()
	writeJSON(w, serverTokenResponse{AccessToken: tok, ExpiresIn: int(accessTokenTTL / time.Second)})
}

// serverAuth checks the access_token of a server API call: POST only.
func (s *Sim) serverAuth(r *http.Request) (App, int) {
	if r.Method != http.MethodPost {
		return App{}, 43002
	}
	tok := r.URL.Query().Get("access_token")
	if tok == "" {
		return App{}, 41001
	}
	s.mu.Lock()
	t, ok := s.serverTokens[tok]
	s.mu.Unlock()
	switch {
	case !ok:
		return App{}, 40001
	case s.env.Now().After(t.expires):
		return App{}, 42001
	}
	return s.apps[t.appID], 0
}

type phoneInfo struct {
	PhoneNumber     string    `json:"phoneNumber"`
	PurePhoneNumber string    `json:"purePhoneNumber"`
	CountryCode     string    `json:"countryCode"`
	Watermark       watermark `json:"watermark"`
}

type watermark struct {
	Timestamp int64  `json:"timestamp"`
	AppID     string `json:"appid"`
}

type phoneResponse struct {
	apiError
	PhoneInfo phoneInfo `json:"phone_info"`
}

// getPhoneNumber exchanges the code of the mini-program's phone-number
// button for the holder's phone.
func (s *Sim) getPhoneNumber(w http.ResponseWriter, r *http.Request) {
	app, errc := s.serverAuth(r)
	if errc != 0 {
		writeErr(w, errc)
		return
	}
	var body struct {
		Code string `json:"code"`
	}
	if err := decodeBody(r, &body); err != nil {
		writeErr(w, 47001)
		return
	}
	if body.Code == "" {
		writeErr(w, 41008)
		return
	}
	g, errc := s.redeem(s.phoneCodes, app.AppID, body.Code, 40029)
	if errc != 0 {
		writeErr(w, errc)
		return
	}
	writeJSON(w, phoneResponse{
		apiError: apiError{ErrCode: 0, ErrMsg: "ok"},
		PhoneInfo: phoneInfo{PhoneNumber: g.citizen.Phone, PurePhoneNumber: g.citizen.Phone, CountryCode: "86",
			Watermark: watermark{Timestamp: s.env.Now().Unix(), AppID: app.AppID}},
	})
}
