package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/flatfast/flatfast/internal/dirlock"
	"github.com/flatfast/flatfast/repro"
)

// Run is one independent run of a sweep.
type Run struct {
	// ID names the run's files: unique in the sweep, stable for a
	// configuration (resuming and merging rely on it), made of letters,
	// digits and . _ + - (not starting with a dot).
	ID string
	// Cost is the run's expected cost in any unit the experiment likes
	// (steps, say): it weighs progress, the ETA and -plan. 0 counts as 1.
	Cost float64
	// Needs lists the runs (earlier in the list) whose results this one
	// starts from; see the package documentation on prerequisites.
	Needs []string
}

// Todo is a run to execute.
type Todo struct {
	Index int // position in Sweep.Runs
	Run   Run
	// State is what the run last saved (Batch.Save), nil for a run that
	// starts afresh. The experiment decodes it; bytes that do not decode
	// are an error it returns through Batch.BadState.
	State []byte
	// seconds is the time the run took in earlier sessions (its state's
	// header), for perf.
	seconds float64
}

// Sweep is what an experiment gives the engine.
type Sweep struct {
	// Experiment names the experiment ("uv"), as in `flatfast repro uv`.
	Experiment string
	// Settings is the configuration; its JSON encoding is hashed (the
	// config hash) and kept in sweep.json.
	Settings any
	// Runs in a fixed order.
	Runs []Run
	// Legacy names files of earlier versions' checkpoints: a directory
	// holding one is refused (they cannot be resumed) unless -fresh.
	Legacy []string
	// Command is the command line that runs this configuration, without
	// -out and shard flags, for messages ("flatfast repro uv -seeds 2").
	Command string
	// Workers is how many batches run at once (0: 1).
	Workers int
	// Batches cuts the runs to execute into batches, in the order to
	// start them; nil runs each alone, in list order. Every run must be
	// in exactly one batch.
	Batches func(todo []Todo) [][]Todo
	// Exec executes a batch: it calls b.Done for each of its runs as it
	// finishes, b.Save for each run in progress when b.Due says so (and
	// when ctx is cancelled, before returning ctx.Err()), and b.Work for
	// progress.
	Exec func(ctx context.Context, b *Batch) error
	// CheckResult validates a finished run's result read back from disk
	// (nil: any bytes); its error names the field.
	CheckResult func(i int, result []byte) error
	// Report writes the report into dir from every run's result, in run
	// order. It must depend on nothing else, so that any history gives
	// the same bytes.
	Report func(dir string, results [][]byte) error
	// Perf returns what the experiment measured of its speed in this
	// process (kept in perf.json); nil for nothing.
	Perf func() any
}

// Options control how a sweep runs (not what it computes).
type Options struct {
	Out      string    // output directory
	Progress io.Writer // status line (a terminal); nil for none
	Quiet    bool
	// Fresh starts over: this directory's runs, states and manifest are
	// removed first. It is refused for a shard of several, which would
	// delete the other shards' work.
	Fresh bool
	// Shard selects this process's runs (zero value: all).
	Shard Shard
	// Prerequisites runs only the runs that others need (a cluster's
	// first job), whatever the shard.
	Prerequisites bool
	// CheckpointEvery is the time between saves of runs in progress
	// (0: 5 s).
	CheckpointEvery time.Duration
	// WriteFile writes a file atomically (nil: repro.WriteFileAtomic),
	// for tests.
	WriteFile func(path string, data []byte) error
}

// Outcome says what Execute did.
type Outcome struct {
	Shard Shard
	Runs  int // runs of the sweep
	Mine  int // runs of this shard
	// AlreadyDone were finished before this session, Resumed continued
	// from a saved state, Done finished in this session.
	AlreadyDone, Resumed, Done int
	// Missing counts the sweep's runs not yet in the directory (other
	// shards'); 0 when Complete.
	Missing int
	// Complete: every run is present and the report was written.
	Complete bool
	Seconds  float64
}

