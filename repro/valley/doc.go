// Package valley is the classification protocol of the paper's App. A.3
// and A.4, the part the FashionMNIST (MLP) and CIFAR-10 (ResNet-18)
// experiments share: configuration-driven phases over any layers.Module
// and a data.Set.
//
//  1. The valley phase (Env.Valley): full-batch gradient descent, with
//     optional heavy-ball momentum and a warm-up + cosine schedule, on the
//     expected label-noise loss (soft targets 1-p on the label, p/(K-1)
//     elsewhere, optim.ExpectedTargets), accumulated chunk by chunk
//     (data.Chunks.Grad), until 100% training accuracy or a maximum epoch
//     count (then reported as not reached).
//  2. The noisy phase (Env.Noisy): minibatch SGD with momentum in the
//     paper's form (optim.Momentum) and stochastic label noise per sample
//     and step (data.LabelNoise).
//  3. The return phase (Env.Return): noise-free minibatch SGD epochs (the
//     MLP) or full-batch Adam with a stopping rule (ResNet's projection).
//  4. Observables (Env.Observe): training accuracy and loss on the clean
//     labels, test accuracy and loss, and the Hessian trace of the
//     noise-free expected training loss by Hutchinson's estimator on a
//     fixed subset (Env.HessianTrace), at chosen steps of every phase.
//
// Everything a phase needs to continue is in a State: weights, batch-norm
// statistics, optimizer state, random streams, counters and the curve so
// far. A phase function runs from a State for a bounded number of steps
// or wall time (Limit) and writes it back, so a caller can Save it every
// few seconds; Load validates the bytes (version, checksum, shapes,
// counts, finite values) and a resumed run is bit-identical to one never
// stopped, for any GOMAXPROCS. Handoff starts the next phase from the end
// of one.
//
// The eq. 14 fit of the optimum beta* and the exponent fit are in
// repro/fit. Not here: the sweep over (eta, beta, seed), sharding, files,
// presets and reports, which belong to the sweep engine and the
// experiments that use this package. docs/valley.md gives every choice
// with its reason.
package valley
