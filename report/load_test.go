package report

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const metricsHeader = "round,test_accuracy,test_loss,train_loss,round_seconds,train_seconds,comm_seconds,eval_seconds,bytes_up,bytes_down,clients,samples,compression_up\n"

func TestLoadRun(t *testing.T) {
	r, err := LoadRun("testdata/run-a")
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "run-a" || len(r.Rounds) != 4 || len(r.Clients) != 8 || len(r.Classes) != 8 || r.Target != 0.9 {
		t.Fatalf("run-a: name %q, %d rounds, %d client rows, %d class rows, target %v", r.Name, len(r.Rounds), len(r.Clients), len(r.Classes), r.Target)
	}
	want := Round{Round: 2, TestAccuracy: 0.85, TestLoss: 0.61, TrainLoss: 0.9, RoundSeconds: 2, TrainSeconds: 1.2, CommSeconds: 0.3,
		EvalSeconds: 0.3, BytesUp: 1000000, BytesDown: 2000000, Clients: 2, Samples: 600, CompressionUp: 1}
	if r.Rounds[1] != want {
		t.Errorf("round 2 = %+v, want %+v", r.Rounds[1], want)
	}
	if got := r.Rounds[1].AggSeconds(); math.Abs(got-0.2) > 1e-9 {
		t.Errorf("round 2 aggregation = %v s, want 0.2", got)
	}
	if c := r.Clients[2]; c != (ClientRound{Round: 2, Client: 1, Rank: 2, Samples: 300, Steps: 10, TrainLoss: 0.9, TrainSeconds: 1.2}) {
		t.Errorf("clients row 3 = %+v", c)
	}
	if c := r.Classes[7]; c != (ClassRound{Round: 4, Class: 1, Precision: 0.9, Recall: 0.9, TestSamples: 50}) {
		t.Errorf("classes row 8 = %+v", c)
	}
	p := r.Partition
	if p == nil || p.Classes != 3 || !slices.Equal(p.Samples, []int{300, 300, 300, 300}) || !slices.Equal(p.Labels[3], []int{0, 150, 150}) {
		t.Errorf("partition = %+v", p)
	}

	b, err := LoadRun("testdata/run-b")
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Rounds) != 2 || b.Clients != nil || b.Partition != nil || b.Target != 0 {
		t.Errorf("run-b: %d rounds, clients %v, partition %v, target %v", len(b.Rounds), b.Clients, b.Partition, b.Target)
	}
}

