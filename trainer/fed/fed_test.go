package fed

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/trainer"
	"github.com/fltk-go/fltk/trainer/optim"
	"github.com/fltk-go/fltk/trainer/strategy"
)

// writeSynthMNIST writes MNIST-format IDX files with n training and m test
// images of 10 easily separable classes: class c lights rows 2c..2c+2 of
// the 28×28 image, plus noise.
func writeSynthMNIST(t *testing.T, dir string, n, m int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	write := func(prefix string, count int) {
		imgs := make([]byte, 0, count*784)
		labels := make([]byte, count)
		for i := range count {
			c := i % 10
			labels[i] = byte(c)
			for r := 0; r < 28; r++ {
				for col := 0; col < 28; col++ {
					v := byte(rng.IntN(60))
					if r >= 2*c+2 && r < 2*c+5 && col > 3 && col < 24 {
						v = byte(180 + rng.IntN(75))
					}
					imgs = append(imgs, v)
				}
			}
		}
		var h bytes.Buffer
		binary.Write(&h, binary.BigEndian, []uint32{0x803, uint32(count), 28, 28})
		h.Write(imgs)
		if err := os.WriteFile(filepath.Join(dir, prefix+"-images-idx3-ubyte"), h.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		h.Reset()
		binary.Write(&h, binary.BigEndian, []uint32{0x801, uint32(count)})
		h.Write(labels)
		if err := os.WriteFile(filepath.Join(dir, prefix+"-labels-idx1-ubyte"), h.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("train", n)
	write("t10k", m)
}

// testJob is a small federated job over synthetic MNIST in a temporary
// directory.
type testJob struct {
	Config
	world int              // ranks
	dir   string           // where runJob's CSV recorder writes
	codec collective.Codec // the Comms' default codec (runWith)
}

// testConfig returns a job of 3 rounds of 3 of 6 clients on world ranks.
func testConfig(t *testing.T, world int) *testJob {
	t.Helper()
	tmp := t.TempDir()
	if err := os.MkdirAll(filepath.Join(tmp, "data", "mnist"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeSynthMNIST(t, filepath.Join(tmp, "data", "mnist"), 600, 200)
	cfg := DefaultConfig()
	cfg.DataDir = filepath.Join(tmp, "data")
	cfg.Rounds = 3
	cfg.Clients = 6
	cfg.ClientsPerRound = 3
	cfg.Parallel = 2
	cfg.BatchSize = 10
	cfg.Optimizer.LR = 0.05
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return &testJob{Config: cfg, world: world, dir: filepath.Join(tmp, "results", "fedtest")}
}

// runJob runs tj on its ranks over an in-process NATS server; rank 0
// records into a CSV recorder in tj.dir and a progress log.
func runJob(t *testing.T, tj *testJob) error {
	t.Helper()
	var out bytes.Buffer
	csv := NewCSV(CSVConfig{Dir: tj.dir, Checkpoint: true})
	defer csv.Close()
	err := runWith(t, tj, MultiRecorder(csv, NewProgress(&out, tj.dir)))
	t.Logf("rank 0 output:\n%s", out.String())
	return err
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}

func TestRunWritesResultsAndLearns(t *testing.T) {
	cfg := testConfig(t, 3)
	if err := runJob(t, cfg); err != nil {
		t.Fatal(err)
	}
	dir := cfg.dir
	metrics := readCSV(t, filepath.Join(dir, "metrics.csv"))
	if !slices.Equal(metrics[0], MetricsHeader) {
		t.Fatalf("metrics header = %v", metrics[0])
	}
	if len(metrics) != 1+cfg.Rounds {
		t.Fatalf("metrics.csv has %d rows, want %d", len(metrics)-1, cfg.Rounds)
	}
	acc, _ := strconv.ParseFloat(metrics[len(metrics)-1][1], 64)
	if acc < 0.9 {
		t.Errorf("final test accuracy %.3f on separable synthetic data, want ≥ 0.9", acc)
	}
	for _, row := range metrics[1:] {
		if row[10] != "3" {
			t.Errorf("round %s trained %s clients, want 3", row[0], row[10])
		}
		up, _ := strconv.Atoi(row[8])
		if up < 199210*4 {
			t.Errorf("round %s: bytes_up %d, want at least one model (%d bytes)", row[0], up, 199210*4)
		}
	}
	clients := readCSV(t, filepath.Join(dir, "clients.csv"))
	if len(clients) != 1+3*cfg.Rounds {
		t.Errorf("clients.csv has %d rows, want %d", len(clients)-1, 3*cfg.Rounds)
	}
	for r := 1; r <= cfg.Rounds; r++ {
		want := Select(cfg.Seed, r, 6, 3)
		var got []int
		for _, row := range clients[1:] {
			if row[0] == strconv.Itoa(r) {
				c, _ := strconv.Atoi(row[1])
				got = append(got, c)
				rank, _ := strconv.Atoi(row[2])
				if rank != 1+c%2 {
					t.Errorf("client %d trained on rank %d, want %d", c, rank, 1+c%2)
				}
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("round %d trained clients %v, want %v", r, got, want)
		}
	}
	classes := readCSV(t, filepath.Join(dir, "classes.csv"))
	if len(classes) != 1+10*cfg.Rounds || !slices.Equal(classes[0], ClassesHeader) {
		t.Errorf("classes.csv has %d rows (header %v), want %d", len(classes)-1, classes[0], 10*cfg.Rounds)
	}
	var testSamples int
	for _, row := range classes[len(classes)-10:] {
		n, _ := strconv.Atoi(row[4])
		testSamples += n
		if p, _ := strconv.ParseFloat(row[2], 64); acc == 1 && p != 1 {
			t.Errorf("accuracy 1 but class %s has precision %v", row[1], p)
		}
	}
	if testSamples != 200 {
		t.Errorf("classes.csv counts %d test samples in the last round, want 200", testSamples)
	}
	part := readCSV(t, filepath.Join(dir, "partition.csv"))
	total := 0
	for _, row := range part[1:] {
		n, _ := strconv.Atoi(row[1])
		sum := 0
		for _, h := range row[2:] {
			k, _ := strconv.Atoi(h)
			sum += k
		}
		if sum != n {
			t.Errorf("partition row %v: histogram sums to %d, not %d", row, sum, n)
		}
		total += n
	}
	if len(part) != 7 || total != 600 {
		t.Errorf("partition.csv: %d clients holding %d samples, want 6 holding 600", len(part)-1, total)
	}
	ck, err := trainer.ReadCheckpoint(filepath.Join(dir, "model.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	if ck.Net != "MNIST2NN" || len(ck.State) != 199210 {
		t.Errorf("checkpoint: net %q with %d values", ck.Net, len(ck.State))
	}
}

// TestOneRoundIsTheStrategy checks the whole pipeline's numerics: after
// one round the global model equals the sample-weighted mean (fedavg) or
// the coordinate-wise median (median: every state gathered, 3 clients on
// one worker and 2 on the other) of the clients' models, each trained here
// independently from the same initial state.
func TestOneRoundIsTheStrategy(t *testing.T) {
	for _, tt := range []struct {
		strategy string
		clients  int
	}{{"fedavg", 4}, {"median", 5}, {"median", 4}} {
		t.Run(fmt.Sprintf("%s/clients=%d", tt.strategy, tt.clients), func(t *testing.T) {
			cfg := testConfig(t, 3)
			cfg.Rounds = 1
			cfg.Clients = tt.clients
			cfg.ClientsPerRound = 0
			cfg.Strategy.Name = tt.strategy
			cfg.Partition = "quantity-skew" // unequal sizes make the weights matter
			if err := runJob(t, cfg); err != nil {
				t.Fatal(err)
			}
			ck, err := trainer.ReadCheckpoint(filepath.Join(cfg.dir, "model.ckpt"))
			if err != nil {
				t.Fatal(err)
			}

			j := &job{cfg: cfg.Config, rank: 0, size: 3}
			if err := j.setup(); err != nil {
				t.Fatal(err)
			}
			defer j.close()
			init := j.models[0].State(nil)
			var updates []strategy.Update
			for c := range tt.clients {
				m := j.models[0]
				if err := m.LoadState(init); err != nil {
					t.Fatal(err)
				}
				opt, _ := optim.New(optim.Config{Name: "sgd", LR: cfg.Optimizer.LR})
				_, err := trainer.Train(context.Background(), m, opt, j.train, j.parts[c], trainer.LocalConfig{
					Epochs: 1, Batch: cfg.BatchSize, Seed: clientSeed(cfg.Seed, 1, c)})
				if err != nil {
					t.Fatal(err)
				}
				updates = append(updates, strategy.Update{Client: c, State: m.State(nil), Samples: len(j.parts[c])})
			}
			want := make([]float64, len(init))
			switch tt.strategy {
			case "fedavg":
				var wsum float64
				for _, u := range updates {
					for i, v := range u.State {
						want[i] += float64(u.Samples) * float64(v)
					}
					wsum += float64(u.Samples)
				}
				for i := range want {
					want[i] /= wsum
				}
			case "median": // by hand: sort each coordinate
				col := make([]float64, len(updates))
				for i := range want {
					for k, u := range updates {
						col[k] = float64(u.State[i])
					}
					slices.Sort(col)
					want[i] = (col[(len(col)-1)/2] + col[len(col)/2]) / 2
				}
			}
			var maxErr float64
			for i, v := range ck.State {
				maxErr = max(maxErr, abs(float64(v)-want[i]))
			}
			if maxErr > 1e-5 {
				t.Errorf("global model differs from the %s of the clients' models by %g", tt.strategy, maxErr)
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	t.Run("missing data", func(t *testing.T) {
		cfg := testConfig(t, 2)
		cfg.DataDir = filepath.Join(t.TempDir(), "nowhere")
		err := runJob(t, cfg)
		if err == nil || !strings.Contains(err.Error(), "nowhere") || !strings.Contains(err.Error(), "make data") {
			t.Errorf("err = %v, want it to name the directory and `make data`", err)
		}
	})
	t.Run("empty client", func(t *testing.T) {
		cfg := testConfig(t, 2)
		cfg.Clients = 700 // more clients than the 600 samples
		cfg.ClientsPerRound = 1
		err := runJob(t, cfg)
		if err == nil || !strings.Contains(err.Error(), "client") {
			t.Errorf("err = %v, want an error naming the empty client", err)
		}
	})
	t.Run("net does not fit data", func(t *testing.T) {
		cfg := testConfig(t, 2)
		cfg.Net = "Cifar10CNN"
		err := runJob(t, cfg)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "Cifar10CNN") || !strings.Contains(err.Error(), "mnist") {
			t.Errorf("err = %v, want it to name the net and the data set", err)
		}
	})
}

// TestRunCharLSTMOnBible trains the character LSTM on a small file in the
// Bible's format, each client holding its own book (the natural split).
func TestRunCharLSTMOnBible(t *testing.T) {
	cfg := testConfig(t, 3)
	var b strings.Builder
	books := []string{"Ge", "Ex", "1Sa"}
	for i, book := range books {
		for v := 1; v <= 60; v++ {
			fmt.Fprintf(&b, "%s1:%d and it was so, verse %d of book %d.\n", book, v, v%7, i)
		}
	}
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "bible"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.DataDir, "bible", "kjv.txt"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Dataset, cfg.Partition, cfg.SeqLen = "bible", "natural", 12
	cfg.Net, cfg.Optimizer.Name, cfg.Optimizer.LR = "CharLSTM", "adam", 0.01
	cfg.ClipNorm = 5
	cfg.Clients, cfg.ClientsPerRound, cfg.Rounds = 3, 0, 2
	if err := runJob(t, cfg); err != nil {
		t.Fatal(err)
	}
	dir := cfg.dir
	metrics := readCSV(t, filepath.Join(dir, "metrics.csv"))
	if len(metrics) != 3 {
		t.Fatalf("metrics.csv has %d rows, want 2", len(metrics)-1)
	}
	first, _ := strconv.ParseFloat(metrics[1][2], 64)
	last, _ := strconv.ParseFloat(metrics[2][2], 64)
	acc, _ := strconv.ParseFloat(metrics[2][1], 64)
	if !(last < first) || acc < 0.2 {
		t.Errorf("test loss %v → %v, accuracy %v: the LSTM did not learn", first, last, acc)
	}
	part := readCSV(t, filepath.Join(dir, "partition.csv"))
	if len(part) != 4 {
		t.Errorf("partition.csv: %d clients, want one per book (3)", len(part)-1)
	}
}

func TestSequenceModelOnImages(t *testing.T) {
	cfg := testConfig(t, 2)
	cfg.Net = "CharLSTM"
	err := runJob(t, cfg)
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "sequence model") {
		t.Errorf("err = %v, want CharLSTM on MNIST rejected", err)
	}
}

// TestKeepOptimizerState: kept momentum changes round 2; without momentum
// (no optimizer state) keeping it changes nothing.
func TestKeepOptimizerState(t *testing.T) {
	final := func(momentum float64, keep bool) []float32 {
		cfg := testConfig(t, 3)
		cfg.Rounds, cfg.Clients, cfg.ClientsPerRound = 2, 2, 0
		cfg.Optimizer.Momentum, cfg.KeepOptimizerState = momentum, keep
		if err := runJob(t, cfg); err != nil {
			t.Fatal(err)
		}
		ck, err := trainer.ReadCheckpoint(filepath.Join(cfg.dir, "model.ckpt"))
		if err != nil {
			t.Fatal(err)
		}
		return ck.State
	}
	if !slices.Equal(final(0, false), final(0, true)) {
		t.Error("keeping the state of plain SGD (none) changed the model")
	}
	if slices.Equal(final(0.9, false), final(0.9, true)) {
		t.Error("keeping SGD's momentum across rounds changed nothing")
	}
}
func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestWorkerOf(t *testing.T) {
	for _, tt := range []struct {
		size, client, want int
	}{
		{size: 2, client: 0, want: 1},
		{size: 2, client: 7, want: 1},
		{size: 3, client: 0, want: 1},
		{size: 3, client: 1, want: 2},
		{size: 3, client: 2, want: 1},
		{size: 5, client: 3, want: 4},
		{size: 5, client: 4, want: 1},
		{size: 5, client: 99, want: 4},
	} {
		j := &job{size: tt.size}
		if got := j.workerOf(tt.client); got != tt.want {
			t.Errorf("workerOf(%d) with %d ranks = %d, want %d", tt.client, tt.size, got, tt.want)
		}
	}
}

// ownRate is a strategy that chooses the clients' learning rate, under a
// name fed has never heard of.
type ownRate struct {
	strategy.FedAvg
	lr float64
}

func (o ownRate) Name() string      { return "own-rate" }
func (o ownRate) ClientLR() float64 { return o.lr }

func TestClientLR(t *testing.T) {
	fedadam, err := strategy.New(strategy.Config{Name: "fedadam", EtaL: 0.02})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		strat strategy.Strategy
		want  float64
	}{
		{"fedavg keeps the base rate", strategy.FedAvg{}, 0.05},
		{"fedadam with eta_l", fedadam, 0.02},
		{"fedadam without eta_l", strategy.NewFedAdam(0.1, 0.9, 0.99, 1e-9), 0.05},
		{"any strategy with the capability", ownRate{lr: 0.3}, 0.3},
		{"the capability reporting 0", ownRate{}, 0.05},
	} {
		if got := clientLR(tt.strat, 0.05); got != tt.want {
			t.Errorf("%s: clientLR = %g, want %g", tt.name, got, tt.want)
		}
	}
}
