package fed

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/runtime/runtimetest"
	"github.com/fltk-go/fltk/trainer"
)

// sampleCheckpoint returns a checkpoint with every field set.
func sampleCheckpoint() *Checkpoint {
	return &Checkpoint{
		Round: 7, Done: true, ConfigHash: [32]byte{1, 2, 3, 31: 9}, Seed: -5, WorldSize: 3, Clients: 4,
		Net: "MNIST2NN", Buffers: [][2]int{{4, 6}}, Global: []float32{1, -2, 3.5, 0, 7, 8},
		Strategy: "fedadam", StrategyState: []byte("fedadam1state"),
		Optimizers: [][]byte{nil, {1, 2}, {}, nil},
		Residuals:  [][]float32{nil, {0.5, -0.25}, nil},
		ModelRNG:   [][][]byte{nil, {{9, 9}, nil}, {{}}},
		Files:      map[string]int64{"metrics.csv": 120, "tb/events.out.tfevents.1.h": 77},
	}
}

// TestCheckpointRoundTrip: DecodeCheckpoint(EncodeCheckpoint(c)) is c,
// nil and empty byte strings kept apart.
func TestCheckpointRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		name string
		c    *Checkpoint
	}{
		{"every field", sampleCheckpoint()},
		{"minimal", &Checkpoint{Round: 1, Net: "x", Global: []float32{}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeCheckpoint(EncodeCheckpoint(tt.c))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.c) {
				t.Errorf("got  %+v\nwant %+v", got, tt.c)
			}
		})
	}
}

// withCRC returns b with its trailing CRC recomputed.
func withCRC(b []byte) []byte {
	b = bytes.Clone(b)
	binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], castagnoli))
	return b
}

// TestReadCheckpointErrors: a truncated, corrupt or foreign checkpoint
// file is an ErrCheckpoint error naming the file, never a panic.
func TestReadCheckpointErrors(t *testing.T) {
	good := EncodeCheckpoint(sampleCheckpoint())
	version2 := bytes.Clone(good)
	binary.LittleEndian.PutUint32(version2[len(ckptMagic):], 2)
	flipped := bytes.Clone(good)
	flipped[len(good)/2] ^= 0x10
	hugeName := bytes.Clone(good)
	// The net name's length, after magic, version, round, done, hash, seed, world, clients.
	binary.LittleEndian.PutUint32(hugeName[len(ckptMagic)+4+8+1+32+8+4+4:], 1<<31)
	cases := []struct {
		name, want string
		b          []byte
	}{
		{"empty", "bad magic", nil},
		{"not a checkpoint", "bad magic", []byte("round,test_accuracy\n1,0.5\n")},
		{"model.ckpt instead", "bad magic", append([]byte("FLTKCKP1"), make([]byte, 40)...)},
		{"other version", "format version 2", withCRC(version2)},
		{"bit flip", "checksum mismatch", flipped},
		{"bit flip, CRC fixed", "", withCRC(hugeName)},
		{"trailing byte", "checksum mismatch", append(bytes.Clone(good), 0)},
	}
	for n := 0; n < len(good); n += 7 {
		cases = append(cases, struct {
			name, want string
			b          []byte
		}{"truncated", "", good[:n]})
	}
	dir := t.TempDir()
	for _, tt := range cases {
		path := filepath.Join(dir, CheckpointFile)
		if err := os.WriteFile(path, tt.b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ReadCheckpoint(path)
		if !errors.Is(err, ErrCheckpoint) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s (%d bytes): %v, want ErrCheckpoint naming %s and saying %q", tt.name, len(tt.b), err, path, tt.want)
		}
	}
	if _, err := ReadCheckpoint(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
}

// FuzzDecodeCheckpoint: no input makes DecodeCheckpoint panic, and what
// it accepts encodes back to the same bytes.
func FuzzDecodeCheckpoint(f *testing.F) {
	f.Add(EncodeCheckpoint(sampleCheckpoint()))
	f.Add(EncodeCheckpoint(&Checkpoint{}))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Most inputs die at the checksum: fix it so the fields get parsed.
		if len(b) >= len(ckptMagic)+8 {
			copy(b, ckptMagic)
			binary.LittleEndian.PutUint32(b[len(ckptMagic):], CheckpointVersion)
			b = withCRC(b)
		}
		c, err := DecodeCheckpoint(b)
		if err != nil {
			if !errors.Is(err, ErrCheckpoint) {
				t.Errorf("error %v does not wrap ErrCheckpoint", err)
			}
			return
		}
		if got := EncodeCheckpoint(c); !bytes.Equal(got, b) {
			t.Errorf("accepted %x but encodes %x", b, got)
		}
	})
}

