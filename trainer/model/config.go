package model

import (
	"fmt"

	"github.com/fltk-go/fltk/trainer/internal/parallel"
)

// Defaults of the sequence models' sizes (CharLSTM), used when the Config
// field is 0.
const (
	// DefaultSeqLen is the window length T, as trainer/data's
	// DefaultSeqLen (LEAF's Shakespeare).
	DefaultSeqLen = 80

	// DefaultHidden is the number of LSTM units.
	DefaultHidden = 128

	// DefaultEmbed is the embedding width (McMahan et al. 2017 §3 and
	// LEAF use 8 for their character LSTM).
	DefaultEmbed = 8
)

// Config configures a [Model].
type Config struct {
	// Batch is the training batch size: TrainStep takes exactly Batch
	// samples, because graphs have static shapes. 0 means 10.
	Batch int

	// EvalBatch is the batch size of the separate forward-only evaluation
	// graph: Evaluate takes up to EvalBatch samples and pads the rest.
	// 0 means 100.
	EvalBatch int

	// Seed seeds the weight initialisation (and dropout masks, for models
	// that have dropout). The same name, Config and Seed give the same
	// initial State bit for bit.
	Seed uint64

	// Classes is the number of output classes; 0 means the model's
	// default ([ModelInfo].Classes). Otherwise ≥ 2. For the text model
	// CharLSTM it is the vocabulary size V (set it to the data set's
	// Classes).
	Classes int

	// SeqLen is the window length T of sequence models (CharLSTM): a
	// sample is T token ids with T labels, and InputShape is {T}. 0 means
	// DefaultSeqLen. Image models ignore it.
	SeqLen int

	// Hidden is the number of LSTM units H of sequence models; 0 means
	// DefaultHidden. Image models ignore it.
	Hidden int

	// Embed is the token embedding width E of sequence models; 0 means
	// DefaultEmbed. Image models ignore it.
	Embed int

	// Team runs the parallel loops of the model's ops (trainer/internal/
	// parallel). Models training side by side in one process share the
	// cores whether they share a Team or not; sharing one, created and
	// closed by the owner of the job, saves goroutines. nil: the model
	// creates its own with parallel.DefaultConfig() and closes it in
	// Close.
	Team *parallel.Team
}

// DefaultConfig returns Batch 10 (McMahan's B), EvalBatch 100, Seed 1 and
// the model's default number of classes and sizes.
func DefaultConfig() Config {
	return Config{Batch: 10, EvalBatch: 100, Seed: 1}
}

// Validate fills zero Batch and EvalBatch with their defaults and rejects
// negative sizes and a Classes of 1 or less (other than 0). Zero Classes,
// SeqLen, Hidden and Embed stay zero here: they mean the model's default,
// which [New] fills in (see [Model.Config]).
func (c *Config) Validate() error {
	if c.Batch == 0 {
		c.Batch = 10
	}
	if c.EvalBatch == 0 {
		c.EvalBatch = 100
	}
	if c.Batch < 1 {
		return fmt.Errorf("%w: Batch %d must be positive", ErrConfig, c.Batch)
	}
	if c.EvalBatch < 1 {
		return fmt.Errorf("%w: EvalBatch %d must be positive", ErrConfig, c.EvalBatch)
	}
	if c.Classes < 0 || c.Classes == 1 {
		return fmt.Errorf("%w: Classes %d must be 0 (the model's default) or at least 2", ErrConfig, c.Classes)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"SeqLen", c.SeqLen}, {"Hidden", c.Hidden}, {"Embed", c.Embed}} {
		if f.v < 0 {
			return fmt.Errorf("%w: %s %d must be 0 (the default) or positive", ErrConfig, f.name, f.v)
		}
	}
	return nil
}

// resolve fills the model-dependent zero fields of a validated c for s:
// Classes, and SeqLen, Hidden and Embed for token models.
func (c *Config) resolve(s spec) {
	if c.Classes == 0 {
		c.Classes = s.info.Classes
	}
	if !s.tokens {
		return
	}
	if c.SeqLen == 0 {
		c.SeqLen = DefaultSeqLen
	}
	if c.Hidden == 0 {
		c.Hidden = DefaultHidden
	}
	if c.Embed == 0 {
		c.Embed = DefaultEmbed
	}
}
