package deploy_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/streamlab/streamlab"

// goPackageDirs returns every directory (relative to the repository root,
// slash-separated) holding Go files, and the module imports of each.
func goPackageDirs(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := filepath.WalkDir(repo, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && path != repo && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules" || name == "target") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(name, ".go") {
			return nil
		}
		rel, err := filepath.Rel(repo, filepath.Dir(path))
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		imports := out[rel]
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			if p == module || strings.HasPrefix(p, module+"/") {
				imports = append(imports, strings.TrimPrefix(strings.TrimPrefix(p, module), "/"))
			}
		}
		out[rel] = imports
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestInternalImportsNoRole: internal/ is what the roles share, so nothing
// in it may import a role (a top-level package): the import arrows all
// point down, from the command tree to the roles to the shared core.
func TestInternalImportsNoRole(t *testing.T) {
	for dir, imports := range goPackageDirs(t) {
		if dir != "internal" && !strings.HasPrefix(dir, "internal/") {
			continue
		}
		for _, im := range imports {
			if im != "internal" && !strings.HasPrefix(im, "internal/") {
				t.Errorf("%s imports %s, a role: move the shared part under internal/", dir, im)
			}
		}
	}
}

// TestArchitecturePackageMap: docs/architecture.md's package map lists
// exactly the Go packages of the tree (bench/ aside: it is not part of the
// product).
func TestArchitecturePackageMap(t *testing.T) {
	doc := readRepoFile(t, "docs/architecture.md")
	start := strings.Index(doc, "## Packages")
	if start < 0 {
		t.Fatal("docs/architecture.md has no ## Packages section")
	}
	block := doc[start:]
	open := strings.Index(block, "```\n")
	end := strings.Index(block[open+4:], "```")
	if open < 0 || end < 0 {
		t.Fatal("the ## Packages section has no code block")
	}
	// Entries are "name/  what it is", nested entries indented two
	// spaces per level below their parent.
	listed := map[string]bool{}
	var stack []string
	entry := regexp.MustCompile(`^((?:  )*)(\S+?)/?\s{2,}\S`)
	for _, line := range strings.Split(block[open+4:open+4+end], "\n") {
		m := entry.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		depth := len(m[1]) / 2
		if depth > len(stack) {
			t.Fatalf("docs/architecture.md package map: %q is indented deeper than its parent", line)
		}
		stack = append(stack[:depth], strings.TrimSuffix(m[2], "/"))
		listed[strings.Join(stack, "/")] = true
	}
	var dirs []string
	for dir := range goPackageDirs(t) {
		if dir == "." || dir == "bench" || strings.HasPrefix(dir, "bench/") {
			continue
		}
		dirs = append(dirs, dir)
		if !listed[dir] {
			t.Errorf("package %s is missing from docs/architecture.md's package map", dir)
		}
	}
	for name := range listed {
		if name == "main.go" || name == "scripts" {
			continue
		}
		if !slices.Contains(dirs, name) {
			t.Errorf("docs/architecture.md lists %s, which holds no Go package", name)
		}
	}
}
