package report

import (
	"errors"
	"io"
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

// FuzzLoadSweep feeds arbitrary sweep.csv files to LoadSweep, then
// aggregates every metric of the sweep's kind over every axis and writes
// the table and the aggregates: LoadSweep either works or returns an
// ErrMalformed; nothing panics.
func FuzzLoadSweep(f *testing.F) {
	for _, dir := range []string{"testdata/sweep", "testdata/bench-sweep"} {
		b, err := os.ReadFile(filepath.Join(dir, "sweep.csv"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("run,dir,seed,np,median_us,min_us,gbps,wall_seconds,status\n1,d,1,2,NaN,Inf,-1,0,ok\n"))
	f.Add([]byte("run,dir,k,seed,np,median_us,min_us,gbps,wall_seconds,status\n1,d,x,1,2,3,4,5,6,ok\n2,d,x,1,9,,,,,failed\n"))
	f.Fuzz(func(t *testing.T, csv []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "sweep.csv"), csv, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := LoadSweep(dir)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("LoadSweep: %v is not ErrMalformed", err)
			}
			return
		}
		for _, key := range s.Axes() {
			for _, m := range s.Kind.Metrics() {
				if _, _, err := s.Aggregate(key, m); err != nil {
					t.Fatalf("Aggregate(%q, %s): %v", key, m, err)
				}
			}
		}
		if err := WriteSweep(io.Discard, s); err != nil {
			t.Fatal(err)
		}
		if err := WriteAggregates(io.Discard, s); err != nil {
			t.Fatal(err)
		}
	})
}
