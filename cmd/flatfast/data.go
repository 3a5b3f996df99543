package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/flatfast/flatfast/repro"
	"github.com/flatfast/flatfast/repro/data"
)

func dataCommands() []command {
	return []command{
		{name: "get", summary: "download a data set, resuming and verifying: data get fashion-mnist|cifar10 [-dir DIR] [-mirror URL]", run: dataGet},
		{name: "verify", summary: "check a data set's files and count images per split and class: data verify fashion-mnist|cifar10 [-dir DIR]", run: dataVerify},
	}
}

// dataArgs parses "<data set> [flags]" or "[flags] <data set>": the name
// may come first, which the flag package alone would not allow.
func dataArgs(fs interface {
	Parse([]string) error
	Args() []string
}, args []string) (*data.Spec, error) {
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	rest := fs.Args()
	if name == "" && len(rest) > 0 {
		name, rest = rest[0], rest[1:]
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("%w: unexpected arguments %v", errUsage, rest)
	}
	if name == "" {
		return nil, fmt.Errorf("%w: name a data set: %s", errUsage, strings.Join(data.Names(), " or "))
	}
	s, err := data.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	return s, nil
}

func dataGet(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("data get <fashion-mnist|cifar10>", stderr)
	dir := fs.String("dir", "", "directory to write to (default $"+data.EnvVar+"/<name>, else the user cache directory's flatfast/<name>)")
	mirror := fs.String("mirror", "", "base URL replacing the upstream one (the same file names under it)")
	quiet := fs.Bool("q", false, "no progress line")
	s, err := dataArgs(fs, args)
	if err != nil {
		return err
	}
	d, err := s.DownloadDir(*dir)
	if err != nil {
		return err
	}
	ctx, stop := interruptible()
	defer stop()
	var prog *repro.Progress
	var file string
	var started time.Time
	opt := data.GetOptions{Mirror: *mirror, Log: stdout, Progress: func(t data.Transfer) {
		if t.File != file {
			prog.Done()
			prog, file, started = repro.NewProgress(stderr, *quiet), t.File, time.Now()
		}
		rate := float64(t.Done-t.Start) / max(time.Since(started).Seconds(), 1e-3) / 1e6
		if t.Total <= 0 {
			prog.Update(0, fmt.Sprintf("%s: %.1f MB, %.1f MB/s", t.File, float64(t.Done)/1e6, rate))
			return
		}
		// The fraction of this run's work, so the ETA of a resumed
		// download counts only what is left to fetch.
		frac := float64(t.Done-t.Start) / float64(max(t.Total-t.Start, 1))
		prog.Update(frac, fmt.Sprintf("%s: %.1f of %.1f MB, %.1f MB/s", t.File, float64(t.Done)/1e6, float64(t.Total)/1e6, rate))
	}}
	err = data.Get(ctx, s, d, opt)
	prog.Done()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: ready in %s\n", s.Name, d)
	return nil
}

func dataVerify(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("data verify <fashion-mnist|cifar10>", stderr)
	dir := fs.String("dir", "", "directory to check (default: the first of $"+data.EnvVar+"/<name>, the system location, the user cache)")
	s, err := dataArgs(fs, args)
	if err != nil {
		return err
	}
	d, err := s.Dir(*dir)
	if err != nil {
		return err
	}
	reps, verr := data.Verify(s, d)
	fmt.Fprintf(stdout, "%s in %s\n", s.Name, d)
	for _, r := range reps {
		for _, f := range r.Files {
			how := "payload md5"
			if f.Upstream {
				how = "upstream md5"
			}
			fmt.Fprintf(stdout, "  ok  %s (%s %s)\n", f.Path, how, f.MD5)
		}
	}
	fmt.Fprintf(stdout, "  %-6s %7s", "split", "images")
	for c := range s.Classes {
		fmt.Fprintf(stdout, " %6d", c)
	}
	fmt.Fprintln(stdout)
	for _, r := range reps {
		fmt.Fprintf(stdout, "  %-6s %7d", r.Split, r.N)
		for _, n := range r.ClassCounts {
			fmt.Fprintf(stdout, " %6d", n)
		}
		fmt.Fprintln(stdout)
	}
	fmt.Fprintf(stdout, "  classes: %s\n", strings.Join(s.Classes, ", "))
	if verr != nil {
		var n int
		if j, ok := verr.(interface{ Unwrap() []error }); ok {
			n = len(j.Unwrap())
		}
		if n > 1 {
			return fmt.Errorf("%d problems:\n%w", n, verr)
		}
		if errors.Is(verr, os.ErrNotExist) {
			return fmt.Errorf("%w (flatfast data get %s fetches it)", verr, s.Name)
		}
		return verr
	}
	fmt.Fprintf(stdout, "%s: all %d splits verified\n", s.Name, len(reps))
	return nil
}
