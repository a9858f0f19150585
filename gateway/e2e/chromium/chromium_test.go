package chromium

import (
	"bytes"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExecPathFromTheEnvironment(t *testing.T) {
	t.Setenv(EnvPath, filepath.Join(t.TempDir(), "no-such-chromium"))
	if p, err := ExecPath(); err == nil {
		t.Fatalf("ExecPath = %q for a missing binary", p)
	}
}

// formPage is a small form in the gateway's style: a data-page, a field, a
// button that posts back.
func formPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	name, status := "form", "请填写姓名"
	if r.Method == http.MethodPost {
		name, status = "done", "您好，"+r.PostFormValue("name")
		http.SetCookie(w, &http.Cookie{Name: "seen", Value: "1", Path: "/"})
	}
	fmt.Fprintf(w, `<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>测试</title></head>
<body data-page="%s"><main><p class="status">%s</p>
<form method="post"><input id="name" name="name"><button type="submit" data-action="go">提交</button></form></main></body></html>`,
		name, html.EscapeString(status))
}

func TestTabDrivesAPageAndSavesArtifacts(t *testing.T) {
	exe := Require(t)
	t.Setenv(EnvArtifacts, t.TempDir())
	srv := httptest.NewServer(http.HandlerFunc(formPage))
	defer srv.Close()
	b, err := Launch(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	s := b.Session(t, "desktop")
	tab := s.Tab("main")
	tab.Navigate(srv.URL)
	tab.WaitPage("form")
	tab.Fill("#name", "欧阳婧")
	tab.Submit(`button[data-action="go"]`)
	tab.WaitPage("done")
	if got := tab.Text(".status"); got != "您好，欧阳婧" {
		t.Fatalf("the page says %q", got)
	}
	if n := tab.Count("button"); n != 1 {
		t.Fatalf("%d buttons", n)
	}

	// A second session shares no cookies with the first.
	if c := tab.Cookies(srv.URL); len(c) != 1 || c[0].Name != "seen" {
		t.Fatalf("the first session has cookies %v", c)
	}
	other := b.Session(t, "other").Tab("main")
	other.Navigate(srv.URL)
	if c := other.Cookies(srv.URL); len(c) != 0 {
		t.Fatalf("a fresh session has cookies %v", c)
	}

	dir, err := s.SaveArtifacts()
	if err != nil {
		t.Fatal(err)
	}
	png, err := os.ReadFile(filepath.Join(dir, "desktop-main.png"))
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("screenshot: %v (%d bytes)", err, len(png))
	}
	doc, err := os.ReadFile(filepath.Join(dir, "desktop-main.html"))
	if err != nil || !strings.Contains(string(doc), "您好，欧阳婧") || !strings.Contains(string(doc), srv.URL) {
		t.Fatalf("HTML: %v\n%s", err, doc)
	}
}
