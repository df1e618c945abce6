package policy

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoSkipWithoutRuntime: CI runs `make test` after scripts/setup.sh,
// which installs ONNX Runtime and the fixtures, so a test package that
// cannot load the runtime or find a fixture has a broken set-up and must
// fail, never skip — a skipped parity test reads as a passed one. Every
// test file of the module is parsed; an `if err != nil` right after (or
// around) a call to ort.Init, or after os.Stat of a path under .native/
// (where setup.sh puts the fixtures), may not call Skip, Skipf or SkipNow.
// Optional extras (--cuda, --node-peer, --fashion-mnist) may still skip:
// they are not part of the set-up make test assumes.
func TestNoSkipWithoutRuntime(t *testing.T) {
	root := repoRoot(t)
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		checked++
		consts := stringConsts(f)
		ast.Inspect(f, func(n ast.Node) bool {
			block, ok := n.(*ast.BlockStmt)
			if !ok {
				return true
			}
			for i, s := range block.List {
				ifs, ok := s.(*ast.IfStmt)
				if !ok {
					continue
				}
				var setUp ast.Stmt = ifs.Init
				if setUp == nil && i > 0 {
					// rt, err := ort.Init(…) then if err != nil {…}
					if as, ok := block.List[i-1].(*ast.AssignStmt); ok {
						setUp = as
					}
				}
				if what := installedBySetup(setUp, consts); what != "" && callsSkip(ifs.Body) {
					t.Errorf("%s: skips when %s is missing; scripts/setup.sh installs it, so fail instead",
						fset.Position(ifs.Pos()), what)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("parsed only %d test files under %s", checked, root)
	}
}

// installedBySetup names what stmt loads that scripts/setup.sh installs:
// ONNX Runtime (a call to ort.Init) or a fixture (os.Stat of a path under
// .native/, written literally or through a constant); "" otherwise.
func installedBySetup(stmt ast.Stmt, consts map[string]string) string {
	if stmt == nil {
		return ""
	}
	what := ""
	ast.Inspect(stmt, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		switch pkgFunc(call.Fun) {
		case "ort.Init":
			what = "ONNX Runtime"
		case "os.Stat":
			if len(call.Args) > 0 && strings.Contains(argText(call.Args[0], consts), ".native/") {
				what = "a fixture"
			}
		}
		return what == ""
	})
	return what
}

// callsSkip reports whether body calls a Skip method (t.Skip, b.Skipf, …).
func callsSkip(body *ast.BlockStmt) bool {
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		if call, ok := n.(*ast.CallExpr); ok {
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok && strings.HasPrefix(sel.Sel.Name, "Skip") {
				found = true
			}
		}
		return !found
	})
	return found
}

func pkgFunc(e ast.Expr) string {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok {
		return ""
	}
	x, ok := sel.X.(*ast.Ident)
	if !ok {
		return ""
	}
	return x.Name + "." + sel.Sel.Name
}

// argText is the string literals and named string constants in e, joined.
func argText(e ast.Expr, consts map[string]string) string {
	var b strings.Builder
	ast.Inspect(e, func(n ast.Node) bool {
		switch v := n.(type) {
		case *ast.BasicLit:
			b.WriteString(v.Value)
		case *ast.Ident:
			b.WriteString(consts[v.Name])
		}
		return true
	})
	return b.String()
}

// stringConsts maps the file's top-level constants and variables that are
// string expressions to their literal text.
func stringConsts(f *ast.File) map[string]string {
	out := map[string]string{}
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || (gd.Tok != token.CONST && gd.Tok != token.VAR) {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if i < len(vs.Values) {
					out[name.Name] = argText(vs.Values[i], out)
				}
			}
		}
	}
	return out
}
