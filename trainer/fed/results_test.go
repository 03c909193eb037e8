package fed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/runtime/runtimetest"
	"github.com/fltk-go/fltk/trainer"
	"github.com/fltk-go/fltk/trainer/internal/parallel"
)

// fakeRecorder keeps what Run passes to it, in memory.
type fakeRecorder struct {
	calls  []string
	setup  Setup
	rounds []RoundResult
	final  trainer.Checkpoint
	fail   string // the call that returns errFake
}

var errFake = errors.New("fake recorder failed")

func (f *fakeRecorder) call(name string) error {
	f.calls = append(f.calls, name)
	if f.fail == name {
		return errFake
	}
	return nil
}

func (f *fakeRecorder) Start(s Setup) error { f.setup = s; return f.call("start") }

func (f *fakeRecorder) Round(r RoundResult) error {
	f.rounds = append(f.rounds, r)
	return f.call("round")
}

func (f *fakeRecorder) Finish(ck trainer.Checkpoint) error { f.final = ck; return f.call("finish") }

// runWith runs tj with rec on rank 0 and nothing on the others.
func runWith(t *testing.T, tj *testJob, rec Recorder) error {
	t.Helper()
	srv := runtimetest.RunServer(t, nil)
	ws := runtimetest.RunWorld(t, srv, "fedtest", tj.world, nil)
	cc := collective.DefaultConfig()
	cc.Codec = tj.codec
	comms := runtimetest.Comms(t, ws, cc)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return runtimetest.OnAll(tj.world, func(r int) error {
		if r == 0 {
			return Run(ctx, comms[r], tj.Config, rec)
		}
		return Run(ctx, comms[r], tj.Config, nil)
	})
}

// TestRunRecordsIntoInjectedRecorder: Run hands every result to the
// recorder it is given, and writes no file itself.
func TestRunRecordsIntoInjectedRecorder(t *testing.T) {
	defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(2)) // so the ops start helpers
	cfg := testConfig(t, 3)
	rec := &fakeRecorder{}
	if err := runWith(t, cfg, rec); err != nil {
		t.Fatal(err)
	}
	// Run owns the team of helpers its models' parallel loops use: none
	// is left once every rank's Run returned (Team.Close waits for them).
	if n := parallel.Helpers(); n != 0 {
		t.Errorf("%d parallel-loop helpers still running after Run", n)
	}
	want := []string{"start", "round", "round", "round", "finish"}
	if !slices.Equal(rec.calls, want) {
		t.Fatalf("recorder calls %v, want %v", rec.calls, want)
	}
	s := rec.setup
	if s.Rounds != 3 || s.Clients != 6 || s.PerRound != 3 || s.Workers != 2 || s.Classes != 10 || s.Params != 199210 {
		t.Errorf("setup %+v", s)
	}
	var held int
	for c, p := range s.Partition {
		sum := 0
		for _, n := range p.Labels {
			sum += n
		}
		if sum != p.Samples || len(p.Labels) != 10 {
			t.Errorf("client %d holds %d samples, its label histogram %v", c, p.Samples, p.Labels)
		}
		held += p.Samples
	}
	if len(s.Partition) != 6 || held != 600 {
		t.Errorf("partition: %d clients holding %d samples, want 6 holding 600", len(s.Partition), held)
	}
	for i, r := range rec.rounds {
		if r.Round != i+1 {
			t.Errorf("round %d recorded as %d", i+1, r.Round)
		}
		var got []int
		samples := 0
		for _, c := range r.Clients {
			got = append(got, c.Client)
			samples += c.Samples
			if c.Rank != 1+c.Client%2 {
				t.Errorf("round %d: client %d on rank %d", r.Round, c.Client, c.Rank)
			}
		}
		slices.Sort(got)
		if want := Select(cfg.Seed, r.Round, 6, 3); !slices.Equal(got, want) {
			t.Errorf("round %d: clients %v, want %v", r.Round, got, want)
		}
		if samples != r.Samples || r.Metrics.N != 200 || r.BytesUp <= 0 {
			t.Errorf("round %d: %d samples (clients: %d), %d test predictions, %d bytes up", r.Round, r.Samples, samples, r.Metrics.N, r.BytesUp)
		}
		// TrainTime is measured by the workers on their own clocks from their
		// own start of the round, so it may exceed rank 0's RoundTime a little.
		if r.CommTime < 0 || r.RoundTime <= 0 || r.TrainTime <= 0 {
			t.Errorf("round %d: times %v", r.Round, r)
		}
	}
	if rec.final.Round != 3 || rec.final.Net != "MNIST2NN" || len(rec.final.State) != 199210 {
		t.Errorf("final model: net %q round %d, %d values", rec.final.Net, rec.final.Round, len(rec.final.State))
	}
	tmp := filepath.Dir(filepath.Dir(cfg.dir)) // holds the data and nothing else
	if ents, err := os.ReadDir(tmp); err != nil || len(ents) != 1 || ents[0].Name() != "data" {
		t.Errorf("Run with a fake recorder: %s holds %v (%v), want only data", tmp, ents, err)
	}
}