func TestLoadRunZeroRounds(t *testing.T) {
	empty := t.TempDir()
	if err := os.WriteFile(filepath.Join(empty, "metrics.csv"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"testdata/zero-rounds", empty} {
		r, err := LoadRun(dir)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		if len(r.Rounds) != 0 || len(r.Clients) != 0 || len(r.Classes) != 0 {
			t.Errorf("%s: %d rounds, %d clients, %d classes, want none", dir, len(r.Rounds), len(r.Clients), len(r.Classes))
		}
	}
}

func TestLoadRunNoResults(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadRun(dir)
	if !errors.Is(err, ErrNoResults) || !strings.Contains(err.Error(), "no metrics.csv") {
		t.Fatalf("empty folder: %v, want ErrNoResults naming metrics.csv", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "job1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "job1", "metrics.csv"), []byte(metricsHeader), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadRun(dir); !errors.Is(err, ErrNoResults) || !strings.Contains(err.Error(), "job1") {
		t.Errorf("parent of a run: %v, want ErrNoResults naming job1", err)
	}
	if _, err := LoadRun(filepath.Join(dir, "missing")); !errors.Is(err, ErrNoResults) {
		t.Errorf("missing folder: %v, want ErrNoResults", err)
	}
	if _, err := LoadSweep(dir); !errors.Is(err, ErrNoResults) {
		t.Errorf("LoadSweep: %v, want ErrNoResults", err)
	}
}

func TestLoadRunMalformed(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		file  string // the file the error names
		line  int
		msg   string
	}{
		{"bad float", map[string]string{"metrics.csv": metricsHeader + "1,0.5,1,1,1,1,0,0,10,10,1,1,1\n2,abc,1,1,1,1,0,0,10,10,1,1,1\n"},
			"metrics.csv", 3, `column test_accuracy: "abc"`},
		{"bad int", map[string]string{"metrics.csv": metricsHeader + "1,0.5,1,1,1,1,0,0,1.5e3,10,1,1,1\n"},
			"metrics.csv", 2, "column bytes_up"},
		{"short row", map[string]string{"metrics.csv": metricsHeader + "1,0.5,1\n"},
			"metrics.csv", 2, "wrong number of fields"},
		{"missing column", map[string]string{"metrics.csv": "round,test_loss\n1,0.5\n"},
			"metrics.csv", 1, "test_accuracy"},
		{"rounds out of order", map[string]string{"metrics.csv": metricsHeader + "2,0.5,1,1,1,1,0,0,10,10,1,1,1\n2,0.6,1,1,1,1,0,0,10,10,1,1,1\n"},
			"metrics.csv", 3, "round 2 does not follow round 2"},
		{"bad quote", map[string]string{"metrics.csv": metricsHeader + "1,\"0.5,1,1,1,1,0,0,10,10,1,1,1\n"},
			"metrics.csv", 2, ""},
		{"clients", map[string]string{"metrics.csv": metricsHeader, "clients.csv": "round,client,rank,samples,steps,train_loss,train_seconds\n1,0,1,10,1,0.5,1\n1,x,1,10,1,0.5,1\n"},
			"clients.csv", 3, `column client: "x"`},
		{"negative client", map[string]string{"metrics.csv": metricsHeader, "clients.csv": "round,client\n1,-1\n"},
			"clients.csv", 2, "client -1"},
		{"classes", map[string]string{"metrics.csv": metricsHeader, "classes.csv": "round,class,precision,recall,test_samples\n1,0,0.5,0.5,ten\n"},
			"classes.csv", 2, "column test_samples"},
		{"partition order", map[string]string{"metrics.csv": metricsHeader, "partition.csv": "client,samples,label_0\n0,5,5\n2,5,5\n"},
			"partition.csv", 3, "client 2 where client 1 belongs"},
		{"partition header", map[string]string{"metrics.csv": metricsHeader, "partition.csv": "id,label_0\n0,5\n"},
			"partition.csv", 1, "client, samples"},
		{"config", map[string]string{"metrics.csv": metricsHeader, "config.toml": "[federated]\ntarget_accuracy = = 1\n"},
			"config.toml", 2, ""},
		{"duplicate column", map[string]string{"metrics.csv": "round,round,test_accuracy,test_loss\n"},
			"metrics.csv", 1, "appears twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := LoadRun(dir)
			var pe *ParseError
			if !errors.As(err, &pe) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want a *ParseError", err)
			}
			if filepath.Base(pe.File) != tt.file || pe.Line != tt.line || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %q (file %s, line %d), want file %s line %d containing %q", err, pe.File, pe.Line, tt.file, tt.line, tt.msg)
			}
			if want := tt.file + ":"; tt.line > 0 && !strings.Contains(err.Error(), want+strconv.Itoa(tt.line)) {
				t.Errorf("err = %q, want it to name %s%d", err, want, tt.line)
			}
		})
	}
}

func TestLoadSweep(t *testing.T) {
	s, err := LoadSweep("testdata/sweep")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Keys, []string{"train.learning_rate", "federated.codec"}) || len(s.Runs) != 8 {
		t.Fatalf("keys %v, %d runs", s.Keys, len(s.Runs))
	}
	r := s.Runs[2]
	if r.Run != "r002" || r.Dir != "runs/r002" || !slices.Equal(r.Values, []string{"0.1", "none"}) || r.Seed != 1 || r.NP != 3 ||
		r.FinalAccuracy != 0.9 || r.BestAccuracy != 0.91 || r.RoundsToTarget != "5" || r.WallSeconds != 9 || r.BytesUp != 1000 ||
		r.BytesDown != 2000 || !r.OK() {
		t.Errorf("row r002 = %+v", r)
	}
	f := s.Runs[7]
	if f.OK() || !strings.HasPrefix(f.Status, "failed: ") || !math.IsNaN(f.FinalAccuracy) || !math.IsNaN(f.WallSeconds) {
		t.Errorf("failed row = %+v", f)
	}
	if s.Kind != TrainSweep || !math.IsNaN(r.MedianMicros) || !math.IsNaN(r.GBps) || !slices.Equal(s.Axes(), s.Keys) {
		t.Errorf("kind %v, axes %v, bench fields of r002 %v %v; want a train sweep with no np axis", s.Kind, s.Axes(), r.MedianMicros, r.GBps)
	}
}

