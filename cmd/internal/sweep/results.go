package sweep

import (
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"strconv"

	"github.com/fltk-go/fltk/configs"
	"github.com/fltk-go/fltk/report"
)

// results describes what a task leaves in a run's folder and how it
// becomes sweep.csv columns. The columns after the grid keys are
// report's, which reads sweep.csv back: report.TrainSweep.Columns() for
// training jobs (job.task = "train"), report.BenchSweep.Columns() for
// benchmark jobs ("bench").
type results struct {
	columns []string // seed, np, results before wall_seconds, wall_seconds, results after, status
	wallAt  int      // how many of read's values come before wall_seconds
	file    string   // the file read writes the columns from
	// read returns the values of columns other than seed, np,
	// wall_seconds and status, from file.
	read func(path string, cfg *configs.Config) ([]string, error)
}

func resultsOf(task string) results {
	if task == "bench" {
		return results{columns: report.BenchSweep.Columns(), wallAt: 3, file: "bench.csv", read: readBench}
	}
	return results{columns: report.TrainSweep.Columns(), wallAt: 3, file: "metrics.csv", read: readTrain}
}

// readCSV reads a CSV file with a header and at least one row; it returns
// the rows and the header's column indices, checking that want are there.
func readCSV(path string, want ...string) ([][]string, map[string]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(recs) < 2 {
		return nil, nil, fmt.Errorf("%s: no rows", path)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	for _, h := range want {
		if _, ok := col[h]; !ok {
			return nil, nil, fmt.Errorf("%s: no column %s", path, h)
		}
	}
	return recs[1:], col, nil
}

// readTrain sums up a training job's metrics.csv: final and best test
// accuracy, the first round reaching federated.target_accuracy (empty if
// none or no target), then total bytes up and down.
func readTrain(path string, cfg *configs.Config) ([]string, error) {
	rows, col, err := readCSV(path, "round", "test_accuracy", "bytes_up", "bytes_down")
	if err != nil {
		return nil, err
	}
	target := cfg.Federated.TargetAccuracy
	final, best, up, down := 0.0, math.Inf(-1), 0.0, 0.0
	reached := ""
	for _, rec := range rows {
		var v [4]float64
		for i, h := range []string{"round", "test_accuracy", "bytes_up", "bytes_down"} {
			if v[i], err = strconv.ParseFloat(rec[col[h]], 64); err != nil {
				return nil, fmt.Errorf("%s: %s: %w", path, h, err)
			}
		}
		final, best = v[1], max(best, v[1])
		up += v[2]
		down += v[3]
		if target > 0 && reached == "" && v[1] >= target {
			reached = strconv.FormatFloat(v[0], 'f', 0, 64)
		}
	}
	return []string{fmtFloat(final), fmtFloat(best), reached,
		strconv.FormatFloat(up, 'f', 0, 64), strconv.FormatFloat(down, 'f', 0, 64)}, nil
}

// readBench reads a benchmark job's bench.csv: median_us, min_us and gbps
// of its one row.
func readBench(path string, _ *configs.Config) ([]string, error) {
	rows, col, err := readCSV(path, "median_us", "min_us", "gbps")
	if err != nil {
		return nil, err
	}
	if len(rows) != 1 {
		return nil, fmt.Errorf("%s: %d rows, want 1", path, len(rows))
	}
	return []string{rows[0][col["median_us"]], rows[0][col["min_us"]], rows[0][col["gbps"]]}, nil
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
