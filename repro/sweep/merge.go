package sweep

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/flatfast/flatfast/repro"
)

// MergeError lists everything wrong with a merge's inputs; nothing was
// written.
type MergeError struct {
	Problems []string
}

func (e *MergeError) Error() string {
	const most = 20
	s := "nothing written:\n  " + strings.Join(e.Problems[:min(most, len(e.Problems))], "\n  ")
	if len(e.Problems) > most {
		s += fmt.Sprintf("\n  and %d more problems", len(e.Problems)-most)
	}
	return s
}

// Merge checks that the shard directories dirs hold every run of one
// configuration exactly once (a prerequisite may be in several, with the
// same bytes), from that configuration, and then writes into out the
// manifest, every run's file and the report. build makes the sweep of a
// manifest (the experiment's, from its settings). Any problem (a missing
// run, a duplicate, another configuration's shard, a file that cannot be
// read back) is a *MergeError naming them all, and then out is not
// touched. write is the atomic file writer (nil: repro.WriteFileAtomic).
func Merge(out string, dirs []string, build func(*Manifest) (*Sweep, error), write func(string, []byte) error) (*Sweep, error) {
	if write == nil {
		write = repro.WriteFileAtomic
	}
	if len(dirs) == 0 {
		return nil, errors.New("repro merge: no shard directories given")
	}
	var problems []string
	bad := func(f string, a ...any) { problems = append(problems, fmt.Sprintf(f, a...)) }
	absOut, _ := filepath.Abs(out)
	var first *Manifest
	var firstDir string
	var good []string
	seenDir := map[string]bool{}
	for _, d := range dirs {
		abs, _ := filepath.Abs(d)
		if abs == absOut {
			bad("%s is the output directory too: merge into a new directory", d)
			continue
		}
		if seenDir[abs] {
			bad("%s is given twice", d)
			continue
		}
		seenDir[abs] = true
		m, found, err := ReadManifest(d)
		switch {
		case err != nil:
			bad("%v", err)
			continue
		case !found:
			bad("%s holds no %s: not the output of a flatfast sweep (or of an earlier version)", d, ManifestFile)
			continue
		case first == nil:
			first, firstDir = m, d
		case m.Hash != first.Hash || m.Experiment != first.Experiment:
			e := repro.OtherConfig(d, ManifestFile, m.Hash, first.Hash, m.Settings, first.Settings)
			var oc *repro.OtherConfigError
			diffs := ""
			if errors.As(e, &oc) && len(oc.Diffs) > 0 {
				diffs = ": " + strings.Join(oc.Diffs[:min(4, len(oc.Diffs))], "; ")
			}
			bad("%s is a shard of another configuration (%s, config hash %s) than %s (%s, config hash %s)%s", d, m.Experiment, m.Hash, firstDir, first.Experiment, first.Hash, diffs)
			continue
		}
		good = append(good, d)
	}
	if first == nil {
		return nil, &MergeError{Problems: problems}
	}
	sw, err := build(first)
	if err != nil {
		return nil, fmt.Errorf("repro merge: the settings of %s: %w", firstDir, err)
	}
	p, err := prepare(sw)
	if err != nil {
		return nil, err
	}
	if p.hash != first.Hash {
		return nil, fmt.Errorf("repro merge: %s was written by another version of flatfast (its settings hash to %s here, %s there)", firstDir, p.hash, first.Hash)
	}
	// Every run exactly once.
	results := make([][]byte, len(sw.Runs))
	raw := make([][]byte, len(sw.Runs))
	seconds := make([]float64, len(sw.Runs))
	var missing []string
	for i, r := range sw.Runs {
		var holders []string
		for _, d := range good {
			path := runPath(d, r.ID)
			b, err := os.ReadFile(path)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				bad("%v", err)
				continue
			}
			h, res, err := decodeRecord(b, p.hash, r.ID, kindResult)
			if err == nil && sw.CheckResult != nil {
				err = sw.CheckResult(i, res)
			}
			if err != nil {
				bad("%s is unreadable (%v)", path, err)
				continue
			}
			holders = append(holders, d)
			if results[i] == nil {
				results[i], raw[i], seconds[i] = res, b, h.Seconds
			} else if !p.prereq[i] || !bytes.Equal(results[i], res) {
				bad("run %s is in %s: a run belongs to one shard", r.ID, strings.Join(holders, " and "))
			}
		}
		if len(holders) == 0 {
			missing = append(missing, r.ID)
		}
	}
	if len(missing) > 0 {
		bad("%s missing from every shard directory (an unfinished or lost shard?)", listIDs("run", missing)+pluralVerb(len(missing)))
	}
	// Files that are no run of this configuration.
	for _, d := range good {
		names, _ := os.ReadDir(filepath.Join(d, RunsDir))
		for _, n := range names {
			id, ok := strings.CutSuffix(n.Name(), runExt)
			if _, known := p.index[id]; ok && !known {
				bad("%s is not a run of this configuration", filepath.Join(d, RunsDir, n.Name()))
			}
		}
	}
	if len(problems) > 0 {
		return nil, &MergeError{Problems: problems}
	}
	// Written only now that everything checked out.
	od, err := repro.OpenOut(out, write)
	if err != nil {
		return nil, err
	}
	defer od.Close()
	if m, found, err := ReadManifest(out); err != nil {
		return nil, err
	} else if found && m.Hash != p.hash {
		return nil, repro.OtherConfig(out, ManifestFile, m.Hash, p.hash, m.Settings, sw.Settings)
	}
	if err := p.writeManifest(out, write); err != nil {
		return nil, err
	}
	for i, r := range sw.Runs {
		if err := write(runPath(out, r.ID), raw[i]); err != nil {
			return nil, err
		}
	}
	if err := sw.Report(out, results); err != nil {
		return nil, err
	}
	if err := p.writeTotalPerf(out, good, seconds, write); err != nil {
		return nil, err
	}
	return sw, nil
}

func pluralVerb(n int) string {
	if n == 1 {
		return " is"
	}
	return " are"
}
