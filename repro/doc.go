// Package repro will hold the paper's experiments, one sub-package per
// experiment, and the pieces they share: fits (timescales, power laws,
// eq. 14), sweeps, data-set readers, reports and plots. Nothing imports it
// but cmd/flatfast.
package repro
