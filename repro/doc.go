// Package repro holds the pieces the paper's experiments share: progress
// reporting, atomic output files, plotting helpers. The experiments are
// its sub-packages (repro/uv, repro/sensing) on the sweep engine
// repro/sweep (runs, resume, shards, merge); the fits are in repro/fit.
// Nothing imports repro but cmd/flatfast.
package repro
