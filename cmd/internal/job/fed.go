package job

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/BurntSushi/toml"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/configs"
	"github.com/fltk-go/fltk/trainer/fed"
)

// Train runs the federated job of c on this rank. Rank 0 writes the
// results files into output.dir/job.name ([fed.CSV], with c as
// config.toml) and prints progress lines to out ([fed.Progress]).
func Train(ctx context.Context, comm *collective.Comm, c *configs.Config, out io.Writer) error {
	if comm.Rank() != 0 {
		return fed.Run(ctx, comm, c, nil)
	}
	csv, rec, err := Results(c, out)
	if err != nil {
		return err
	}
	err = fed.Run(ctx, comm, c, rec)
	if cerr := csv.Close(); err == nil {
		err = cerr
	}
	return err
}

// Results returns the federator's recorder for c: the CSV files in
// output.dir/job.name, then the progress lines on out. Close the CSV
// when the job is over.
func Results(c *configs.Config, out io.Writer) (*fed.CSV, fed.Recorder, error) {
	effective, err := EffectiveConfig(c)
	if err != nil {
		return nil, nil, err
	}
	dir := filepath.Join(c.Output.Dir, c.Job.Name)
	csv := fed.NewCSV(fed.CSVConfig{Dir: dir, Checkpoint: c.Output.Checkpoint, ConfigTOML: effective})
	return csv, fed.MultiRecorder(csv, fed.NewProgress(out, dir)), nil
}

// EffectiveConfig renders c as the config.toml of an experiment: a
// comment line, then every key, defaults filled in.
func EffectiveConfig(c *configs.Config) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintln(&b, "# The effective configuration of this experiment (defaults filled in).")
	if err := toml.NewEncoder(&b).Encode(c); err != nil {
		return nil, fmt.Errorf("job: encode the effective config: %w", err)
	}
	return b.Bytes(), nil
}