// stopAfter is a Recorder that cancels the job after round n was
// recorded: a crash of the federator between rounds n and n+1.
type stopAfter struct {
	n      int
	cancel context.CancelFunc
}

var errStopped = errors.New("stopped by the test")

func (*stopAfter) Start(Setup) error { return nil }
func (s *stopAfter) Round(r RoundResult) error {
	if r.Round == s.n {
		s.cancel()
		return errStopped
	}
	return nil
}
func (*stopAfter) Finish(trainer.Checkpoint) error { return nil }

// runResumable runs tj on a fresh world with a CSV recorder and a
// checkpoint writer in tj.dir, from checkpoint ck if not nil; with stop
// > 0 the federator stops after recording round stop.
func runResumable(t *testing.T, tj *testJob, ck *Checkpoint, stop int) error {
	t.Helper()
	srv := runtimetest.RunServer(t, nil)
	ws := runtimetest.RunWorld(t, srv, "fedtest", tj.world, nil)
	cc := collective.DefaultConfig()
	cc.Codec = tj.codec
	comms := runtimetest.Comms(t, ws, cc)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := os.MkdirAll(tj.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	csv := NewCSV(CSVConfig{Dir: tj.dir, Checkpoint: true, Resume: ck})
	defer csv.Close()
	recs := []Recorder{csv}
	if stop > 0 {
		recs = append(recs, &stopAfter{n: stop, cancel: cancel})
	}
	recs = append(recs, NewCheckpointWriter(filepath.Join(tj.dir, CheckpointFile), [32]byte{7}))
	rec := MultiRecorder(recs...)
	return runtimetest.OnAll(tj.world, func(r int) error {
		var rrec Recorder
		var rck *Checkpoint
		if r == 0 {
			rrec, rck = rec, ck
		}
		if ck != nil {
			return Resume(ctx, comms[r], tj.Config, rrec, rck)
		}
		return Run(ctx, comms[r], tj.Config, rrec)
	})
}

// deterministicColumns drops the timing columns of a CSV file's rows.
func deterministicColumns(t *testing.T, path string, timing ...string) []string {
	t.Helper()
	rows := readCSV(t, path)
	var keep []int
	for i, h := range rows[0] {
		if !strings.HasSuffix(h, "_seconds") && !contains(timing, h) {
			keep = append(keep, i)
		}
	}
	var out []string
	for _, r := range rows {
		var f []string
		for _, i := range keep {
			f = append(f, r[i])
		}
		out = append(out, strings.Join(f, ","))
	}
	return out
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// TestResumeMatchesUninterrupted: a job stopped after round 3, with its
// last checkpoint after round 2, and resumed from it, ends with the same
// metrics.csv and clients.csv (but the times) and the same model.ckpt,
// bit for bit, as the job run without a stop. The cases cover the state
// a checkpoint must carry (FedAdam's moments, the clients' momentum and
// Adam moments with keep_optimizer_state, the error-feedback residuals of
// a lossy codec) and what Resume recomputes (the clients' scheduler
// epochs).
func TestResumeMatchesUninterrupted(t *testing.T) {
	for _, tt := range []struct {
		name  string
		setup func(tj *testJob)
	}{
		{"fedadam, momentum kept", func(tj *testJob) {
			tj.Strategy.Name = "fedadam"
			tj.Strategy.EtaL = 0.05
			tj.Optimizer.Momentum = 0.9
			tj.KeepOptimizerState = true
			tj.Schedule.Name, tj.Schedule.StepSize, tj.Schedule.Gamma = "step", 1, 0.5 // per-client epochs matter
		}},
		{"int8 residuals, adam kept", func(tj *testJob) {
			tj.codec = collective.CodecInt8
			tj.Optimizer.Name = "adam"
			tj.Optimizer.LR = 0.001
			tj.KeepOptimizerState = true
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			full := testConfig(t, 3)
			full.Rounds, full.Checkpoints, full.CheckpointEvery = 5, true, 2
			tt.setup(full)
			if err := full.Validate(); err != nil {
				t.Fatal(err)
			}
			cut := *full
			cut.dir = filepath.Join(t.TempDir(), "cut")
			if err := runResumable(t, full, nil, 0); err != nil {
				t.Fatal(err)
			}
			if err := runResumable(t, &cut, nil, 3); !errors.Is(err, errStopped) {
				t.Fatalf("stopped run: %v, want %v", err, errStopped)
			}
			if n := len(readCSV(t, filepath.Join(cut.dir, "metrics.csv"))); n != 4 {
				t.Fatalf("the stopped run recorded %d rows, want a header and rounds 1-3", n)
			}
			ck, err := ReadCheckpoint(filepath.Join(cut.dir, CheckpointFile))
			if err != nil {
				t.Fatal(err)
			}
			if ck.Round != 2 || ck.Done {
				t.Fatalf("checkpoint of round %d (done %v), want round 2", ck.Round, ck.Done)
			}
			if full.KeepOptimizerState && ck.Optimizers == nil {
				t.Error("the checkpoint holds no optimizer states")
			}
			if full.codec.Lossy() && ck.Residuals[1] == nil {
				t.Error("the checkpoint holds no residual for rank 1")
			}
			if err := runResumable(t, &cut, ck, 0); err != nil {
				t.Fatalf("resumed run: %v", err)
			}
			for _, f := range []string{"metrics.csv", "clients.csv", "classes.csv"} {
				want := deterministicColumns(t, filepath.Join(full.dir, f))
				got := deterministicColumns(t, filepath.Join(cut.dir, f))
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s of the resumed run:\n%s\nwant (uninterrupted):\n%s", f, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			}
			a, _ := os.ReadFile(filepath.Join(full.dir, "model.ckpt"))
			b, _ := os.ReadFile(filepath.Join(cut.dir, "model.ckpt"))
			if len(a) == 0 || !bytes.Equal(a, b) {
				t.Errorf("model.ckpt differs: %d bytes uninterrupted, %d resumed", len(a), len(b))
			}
			final, err := ReadCheckpoint(filepath.Join(cut.dir, CheckpointFile))
			if err != nil || final.Round != 5 || !final.Done {
				t.Fatalf("final checkpoint: %+v, %v; want round 5, done", final, err)
			}
			// A done job's checkpoint gathers nothing from the workers,
			// and resuming it only writes the final results again.
			if final.Optimizers != nil || slices.ContainsFunc(final.Residuals, func(r []float32) bool { return r != nil }) {
				t.Errorf("the final checkpoint holds worker state: optimizers %d, residuals %v", len(final.Optimizers), final.Residuals != nil)
			}
			if err := runResumable(t, &cut, final, 0); err != nil {
				t.Fatalf("resuming the done run: %v", err)
			}
			if got, want := deterministicColumns(t, filepath.Join(cut.dir, "metrics.csv")), deterministicColumns(t, filepath.Join(full.dir, "metrics.csv")); !reflect.DeepEqual(got, want) {
				t.Errorf("metrics.csv after resuming the done run:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// TestResumeRejectsCheckpointOfAnotherJob: a checkpoint that does not fit
// the job fails it on rank 0 with ErrCheckpoint, and the other ranks
// fail at once instead of waiting for rounds.
func TestResumeRejectsCheckpointOfAnotherJob(t *testing.T) {
	tj := testConfig(t, 3)
	tj.Checkpoints = true
	for _, tt := range []struct {
		name string
		ck   *Checkpoint
	}{
		{"another net", &Checkpoint{Round: 1, Net: "MNISTCNN", Global: []float32{1}}},
		{"another size", &Checkpoint{Round: 1, Net: "MNIST2NN", Global: []float32{1, 2}}},
		{"other clients", &Checkpoint{Round: 1, Net: "MNIST2NN", Global: make([]float32, 199210), Optimizers: make([][]byte, 2)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := runtimetest.RunServer(t, nil)
			comms := runtimetest.Comms(t, runtimetest.RunWorld(t, srv, "fedtest", tj.world, nil), collective.DefaultConfig())
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			errs := make([]error, tj.world)
			_ = runtimetest.OnAll(tj.world, func(r int) error {
				if r == 0 {
					errs[r] = Resume(ctx, comms[r], tj.Config, &fakeRecorder{}, tt.ck)
				} else {
					errs[r] = Resume(ctx, comms[r], tj.Config, nil, nil)
				}
				return nil
			})
			if !errors.Is(errs[0], ErrCheckpoint) {
				t.Errorf("rank 0: %v, want ErrCheckpoint", errs[0])
			}
			for r := 1; r < tj.world; r++ {
				if errs[r] == nil || !strings.Contains(errs[r].Error(), "rank 0 could not restore") {
					t.Errorf("rank %d: %v, want told that rank 0 could not restore the checkpoint", r, errs[r])
				}
			}
		})
	}
}