// Summary is a line on what this process did, for stderr.
func (o *Outcome) Summary(out string) string {
	who := "this sweep"
	if o.Shard.count() > 1 {
		who = "shard " + o.Shard.String()
		if o.Shard.Source != "" && o.Shard.Source != "-shard" {
			who += " (" + o.Shard.Source + ")"
		}
	}
	s := fmt.Sprintf("%s: %d of its %d runs done in this session", who, o.Done, o.Mine)
	if o.AlreadyDone > 0 {
		s += fmt.Sprintf(", %d were already in %s", o.AlreadyDone, out)
	}
	if o.Resumed > 0 {
		s += fmt.Sprintf(", %d continued from their saved state", o.Resumed)
	}
	if o.Complete {
		return s + fmt.Sprintf("; all %d runs present: report written", o.Runs)
	}
	return s + fmt.Sprintf("; %d of the sweep's %d runs are not in %s yet (other shards'): the shard that finishes last writes the report, or `flatfast repro merge` does", o.Missing, o.Runs, out)
}

// MissingError is a shard's error when runs that its runs need are not
// in the directory: the prerequisites' job has not run (or not
// finished).
type MissingError struct {
	Dir     string
	Shard   Shard
	IDs     []string
	Command string // the command that makes them
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("shard %s: its runs start from %s, which %s does not hold yet; make %s first with\n  %s\n(on a cluster, a job that the array depends on: see docs/cluster.md)",
		e.Shard, listIDs("run", e.IDs), e.Dir, pronoun(len(e.IDs)), e.Command)
}

func pronoun(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

// listIDs is "run a", "runs a, b and 3 more".
func listIDs(what string, ids []string) string {
	const most = 5
	if len(ids) == 1 {
		return what + " " + ids[0]
	}
	s := strings.Join(ids[:min(most, len(ids))], ", ")
	if len(ids) > most {
		s += fmt.Sprintf(" and %d more", len(ids)-most)
	}
	return what + "s " + s
}

// LegacyError is the error of a directory holding an earlier version's
// checkpoint.
type LegacyError struct{ Path string }

func (e *LegacyError) Error() string {
	return fmt.Sprintf("%s is a checkpoint of an earlier version of flatfast, which this version cannot resume (runs are now kept one file per run under %s/); pass -fresh to start over (its runs are lost) or -out to choose another directory",
		e.Path, RunsDir)
}

// ErrStopped is returned by Exec functions (and Execute) for a run
// stopped on purpose before its end, its state saved.
var ErrStopped = errors.New("sweep: stopped before the end")

// prepared is a checked sweep.
type prepared struct {
	sw       *Sweep
	settings []byte
	hash     string
	index    map[string]int
	prereq   []bool // needed by another run
}

// prepare checks the sweep's run list and hashes its settings.
func prepare(sw *Sweep) (*prepared, error) {
	if sw.Experiment == "" || sw.Exec == nil || sw.Report == nil {
		panic("sweep: a Sweep needs Experiment, Exec and Report")
	}
	settings, err := json.Marshal(sw.Settings)
	if err != nil {
		return nil, fmt.Errorf("sweep: encoding the settings: %w", err)
	}
	hash, err := HashSettings(settings)
	if err != nil {
		return nil, err
	}
	p := &prepared{sw: sw, settings: settings, hash: hash, index: map[string]int{}, prereq: make([]bool, len(sw.Runs))}
	for i, r := range sw.Runs {
		if err := validID(r.ID); err != nil {
			return nil, fmt.Errorf("sweep: run %d: %w", i, err)
		}
		if _, dup := p.index[r.ID]; dup {
			return nil, fmt.Errorf("sweep: run id %q listed twice", r.ID)
		}
		for _, n := range r.Needs {
			j, ok := p.index[n]
			if !ok {
				return nil, fmt.Errorf("sweep: run %q needs %q, which is not an earlier run", r.ID, n)
			}
			p.prereq[j] = true
		}
		if !(r.Cost >= 0) || math.IsInf(r.Cost, 0) {
			return nil, fmt.Errorf("sweep: run %q has cost %v", r.ID, r.Cost)
		}
		p.index[r.ID] = i
	}
	return p, nil
}

func validID(id string) error {
	if id == "" || id[0] == '.' || len(id) > 200 {
		return fmt.Errorf("run id %q must be 1 to 200 characters, not starting with a dot", id)
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._+-", c)) {
			return fmt.Errorf("run id %q: %q is not a letter, digit or one of . _ + -", id, c)
		}
	}
	return nil
}

