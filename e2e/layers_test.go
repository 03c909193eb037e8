package e2e

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/fltk-go/fltk"

// layerRules says, for each package tree of the module, which other trees of
// the module its non-test code may import (its own tree is always allowed).
// The layers (README "Architecture"): configs and collective depend on nothing
// of ours; runtime carries the NATS transport; trainer is pure training over
// the collectives; report reads results folders and depends on nothing of
// ours; only the commands' wiring sees everything.
var layerRules = []struct {
	tree  string
	allow []string
}{
	{"configs", nil},
	{"collective", nil},
	{"runtime", []string{"collective"}},
	{"launcher", []string{"configs"}},
	{"trainer", []string{"collective"}},
	{"report", nil},
	{"internal", nil}, // internal/testbin: the test binaries' builder, standard library only
	{"cmd", []string{"*"}},
	{"e2e", []string{"*"}},
}

// externalRules confines each heavy dependency to the tree that wraps it.
var externalRules = []struct {
	prefix string
	trees  []string
}{
	{"gorgonia.org/", []string{"trainer/model"}},
	{"github.com/nats-io/", []string{"runtime"}},
	{"github.com/BurntSushi/toml", []string{"configs", "cmd", "report"}},
	{"gonum.org/v1/plot", []string{"report"}},
	{"gopkg.in/yaml.v3", []string{"cmd"}},
}

// under reports whether the module-relative package path p lies in tree.
func under(p, tree string) bool { return p == tree || strings.HasPrefix(p, tree+"/") }

// TestLayers checks the import graph of every package's non-test code against
// the layering: the CPU kernels stay inside trainer/ (Go's internal rule also
// enforces that), gorgonia inside trainer/model, NATS inside runtime, and no
// lower layer imports a higher one.
func TestLayers(t *testing.T) {
	// Output, not CombinedOutput: go list warns on stderr (e.g. about a data symlink).
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := 0
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module+"/")
		pkgs++
		ruleFound := false
		for _, r := range layerRules {
			if !under(pkg, r.tree) {
				continue
			}
			ruleFound = true
			for _, imp := range fields[1:] {
				rel, ours := strings.CutPrefix(imp, module+"/")
				if !ours || under(rel, r.tree) || slices.Contains(r.allow, "*") {
					continue
				}
				if !slices.ContainsFunc(r.allow, func(a string) bool { return under(rel, a) }) {
					t.Errorf("%s imports %s: %s may import only %v (and itself)", pkg, rel, r.tree, r.allow)
				}
			}
		}
		if !ruleFound {
			t.Errorf("package %s is in no layer of layerRules; add its tree", pkg)
		}
		for _, imp := range fields[1:] {
			for _, r := range externalRules {
				if strings.HasPrefix(imp, r.prefix) && !slices.ContainsFunc(r.trees, func(tr string) bool { return under(pkg, tr) }) {
					t.Errorf("%s imports %s: only %v may", pkg, imp, r.trees)
				}
			}
		}
	}
	if pkgs < 10 {
		t.Fatalf("go list found %d packages; want the whole module", pkgs)
	}
}