func TestLoadSweepBench(t *testing.T) {
	s, err := LoadSweep("testdata/bench-sweep")
	if err != nil {
		t.Fatal(err)
	}
	if s.Kind != BenchSweep || !slices.Equal(s.Keys, []string{"bench.op", "bench.bytes"}) || len(s.Runs) != 12 {
		t.Fatalf("kind %v, keys %v, %d runs", s.Kind, s.Keys, len(s.Runs))
	}
	if !slices.Equal(s.Axes(), []string{"bench.op", "bench.bytes", NPKey}) {
		t.Errorf("axes %v: np varies, want it last", s.Axes())
	}
	r := s.Runs[4]
	if r.Run != "5" || r.Dir != "005-allreduce-65536-np2-seed42" || !slices.Equal(r.Values, []string{"allreduce", "65536"}) || r.Seed != 42 ||
		r.NP != 2 || r.MedianMicros != 400 || r.MinMicros != 320 || r.GBps != 0.16384 || r.WallSeconds != 0.65 || !r.OK() ||
		!math.IsNaN(r.FinalAccuracy) || r.BytesUp != 0 {
		t.Errorf("row 5 = %+v", r)
	}
	f := s.Runs[11]
	if f.OK() || !math.IsNaN(f.MedianMicros) || !math.IsNaN(f.GBps) || f.WallSeconds != 0.81 {
		t.Errorf("failed row = %+v", f)
	}
}

func TestLoadSweepMalformed(t *testing.T) {
	const tail = "seed,np,final_accuracy,best_accuracy,rounds_to_target,wall_seconds,bytes_up,bytes_down,status"
	const bench = "seed,np,median_us,min_us,gbps,wall_seconds,status"
	tests := []struct {
		name, body string
		line       int
		msg        string
	}{
		{"no run column", "dir,lr," + tail + "\n", 1, "want run,dir"},
		{"wrong tail", "run,dir,lr,seed,np,final_accuracy\n", 1, "must end with"},
		{"bad accuracy", "run,dir,lr," + tail + "\nr0,runs/r0,0.1,1,2,0.9,0.9,,1,1,1,ok\nr1,runs/r1,0.1,2,2,high,0.9,,1,1,1,ok\n", 3, "column final_accuracy"},
		{"bad seed", "run,dir,lr," + tail + "\nr0,runs/r0,0.1,one,2,0.9,0.9,,1,1,1,ok\n", 2, "column seed"},
		{"neither kind", "run,dir,op,seed,np,median_us,gbps,wall_seconds,status\n1,d,bcast,1,2,3,4,5,ok\n", 1, "(training jobs) or " + bench + " (benchmark jobs)"},
		{"columns of both", "run,dir,op,seed,np,median_us,min_us,gbps,wall_seconds,bytes_up,bytes_down,status\n", 1, "must end with " + tail},
		{"bad median", "run,dir,op," + bench + "\n1,d1,bcast,42,2,10,9,0.5,1,ok\n2,d2,bcast,42,2,fast,9,0.5,1,ok\n", 3, "column median_us"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "sweep.csv"), []byte(tt.body), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadSweep(dir)
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Line != tt.line || filepath.Base(pe.File) != "sweep.csv" || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %v, want sweep.csv line %d containing %q", err, tt.line, tt.msg)
			}
		})
	}
}
