package simd

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestNoLegacySSEInAVXFunctions reads fltk's assembly (this package and
// trainer/internal/gemm) and fails when a function that uses 256-bit Y
// registers also has a legacy-SSE instruction on an X register (MOVD AX,
// X0 rather than VMOVD): after a 256-bit instruction leaves the upper
// halves dirty, each such instruction pays an AVX–SSE transition, which
// made the max pool's calls, and so whole training steps, markedly slower
// (BenchmarkMaxPool22Row; BenchmarkTrainStep in trainer/model). Functions
// with no Y register (pure SSE) are fine.
func TestNoLegacySSEInAVXFunctions(t *testing.T) {
	var files []string
	for _, dir := range []string{".", "../gemm"} {
		m, err := filepath.Glob(filepath.Join(dir, "*_amd64.s"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 3 {
		t.Fatalf("found only %d assembly files: %v", len(files), files)
	}
	xreg := regexp.MustCompile(`\bX([0-9]|1[0-5])\b`)
	yreg := regexp.MustCompile(`\bY([0-9]|1[0-5])\b`)
	checked := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// Macros (#define … \) expand inside functions: check their lines
		// as if they were in every function that uses Y registers.
		for _, fn := range strings.Split(string(b), "\nTEXT ")[1:] {
			name, _, _ := strings.Cut(fn, "(")
			if !yreg.MatchString(fn) {
				continue
			}
			checked++
			for line := range strings.SplitSeq(fn, "\n") {
				line, _, _ = strings.Cut(line, "//")
				fields := strings.Fields(strings.TrimSuffix(strings.TrimSpace(line), "\\"))
				if len(fields) < 2 || strings.HasSuffix(fields[0], ":") || fields[0] == "#define" {
					continue
				}
				if !strings.HasPrefix(fields[0], "V") && fields[0] != "PREFETCHT0" && xreg.MatchString(line) {
					t.Errorf("%s: %s uses 256-bit registers and the legacy-SSE instruction %q; use its VEX form", f, name, strings.TrimSpace(line))
				}
			}
		}
	}
	if checked < 3 {
		t.Errorf("checked only %d AVX functions", checked)
	}
}