// cost is a run's cost, 1 when unset.
func cost(r Run) float64 {
	if r.Cost > 0 {
		return r.Cost
	}
	return 1
}

// Assign returns the positions in the run list of shard s's runs: the
// runs no other run needs, dealt round-robin (positions i, i+N, ... of
// that list); for the whole sweep, every run.
func Assign(sw *Sweep, s Shard) ([]int, error) {
	p, err := prepare(sw)
	if err != nil {
		return nil, err
	}
	return p.assign(s), nil
}

func (p *prepared) assign(s Shard) []int {
	var out []int
	if s.count() == 1 {
		for i := range p.sw.Runs {
			out = append(out, i)
		}
		return out
	}
	k := 0
	for i := range p.sw.Runs {
		if p.prereq[i] {
			continue
		}
		if k%s.Count == s.Index {
			out = append(out, i)
		}
		k++
	}
	return out
}

// prerequisites returns the positions of the runs others need.
func (p *prepared) prerequisites() []int {
	var out []int
	for i, b := range p.prereq {
		if b {
			out = append(out, i)
		}
	}
	return out
}

func (o *Options) write() func(string, []byte) error {
	if o.WriteFile != nil {
		return o.WriteFile
	}
	return repro.WriteFileAtomic
}

// Execute runs this shard's unfinished runs of sw in opt.Out (resuming
// what an earlier session left), and writes the report when every run of
// the sweep is present. Errors: a *repro.OtherConfigError for a directory
// of another configuration, a *LegacyError for an earlier version's
// checkpoint, a repro.Unreadable error for files that cannot be read
// back, a *dirlock.HeldError when another process runs this shard in the
// directory, a *MissingError for missing prerequisites; the experiment's
// errors as they are.
func Execute(ctx context.Context, sw *Sweep, opt Options) (*Outcome, error) {
	p, err := prepare(sw)
	if err != nil {
		return nil, err
	}
	if err := opt.Shard.validate(); err != nil {
		return nil, err
	}
	if opt.Fresh && opt.Shard.count() > 1 {
		return nil, fmt.Errorf("-fresh with shard %s would delete the other shards' runs: clear %s once before starting the shards, or choose a new -out", opt.Shard, opt.Out)
	}
	out := opt.Out
	write := opt.write()
	sdir := filepath.Join(out, ShardsDir, opt.Shard.dirName())
	if err := os.MkdirAll(sdir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create the output directory: %w", err)
	}
	// The shard's lock is taken before anything is read, so that what is
	// read stays this process's until it is done; shards do not lock each
	// other out, since they write different files.
	lock, err := dirlock.Acquire(sdir)
	if err != nil {
		var held *dirlock.HeldError
		if errors.As(err, &held) {
			return nil, fmt.Errorf("%s: shard %s %w", out, opt.Shard, err)
		}
		return nil, err
	}
	defer lock.Release()
	probe := filepath.Join(sdir, ".flatfast-probe")
	if err := write(probe, []byte("flatfast checks that it can write here\n")); err != nil {
		return nil, fmt.Errorf("the output directory %s is not writable: %w", out, err)
	}
	_ = os.Remove(probe)
	if opt.Fresh {
		if err := p.clear(out); err != nil {
			return nil, err
		}
	}
	if err := p.claim(out, write, opt.Fresh); err != nil {
		return nil, err
	}
	return p.execute(ctx, opt, write)
}

