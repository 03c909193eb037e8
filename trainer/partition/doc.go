// Package partition splits a labelled data set over federated clients,
// IID or non-IID. Start from [Split]:
//
//	cfg := partition.Config{Scheme: "dirichlet", Args: []float64{0.1}, Seed: 7}
//	parts, err := partition.Split(labels, 10, 100, nil, cfg) // parts[c] = client c's sample indices
//	hist := partition.Histogram(labels, 10, parts[c])
//
// # Determinism
//
// A partition is a pure function of (labels, classes, clients, groups,
// scheme, args, seed): every rank computes the same split by itself, and
// the number of ranks is not an input. All randomness comes from PCG
// streams seeded with Config.Seed; each client's list is finally shuffled
// with its own stream. (Results are bit-identical on one architecture;
// the lognormal and gamma draws use math.Exp and math.Log.)
//
// # Schemes
//
// Arguments are Config.Args in order; defaults in brackets. FLTK's
// spellings are accepted ("uniform", "limit labels", "q sampler",
// "n labels"); FLTK's trailing seed argument is Config.Seed instead.
// Where a label's samples are divided among clients they are first put in
// a seeded random order (FLTK cuts them in data set order).
//
//   - iid: shuffle, then deal equal parts (sizes differ by at most 1).
//   - shards [k=2]: McMahan et al. 2017. Sort by label (stable), cut into
//     clients·k shards of near-equal size, give each client k random
//     shards: 60 000 MNIST samples and 100 clients give 200 shards of 300.
//   - limit-labels [limit=2]: FLTK's "limit labels". Each client holds
//     exactly limit distinct labels; each label is held by
//     ⌊limit·clients/classes⌋ or ⌈…⌉ clients and its samples are split
//     evenly among them. The assignment is random: a round-robin deck
//     mixed by degree-preserving swaps. FLTK requires clients % classes == 0;
//     here any clients with limit ≤ classes ≤ limit·clients will do.
//   - q-sampler [q=0.5]: FLTK's "q sampler". Client c is in group
//     c % classes; a sample of label m goes to group m with probability q,
//     else to a uniformly random other group, and is dealt round-robin
//     within the group. Requires clients % classes == 0.
//   - dirichlet [alpha=0.5]: FLTK's Dirichlet sampler (label and quantity
//     skew). Per label, p ~ Dir(alpha·1) over clients (Marsaglia–Tsang
//     gamma variates); client c takes ⌊p_c·n⌋ of the label's n samples
//     and the last client the remainder, as FLTK does. Small alpha (0.1)
//     with many clients can leave a client empty, which is an error.
//   - n-labels [n=2]: FLTK core's "n labels". Client c takes the next n
//     labels of a round-robin deck of ⌈n·clients/classes⌉ copies of the
//     seeded-permuted labels; each label is split evenly among the clients
//     that drew it. If n·clients < classes the labels nobody drew are left
//     out: one of two schemes (with strided) that may not assign every
//     sample.
//   - quantity-skew [sigma=2, min_samples=1]: FedProx's power law. Client
//     sizes are min_samples plus a share of the rest proportional to
//     lognormal(0, sigma) weights; labels are IID.
//   - natural: the groups argument gives each sample's natural owner (a
//     Bible book, a writer). The distinct groups are shuffled and dealt to
//     clients round-robin, so clients ≤ groups, and clients == groups
//     gives one group each.
//   - strided [spare_shards=0]: FLTK's "uniform" sampler as it was in
//     v0.3.1 (spare_shards = 1) and later (0): client c takes the indices
//     i with i ≡ c + spare_shards (mod clients + spare_shards), in data
//     set order before the final shuffle. With spare_shards > 0 the first
//     shards are left out (FLTK v0.3.1 gave the federator's shard to
//     nobody: 2 clients on 60 000 images hold 20 000 each). No randomness
//     but the final shuffle. ("uniform" itself means iid.)
//
// # Errors
//
// Split returns errors wrapping the sentinels in errors.go, naming the
// values involved: too few clients, unknown scheme (listing the valid
// ones), bad or impossible arguments, and a client left with no samples
// (naming the client and the scheme).
package partition
