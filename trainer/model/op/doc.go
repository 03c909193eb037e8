// Package op holds the fused gorgonia (v0.9.18) ops fltk's models run on:
// how a convolution, a max pool, BatchNorm, a linear layer, ReLU, an LSTM
// and the loss compute their values and gradients, on buffers they own,
// with their batches split over the cores. Which networks are built from
// them is trainer/model's business. Start from the constructors, which
// add an op to a graph: [Conv2d], [MaxPool2d], [BatchNorm], [ReLU],
// [Linear], [Bias], [LSTM], [Loss] and [LogSoftmax]; those that split
// their work over the cores take a [Config] with the [parallel.Team] that
// runs their loops.
//
// # Usage
//
//	team, _ := parallel.New(parallel.DefaultConfig())
//	defer team.Close() // after the graph's last run
//	cfg := op.DefaultConfig()
//	cfg.Team = team
//	h, err := op.Conv2d(cfg, x, w, b, 1, 2, false, "conv1") // 5×5 "same", no dx for the input
//	h, err = op.ReLU(cfg, h)
//	h, err = op.MaxPool2d(cfg, h, 2, 2, 0, true)
//	...
//	loss, labels, err := op.Loss(logits) // write labels before each run
//	_, err = gorgonia.Grad(loss, learnables...)
//
// # Buffers
//
// Every op allocates its output, gradient and scratch buffers when it is
// built and reuses them in every run (graphs have static shapes), so a
// training step allocates next to nothing in the ops. Each run overwrites
// an op's output entirely and no op reads its previous output: gorgonia's
// tape machine may hand an output's register to a later op once nothing
// reads the output any more (gorgonia#576). Gradients are assigned, not
// accumulated. The ops are used with gorgonia's tape machine, with Reset
// after every run, and without dual values: read the gradient nodes'
// values after each run.
//
// # Errors
//
// Constructors and the gradients' construction return errors wrapping
// [ErrBuild]; an op that fails while the graph runs returns one wrapping
// [ErrInput], and gorgonia's machine wraps it again. The ops wrap no
// error of their callers: a caller wraps theirs once.
//
// # Matrix products
//
// The default build multiplies with trainer/internal/gemm, which also
// packs a stride-1 "same" convolution's columns straight from its input
// and adds dx straight from the product's tiles; with the openblas build
// tag (cgo, libopenblas-dev) products go through OpenBLAS. [BLAS] names
// the build's. Both set gorgonia's BLAS (gorgonia.Use) to the same one.
//
// # Determinism
//
// Results do not depend on the number of cores or on how the work is
// split: every output element and every sum is computed by one goroutine
// in a fixed order, so training is reproducible from its seed.
package op