// clear removes the sweep files of out (for -fresh): the manifest, runs,
// states, timings and legacy checkpoints; the report is overwritten when
// it is written again.
func (p *prepared) clear(out string) error {
	for _, f := range append([]string{ManifestFile, RunsDir, StateDir, PerfFile}, p.sw.Legacy...) {
		if err := os.RemoveAll(filepath.Join(out, f)); err != nil {
			return err
		}
	}
	shards, _ := filepath.Glob(filepath.Join(out, ShardsDir, "*", PerfFile))
	for _, f := range shards {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	return nil
}

// claim checks that out holds nothing of another configuration or
// version (after -fresh, a results.json that will be overwritten is not
// looked at), and writes the manifest if it has none.
func (p *prepared) claim(out string, write func(string, []byte) error, fresh bool) error {
	for _, f := range p.sw.Legacy {
		if path := filepath.Join(out, f); exists(path) {
			return &LegacyError{Path: path}
		}
	}
	m, found, err := ReadManifest(out)
	if err != nil {
		return err
	}
	if found {
		if m.Hash != p.hash || m.Experiment != p.sw.Experiment {
			return repro.OtherConfig(out, ManifestFile+" (experiment "+m.Experiment+")", m.Hash, p.hash, m.Settings, p.sw.Settings)
		}
		if m.Runs == len(p.sw.Runs) {
			return nil
		}
	} else {
		// No manifest: runs without one are not this version's, and a
		// results.json is checked against these settings.
		if names, _ := os.ReadDir(filepath.Join(out, RunsDir)); len(names) > 0 {
			return repro.Unreadable(filepath.Join(out, RunsDir), errors.New("run files without a "+ManifestFile+" to say whose they are"))
		}
		if !fresh {
			if err := repro.CheckResults(out, p.hash, p.sw.Settings, func(s json.RawMessage) (string, error) { return HashSettings(s) }); err != nil {
				return err
			}
		}
	}
	return p.writeManifest(out, write)
}

func (p *prepared) manifest() Manifest {
	return Manifest{Format: Format, Experiment: p.sw.Experiment, Hash: p.hash, Runs: len(p.sw.Runs), Settings: p.settings}
}

func (p *prepared) writeManifest(out string, write func(string, []byte) error) error {
	b, err := json.MarshalIndent(p.manifest(), "", "  ")
	if err != nil {
		return err
	}
	for _, d := range []string{RunsDir, StateDir} {
		if err := os.MkdirAll(filepath.Join(out, d), 0o755); err != nil {
			return err
		}
	}
	return write(filepath.Join(out, ManifestFile), append(b, '\n'))
}

// execute runs the shard's unfinished runs and, when the sweep is
// complete, the report.
func (p *prepared) execute(ctx context.Context, opt Options, write func(string, []byte) error) (*Outcome, error) {
	out, sw := opt.Out, p.sw
	start := time.Now()
	var mine []int
	if opt.Prerequisites {
		mine = p.prerequisites()
	} else {
		mine = p.assign(opt.Shard)
	}
	oc := &Outcome{Shard: opt.Shard, Runs: len(sw.Runs), Mine: len(mine)}
	// Two phases: the prerequisites among this process's runs, then the
	// runs that need them.
	var phases [2][]Todo
	for _, i := range mine {
		r := sw.Runs[i]
		if exists(runPath(out, r.ID)) {
			oc.AlreadyDone++
			continue
		}
		t := Todo{Index: i, Run: r}
		h, st, found, err := readRecord(statePath(out, r.ID), p.hash, r.ID, kindState)
		if err != nil {
			return nil, err
		}
		if found {
			t.State, t.seconds = st, h.Seconds
			oc.Resumed++
		}
		ph := 1
		if p.prereq[i] {
			ph = 0
		}
		phases[ph] = append(phases[ph], t)
	}
	for ph, todo := range phases {
		if len(todo) == 0 {
			continue
		}
		if ph == 1 {
			var missing []string
			seen := map[string]bool{}
			for _, t := range todo {
				for _, n := range t.Run.Needs {
					if !seen[n] && !exists(runPath(out, n)) {
						missing = append(missing, n)
					}
					seen[n] = true
				}
			}
			if len(missing) > 0 {
				return oc, &MissingError{Dir: out, Shard: opt.Shard, IDs: missing, Command: strings.TrimSpace(sw.Command + " -out " + out + " -prerequisites")}
			}
		}
		r := newRunner(p, opt, write, todo)
		err := r.run(ctx)
		oc.Done += r.done
		if err == nil && ph == 0 && len(phases[1]) > 0 {
			continue
		}
		oc.Seconds = time.Since(start).Seconds()
		if perr := p.savePerf(out, opt, oc, write); perr != nil && err == nil {
			err = perr
		}
		if err != nil {
			return oc, err
		}
	}
	oc.Seconds = time.Since(start).Seconds()
	// The report: when every run of the sweep is present.
	for _, r := range sw.Runs {
		if !exists(runPath(out, r.ID)) {
			oc.Missing++
		}
	}
	if oc.Missing > 0 {
		return oc, nil
	}
	if err := p.report(out, []string{out}, write); err != nil {
		return oc, err
	}
	oc.Complete = true
	return oc, nil
}

// report reads every run's result from dirs (each run from the first dir
// that holds it), writes the report and perf.json into out.
func (p *prepared) report(out string, dirs []string, write func(string, []byte) error) error {
	results := make([][]byte, len(p.sw.Runs))
	seconds := make([]float64, len(p.sw.Runs))
	for i, r := range p.sw.Runs {
		for _, d := range dirs {
			h, b, found, err := readRecord(runPath(d, r.ID), p.hash, r.ID, kindResult)
			if err != nil {
				return err
			}
			if !found {
				continue
			}
			if p.sw.CheckResult != nil {
				if err := p.sw.CheckResult(i, b); err != nil {
					return unreadable(runPath(d, r.ID), err)
				}
			}
			results[i], seconds[i] = b, h.Seconds
			break
		}
		if results[i] == nil {
			return fmt.Errorf("sweep: run %s vanished from %s while the report was being written", r.ID, out)
		}
	}
	if err := p.sw.Report(out, results); err != nil {
		return err
	}
	return p.writeTotalPerf(out, dirs, seconds, write)
}

// unreadable is the error of a run or state file that cannot be read
// back: deleting it redoes the run.
func unreadable(path string, err error) error {
	return fmt.Errorf("%s is unreadable (%w); delete it to redo that run, or pass -fresh to start over", path, err)
}

// runner executes batches over workers.
type runner struct {
	p        *prepared
	opt      Options
	write    func(string, []byte) error
	todo     []Todo
	prog     *repro.Progress
	every    time.Duration
	mu       sync.Mutex
	done     int
	costAll  float64
	costDone float64
	batches  []*Batch
	start    time.Time
}

func newRunner(p *prepared, opt Options, write func(string, []byte) error, todo []Todo) *runner {
	r := &runner{p: p, opt: opt, write: write, todo: todo, every: opt.CheckpointEvery, start: time.Now()}
	if r.every <= 0 {
		r.every = 5 * time.Second
	}
	for _, t := range todo {
		r.costAll += cost(t.Run)
	}
	r.prog = repro.NewProgress(opt.Progress, opt.Quiet)
	return r
}

func (r *runner) run(ctx context.Context) error {
	defer r.prog.Done()
	var groups [][]Todo
	if r.p.sw.Batches != nil {
		groups = r.p.sw.Batches(r.todo)
		seen := map[int]int{}
		for _, g := range groups {
			for _, t := range g {
				seen[t.Index]++
			}
		}
		for _, t := range r.todo {
			if seen[t.Index] != 1 {
				panic(fmt.Sprintf("sweep: %s's Batches put run %s in %d batches", r.p.sw.Experiment, t.Run.ID, seen[t.Index]))
			}
		}
	} else {
		for _, t := range r.todo {
			groups = append(groups, []Todo{t})
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		firstErr error
		next     int
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil || errors.Is(firstErr, context.Canceled) && !errors.Is(err, context.Canceled) {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}
	workers := max(1, min(r.p.sw.Workers, len(groups)))
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next >= len(groups) || firstErr != nil {
					mu.Unlock()
					return
				}
				g := groups[next]
				next++
				mu.Unlock()
				if err := r.batch(ctx, g); err != nil {
					fail(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// batch executes one batch, turning a panic into an error (a panic on a
// worker would kill the process past any recover of the caller's).
func (r *runner) batch(ctx context.Context, g []Todo) (err error) {
	b := &Batch{Runs: g, r: r, start: time.Now(), lastSave: time.Now(), finished: make([]bool, len(g))}
	b.prior = make([]float64, len(g))
	for i, t := range g {
		b.prior[i] = t.seconds
		b.left += cost(t.Run)
	}
	r.mu.Lock()
	r.batches = append(r.batches, b)
	r.mu.Unlock()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s: internal error (a bug): %v\n%s", r.p.sw.Experiment, p, debug.Stack())
		}
		r.mu.Lock()
		for i, bb := range r.batches {
			if bb == b {
				r.batches = append(r.batches[:i], r.batches[i+1:]...)
				break
			}
		}
		r.mu.Unlock()
	}()
	if err := r.p.sw.Exec(ctx, b); err != nil {
		return err
	}
	for i, f := range b.finished {
		if !f {
			return fmt.Errorf("%s: internal error (a bug): a batch returned without finishing run %s", r.p.sw.Experiment, g[i].Run.ID)
		}
	}
	return nil
}

// Batch is the engine's side of a batch being executed: its runs and the
// calls that record them. Its methods may be called from the goroutine
// that runs Exec.
type Batch struct {
	Runs     []Todo
	r        *runner
	start    time.Time
	lastSave time.Time
	prior    []float64 // seconds spent in earlier sessions
	finished []bool
	work     float64 // progress reported since the start
	left     float64 // cost of the runs not finished
}

// Due reports whether the runs in progress should be saved now (every
// Options.CheckpointEvery); it returns true once per interval.
func (b *Batch) Due() bool {
	if time.Since(b.lastSave) < b.r.every {
		return false
	}
	b.lastSave = time.Now()
	return true
}

func (b *Batch) seconds(i int) float64 { return b.prior[i] + time.Since(b.start).Seconds() }

// Save records the state of run i (an index into b.Runs) in progress:
// the bytes its Todo.State holds when the run is resumed.
func (b *Batch) Save(i int, state []byte) error {
	if b.finished[i] {
		panic(fmt.Sprintf("sweep: Save of run %s after its Done", b.Runs[i].Run.ID))
	}
	r := b.r
	id := b.Runs[i].Run.ID
	rec := encodeRecord(header{Hash: r.p.hash, Run: id, Kind: kindState, Seconds: b.seconds(i)}, state)
	if err := r.write(statePath(r.opt.Out, id), rec); err != nil {
		return fmt.Errorf("saving the state of run %s: %w", id, err)
	}
	return nil
}

// Done records run i's result (an index into b.Runs); its saved state
// is removed.
func (b *Batch) Done(i int, result []byte) error {
	if b.finished[i] {
		panic(fmt.Sprintf("sweep: Done twice for run %s", b.Runs[i].Run.ID))
	}
	r := b.r
	t := b.Runs[i]
	if r.p.sw.CheckResult != nil {
		if err := r.p.sw.CheckResult(t.Index, result); err != nil {
			panic(fmt.Sprintf("sweep: run %s: the result its experiment wrote does not pass its own check: %v", t.Run.ID, err))
		}
	}
	rec := encodeRecord(header{Hash: r.p.hash, Run: t.Run.ID, Kind: kindResult, Seconds: b.seconds(i)}, result)
	if err := r.write(runPath(r.opt.Out, t.Run.ID), rec); err != nil {
		return fmt.Errorf("saving the result of run %s: %w", t.Run.ID, err)
	}
	if err := os.Remove(statePath(r.opt.Out, t.Run.ID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	b.finished[i] = true
	r.mu.Lock()
	r.done++
	r.costDone += cost(t.Run)
	b.left -= cost(t.Run)
	r.mu.Unlock()
	r.update()
	return nil
}

// Work reports progress: work more units (those of Run.Cost) done by the
// batch's runs in progress.
func (b *Batch) Work(work float64) {
	r := b.r
	r.mu.Lock()
	b.work += work
	r.mu.Unlock()
	r.update()
}

// Result returns the result of a finished run of the sweep (a
// prerequisite named in Needs).
func (b *Batch) Result(id string) ([]byte, error) {
	r := b.r
	_, res, found, err := readRecord(runPath(r.opt.Out, id), r.p.hash, id, kindResult)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("run %s is not in %s", id, r.opt.Out)
	}
	return res, nil
}

// BadState is the error for run i's saved state that does not decode
// (err says why): it names the file, which the user may delete.
func (b *Batch) BadState(i int, err error) error {
	return unreadable(statePath(b.r.opt.Out, b.Runs[i].Run.ID), err)
}

// update prints the progress line.
func (r *runner) update() {
	if r.prog == nil {
		return
	}
	r.mu.Lock()
	inflight := 0.0
	for _, b := range r.batches {
		inflight += math.Min(b.work, math.Max(0, b.left))
	}
	frac := math.Min(1, (r.costDone+inflight)/math.Max(r.costAll, 1e-300))
	done, n := r.done, len(r.todo)
	el := time.Since(r.start).Minutes()
	r.mu.Unlock()
	rate := ""
	if el > 0 {
		rate = fmt.Sprintf(", %.3g runs/min", float64(done)/el)
	}
	r.prog.Update(frac, fmt.Sprintf("%d/%d runs%s", done, n, rate))
}

// session is one process's record in a shard's perf.json.
type session struct {
	Started     string  `json:"started"`
	Seconds     float64 `json:"seconds"`
	GOMAXPROCS  int     `json:"gomaxprocs"`
	Workers     int     `json:"workers"`
	Runs        int     `json:"runs_of_shard"`
	Done        int     `json:"runs_done"`
	AlreadyDone int     `json:"runs_already_done"`
	Resumed     int     `json:"runs_resumed_from_state"`
	Experiment  any     `json:"experiment,omitempty"`
}

// shardPerf is a shard's perf.json.
type shardPerf struct {
	Shard    string            `json:"shard"`
	Sessions []json.RawMessage `json:"sessions"`
}

// savePerf appends this session to the shard's perf.json.
func (p *prepared) savePerf(out string, opt Options, oc *Outcome, write func(string, []byte) error) error {
	path := filepath.Join(out, ShardsDir, opt.Shard.dirName(), PerfFile)
	var sp shardPerf
	if b, err := os.ReadFile(path); err == nil {
		// Timings only: one that cannot be read is started again.
		_ = json.Unmarshal(b, &sp)
	}
	sp.Shard = opt.Shard.String()
	s := session{Started: time.Now().Add(-time.Duration(oc.Seconds * float64(time.Second))).UTC().Format(time.RFC3339), Seconds: oc.Seconds,
		GOMAXPROCS: runtime.GOMAXPROCS(0), Workers: max(1, p.sw.Workers), Runs: oc.Mine, Done: oc.Done, AlreadyDone: oc.AlreadyDone, Resumed: oc.Resumed}
	if p.sw.Perf != nil {
		s.Experiment = p.sw.Perf()
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	sp.Sessions = append(sp.Sessions, b)
	return writeJSON(write, path, sp)
}

func writeJSON(write func(string, []byte) error, path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	return write(path, append(b, '\n'))
}

// totalPerf is OUT/perf.json.
type totalPerf struct {
	Experiment string  `json:"experiment"`
	Hash       string  `json:"config_hash"`
	Runs       int     `json:"runs"`
	RunSeconds float64 `json:"run_seconds_total"`
	// MaxRun is the longest run (by its files' headers: for runs in a
	// lockstep batch, the batch's time until the run finished).
	MaxRun   float64            `json:"run_seconds_max"`
	MaxRunID string             `json:"run_seconds_max_id"`
	Shards   []json.RawMessage  `json:"shards"`
	PerRun   map[string]float64 `json:"run_seconds"`
}

// writeTotalPerf writes out/perf.json from the runs' seconds (their
// headers, in the order of Sweep.Runs) and the shards' perf.json files of
// dirs.
func (p *prepared) writeTotalPerf(out string, dirs []string, seconds []float64, write func(string, []byte) error) error {
	tp := totalPerf{Experiment: p.sw.Experiment, Hash: p.hash, Runs: len(p.sw.Runs), PerRun: map[string]float64{}}
	for i, r := range p.sw.Runs {
		tp.PerRun[r.ID] = seconds[i]
		tp.RunSeconds += seconds[i]
		if seconds[i] > tp.MaxRun {
			tp.MaxRun, tp.MaxRunID = seconds[i], r.ID
		}
	}
	var files []string
	for _, d := range dirs {
		f, _ := filepath.Glob(filepath.Join(d, ShardsDir, "*", PerfFile))
		files = append(files, f...)
	}
	sort.Strings(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil || !json.Valid(b) {
			continue
		}
		tp.Shards = append(tp.Shards, b)
	}
	return writeJSON(write, filepath.Join(out, PerfFile), tp)
}
