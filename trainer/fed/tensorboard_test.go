package fed

import (
	"math"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/fltk-go/fltk/trainer/tboard/tboardtest"
)

// near reports whether a float32 read from an event file equals a value
// metrics.csv or clients.csv printed with 6 significant digits.
func near(got float32, csv string) bool {
	want, err := strconv.ParseFloat(csv, 64)
	if err != nil {
		return false
	}
	return math.Abs(float64(got)-want) <= 1e-5*math.Abs(want)+1e-9
}

// TestTensorBoardMatchesCSV runs a 2-round job with the CSV and the
// TensorBoard recorders and reads the event file back with an independent
// reader: every round's scalars equal metrics.csv, every client's equal
// clients.csv.
func TestTensorBoardMatchesCSV(t *testing.T) {
	tj := testConfig(t, 3)
	tj.Rounds = 2
	csv := NewCSV(CSVConfig{Dir: tj.dir})
	defer csv.Close()
	tb := NewTensorBoard(filepath.Join(tj.dir, "tb"))
	defer tb.Close()
	if err := runWith(t, tj, MultiRecorder(csv, tb)); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(tj.dir, "tb", "events.out.tfevents.*"))
	if len(files) != 1 {
		t.Fatalf("event files %v, want one", files)
	}
	evs, err := tboardtest.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1+tj.Rounds || evs[0].FileVersion != "brain.Event:2" {
		t.Fatalf("%d events (first %+v), want the file version and %d rounds", len(evs), evs[0], tj.Rounds)
	}
	byRound := map[int64]map[string]float32{}
	for _, ev := range evs[1:] {
		vals := map[string]float32{}
		for _, v := range ev.Values {
			if _, dup := vals[v.Tag]; dup {
				t.Errorf("step %d: tag %q twice", ev.Step, v.Tag)
			}
			vals[v.Tag] = v.Value
		}
		byRound[ev.Step] = vals
	}

	metrics := readCSV(t, filepath.Join(tj.dir, "metrics.csv"))
	col := map[string]int{}
	for i, h := range metrics[0] {
		col[h] = i
	}
	tags := map[string]string{ // tag → metrics.csv column
		TagTestAccuracy: "test_accuracy", TagTestLoss: "test_loss", TagTrainLoss: "train_loss",
		TagRoundDuration: "round_seconds", TagTrainDuration: "train_seconds", TagCommDuration: "comm_seconds",
		TagEvalDuration: "eval_seconds", TagBytesUp: "bytes_up", TagBytesDown: "bytes_down", TagCompression: "compression_up",
		TagWorkers: "workers",
	}
	for _, row := range metrics[1:] {
		round, _ := strconv.ParseInt(row[0], 10, 64)
		vals, ok := byRound[round]
		if !ok {
			t.Fatalf("no event at step %d", round)
		}
		for tag, c := range tags {
			if got, ok := vals[tag]; !ok || !near(got, row[col[c]]) {
				t.Errorf("round %d: %q = %v (present %v), metrics.csv %s = %s", round, tag, got, ok, c, row[col[c]])
			}
		}
		// metrics.csv has no aggregation time: it is what the other
		// phases leave of the round (CommTime is clamped at 0).
		agg, ok := vals[TagAggDuration]
		f := func(c string) float64 { x, _ := strconv.ParseFloat(row[col[c]], 64); return x }
		rest := f("round_seconds") - f("train_seconds") - f("eval_seconds") - f("comm_seconds")
		if !ok || agg < 0 || (f("comm_seconds") > 0 && math.Abs(float64(agg)-rest) > 1e-4) {
			t.Errorf("round %d: %q = %v (present %v), want round − train − eval − comm = %v", round, TagAggDuration, agg, ok, rest)
		}
	}

	clients := readCSV(t, filepath.Join(tj.dir, "clients.csv"))
	perRound := map[int64]int{}
	for _, row := range clients[1:] {
		round, _ := strconv.ParseInt(row[0], 10, 64)
		client, _ := strconv.Atoi(row[1])
		perRound[round]++
		vals := byRound[round]
		for tag, v := range map[string]string{ClientTag(client, TagTrainLoss): row[5], ClientTag(client, TagTrainDuration): row[6]} {
			if got, ok := vals[tag]; !ok || !near(got, v) {
				t.Errorf("round %d: %q = %v (present %v), clients.csv says %s", round, tag, got, ok, v)
			}
		}
	}
	for round, vals := range byRound {
		if vals[TagLostRanks] != 0 {
			t.Errorf("step %d: %q = %v, want 0", round, TagLostRanks, vals[TagLostRanks])
		}
		if want := len(tags) + 2 + 2*perRound[round]; len(vals) != want { // + aggregation duration, lost ranks
			t.Errorf("step %d has %d tags, want %d (%d clients)", round, len(vals), want, perRound[round])
		}
	}
}
