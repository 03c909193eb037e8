package fed

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/runtime"
	"github.com/fltk-go/fltk/runtime/runtimetest"
)

// TestRunRejoin: worker 2 of two leaves in round 2 (its World closes); a
// new World for rank 2 joins the running job (Config.Rejoin) and runs with
// Membership.Rejoin. Rank 0 takes it back at a round boundary: the round's
// record names it, the world has two workers again and rank 2 trains its
// clients (c mod 2) in the later rounds; every rank finishes the job.
func TestRunRejoin(t *testing.T) {
	tj := testConfig(t, 3)
	tj.Rounds, tj.ClientsPerRound = 5, 6
	const holdRound = 2 // rank 0 waits before recording it until rank 2 asked to rejoin
	srv := runtimetest.RunServer(t, nil)
	fast := func(c *runtime.Config) {
		c.HeartbeatInterval, c.LivenessTimeout = 50*time.Millisecond, time.Second
	}
	ws := runtimetest.RunWorld(t, srv, "fedrejoin", tj.world, fast)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	csv := NewCSV(CSVConfig{Dir: tj.dir})
	defer csv.Close()

	// The rejoining rank asks every second; two asks seen on rank 0's
	// connection mean rank 0's handler took the first one long ago.
	asks := make(chan struct{}, 16)
	stop, err := ws[0].SubscribeControl(ctlRejoin, func([]byte) {
		select {
		case asks <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	member := func(w *runtime.World, rejoin bool) (*collective.Comm, Config) {
		mux, err := collective.NewMux(w, w.JobID(), nil)
		if err != nil {
			t.Fatal(err)
		}
		cc := collective.DefaultConfig()
		var comm *collective.Comm
		if rejoin {
			comm, err = mux.Lobby(cc)
		} else {
			all := make([]int, tj.world)
			for r := range all {
				all[r] = r
			}
			comm, err = mux.NewComm(0, all, cc)
		}
		if err != nil {
			t.Fatal(err)
		}
		cfg := tj.Config
		cfg.MinWorkers = 1
		cfg.Membership = &Membership{Mux: mux, Control: w, Comm: cc, Wait: 5 * time.Second, Rejoin: rejoin}
		return comm, cfg
	}

	errs := make([]error, tj.world+1) // [3]: the new process of rank 2
	var wg sync.WaitGroup
	for r := range tj.world {
		comm, cfg := member(ws[r], false)
		rctx, rcancel := context.WithCancel(ctx)
		var rec Recorder
		switch r {
		case 0:
			rec = csv
			cfg.Hook = func(hctx context.Context, round int, phase string) {
				if round == holdRound && phase == "record" {
					for range 2 {
						select {
						case <-asks:
						case <-hctx.Done():
							return
						}
					}
				}
			}
		case 2:
			cfg.OnPhase = func(ev PhaseEvent) {
				if ev.Round == 2 && ev.Phase == PhaseTraining {
					rcancel()
				}
			}
		}
		wg.Go(func() {
			defer rcancel()
			errs[r] = Run(rctx, comm, cfg, rec)
			_ = comm.Close()
			if r != 2 {
				return
			}
			_ = ws[2].Close() // gone: the others are told it left
			// A new process for rank 2 joins the running world.
			c := runtimetest.Config(srv, "fedrejoin", 2, tj.world)
			fast(&c)
			c.Rejoin = true
			w, err := runtime.Join(ctx, c)
			if err != nil {
				errs[3] = err
				return
			}
			defer w.Close()
			if !w.Rejoined() {
				errs[3] = errors.New("the new World of rank 2 does not say it rejoined")
				return
			}
			comm, cfg := member(w, true)
			errs[3] = Run(ctx, comm, cfg, nil)
			_ = comm.Close()
		})
	}
	wg.Wait()
	for r, err := range errs {
		if r != 2 && err != nil {
			t.Errorf("rank %d: %v", r, err)
		}
	}
	if !errors.Is(errs[2], context.Canceled) {
		t.Errorf("rank 2 (left): %v, want context.Canceled", errs[2])
	}
	metrics := readCSV(t, filepath.Join(tj.dir, "metrics.csv"))
	if len(metrics) != 1+tj.Rounds {
		t.Fatalf("metrics.csv has %d rows, want %d", len(metrics)-1, tj.Rounds)
	}
	col := func(name string) int { return slices.Index(metrics[0], name) }
	if metrics[0][len(metrics[0])-1] != "rejoined_ranks" {
		t.Errorf("metrics.csv's last column is %q, want rejoined_ranks", metrics[0][len(metrics[0])-1])
	}
	back := 0 // the round rank 2 rejoined in
	for _, row := range metrics[1:] {
		round, _ := strconv.Atoi(row[0])
		if row[col("rejoined_ranks")] == "2" {
			if back != 0 {
				t.Errorf("rank 2 rejoined twice: rounds %d and %d", back, round)
			}
			back = round
		} else if row[col("rejoined_ranks")] != "" {
			t.Errorf("round %d: rejoined_ranks %q", round, row[col("rejoined_ranks")])
		}
		wantWorkers := "2"
		if round >= 2 && (back == 0 || round < back) {
			wantWorkers = "1"
		}
		if got := row[col("workers")]; got != wantWorkers {
			t.Errorf("round %d: workers %s, want %s", round, got, wantWorkers)
		}
	}
	if back != holdRound+1 {
		t.Fatalf("rank 2 rejoined in round %d, want %d (the round boundary after it asked)", back, holdRound+1)
	}
	if got := metrics[back][col("epoch")]; got != "2" {
		t.Errorf("round %d: epoch %s, want 2 (shrunk, then grown)", back, got)
	}
	clients := readCSV(t, filepath.Join(tj.dir, "clients.csv"))
	for _, row := range clients[1:] {
		round, _ := strconv.Atoi(row[0])
		c, _ := strconv.Atoi(row[1])
		want := 1 + c%2
		if round >= 2 && round < back {
			want = 1
		}
		if rank, _ := strconv.Atoi(row[2]); rank != want {
			t.Errorf("round %d: client %d trained on rank %d, want %d", round, c, rank, want)
		}
	}
}
