package report

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadRun feeds arbitrary metrics.csv, clients.csv and partition.csv
// to LoadRun, then Summarize: LoadRun either works or returns an
// ErrMalformed; neither panics. (Plotting every input is too slow to
// fuzz; TestPlotRunUndrawable covers data that gonum/plot refuses.)
func FuzzLoadRun(f *testing.F) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata/run-a", name))
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	f.Add(read("metrics.csv"), read("clients.csv"), read("partition.csv"))
	f.Add([]byte(metricsHeader), []byte(""), []byte("client,samples\n"))
	f.Add([]byte(metricsHeader+"1,NaN,Inf,-Inf,1e308,-1e308,0,0,9223372036854775807,0,0,0,0\n2,1e308,0,0,1e308,0,0,0,1,1,1,1,1\n"),
		[]byte("round,client\n1,0\n2,1\n"), []byte("client,samples,label_0\n0,1,1\n"))
	f.Add([]byte(metricsHeader+"1,0.5,1,1,1,1,0,0,1,1,1,1,1\n"), []byte("round,client\n1,5000000\n"), []byte("client,samples,label_0,label_1\n0,2,-3,5\n"))
	f.Fuzz(func(t *testing.T, metrics, clients, partition []byte) {
		dir := t.TempDir()
		for name, b := range map[string][]byte{"metrics.csv": metrics, "clients.csv": clients, "partition.csv": partition} {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		r, err := LoadRun(dir)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("LoadRun: %v is not ErrMalformed", err)
			}
			return
		}
		s := Summarize(r)
		if s.Rounds != len(r.Rounds) || (s.RoundsToTarget != 0 && s.Target <= 0) {
			t.Fatalf("Summarize = %+v for %d rounds", s, len(r.Rounds))
		}
	})
}
