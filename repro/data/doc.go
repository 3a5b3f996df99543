// Package data brings the paper's two image data sets, FashionMNIST and
// CIFAR-10, from bytes on disk (or from their upstream servers) to
// gradients of a model: what torchvision.datasets and
// torch.utils.data give a PyTorch user, without Python.
//
// # Why one package, and why here
//
// A user embedding flatfast who wants "the CIFAR-10 training set in
// minibatches" should find every step of that path in one import:
// locating the files (Spec.Dir), checking them (Verify), fetching them
// (Get), decoding them (Load, DecodeIDX, DecodeCIFAR10), and iterating
// over them the way the classification experiments do (Batches,
// LabelNoise, Chunks). Splitting the readers from the pipeline would make
// every caller import both, for no gain in layering: the readers need
// only package tensor, the pipeline adds layers and autodiff, all of which
// sit below repro. The package lives under repro because that is where
// the design puts data-set readers and the classification machinery the
// FashionMNIST and CIFAR-10 experiments share; it imports nothing from
// repro itself, so it can be used without the experiments.
//
// # Files
//
// A Spec describes a data set: its splits, files, record counts, MD5
// sums, class names, per-channel normalisation and download location.
// FashionMNIST and CIFAR10 return the two the paper uses. The IDX reader
// accepts gzip or raw files (told apart by the gzip magic, not the name);
// the CIFAR-10 reader takes the binary version's 3,073-byte records. A
// corrupt, truncated or padded file is an error naming the file, the
// record or byte offset and what was expected; a data set never comes
// back silently short. Load checks structure and counts but not checksums
// (hashing would double the decoding time); Verify and Get check both.
//
// # Where data live
//
// Spec.Dir resolves a directory: an explicit one (a -data or -dir flag)
// is used as given; otherwise $FLATFAST_DATA/<name> (fashion-mnist,
// cifar10) if it exists, then the spec's system directories (Debian's
// dataset-fashion-mnist package installs FashionMNIST in
// /usr/share/datasets/fashion-mnist), then the user cache
// (os.UserCacheDir()/flatfast/<name>). Get writes to the explicit
// directory, else $FLATFAST_DATA/<name>, else the user cache.
//
// # Pipeline
//
// Batches draws one permutation per epoch from an explicit RNG and copies
// minibatches into reused buffers: the same batches for any GOMAXPROCS,
// no allocation per batch. LabelNoise replaces labels per sample and per
// step with optim.NoisyLabels' rule from its own seeded stream, so the
// noise does not perturb the batch order. Set.Balanced takes the first k
// images of each class, for CPU-sized presets. Chunks partitions a set
// into fixed consecutive chunks for evaluation (accuracy and mean loss,
// batch norm in evaluation mode) and for full-batch gradients
// accumulated chunk by chunk (batch norm in training mode, each chunk
// normalised by its own statistics: see Chunks.Grad for why).
//
// Not here: data augmentation (the paper uses none), other data sets, or
// the experiments' protocols (valley, sweeps, projection), which build on
// this package.
package data
