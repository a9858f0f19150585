package sandbox

import (
	"strings"
	"testing"
)

func FuzzDecodeFault(f *testing.F) {
	for _, s := range []string{`{"vendor":"wechat","code":45011}`, `{"vendor":"sms","latency":"250ms"}`, `{"vendor":"ctid","latency":1.5}`,
		`{"vendor":"alipay","latency":-1}`, `{"vendor":"govidp","latency":"1e400"}`, `{"latency":1e30,"vendor":"sms"}`, `[]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		rule, err := decodeFault(strings.NewReader(body))
		if err != nil {
			return
		}
		if rule.Latency < 0 || rule.Latency > maxLatency || rule.Count < 0 || (rule.Code == "" && rule.Latency == 0) {
			t.Fatalf("accepted %+v from %q", rule, body)
		}
		known := false
		for _, v := range knownVendors() {
			known = known || v == rule.Vendor
		}
		if !known {
			t.Fatalf("accepted vendor %q", rule.Vendor)
		}
	})
}
