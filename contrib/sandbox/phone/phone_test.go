package phone

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
)

var now = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// fakeSource is a vendor with one login item per QR content "fake:N".
type fakeSource struct {
	mu    sync.Mutex
	items map[string]*Item
	acted []string
}

func newFakeSource() *fakeSource {
	s := &fakeSource{items: map[string]*Item{}}
	for i := 1; i <= 2; i++ {
		id := fmt.Sprintf("fake:%d", i)
		s.items[id] = &Item{ID: id, Vendor: "fake", App: "app1", Kind: "scan_login", Title: "登录 " + id, State: "waiting",
			QRContent: id, Created: now.Add(time.Duration(i) * time.Second), Expires: now.Add(time.Hour),
			Actions: []Action{Scan, Confirm, Cancel}}
	}
	return s
}

func (s *fakeSource) Vendor() string { return "fake" }

func (s *fakeSource) Pending(ctx context.Context) []Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Item
	for _, it := range s.items {
		if it.State == "waiting" {
			out = append(out, *it)
		}
	}
	return out
}

func (s *fakeSource) Lookup(ctx context.Context, qr string) (Item, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.items[qr]
	if !ok {
		return Item{}, false
	}
	return *it, true
}

func (s *fakeSource) Act(ctx context.Context, id string, a Action, holder citizens.Citizen) (Outcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.items[id]
	switch {
	case !ok:
		return Outcome{}, ErrUnknownItem
	case id == "fake:2":
		return Outcome{}, fmt.Errorf("fake: %w", ErrExpired)
	case it.State != "waiting" || a == Pass:
		return Outcome{}, ErrNotAllowed
	}
	it.State = string(a) + "ed"
	it.Actions = nil
	s.acted = append(s.acted, holder.Key+":"+string(a))
	return Outcome{Message: "好的", Redirect: "https://gateway.example/cb?code=x"}, nil
}

type fakeInbox map[string][]Message

func (f fakeInbox) Messages(ctx context.Context, phone string) []Message { return f[phone] }

