// Package strategy aggregates federated clients' updates into the next
// global model. Start from [New]:
//
//	s, err := strategy.New(strategy.Config{Name: "fedadam", Eta: 0.1})
//	mu := s.ProximalMu()  // clients add mu/2·‖w − w_global‖² to their loss
//	// … clients train, each returning an Update{State, Samples, Steps} …
//	err = s.Aggregate(strategy.Info{Round: r, Buffers: bufs}, global, updates)
//
// The strategies are pure code over flat float32 states: no I/O, no
// communication. Means are accumulated in float64 in a fixed order
// ([WeightedMean]), so every rank that aggregates the same updates gets
// the same bits.
//
// # Strategies
//
//   - fedavg ([FedAvg]): the sample-weighted mean, McMahan et al. 2017.
//   - mean ([Mean]): FLTK's unweighted mean of the full state.
//   - fedprox ([FedProx]): Li et al. 2020; the server is FedAvg, the
//     clients add the proximal term with μ = ProximalMu > 0.
//   - fedadam ([FedAdam]): Reddi et al. 2021 as Flower's FedAdam: a server
//     Adam step (no bias correction) from the global state towards the
//     FedAvg mean; buffers (BatchNorm statistics) just take the mean.
//   - median ([Median]): the coordinate-wise median of the clients' states
//     (Yin et al. 2018), weights ignored; Individual, so the federated
//     round gathers every state instead of reducing them.
//
// # Pre-averaged updates
//
// The weighted mean is linear, so a caller that can reduce states cheaply
// (a collective weighted-mean reduce) passes Aggregate one pre-averaged
// Update — the WeightedMean under [Strategy.Weight], with Samples the sum
// of the samples — instead of every update. Every strategy whose
// Individual method returns false gives the same result either way.
//
// # Extending
//
//   - Krum, trimmed mean: robust rules are not linear. Like [Median] they
//     return Individual() == true, and the caller gathers every update.
//   - FedNova (Wang et al. 2020): with p_k = n_k/n and τ_k = Steps, the new
//     state is g − τ_eff·A·(g − M), where M is the weighted mean with
//     weights n_k/τ_k, A = Σ p_k/τ_k and τ_eff = Σ p_k·τ_k. M fits the
//     pre-averaged path through Weight; A and τ_eff are sums of per-client
//     scalars, so FedNova is either Individual, or the caller reduces those
//     two scalars alongside the state and passes them in (a field of Info
//     to add then).
//   - SCAFFOLD (Karimireddy et al. 2020) needs a server control variate c
//     and the clients' control deltas: implement [ControlVariates], whose
//     Control is sent with the global state and whose AggregateControls
//     folds the deltas, reduced like states, into c.
//   - Strategies with state across rounds implement [Stateful].
//   - Strategies that set the clients' learning rate (FedAdam's eta_l)
//     implement [ClientLearningRate]; the caller asks for the capability,
//     never for a strategy's name.
//
// # Errors
//
// Aggregate checks before it writes, so on error the global state is
// unchanged: no updates, zero total weight, and — in a [ClientError]
// naming the client, so the caller can drop it — a bad weight, a state of
// the wrong length, or NaN/Inf in a state.
package strategy
