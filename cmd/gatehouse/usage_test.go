package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestUsageListsEveryCommand checks that `gatehouse help` and the package
// documentation list every command that run dispatches: the cases of its
// switch and the keys of its table of commands.
func TestUsageListsEveryCommand(t *testing.T) {
	t.Parallel()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "main.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var commands []string
	ast.Inspect(f, func(n ast.Node) bool {
		fn, ok := n.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "run" {
			return true
		}
		// The commands are the cases of its switch and the keys of its
		// table of commands.
		add := func(e ast.Expr) {
			if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, _ := strconv.Unquote(lit.Value); !strings.HasPrefix(s, "-") {
					commands = append(commands, s)
				}
			}
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CaseClause:
				for _, e := range n.List {
					add(e)
				}
			case *ast.KeyValueExpr:
				add(n.Key)
			}
			return true
		})
		return false
	})
	if len(commands) < 10 {
		t.Fatalf("found only the commands %v in run", commands)
	}
	doc := f.Doc.Text()
	for _, c := range commands {
		re := regexp.MustCompile(`(?m)^\s*gatehouse ` + regexp.QuoteMeta(c) + `\b`)
		if !re.MatchString(usage) {
			t.Errorf("gatehouse help does not list %q", c)
		}
		if c != "help" && !re.MatchString(doc) {
			t.Errorf("the package documentation does not list %q", c)
		}
	}
}
