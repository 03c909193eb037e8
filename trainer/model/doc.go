// Package model provides the neural networks fltk trains, built on gorgonia
// (v0.9.18) behind one interface, [Model]. Start from [New] with a name
// from [Names] and a [Config]; [Info] gives a model's static facts without
// building it.
//
// # Usage
//
//	m, err := model.New("MNISTCNN", model.DefaultConfig()) // Batch 10, EvalBatch 100
//	defer m.Close()
//	params, grads := m.Params(), m.Grads()
//	loss, err := m.TrainStep(x, y)   // x: 10·784 values, y: 10 labels
//	for i := range params {          // any optimizer, e.g. plain SGD
//		for j := range params[i] {
//			params[i][j] -= lr * grads[i][j]
//		}
//	}
//	lossSum, err := m.Evaluate(testX, testY, n, pred) // n ≤ 100
//	state := m.State(nil) // learnables, then BatchNorm buffers
//	err = other.LoadState(state)
//
// # Models
//
//	MNIST2NN            McMahan et al. 2017: MLP 784-200-200-10              199,210 params
//	MNISTCNN            McMahan et al. 2017: 2×(conv5×5 same, pool), FC 512 1,663,370 params
//	FashionMNISTCNN     FLTK: 2×(conv5×5, BN, ReLU, pool), FC 1568-10          29,034 params + 96 buffers
//	Cifar10CNN          FLTK: 3×2×(conv3×3, ReLU, BN) + pools, FC 128, FC 10  551,466 params + 896 buffers
//	Cifar10ResNet       FLTK (kuangliu): ResNet-18, avgpool 4, FC 512-10    11,173,962 params + 9,600 buffers
//	Cifar100ResNet      FLTK (weiaicunzai): ResNet-18, global pool, FC 100  11,220,132 params + 9,600 buffers
//	Cifar100VGG         FLTK: VGG-16-BN, FC 4096-4096-100 with dropout      34,015,396 params + 8,448 buffers
//	FashionMNISTResNet  FLTK: conv7×7/2 stem, 8 pre-activation blocks       11,177,482 params + 6,912 buffers
//	CharLSTM            embedding, LSTM, FC at every step (V 80, E 8, H 128)    81,104 params
//
// The parameter counts of FLTK's nets are those PyTorch gives for them.
// FashionMNISTResNet replaces FLTK's AvgPool2d(3), which fails on the 1×1
// maps of a 28×28 input, by a global average pool (FLTK's own later fix;
// the count is unchanged).
//
// CharLSTM is a next-character model for the text data sets: a sample is
// a window of Config.SeqLen token ids (stored as float32, integers in [0,
// Classes)) with one label per step, the next token; Classes is the
// vocabulary size V, and Config.Embed and Config.Hidden set E and H. Its
// loss is the mean cross-entropy over the Batch·SeqLen positions, and
// Evaluate sums over n·SeqLen positions and writes n·SeqLen predictions.
// [Info] has no InputShape for it (the window length is a Config field).
//
// Cifar10CNN drops FLTK's final softmax (FLTK applies CrossEntropyLoss to
// softmax outputs, a double softmax): every model here returns logits and
// the loss is LogSoftMax followed by the negative log-likelihood, averaged
// over the batch. Predictions are the argmax of the logits.
//
// # Graphs and weights
//
// A model holds two compiled graphs with static shapes: a training graph
// for Config.Batch samples (forward, loss, gradients) and a forward-only
// evaluation graph for up to Config.EvalBatch samples (BatchNorm with its
// running statistics, no dropout; a short batch is padded with zeros). The
// evaluation graph's learnables are bound to the training graph's arrays,
// so the weights are never copied and an optimizer's in-place updates
// through Params are seen by both; the few BatchNorm statistics are copied
// into the evaluation graph when TrainStep or LoadState changed them.
//
// TrainStep overwrites the gradients (Grads) with those of the batch —
// copied from the gradient nodes after the run; nothing accumulates across
// steps — and never changes the learnables: optimisation, clipping and
// proximal terms are the caller's (trainer/optim). gorgonia's solvers and
// dual values are not used.
//
// Initialisation follows PyTorch's defaults from a math/rand/v2 PCG seeded
// with Config.Seed: convolution and linear weights and biases are
// U(±1/√fan_in) (Kaiming-uniform with a = √5), BatchNorm γ = 1, β = 0,
// running mean 0 and variance 1. Dropout masks come from another stream of
// the same seed.
//
// # Adding models
//
// A model is a registry entry, registered from an init function in its own
// file: the static [ModelInfo] and a function that builds the network from
// the input node with the layer helpers of *builder — Conv2d (optional
// bias), BatchNorm and BatchNormEps ((1,C,1,1) or (1,C) γ and β; 4-d or
// 2-d input), Linear, ReLU, MaxPool2d and MaxPool2dPad, AvgPool2d,
// GlobalAvgPool, Flatten, Add, Dropout, BasicBlock and PreActBlock (ResNet
// blocks), Embedding and LSTM. The order of the helper calls is the State
// order. The same function builds the training graph, the evaluation graph
// and, in the tests, float64 graphs for gradient checks.
//
// The layers run on the fused ops of trainer/model/op (convolution, max
// pool, BatchNorm, linear, ReLU, LSTM, the loss): how an op computes its
// values and gradients, its buffers and its matrix products are that
// package's; which networks exist, their weights and State are this
// one's.
//
// # Concurrency
//
// A Model is used by one goroutine at a time. Distinct Models may train
// and evaluate in parallel goroutines; graph construction is serialised
// internally because gorgonia keeps unsynchronised package state for it.
//
// The ops split a batch over the cores on the helper goroutines of a
// parallel.Team (trainer/internal/parallel): Config.Team, shared by the
// models of a job and closed by its owner, or, if that is nil, a Team
// the model makes and stops in Close (or, should the model be dropped
// unclosed, once it is garbage). Models training side by side share the
// cores either way: a loop splits only over the cores no other loop in
// the process is busy on.
package model
