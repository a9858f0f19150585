package pluginconfig_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/pluginconfig"
)

// FuzzReader reads arbitrary configurations with every method: nothing
// panics, and the error is nil or InvalidConfig naming each bad field
// once, every one of them unknown or read, and the message says what is
// wrong with each.
func FuzzReader(f *testing.F) {
	k := newTestKeys(f)
	ok, _ := json.Marshal(map[string]any{
		"s": "x", "url": "https://api.acme.example/", "key": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"d": "3s", "n": 7, "priv": k.pkcs8, "pub": k.bare1Pub,
	})
	f.Add(ok)
	f.Add([]byte(`{"s":1,"url":"http://[::1","key":"c2hvcnQ=","d":"soon","n":"7","priv":"MII","pub":null,"typo":true}`))
	f.Add([]byte(`{"url":"http://x?","d":"-1s","n":1e3}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[]`))
	read := []string{"s", "url", "key", "d", "n", "priv", "pub"}
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := pluginconfig.New("acme", raw, read...)
		if err != nil {
			if sdk.KindOf(err) != sdk.InvalidConfig {
				t.Fatalf("New = %v", err)
			}
			return
		}
		r.String("s", "def")
		r.URL("url", "https://api.acme.example")
		r.Key32("key")
		if d := r.Duration("d", time.Second, time.Millisecond, time.Minute); d < time.Millisecond || d > time.Minute {
			t.Fatalf("Duration = %v, out of bounds", d)
		}
		if n := r.Int("n", 1, 0, 10); n < 0 || n > 10 {
			t.Fatalf("Int = %d, out of bounds", n)
		}
		r.RSAPrivateKey("priv", pluginconfig.KeyOptions{BareBase64: true})
		r.RSAPublicKey("pub", pluginconfig.KeyOptions{})
		err = r.Err()
		if err == nil {
			return
		}
		var e *sdk.Error
		if !errors.As(err, &e) || e.Kind != sdk.InvalidConfig || len(e.Fields) == 0 {
			t.Fatalf("Err = %v", err)
		}
		var m map[string]json.RawMessage
		_ = json.Unmarshal(raw, &m)
		seen := map[string]bool{}
		for _, field := range e.Fields {
			if seen[field] {
				t.Fatalf("field %q named twice in %v", field, e.Fields)
			}
			seen[field] = true
			if _, given := m[field]; !given && !slices.Contains(read, field) {
				t.Fatalf("field %q is neither in the configuration nor read", field)
			}
			if !strings.Contains(e.Message, field+" ") {
				t.Fatalf("message %q says nothing of %q", e.Message, field)
			}
		}
		if !strings.HasPrefix(e.Message, "acme: ") {
			t.Fatalf("message %q", e.Message)
		}
	})
}

// FuzzParseRSAKeys feeds arbitrary text to the key parsers: they never
// panic and never return both a key and an error.
func FuzzParseRSAKeys(f *testing.F) {
	k := newTestKeys(f)
	for _, s := range []string{k.pkcs1, k.pkcs8, k.bare8, k.pkix, k.pkcs1Pub, k.bare1Pub, k.ecPKCS8, k.certificate, "", "MII"} {
		f.Add(s, 0, false)
	}
	f.Fuzz(func(t *testing.T, text string, minBits int, bare bool) {
		o := pluginconfig.KeyOptions{MinBits: minBits % 4096, BareBase64: bare}
		if priv, err := pluginconfig.ParseRSAPrivateKey(text, o); (priv == nil) == (err == nil) {
			t.Fatalf("ParseRSAPrivateKey = %v, %v", priv, err)
		} else if priv != nil && priv.N.BitLen() < o.MinBits {
			t.Fatalf("a %d-bit key passed MinBits %d", priv.N.BitLen(), o.MinBits)
		}
		if pub, err := pluginconfig.ParseRSAPublicKey(text, o); (pub == nil) == (err == nil) {
			t.Fatalf("ParseRSAPublicKey = %v, %v", pub, err)
		} else if pub != nil && pub.N.BitLen() < o.MinBits {
			t.Fatalf("a %d-bit key passed MinBits %d", pub.N.BitLen(), o.MinBits)
		}
	})
}