// TestRecorderErrorFailsRun: an error from the recorder is Run's error.
func TestRecorderErrorFailsRun(t *testing.T) {
	cfg := testConfig(t, 2)
	cfg.Rounds = 2
	rec := &fakeRecorder{fail: "finish"}
	if err := runWith(t, cfg, rec); !errors.Is(err, errFake) {
		t.Errorf("Run with a failing recorder: %v, want %v", err, errFake)
	}
}

// TestCSVFormat pins the bytes of the results files.
func TestCSVFormat(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "job")
	w := NewCSV(CSVConfig{Dir: dir, Checkpoint: true, ConfigTOML: []byte("# cfg\n")})
	defer w.Close()
	setup := Setup{Rounds: 2, Clients: 2, PerRound: 2, Workers: 1, Params: 3, Classes: 2,
		Partition: []ClientData{{Samples: 3, Labels: []int{1, 2}}, {Samples: 1, Labels: []int{0, 1}}}}
	if err := w.Start(setup); err != nil {
		t.Fatal(err)
	}
	met := trainer.Metrics{Classes: 2, N: 3, LossSum: 1.5, Correct: 2, Confusion: []float64{1, 1, 0, 1}}
	rr := RoundResult{Round: 1, Metrics: met, Samples: 4, Steps: 2, TrainLoss: 0.123456789,
		RoundTime: 1500 * time.Millisecond, TrainTime: time.Second, CommTime: 250 * time.Millisecond,
		EvalTime: 200 * time.Millisecond, AggTime: 50 * time.Millisecond, BytesUp: 1234, BytesDown: 5678, RawBytesUp: 4936,
		Clients: []ClientResult{{Client: 0, Rank: 1, Samples: 3, Steps: 1, Loss: 0.1, Time: 400 * time.Millisecond},
			{Client: 1, Rank: 3, Samples: 1, Steps: 1, Loss: 1.0 / 3, Time: 2 * time.Second}},
		Selected: []int{0, 1, 4}, Epoch: 2, Workers: 2, Attempts: 3, DeadFrames: 7, Rejoined: []int{1, 3},
		Lost: []LostRank{{Rank: 2, Why: "dead"}, {Rank: 4, Late: true, Why: "late"}}}
	if err := w.Round(rr); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(trainer.Checkpoint{Net: "MNIST2NN", Round: 1, State: []float32{1, 2, 3}}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"config.toml":   "# cfg\n",
		"partition.csv": "client,samples,label_0,label_1\n0,3,1,2\n1,1,0,1\n",
		"metrics.csv": "round,test_accuracy,test_loss,train_loss,round_seconds,train_seconds,comm_seconds,eval_seconds,bytes_up,bytes_down,clients,samples,compression_up," +
			"selected,epoch,workers,attempts,lost_ranks,late_ranks,dead_epoch_frames,rejoined_ranks\n" +
			"1,0.666667,0.5,0.123457,1.5,1,0.25,0.2,1234,5678,2,4,4,3,2,2,3,2;4,4,7,1;3\n",
		"clients.csv": "round,client,rank,samples,steps,train_loss,train_seconds,epoch\n" +
			"1,0,1,3,1,0.1,0.4,2\n1,1,3,1,1,0.333333,2,2\n",
		"classes.csv": "round,class,precision,recall,test_samples\n" +
			"1,0,1,0.5,2\n1,1,0.5,1,1\n",
	} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s:\n%s\nwant:\n%s", name, got, want)
		}
	}
	ck, err := trainer.ReadCheckpoint(filepath.Join(dir, "model.ckpt"))
	if err != nil || ck.Net != "MNIST2NN" || !slices.Equal(ck.State, []float32{1, 2, 3}) {
		t.Errorf("model.ckpt: %+v, %v", ck, err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("Close after Finish: %v", err)
	}
}

