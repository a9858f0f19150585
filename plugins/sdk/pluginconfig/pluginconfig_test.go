package pluginconfig_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/pluginconfig"
)

// read makes a reader of raw knowing the fields a, b, c, url and key.
func read(t *testing.T, raw string) *pluginconfig.Reader {
	t.Helper()
	r, err := pluginconfig.New("acme", json.RawMessage(raw), "a", "b", "c", "url", "key")
	if err != nil {
		t.Fatalf("New(%s) = %v", raw, err)
	}
	return r
}

// wantErr checks the error of r: nil without fields, else InvalidConfig
// naming fields in order with the message msg.
func wantErr(t *testing.T, r *pluginconfig.Reader, msg string, fields ...string) {
	t.Helper()
	err := r.Err()
	if len(fields) == 0 {
		if err != nil {
			t.Fatalf("Err = %v, want nil", err)
		}
		return
	}
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != sdk.InvalidConfig || !slices.Equal(e.Fields, fields) || e.Message != msg {
		t.Fatalf("Err = %#v, want InvalidConfig %q naming %v", err, msg, fields)
	}
	if !slices.Equal(r.Fields(), fields) {
		t.Errorf("Fields = %v, want %v", r.Fields(), fields)
	}
}

func TestNew(t *testing.T) {
	cases := []struct {
		name, raw string
		fields    []string
	}{
		{"an object", `{"a":"x"}`, nil},
		{"empty object", `{}`, nil},
		{"white space around", " \n{}\t", nil},
		{"null", `null`, []string{"config"}},
		{"an array", `["a"]`, []string{"config"}},
		{"a string", `"a"`, []string{"config"}},
		{"not JSON", `{a}`, []string{"config"}},
		{"empty", ``, []string{"config"}},
		{"two objects", `{}{}`, []string{"config"}},
		{"trailing text", `{} x`, []string{"config"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := pluginconfig.New("acme", json.RawMessage(tc.raw), "a")
			if tc.fields == nil {
				if err != nil || r == nil {
					t.Fatalf("New = %v, %v", r, err)
				}
				return
			}
			var e *sdk.Error
			if r != nil || !errors.As(err, &e) || e.Kind != sdk.InvalidConfig || !slices.Equal(e.Fields, tc.fields) ||
				e.Message != "acme: configuration must be a JSON object" {
				t.Fatalf("New = %v, %#v", r, err)
			}
		})
	}
}

func TestUnknownFieldsComeFirstSorted(t *testing.T) {
	r := read(t, `{"zz":1,"a":2,"aa":null,"b":"x"}`)
	r.String("a", "")
	r.Problem("b", "is wrong")
	wantErr(t, r, "acme: aa is not a known field; zz is not a known field; a must be a string; b is wrong", "aa", "zz", "a", "b")
}

func TestProblemKeepsTheFirstPerField(t *testing.T) {
	r := read(t, `{}`)
	r.Problem("b", "is first")
	r.Problem("a", "is second")
	r.Problem("b", "is again")
	wantErr(t, r, "acme: b is first; a is second", "b", "a")
}

func TestString(t *testing.T) {
	cases := []struct {
		name, raw, def, want string
		bad                  bool
	}{
		{"a string", `{"a":"x"}`, "", "x", false},
		{"trimmed", `{"a":"  x \n"}`, "", "x", false},
		{"absent", `{}`, "d", "d", false},
		{"null", `{"a":null}`, "d", "d", false},
		{"empty", `{"a":""}`, "d", "d", false},
		{"blank", `{"a":"   "}`, "d", "d", false},
		{"a number", `{"a":12}`, "d", "d", true},
		{"a bool", `{"a":true}`, "", "", true},
		{"an object", `{"a":{}}`, "", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := read(t, tc.raw)
			if got := r.String("a", tc.def); got != tc.want {
				t.Errorf("String = %q, want %q", got, tc.want)
			}
			if tc.bad {
				wantErr(t, r, "acme: a must be a string", "a")
			} else {
				wantErr(t, r, "")
			}
		})
	}
}

func TestRequired(t *testing.T) {
	r := read(t, `{"a":"x","b":"  ","c":7}`)
	if got := r.Required("a"); got != "x" {
		t.Errorf("Required(a) = %q", got)
	}
	r.Required("b")
	r.Required("c")
	r.Required("url")
	wantErr(t, r, "acme: b is required; c must be a string; url is required", "b", "c", "url")
}

func TestURL(t *testing.T) {
	const bad = "must be an absolute http(s) URL without query or fragment"
	cases := []struct {
		name, value, def string
		want, base       string
		problem          string
		insecure         bool
	}{
		{"https", "https://api.acme.example/v1/", "", "https://api.acme.example/v1/", "https://api.acme.example/v1", "", false},
		{"http on loopback", "http://127.0.0.1:8081/api.acme.example", "", "http://127.0.0.1:8081/api.acme.example", "http://127.0.0.1:8081/api.acme.example", "", false},
		{"http on localhost", "http://localhost/", "", "http://localhost/", "http://localhost", "", false},
		{"http on IPv6 loopback", "http://[::1]:80", "", "http://[::1]:80", "http://[::1]:80", "", false},
		{"http elsewhere", "http://api.acme.example", "", "http://api.acme.example", "http://api.acme.example", "", true},
		{"the default", "", "https://api.acme.example/", "https://api.acme.example/", "https://api.acme.example", "", false},
		{"required", "", "", "", "", "is required", false},
		{"ftp", "ftp://x", "", "", "", bad, false},
		{"relative", "/v1", "", "", "", bad, false},
		{"no host", "https:///v1", "", "", "", bad, false},
		{"a query", "https://x/?a=1", "", "", "", bad, false},
		{"an empty query", "https://x/?", "", "", "", bad, false},
		{"a fragment", "https://x/#f", "", "", "", bad, false},
		{"user information", "https://u:p@x/", "", "", "", bad, false},
		{"unparsable", "http://[::1", "", "", "", bad, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw, _ := json.Marshal(map[string]string{"url": tc.value})
			r := read(t, string(raw))
			if got := r.URL("url", tc.def); got != tc.want {
				t.Errorf("URL = %q, want %q", got, tc.want)
			}
			if tc.problem != "" {
				wantErr(t, r, "acme: url "+tc.problem, "url")
			} else {
				wantErr(t, r, "")
			}
			if got := len(r.Insecure()) == 1 && r.Insecure()[0] == "url"; got != tc.insecure {
				t.Errorf("Insecure = %v", r.Insecure())
			}
			r = read(t, string(raw))
			if got := r.BaseURL("url", tc.def); got != tc.base {
				t.Errorf("BaseURL = %q, want %q", got, tc.base)
			}
		})
	}
}

