// Package optim holds the local optimizers and learning-rate schedules of
// federated clients, over models that expose their learnable tensors as
// flat float32 slices. Start from [New] and [NewSchedule]:
//
//	opt, err := optim.New(optim.Config{Name: "sgd", LR: 0.01, Momentum: 0.9})
//	sched, err := optim.NewSchedule(optim.ScheduleConfig{Name: "min-step", StepSize: 50, Gamma: 0.5, MinLR: 1e-10})
//	opt.SetLR(sched.LR(0.01, round))
//	for each batch {
//		grads := m.Backward(batch)      // [][]float32, shaped like params
//		optim.ClipGradNorm(grads, 1.0)  // optional
//		opt.Step(params, grads)         // params updated in place
//	}
//
// # Semantics
//
// [SGD] and [Adam] follow PyTorch's torch.optim.SGD (dampening 0) and
// torch.optim.Adam (L2 weight decay, bias correction, amsgrad off) step
// for step, in float32 arithmetic. Their hot loops make one pass over the
// parameters and allocate only on the first Step (the state buffers).
//
// Schedules are closed functions of (base rate, epoch), so a client that
// skips rounds gets the same rate as one that took part in all of them for
// the same count of decay steps: the caller chooses what epoch counts
// (FLTK steps the schedule once per round a client is selected). "min-step"
// is FLTK's MinCapableStepLR: StepLR that skips any decay that would go
// below min_lr.
//
// # Panics
//
// Step panics when params and grads, or params and the optimizer's state,
// differ in shape: that is a programmer error (call Reset between models).
package optim