// TestProgressLines pins the progress lines.
func TestProgressLines(t *testing.T) {
	var b bytes.Buffer
	p := NewProgress(&b, "results/x")
	_ = p.Start(Setup{Rounds: 2, Clients: 4, PerRound: 3, Workers: 2, Params: 10})
	met := trainer.Metrics{Classes: 2, N: 4, LossSum: 2, Correct: 3, Confusion: []float64{2, 0, 1, 1}}
	_ = p.Round(RoundResult{Round: 2, Metrics: met, TrainLoss: 0.25, Clients: make([]ClientResult, 3),
		RoundTime: 1500 * time.Millisecond, TrainTime: time.Second, CommTime: 120 * time.Millisecond, TargetReached: true})
	_ = p.Finish(trainer.Checkpoint{})
	lines := bytes.Split(bytes.TrimSpace(b.Bytes()), []byte("\n"))
	want := []string{
		"fed: 4 clients on 2 workers, 3 per round; 10 parameters; results in results/x",
		"round 2/2  test accuracy 75.00%  test loss 0.5000  train loss 0.2500  3 clients  1.5s (train 1.0s, comm 0.12s)  ETA 0s  (target reached)",
	}
	if len(lines) != 3 || string(lines[0]) != want[0] || string(lines[1]) != want[1] ||
		!bytes.HasPrefix(lines[2], []byte("fed: done in ")) || !bytes.HasSuffix(lines[2], []byte("; results in results/x")) {
		t.Errorf("progress:\n%s\nwant:\n%s\n%s\nfed: done in …; results in results/x", b.Bytes(), want[0], want[1])
	}
}

// TestPhaseEvents: every rank reports the start of each round, each
// worker counts its clients up to the ones it hosts, the federator names
// the round's total, and every rank reports the evaluation after its
// training.
func TestPhaseEvents(t *testing.T) {
	tj := testConfig(t, 3)
	tj.Rounds = 2
	var (
		mu     sync.Mutex
		events = map[int][]PhaseEvent{} // by rank
	)
	tj.OnPhase = func(ev PhaseEvent) {
		mu.Lock()
		defer mu.Unlock()
		events[ev.Rank] = append(events[ev.Rank], ev)
	}
	if err := runWith(t, tj, nil); err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= tj.Rounds; round++ {
		sel := Select(tj.Seed, round, tj.Clients, tj.ClientsPerRound)
		trained := 0
		for rank := 0; rank < tj.world; rank++ {
			var got []string
			for _, ev := range events[rank] {
				if ev.Round == round {
					if ev.Rounds != tj.Rounds {
						t.Errorf("rank %d: event %+v names %d rounds, want %d", rank, ev, ev.Rounds, tj.Rounds)
					}
					got = append(got, fmt.Sprintf("%v %d/%d", ev.Phase, ev.Done, ev.Total))
				}
			}
			mine := 0
			for _, c := range sel {
				if 1+c%(tj.world-1) == rank {
					mine++
				}
			}
			total := mine
			if rank == 0 {
				total = len(sel)
			}
			want := []string{fmt.Sprintf("training 0/%d", total)}
			for k := 1; rank > 0 && k <= mine; k++ {
				want = append(want, fmt.Sprintf("training %d/%d", k, mine))
			}
			want = append(want, "evaluating 0/0")
			if !slices.Equal(got, want) {
				t.Errorf("round %d rank %d: events %q, want %q", round, rank, got, want)
			}
			if rank > 0 {
				trained += mine
			}
		}
		if trained != len(sel) {
			t.Errorf("round %d: workers trained %d clients, the federator announced %d", round, trained, len(sel))
		}
	}
}

// TestCSVRoundFailureCutsBack: when a round's rows cannot all be written
// (here classes.csv refuses writes, as a full disk does part way), the
// files are cut back to the rounds before: whole rows of the same rounds.
func TestCSVRoundFailureCutsBack(t *testing.T) {
	dir := t.TempDir()
	w := NewCSV(CSVConfig{Dir: dir})
	defer w.Close()
	if err := w.Start(Setup{Rounds: 2, Clients: 1, PerRound: 1, Workers: 1, Classes: 2,
		Partition: []ClientData{{Samples: 1, Labels: []int{1, 0}}}}); err != nil {
		t.Fatal(err)
	}
	met := trainer.Metrics{Classes: 2, N: 1, Correct: 1, Confusion: []float64{1, 0, 0, 0}}
	round := func(n int) RoundResult {
		return RoundResult{Round: n, Metrics: met, Clients: []ClientResult{{Client: 0, Rank: 1, Samples: 1}}}
	}
	if err := w.Round(round(1)); err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	for _, f := range []string{"metrics.csv", "clients.csv", "classes.csv"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		want[f] = b
	}
	ro, err := os.Open(filepath.Join(dir, "classes.csv")) // writes fail
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ro.Seek(0, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	w.classes.Close()
	w.classes = ro
	if err := w.Round(round(2)); err == nil || !strings.Contains(err.Error(), "classes.csv") {
		t.Fatalf("Round with classes.csv unwritable = %v, want an error naming it", err)
	}
	for f, b := range want {
		got, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("%s after the failed round 2 = %q (%v), want round 1 only: %q", f, got, err, b)
		}
	}
}
