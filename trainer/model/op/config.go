package op

import (
	"fmt"

	"github.com/fltk-go/fltk/trainer/internal/parallel"
)

// Config configures the ops of a graph: those that split their work over
// the cores ([Conv2d], [MaxPool2d], [BatchNorm], [ReLU]) take it.
type Config struct {
	// Team runs the ops' parallel loops. Required: its owner (the model,
	// or the job its models share it in) closes it after the graph's
	// last run.
	Team *parallel.Team

	// BatchedConvMaxHW is the largest output plane of a convolution, in
	// elements (Ho·Wo), for which the convolution puts the whole batch's
	// columns side by side and runs one product per pass instead of one
	// per sample: on small planes (a ResNet's last stages, 2×2 to 4×4) a
	// per-sample product packs the whole weight matrix for a handful of
	// columns and rewrites all of dW every sample. 0 batches no
	// convolution. Default 49 (7×7): batching makes FashionMNISTResNet's
	// steps several times faster and Cifar10CNN's last stage (8×8)
	// slower (BenchmarkTrainStep, model=FashionMNISTResNet and
	// Cifar10CNN).
	BatchedConvMaxHW int
}

// DefaultConfig returns the tuning of fltk's models, without a Team:
// BatchedConvMaxHW 49.
func DefaultConfig() Config {
	return Config{BatchedConvMaxHW: 7 * 7}
}

// Validate rejects a Config without a Team and a negative
// BatchedConvMaxHW.
func (c *Config) Validate() error {
	if c.Team == nil {
		return fmt.Errorf("%w: no Team", ErrConfig)
	}
	if c.BatchedConvMaxHW < 0 {
		return fmt.Errorf("%w: BatchedConvMaxHW %d is negative", ErrConfig, c.BatchedConvMaxHW)
	}
	return nil
}
