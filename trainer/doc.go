// Package trainer trains and evaluates one model on one client's data: the
// local half of a federated round. The federated half — selecting clients,
// moving models over collectives, aggregating — is in [trainer/fed].
//
// Start from [Train] (local epochs of mini-batch training with an
// optimizer from trainer/optim, FedProx's proximal term, gradient
// clipping) and [Evaluate] (accuracy, loss and a confusion matrix, from
// which per-class precision and recall follow).
//
// # Usage
//
//	m, _ := model.New("MNIST2NN", model.DefaultConfig())
//	opt, _ := optim.New(optim.DefaultConfig())
//	res, err := trainer.Train(ctx, m, opt, set, idx, trainer.LocalConfig{Epochs: 1, Batch: 10, Seed: 7})
//	met, err := trainer.Evaluate(ctx, m, test, testIdx, 100)
//
// # Epochs and batches
//
// A client makes ceil(Epochs·n/B) steps of B samples, drawn from a stream
// of seeded permutations of its n samples (one per epoch), so fractional
// epochs (FLTK's epochs_per_cycle = 0.5) and a last partial batch need no
// special case: the graph's batch size is static, and the stream simply
// runs into the next permutation.
//
// The package is independent of any transport: it never communicates.
package trainer
