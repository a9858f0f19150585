package alipay

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
	"github.com/shiming-id/shiming/contrib/sandbox/simenv"
)

// simenvForTest is an environment whose data folder already holds the
// test key, so that New does not generate one.
func simenvForTest(t *testing.T) simenv.Env {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, dataSubdir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, dataSubdir, keyFile), []byte(readTestdata(t, "sandbox_private.pem")), 0o600); err != nil {
		t.Fatal(err)
	}
	return simenv.Env{PublicURL: "http://127.0.0.1:1", DataDir: dir, Citizens: citizens.Default()}
}

func TestKeysAreCreatedOncePerDataFolder(t *testing.T) {
	env := simenv.Env{PublicURL: "http://127.0.0.1:1", DataDir: t.TempDir(), Citizens: citizens.Default()}
	first, err := New(env, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{keyFile, secretFile} {
		st, err := os.Stat(filepath.Join(env.DataDir, dataSubdir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Fatalf("%s mode %v, want 0600", name, st.Mode().Perm())
		}
	}
	second, err := New(env, nil)
	if err != nil {
		t.Fatal(err)
	}
	if first.AlipayPublicKeyPEM() != second.AlipayPublicKeyPEM() {
		t.Fatal("the key changed between two simulators of one data folder")
	}
	c, _ := citizens.Default().ByKey("c001")
	if first.userID(c) != second.userID(c) || first.openID(appA, c) != second.openID(appA, c) {
		t.Fatal("user ids changed between two simulators of one data folder")
	}
	other, err := New(simenv.Env{PublicURL: "http://127.0.0.1:1", DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if other.AlipayPublicKeyPEM() == first.AlipayPublicKeyPEM() || other.userID(c) == first.userID(c) {
		t.Fatal("two data folders share a key or a secret")
	}
}

func TestGenerateApp(t *testing.T) {
	a, err := GenerateApp("演示应用")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^2021\d{12}$`).MatchString(a.AppID) {
		t.Fatalf("app id %q", a.AppID)
	}
	priv, err := parsePrivateKey(a.AppPrivateKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := parsePublicKey(a.AppPublicKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if priv.N.BitLen() != 2048 || !pub.Equal(&priv.PublicKey) {
		t.Fatal("keys do not pair, or are not RSA-2048")
	}
	b, err := GenerateApp("演示应用")
	if err != nil {
		t.Fatal(err)
	}
	if b.AppID == a.AppID || b.AppPublicKeyPEM == a.AppPublicKeyPEM {
		t.Fatal("two generated apps are the same")
	}
	if _, err := New(simenvForTest(t), []App{a}); err != nil {
		t.Fatalf("New refuses a generated app: %v", err)
	}
}

func TestParseKeys(t *testing.T) {
	priv := testKey(t, "app_a")
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"PKIX PEM", readTestdata(t, "app_a_public.pem"), true},
		{"empty", "", false},
		{"broken PEM", "-----BEGIN PUBLIC KEY-----\nAAAA\n", false},
		{"not base64", "%%%", false},
		{"private key given as public", readTestdata(t, "app_a_private.pem"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := parsePublicKey(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && !k.Equal(&priv.PublicKey) {
				t.Fatal("wrong key")
			}
		})
	}
}
