package cli

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestStats: with FLTK_STATS_DIR set a rank writes its header and a
// sample with plausible values when it stops; unset, nothing.
func TestStats(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(StatsEnv, dir)
	stop, err := startStats(3)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	files, _ := filepath.Glob(filepath.Join(dir, "rank3.*.csv"))
	if len(files) != 1 {
		t.Fatalf("files %v, want one rank3.<pid>.csv", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 2 || lines[0] != "unix_ms,goroutines,rss_kb,fds,heap_bytes" {
		t.Fatalf("stats file:\n%s", b)
	}
	f := strings.Split(lines[len(lines)-1], ",")
	for i, name := range []string{"unix_ms", "goroutines", "rss_kb", "fds", "heap_bytes"} {
		if v, err := strconv.ParseInt(f[i], 10, 64); err != nil || v <= 0 {
			t.Errorf("%s = %q, want a positive number", name, f[i])
		}
	}

	t.Setenv(StatsEnv, "")
	if stop, err = startStats(1); err != nil {
		t.Fatal(err)
	}
	stop()
	if files, _ := filepath.Glob(filepath.Join(dir, "rank1.*")); len(files) != 0 {
		t.Errorf("unset %s wrote %v", StatsEnv, files)
	}
}
