package fault

import "testing"

func TestTakeCountsDown(t *testing.T) {
	var s Set
	s.Add(Rule{Vendor: "wechat", Path: "/sns/", Code: "45011", Count: 2})
	s.Add(Rule{Vendor: "alipay", Code: HTTP500})
	for i := 0; i < 2; i++ {
		r, ok := s.Take("wechat", "/sns/oauth2/access_token")
		if !ok || r.Code != "45011" {
			t.Fatalf("take %d = %+v, %v", i, r, ok)
		}
	}
	if _, ok := s.Take("wechat", "/sns/oauth2/access_token"); ok {
		t.Fatal("rule outlived its count")
	}
	if _, ok := s.Take("wechat", "/cgi-bin/token"); ok {
		t.Fatal("rule matched another path")
	}
	for i := 0; i < 3; i++ {
		if _, ok := s.Take("alipay", "/gateway.do"); !ok {
			t.Fatal("count 0 must mean until cleared")
		}
	}
	s.Clear("alipay")
	if len(s.List()) != 0 {
		t.Fatalf("rules left after clear: %+v", s.List())
	}
}
