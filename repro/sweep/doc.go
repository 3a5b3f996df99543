// Package sweep is the engine under every experiment of repro: it turns
// a configuration's list of independent runs into files in an output
// directory, resumably, on one machine or sharded over a cluster, and
// writes the report once every run is there.
//
// An experiment supplies a Sweep: its settings (hashed: the directory of
// another configuration is refused), its runs in a fixed order with
// stable ids, a function that executes a batch of runs (one run, or many
// stepped in lockstep), and a function that writes the report from every
// run's result. The engine owns the rest: the output-directory lock, the
// refusal of another configuration's or an older format's files, resume
// (finished runs are skipped, runs in progress continue from the state
// they saved), checkpoints every few seconds, progress with a rate and an
// ETA, -fresh, sharding, merging and the report step.
//
// # Results do not depend on the history
//
// The report is a pure function of the runs' results, which are a pure
// function of the configuration and the run: results.json, the CSVs and
// the plots are the same bytes after an uninterrupted run, a resumed one,
// any GOMAXPROCS and any sharding. Everything that does depend on the
// history (wall times, rates, how many runs were resumed) goes to
// perf.json and to the headers of the run files, never to the report.
//
// # Files
//
//	OUT/sweep.json              the manifest: format, experiment, config hash, settings, run count
//	OUT/runs/<id>.run           a finished run's result (one file per run)
//	OUT/state/<id>.state        a run in progress: its own saved state (removed when it finishes)
//	OUT/shards/<i>-of-<N>/      one per shard: its lock and its perf.json (sessions, timings)
//	OUT/perf.json               every shard's timings, written with the report
//	OUT/results.json, *.csv, *.png   the report (the experiment's files)
//
// A run file and a state file are a line "flatfast-sweep 1", a line of
// JSON (config hash, run id, kind, payload length, SHA-256 of the
// payload, seconds spent), then the payload: the experiment's own bytes,
// opaque to the engine (JSON for small results, binary for weights). A
// file whose hash, id, length or checksum does not match is refused with
// its path named; deleting it redoes that run.
//
// # Why one small file per run
//
// The unit of checkpointing is the run, stored as one small file written
// atomically (temporary file, fsync, rename), not as records of an
// append-only log with a checksum each. Shards of one sweep write into
// one directory of a shared file system at once: with a file per run they
// never write the same file (a run belongs to one shard), a rename is
// atomic on NFS and Lustre where concurrent appends to one file are not,
// a killed process leaves the old file or the new one and no torn tail to
// repair, a run's in-progress state (megabytes for a network) is replaced
// rather than appended, and merging shard directories is copying files.
// The cost is a file per run (thousands for the paper's grids: a few
// megabytes of small files) and an fsync per finished run, which is small
// beside the run itself; a log would save the files at the price of one
// log per shard, a recovery scan and compaction of superseded states.
//
// # Shards
//
// A shard i of N runs the runs at positions i, i+N, i+2N, ... of the run
// list (prerequisites aside, below). Runs next to each other in the list
// are usually alike in cost (the same learning rate, the same momentum),
// so dealing them round-robin gives every shard a similar mix, where
// contiguous blocks would give one shard all the slow runs. The shard
// comes from -shard i/N, else from a Slurm job array (SLURM_ARRAY_TASK_ID
// relative to SLURM_ARRAY_TASK_MIN in steps of SLURM_ARRAY_TASK_STEP, with
// SLURM_ARRAY_TASK_COUNT shards, so --array=0-10:2 is 6 shards), else from
// a Kubernetes Indexed Job (JOB_COMPLETION_INDEX, with the count from
// -shards N or FLATFAST_SHARDS, since Kubernetes does not export it); see
// FromEnv. A shard writes only its own runs' files; a shard that finds
// every run of the sweep present writes the report (two that finish at
// once write the same bytes). A rerun of a shard skips its finished runs.
// For shards that write to separate directories, Merge checks that every
// run is present exactly once, from the same configuration, and writes the
// report; it writes nothing when it finds a run missing, a duplicate or
// another configuration's shard.
//
// # Prerequisites
//
// A run may start from the result of another (the classification
// experiments' valley point): it lists that run in Needs. Prerequisites
// are not dealt to shards: an unsharded process makes them first; on a
// cluster they are a job of their own (Options.Prerequisites), and a
// shard that finds one missing stops with a *MissingError that gives the
// command that makes it.
//
// Not here: what a run computes, how an experiment batches its runs, its
// analysis and report, and scheduling across machines (the cluster is the
// user's: docs/cluster.md).
package sweep
