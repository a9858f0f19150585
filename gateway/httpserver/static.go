package httpserver

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"
)

// StaticPrefix is the URL path under which Assets are served.
const StaticPrefix = "/static/"

// Registrar is where routes are registered: *Router or *http.ServeMux.
type Registrar interface {
	Handle(pattern string, h http.Handler)
}

//go:embed static
var staticFS embed.FS

// baseAssets holds this package's own files (shiming.css). It is built
// once from embedded data and never changed.
var baseAssets = mustBaseAssets()

func mustBaseAssets() *Assets {
	a, err := NewAssets()
	if err != nil {
		panic(err) // embedded at build time; covered by tests
	}
	return a
}

// contentTypes fixes the types of the usual static files, whatever the
// host's mime.types says.
var contentTypes = map[string]string{
	".css":   "text/css; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".ico":   "image/x-icon",
	".woff2": "font/woff2",
}

// asset is one file held in memory.
type asset struct {
	data        []byte
	contentType string
	version     string // first 12 hex digits of its SHA-256
}

// Assets serves embedded static files (the base stylesheet
// /static/shiming.css plus files other packages embed) from memory.
// Versioned URLs from URL are cached by browsers for a year; a request
// without the current version is cached for an hour and revalidated by
// ETag, so a new release is never hidden behind an old stylesheet.
type Assets struct {
	files map[string]asset
}

// NewAssets returns the base assets plus the files of extra, each file
// system's root mapping to StaticPrefix. Two files with one name are an
// error.
func NewAssets(extra ...fs.FS) (*Assets, error) {
	base, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("httpserver: static: %w", err)
	}
	a := &Assets{files: map[string]asset{}}
	for _, fsys := range append([]fs.FS{base}, extra...) {
		err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if _, dup := a.files[name]; dup {
				return fmt.Errorf("%s is provided twice", name)
			}
			data, err := fs.ReadFile(fsys, name)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			ct := contentTypes[path.Ext(name)]
			if ct == "" {
				ct = mime.TypeByExtension(path.Ext(name))
			}
			if ct == "" {
				ct = http.DetectContentType(data)
			}
			a.files[name] = asset{data: data, contentType: ct, version: hex.EncodeToString(sum[:])[:12]}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("httpserver: static: %w", err)
		}
	}
	return a, nil
}

// URL returns the versioned URL of a file ("/static/shiming.css?v=…"),
// for templates. An unknown name gets its plain URL.
func (a *Assets) URL(name string) string {
	f, ok := a.files[name]
	if !ok {
		return StaticPrefix + name
	}
	return StaticPrefix + name + "?v=" + f.version
}

// Names returns the names of the files served.
func (a *Assets) Names() []string {
	names := make([]string, 0, len(a.files))
	for n := range a.files {
		names = append(names, n)
	}
	return names
}

// Register registers one exact "GET /static/<name>" pattern per file.
// Exact patterns, unlike "GET /static/", do not conflict with wildcard
// routes such as "GET /{portal}/login".
func (a *Assets) Register(mux Registrar) {
	names := a.Names()
	slices.Sort(names)
	for _, n := range names {
		mux.Handle("GET "+StaticPrefix+n, a)
	}
}

// ServeHTTP serves StaticPrefix + name.
func (a *Assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, StaticPrefix)
	f, found := a.files[name]
	if !ok || !found {
		Error(w, r, http.StatusNotFound, "", nil)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("ETag", `"`+f.version+`"`)
	if r.URL.Query().Get("v") == f.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=3600")
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.data))
}

var _ http.Handler = (*Assets)(nil)
