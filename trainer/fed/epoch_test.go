package fed

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/runtime"
	"github.com/fltk-go/fltk/runtime/runtimetest"
)

// runElastic runs tj with Membership on every rank over an in-process
// NATS server. Each rank of leave leaves the job (its context is
// cancelled, then it closes its Comm and World) when it begins training
// in round leave[rank]. It returns each rank's error.
func runElastic(t *testing.T, tj *testJob, minWorkers int, leave map[int]int) []error {
	t.Helper()
	srv := runtimetest.RunServer(t, nil)
	ws := runtimetest.RunWorld(t, srv, "fedshrink", tj.world, func(c *runtime.Config) {
		c.HeartbeatInterval, c.LivenessTimeout = 50*time.Millisecond, time.Second
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	csv := NewCSV(CSVConfig{Dir: tj.dir})
	defer csv.Close()
	all := make([]int, tj.world)
	for r := range all {
		all[r] = r
	}
	errs := make([]error, tj.world)
	var wg sync.WaitGroup
	for r := range tj.world {
		mux, err := collective.NewMux(ws[r], ws[r].JobID(), nil)
		if err != nil {
			t.Fatal(err)
		}
		cc := collective.DefaultConfig()
		comm, err := mux.NewComm(0, all, cc)
		if err != nil {
			t.Fatal(err)
		}
		cfg := tj.Config
		cfg.MinWorkers = minWorkers
		cfg.Membership = &Membership{Mux: mux, Control: ws[r], Comm: cc, Wait: 5 * time.Second}
		rctx, rcancel := context.WithCancel(ctx)
		leaveRound, victim := leave[r]
		if victim {
			cfg.OnPhase = func(ev PhaseEvent) {
				if ev.Round == leaveRound && ev.Phase == PhaseTraining {
					rcancel()
				}
			}
		}
		var rec Recorder
		if r == 0 {
			rec = csv
		}
		wg.Go(func() {
			defer rcancel()
			errs[r] = Run(rctx, comm, cfg, rec)
			_ = comm.Close()
			if victim {
				_ = ws[r].Close() // gone: the others are told it left
			}
		})
	}
	wg.Wait()
	return errs
}

// TestRunSurvivesLostWorker: a worker that leaves in the middle of round
// 2 is left out; the survivors redo the round and finish the job, and
// metrics.csv and clients.csv say so.
func TestRunSurvivesLostWorker(t *testing.T) {
	tj := testConfig(t, 4)
	errs := runElastic(t, tj, 1, map[int]int{2: 2})
	for r, err := range errs {
		if r != 2 && err != nil {
			t.Errorf("rank %d: %v", r, err)
		}
	}
	if errs[2] == nil || !errors.Is(errs[2], context.Canceled) {
		t.Errorf("rank 2 (left): %v, want context.Canceled", errs[2])
	}
	metrics := readCSV(t, filepath.Join(tj.dir, "metrics.csv"))
	if len(metrics) != 1+tj.Rounds {
		t.Fatalf("metrics.csv has %d rows, want %d", len(metrics)-1, tj.Rounds)
	}
	col := func(name string) int { return slices.Index(metrics[0], name) }
	for _, row := range metrics[1:] {
		round, _ := strconv.Atoi(row[0])
		want := map[string]string{"epoch": "0", "workers": "3", "attempts": "1", "lost_ranks": "", "selected": "3"}
		if round >= 2 {
			want["epoch"], want["workers"] = "1", "2"
		}
		if round == 2 {
			want["attempts"], want["lost_ranks"] = "2", "2"
		}
		for k, v := range want {
			if got := row[col(k)]; got != v {
				t.Errorf("round %d: %s = %q, want %q", round, k, got, v)
			}
		}
	}
	clients := readCSV(t, filepath.Join(tj.dir, "clients.csv"))
	for r := 1; r <= tj.Rounds; r++ {
		var got []int
		for _, row := range clients[1:] {
			if row[0] != strconv.Itoa(r) {
				continue
			}
			c, _ := strconv.Atoi(row[1])
			got = append(got, c)
			if rank, _ := strconv.Atoi(row[2]); r >= 2 && rank == 2 {
				t.Errorf("round %d: client %d trained on the lost rank 2", r, c)
			}
		}
		slices.Sort(got)
		if want := Select(tj.Seed, r, tj.Clients, tj.ClientsPerRound); !slices.Equal(got, want) {
			t.Errorf("round %d: clients %v trained, want every selected one %v", r, got, want)
		}
	}
}

// TestRunFailsBelowMinWorkers: with two workers and min_workers 2, losing
// one fails the job on rank 0 and the other worker, naming why.
func TestRunFailsBelowMinWorkers(t *testing.T) {
	tj := testConfig(t, 3)
	errs := runElastic(t, tj, 2, map[int]int{2: 1})
	if err := errs[0]; err == nil || !strings.Contains(err.Error(), "federated.min_workers is 2") || !strings.Contains(err.Error(), "rank 2") {
		t.Errorf("rank 0: %v, want a failure naming min_workers and rank 2", err)
	}
	if err := errs[1]; err == nil || !strings.Contains(err.Error(), "rank 0 ended the job") {
		t.Errorf("rank 1: %v, want rank 0's verdict", err)
	}
}

// TestRunSurvivesTwoLosses: workers 2 and 4 of four leave in rounds 2 and
// 3; the world shrinks twice and the job finishes with workers 1 and 3.
func TestRunSurvivesTwoLosses(t *testing.T) {
	tj := testConfig(t, 5)
	tj.Rounds = 4
	errs := runElastic(t, tj, 2, map[int]int{2: 2, 4: 3})
	for _, r := range []int{0, 1, 3} {
		if errs[r] != nil {
			t.Errorf("rank %d: %v", r, errs[r])
		}
	}
	metrics := readCSV(t, filepath.Join(tj.dir, "metrics.csv"))
	if len(metrics) != 1+tj.Rounds {
		t.Fatalf("metrics.csv has %d rows, want %d", len(metrics)-1, tj.Rounds)
	}
	col := func(name string) int { return slices.Index(metrics[0], name) }
	want := []struct{ epoch, workers, lost string }{{"0", "4", ""}, {"1", "3", "2"}, {"2", "2", "4"}, {"2", "2", ""}}
	for i, w := range want {
		row := metrics[1+i]
		if got := [3]string{row[col("epoch")], row[col("workers")], row[col("lost_ranks")]}; got != [3]string{w.epoch, w.workers, w.lost} {
			t.Errorf("round %d: epoch, workers, lost_ranks = %v, want %v", i+1, got, w)
		}
	}
	clients := readCSV(t, filepath.Join(tj.dir, "clients.csv"))
	for _, row := range clients[1:] {
		if row[0] == "4" && row[2] != "1" && row[2] != "3" {
			t.Errorf("round 4: client %s trained on rank %s, want 1 or 3", row[1], row[2])
		}
	}
}