func TestKey32(t *testing.T) {
	key := bytes.Repeat([]byte{0xfb}, 32) // +/ in the standard alphabet, -_ in the URL one
	cases := []struct {
		name, value string
		problem     string
	}{
		{"standard", "+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/s=", ""},
		{"standard unpadded", "+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/s", ""},
		{"URL alphabet", "-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_s=", ""},
		{"URL alphabet unpadded", "-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_s", ""},
		{"absent", "", "is required"},
		{"short", "c2hvcnQ=", "must decode to 32 bytes"},
		{"long", "+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7", "must decode to 32 bytes"},
		{"not base64", "***", "must be base64"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw, _ := json.Marshal(map[string]string{"key": tc.value})
			r := read(t, string(raw))
			got := r.Key32("key")
			if tc.problem != "" {
				wantErr(t, r, "acme: key "+tc.problem, "key")
				if got != nil {
					t.Errorf("Key32 = %x with a problem", got)
				}
				return
			}
			wantErr(t, r, "")
			if !bytes.Equal(got, key) {
				t.Errorf("Key32 = %x", got)
			}
		})
	}
}

func TestDuration(t *testing.T) {
	const def, lo, hi = 10 * time.Second, time.Millisecond, 2 * time.Minute
	const bad = "must be a Go duration between 1ms and 2m"
	cases := []struct {
		name, raw string
		want      time.Duration
		problem   string
	}{
		{"given", `{"a":"3s"}`, 3 * time.Second, ""},
		{"compound", `{"a":"1m30s"}`, 90 * time.Second, ""},
		{"the lower bound", `{"a":"1ms"}`, time.Millisecond, ""},
		{"the upper bound", `{"a":"2m"}`, 2 * time.Minute, ""},
		{"absent", `{}`, def, ""},
		{"null", `{"a":null}`, def, ""},
		{"below", `{"a":"999us"}`, def, bad},
		{"zero", `{"a":"0s"}`, def, bad},
		{"negative", `{"a":"-1s"}`, def, bad},
		{"above", `{"a":"2m1s"}`, def, bad},
		{"no unit", `{"a":"10"}`, def, bad},
		{"a number", `{"a":10}`, def, "must be a string"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := read(t, tc.raw)
			if got := r.Duration("a", def, lo, hi); got != tc.want {
				t.Errorf("Duration = %v, want %v", got, tc.want)
			}
			if tc.problem != "" {
				wantErr(t, r, "acme: a "+tc.problem, "a")
			} else {
				wantErr(t, r, "")
			}
		})
	}
	t.Run("bounds written short", func(t *testing.T) {
		r := read(t, `{"a":"1s","b":"1h"}`)
		r.Duration("a", time.Hour, time.Hour, 90*time.Minute)
		r.Duration("b", time.Minute, 100*time.Millisecond, 30*time.Minute)
		wantErr(t, r, "acme: a must be a Go duration between 1h and 1h30m; b must be a Go duration between 100ms and 30m", "a", "b")
	})
}

func TestInt(t *testing.T) {
	const bad = "must be an integer between 0 and 60"
	cases := []struct {
		name, raw string
		want      int
		problem   string
	}{
		{"given", `{"a":30}`, 30, ""},
		{"zero", `{"a":0}`, 0, ""},
		{"absent", `{}`, 10, ""},
		{"null", `{"a":null}`, 10, ""},
		{"above", `{"a":61}`, 10, bad},
		{"negative", `{"a":-1}`, 10, bad},
		{"a fraction", `{"a":1.5}`, 10, bad},
		{"a string", `{"a":"30"}`, 10, bad},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := read(t, tc.raw)
			if got := r.Int("a", 10, 0, 60); got != tc.want {
				t.Errorf("Int = %d, want %d", got, tc.want)
			}
			if tc.problem != "" {
				wantErr(t, r, "acme: a "+tc.problem, "a")
			} else {
				wantErr(t, r, "")
			}
		})
	}
}

func TestEveryBadFieldAtOnce(t *testing.T) {
	r := read(t, `{"a":"","b":12,"url":"ftp://x","key":"c2hvcnQ=","colour":"blue"}`)
	r.Required("a")
	r.String("b", "")
	r.URL("url", "https://api.acme.example")
	r.Key32("key")
	r.Duration("c", time.Second, time.Second, time.Minute)
	wantErr(t, r, "acme: colour is not a known field; a is required; b must be a string; "+
		"url must be an absolute http(s) URL without query or fragment; key must decode to 32 bytes",
		"colour", "a", "b", "url", "key")
}
