package model

import "fmt"

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
	// default ([ModelInfo].Classes). Otherwise ≥ 2.
	Classes int
}

// DefaultConfig returns Batch 10 (McMahan's B), EvalBatch 100, Seed 1 and
// the model's default number of classes.
func DefaultConfig() Config {
	return Config{Batch: 10, EvalBatch: 100, Seed: 1}
}

// Validate fills zero Batch and EvalBatch with their defaults and rejects
// negative sizes and a Classes of 1 or less (other than 0).
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
	return nil
}