func newServer(t *testing.T) (*httptest.Server, *fakeSource) {
	src := newFakeSource()
	p, err := New(Config{Now: func() time.Time { return now }, Citizens: citizens.Default(), Sources: []Source{src},
		Inbox: fakeInbox{"13800001001": {{Phone: "13800001001", Text: "【实名网关】您的验证码为246810", Code: "246810", Sent: now}}}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/phone/", http.StripPrefix("/phone", p.Handler()))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, src
}

func do(t *testing.T, c *http.Client, method, u, ctype, body string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestAPI(t *testing.T) {
	srv, src := newServer(t)
	c := srv.Client()
	status, h, body := do(t, c, "GET", srv.URL+"/phone/api/pending", "", "")
	var pending struct {
		Items []itemJSON `json:"items"`
	}
	if status != 200 || h.Get("Content-Type") != "application/json; charset=utf-8" || json.Unmarshal([]byte(body), &pending) != nil ||
		len(pending.Items) != 2 || pending.Items[0].ID != "fake:1" || pending.Items[0].QRContent != "fake:1" {
		t.Fatalf("pending: HTTP %d %s", status, body)
	}
	tests := []struct {
		name   string
		body   string
		status int
		want   string
	}{
		{"by item, registered citizen", `{"item":"fake:1","action":"scan","citizen":"c001"}`, 200, `"state":"scaned"`},
		{"acted item is gone", `{"item":"fake:1","action":"confirm","citizen":"c001"}`, 404, `"error":"unknown_item"`},
		{"by qr, not allowed now", `{"qr":"fake:1","action":"confirm","citizen":"c001"}`, 409, `"error":"not_allowed"`},
		{"expired", `{"qr":"fake:2","action":"scan","citizen":"430102199503141235"}`, 410, `"error":"expired"`},
		{"unknown qr", `{"qr":"nothing","action":"scan","citizen":"c001"}`, 404, `"error":"unknown_item"`},
		{"both qr and item", `{"qr":"fake:1","item":"fake:1","action":"scan","citizen":"c001"}`, 400, `"error":"bad_request"`},
		{"neither", `{"action":"scan","citizen":"c001"}`, 400, `"error":"bad_request"`},
		{"unknown action", `{"item":"fake:1","action":"dance","citizen":"c001"}`, 400, `"error":"bad_request"`},
		{"no citizen", `{"item":"fake:1","action":"scan"}`, 400, `"error":"bad_request"`},
		{"unknown citizen", `{"item":"fake:1","action":"scan","citizen":"c999"}`, 400, `"error":"bad_citizen"`},
		{"synthetic without name", `{"item":"fake:1","action":"scan","id_number":"11010519491231002X"}`, 400, `"error":"bad_citizen"`},
		{"synthetic bad phone", `{"item":"fake:1","action":"scan","name":"赵六","id_number":"11010519491231002X","phone":"123"}`, 400, `"error":"bad_citizen"`},
		{"unknown field", `{"item":"fake:1","action":"scan","citizen":"c001","x":1}`, 400, `"error":"bad_request"`},
		{"not JSON", `item=fake:1`, 400, `"error":"bad_request"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := do(t, c, "POST", srv.URL+"/phone/api/act", "application/json", tc.body)
			if status != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("HTTP %d %s, want %d %s", status, body, tc.status, tc.want)
			}
		})
	}
	src.items["fake:1"].State, src.items["fake:1"].Actions = "waiting", []Action{Scan}
	status, _, body = do(t, c, "POST", srv.URL+"/phone/api/act", "application/json",
		`{"qr":"fake:1","action":"scan","name":"赵六","id_number":"11010519491231002X","phone":"13912345678"}`)
	if status != 200 || !strings.Contains(body, `"redirect":"https://gateway.example/cb?code=x"`) || src.acted[len(src.acted)-1] != "synthetic:scan" {
		t.Fatalf("synthetic act: HTTP %d %s %v", status, body, src.acted)
	}
	status, _, body = do(t, c, "GET", srv.URL+"/phone/api/sms?phone=13800001001", "", "")
	if status != 200 || !strings.Contains(body, `"code":"246810"`) {
		t.Fatalf("sms: HTTP %d %s", status, body)
	}
	if status, _, body = do(t, c, "GET", srv.URL+"/phone/api/sms?phone=12", "", ""); status != 400 {
		t.Fatalf("bad phone: HTTP %d %s", status, body)
	}
	if status, _, body = do(t, c, "GET", srv.URL+"/phone/api/sms?phone=13900000000", "", ""); status != 200 || !strings.Contains(body, `"messages":[]`) {
		t.Fatalf("empty inbox: HTTP %d %s", status, body)
	}
	status, _, body = do(t, c, "GET", srv.URL+"/phone/api/citizens", "", "")
	if status != 200 || !strings.Contains(body, `"key":"c035","name":"刘䶮"`) || !strings.Contains(body, `"registry_name":"刘岩"`) {
		t.Fatalf("citizens: HTTP %d %.300s", status, body)
	}
	if status, _, _ = do(t, c, "GET", srv.URL+"/phone/api/nosuch", "", ""); status != 404 {
		t.Fatalf("unknown api: HTTP %d", status)
	}
}

func TestPage(t *testing.T) {
	srv, src := newServer(t)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	status, h, body := do(t, c, "GET", srv.URL+"/phone/", "", "")
	if status != 200 || h.Get("Content-Type") != "text/html; charset=utf-8" || !strings.Contains(body, "尚未选择") ||
		!strings.Contains(body, `value="fake:1"`) || strings.Contains(body, "style=") || strings.Contains(body, "<script>") {
		t.Fatalf("page: HTTP %d", status)
	}
	if status, _, body = do(t, c, "POST", srv.URL+"/phone/act", "application/x-www-form-urlencoded", "item=fake:1&action=scan"); status != 400 || !strings.Contains(body, "请先") {
		t.Fatalf("act without holder: HTTP %d", status)
	}
	if status, _, _ = do(t, c, "POST", srv.URL+"/phone/holder", "application/x-www-form-urlencoded", "id_number=11010519491231002X"); status != 400 {
		t.Fatalf("synthetic holder without a name: HTTP %d", status)
	}
	if status, _, body = do(t, c, "POST", srv.URL+"/phone/holder", "application/x-www-form-urlencoded", "citizen=c001"); status != 200 || !strings.Contains(body, "张伟") || !strings.Contains(body, "246810") {
		t.Fatalf("holder c001: HTTP %d", status)
	}
	if status, _, body = do(t, c, "GET", srv.URL+"/phone/?qr="+url.QueryEscape("fake:1"), "", ""); status != 200 || !strings.Contains(body, `class="item scanned"`) {
		t.Fatalf("open qr: HTTP %d", status)
	}
	if status, _, body = do(t, c, "GET", srv.URL+"/phone/?qr=nothing", "", ""); !strings.Contains(body, "没有哪个沙箱厂商认识") {
		t.Fatalf("unknown qr: HTTP %d", status)
	}
	status, _, body = do(t, c, "POST", srv.URL+"/phone/act", "application/x-www-form-urlencoded", "qr=fake:1&action=scan")
	if status != 200 || !strings.Contains(body, "好的") || !strings.Contains(body, "https://gateway.example/cb?code=x") || src.acted[0] != "c001:scan" {
		t.Fatalf("act: HTTP %d %v", status, src.acted)
	}
	if status, _, _ = do(t, c, "POST", srv.URL+"/phone/holder", "application/x-www-form-urlencoded", "name=赵六&id_number=11010519491231002X&phone=13912345678"); status != 200 {
		t.Fatalf("synthetic holder: HTTP %d", status)
	}
	status, _, body = do(t, c, "GET", srv.URL+"/phone/", "", "")
	if !strings.Contains(body, "赵六") || !strings.Contains(body, "虚构人员") {
		t.Fatalf("synthetic holder not shown: HTTP %d", status)
	}
	if status, _, _ = do(t, c, "GET", srv.URL+"/phone/static/phone.js", "", ""); status != 200 {
		t.Fatalf("static: HTTP %d", status)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/phone/act", strings.NewReader("item=fake:2&action=scan"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site POST: HTTP %d", resp.StatusCode)
	}
}

func TestResolveHolder(t *testing.T) {
	reg := citizens.Default()
	tests := []struct {
		name    string
		h       Holder
		wantKey string
		wantErr error
	}{
		{"key", Holder{Citizen: "c002"}, "c002", nil},
		{"id number as citizen", Holder{Citizen: "430102199503141235"}, "c001", nil},
		{"registered id wins over name", Holder{Name: "别人", IDNumber: "430102199503141235"}, "c001", nil},
		{"synthetic", Holder{Name: "赵六", IDNumber: "11010519491231002x"}, "synthetic", nil},
		{"nothing", Holder{}, "", ErrNoHolder},
		{"unknown key", Holder{Citizen: "zzz"}, "", ErrUnknownCitizen},
		{"invalid id", Holder{Name: "赵六", IDNumber: "110105194912310021"}, "", ErrBadHolder},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ResolveHolder(reg, now, tc.h)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || c.Key != tc.wantKey {
				t.Fatalf("ResolveHolder = %+v, %v", c, err)
			}
		})
	}
}

func FuzzActRequest(f *testing.F) {
	f.Add(`{"item":"x","action":"scan","citizen":"c001"}`)
	f.Add(`{"qr":"http://a/b?c=d","action":"read","name":"赵六","id_number":"11010519491231002X"}`)
	f.Add(`{"qr":1}`)
	f.Add(`{}{}`)
	f.Fuzz(func(t *testing.T, body string) {
		req, err := decodeActRequest(strings.NewReader(body))
		if err != nil {
			return
		}
		if (req.QR == "") == (req.Item == "") || !knownAction(req.Action) || req.Holder.IsZero() {
			t.Fatalf("accepted %+v", req)
		}
	})
}

func FuzzHolderCookie(f *testing.F) {
	f.Add("c001", "", "", "")
	f.Add("", "赵六", "11010519491231002X", "13912345678")
	f.Add("&=", "%", "+", ";")
	f.Fuzz(func(t *testing.T, key, name, id, phone string) {
		h := Holder{Citizen: key, Name: name, IDNumber: id, Phone: phone}
		got, ok := decodeHolder(encodeHolder(h))
		if ok != !h.IsZero() || (ok && got != h) {
			t.Fatalf("round trip of %+v = %+v %v", h, got, ok)
		}
		_, _ = decodeHolder(key + name)
	})
}
