package sms

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCodesAreCryptoRandomAndComparedInConstantTime reads this package's
// source, because neither property shows in behaviour a test may time:
// every random value comes from crypto/rand (no math/rand anywhere: the
// code generator of Casdoor issue 3607 was math/rand seeded by the
// clock), newCode draws from crypto/rand.Reader, and VerifyCode compares
// the code only through hmac.Equal, never with == or !=.
func TestCodesAreCryptoRandomAndComparedInConstantTime(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	funcs := map[string]*ast.FuncDecl{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, "math/rand") {
				t.Errorf("%s imports %s: codes and tickets must come from crypto/rand", name, path)
			}
			if path == "crypto/rand" && imp.Name != nil {
				t.Errorf("%s renames crypto/rand to %s", name, imp.Name.Name)
			}
		}
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok {
				funcs[fd.Name.Name] = fd
			}
		}
	}

	gen, verify := funcs["newCode"], funcs["VerifyCode"]
	if gen == nil || verify == nil {
		t.Fatal("newCode or VerifyCode not found: update this test with the code")
	}
	if !calls(gen, "rand", "Int") || !mentions(gen, "rand", "Reader") {
		t.Error("newCode does not draw with crypto/rand.Int(rand.Reader, …)")
	}
	if !calls(verify, "hmac", "Equal") {
		t.Error("VerifyCode does not compare the code with hmac.Equal")
	}
	ast.Inspect(verify.Body, func(n ast.Node) bool {
		b, ok := n.(*ast.BinaryExpr)
		if !ok || (b.Op != token.EQL && b.Op != token.NEQ) {
			return true
		}
		for _, side := range []ast.Expr{b.X, b.Y} {
			if s := exprText(side); strings.Contains(strings.ToLower(s), "code") {
				t.Errorf("VerifyCode compares %s with %s at %s: use hmac.Equal", s, b.Op, fset.Position(b.Pos()))
			}
		}
		return true
	})
}

// calls reports whether fn calls pkg.name.
func calls(fn *ast.FuncDecl, pkg, name string) bool {
	found := false
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		if c, ok := n.(*ast.CallExpr); ok && isSel(c.Fun, pkg, name) {
			found = true
		}
		return !found
	})
	return found
}

// mentions reports whether fn uses pkg.name anywhere.
func mentions(fn *ast.FuncDecl, pkg, name string) bool {
	found := false
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		if e, ok := n.(ast.Expr); ok && isSel(e, pkg, name) {
			found = true
		}
		return !found
	})
	return found
}

func isSel(e ast.Expr, pkg, name string) bool {
	s, ok := e.(*ast.SelectorExpr)
	if !ok || s.Sel.Name != name {
		return false
	}
	id, ok := s.X.(*ast.Ident)
	return ok && id.Name == pkg
}

// exprText is a rough rendering of identifiers and selectors in e.
func exprText(e ast.Expr) string {
	var b strings.Builder
	ast.Inspect(e, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok {
			b.WriteString(id.Name)
			b.WriteByte('.')
		}
		return true
	})
	return strings.TrimSuffix(b.String(), ".")
}
