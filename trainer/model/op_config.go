package model

import (
	"fmt"

	"github.com/fltk-go/fltk/trainer/internal/parallel"
)

// opConfig configures the ops of a graph.
type opConfig struct {
	// team runs the ops' parallel loops (required).
	team *parallel.Team

	// batchedConvMaxHW is the largest output plane, in elements (Ho·Wo),
	// for which a convolution puts the whole batch's columns side by side
	// and runs one product per pass instead of one per sample (see
	// convOp.batched). 0 batches no convolution.
	batchedConvMaxHW int
}

// defaultBatchedConvMaxHW is opConfig.batchedConvMaxHW of the models:
// batching makes the small planes of a ResNet's last stages (2×2 to 4×4)
// several times faster, and the 8×8 of Cifar10CNN's last stage slower
// (BenchmarkTrainStep, model=FashionMNISTResNet and Cifar10CNN).
const defaultBatchedConvMaxHW = 7 * 7

// validate checks c.
func (c opConfig) validate() error {
	if c.team == nil {
		return fmt.Errorf("model: op config without a team")
	}
	if c.batchedConvMaxHW < 0 {
		return fmt.Errorf("model: op config: batchedConvMaxHW %d is negative", c.batchedConvMaxHW)
	}
	return nil
}
