package shiming_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocumentedTestsExist reads every `go test` command in the project's
// documents (SECURITY.md maps each claim to one, BENCHMARKS.md gives the
// command of each figure) and checks that its package exists and that
// each test, fuzz target or benchmark it names by -run or -bench is
// declared there, so that a renamed or removed test cannot leave a claim
// pointing at nothing.
func TestDocumentedTestsExist(t *testing.T) {
	cmd := regexp.MustCompile("go test [^`\n]*")
	for _, doc := range []string{"SECURITY.md", "BENCHMARKS.md", "README.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, c := range cmd.FindAllString(string(b), -1) {
			pkg, names := parseGoTest(c)
			if pkg == "" || strings.Contains(pkg, "...") {
				continue
			}
			found++
			funcs, err := declaredFuncs(pkg)
			if err != nil {
				t.Errorf("%s: %q: package %s: %v", doc, c, pkg, err)
				continue
			}
			for _, n := range names {
				if !funcs[n.name] && !n.matchesAny(funcs) {
					t.Errorf("%s: %q names %s, which %s does not declare", doc, c, n.name, pkg)
				}
			}
		}
		if doc == "SECURITY.md" && found < 50 {
			t.Errorf("SECURITY.md: only %d go test commands found; is the parser still right?", found)
		}
	}
}

// testName is one name a -run or -bench pattern asks for: an exact
// function name, or (for -bench patterns without anchors) a part of one.
type testName struct {
	name   string
	prefix string // Test, Fuzz or Benchmark when name is only a part
}

func (n testName) matchesAny(funcs map[string]bool) bool {
	if n.prefix == "" {
		return false
	}
	for f := range funcs {
		if strings.HasPrefix(f, n.prefix) && strings.Contains(f, n.name) {
			return true
		}
	}
	return false
}

// parseGoTest returns the package folder of a go test command and the
// names its -run and -bench patterns select ('^$' selects none).
func parseGoTest(c string) (pkg string, names []testName) {
	fields := strings.Fields(strings.ReplaceAll(c, "'", " "))
	for i, f := range fields {
		switch {
		case strings.HasPrefix(f, "./"):
			pkg = f
		case (f == "-run" || f == "-bench") && i+1 < len(fields):
			pattern := strings.TrimSuffix(strings.TrimPrefix(fields[i+1], "^"), "$")
			pattern = strings.TrimSuffix(strings.TrimPrefix(pattern, "("), ")")
			for _, alt := range strings.Split(pattern, "|") {
				alt, _, _ = strings.Cut(alt, "/") // a subtest
				if alt == "" || alt == "." {
					continue
				}
				n := testName{name: alt}
				if f == "-bench" && !strings.HasPrefix(alt, "Benchmark") {
					n.prefix = "Benchmark"
				}
				names = append(names, n)
			}
		}
	}
	return pkg, names
}

var funcDecl = regexp.MustCompile(`(?m)^func ((?:Test|Fuzz|Benchmark)\w*)\(`)

// declaredFuncs lists the test, fuzz and benchmark functions declared in
// the _test.go files of a package folder.
func declaredFuncs(pkg string) (map[string]bool, error) {
	files, err := filepath.Glob(filepath.Join(pkg, "*_test.go"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		if _, err := os.Stat(pkg); err != nil {
			return nil, err
		}
	}
	out := make(map[string]bool)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for _, m := range funcDecl.FindAllStringSubmatch(string(b), -1) {
			out[m[1]] = true
		}
	}
	return out, nil
}
