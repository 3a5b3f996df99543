// Command flatfast runs the paper's experiments and the framework's
// benchmarks.
//
//	flatfast help                 list the commands
//	flatfast help <command>       describe one, with its flags or subcommands
//	flatfast info                 CPU, SIMD level and cache sizes
//	flatfast bench kernels        SIMD kernels, every level, vs pure Go
//	flatfast bench gemm           matrix multiplication vs gonum, by thread count
//	flatfast bench conv           ResNet-18's 3x3 convolutions, forward and backward
//	flatfast bench train          training steps of the paper's MLP or ResNet-18
//	flatfast bench autodiff       gradient, Hessian-vector product, trace estimate
//	flatfast repro uv             Figure 1 of the paper (vector UV model)
//	flatfast repro sensing        Figure 3 of the paper (matrix sensing)
//	flatfast repro fashion        Figure 5 of the paper (MLP on FashionMNIST)
//	flatfast repro cifar          Figures 2 and 4 of the paper (ResNet-18 on CIFAR-10)
//	flatfast repro merge          merge the directories of a sweep's shards
//	flatfast data get             download FashionMNIST or CIFAR-10, verified
//	flatfast data verify          check a data set on disk, count its classes
//
// Every command and subcommand accepts -h for its flags (printed on
// standard error, exit status 0); `flatfast help bench gemm` prints the
// same on standard output.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"sync"

	"github.com/flatfast/flatfast/repro"
	"github.com/flatfast/flatfast/simd"
)

// command is one subcommand: run gets the arguments after its name. A
// group (bench, repro) has subs instead of run: the next argument names
// one of them.
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
	subs    []command
}

// errUsage marks an error whose message is a usage problem (exit status 2).
var errUsage = errors.New("usage")

func commands() []command {
	return []command{
		{name: "help", summary: "list the commands, or describe one: help <command> [<subcommand>]", run: runHelp},
		{name: "info", summary: "print the CPU, the SIMD level in use and the cache sizes", run: runInfo},
		{name: "bench", summary: "measure speed: bench kernels | gemm | conv | train | autodiff", subs: benchCommands()},
		{name: "repro", summary: "reproduce a figure of the paper: repro uv | sensing | fashion | cifar | merge", subs: reproCommands()},
		{name: "data", summary: "data sets: data get | verify (fashion-mnist, cifar10)", subs: dataCommands()},
	}
}

func benchCommands() []command {
	return []command{
		{name: "kernels", summary: "the SIMD kernels at every available level, against pure Go", run: benchKernels},
		{name: "gemm", summary: "float32 matrix multiplication, against gonum, by thread count", run: benchGemm},
		{name: "conv", summary: "ResNet-18's 3x3 convolutions (forward + both backward passes), by thread count", run: benchConv},
		{name: "train", summary: "training steps of the paper's MLP or of ResNet-18: time, allocations, memory", run: benchTrain},
		{name: "autodiff", summary: "gradient, Hessian-vector product and Hutchinson trace of the paper's MLP", run: benchAutodiff},
	}
}

func reproCommands() []command {
	return []command{
		{name: "uv", summary: "Figure 1: training timescale of the vector UV model against eta and gamma", run: reproUV},
		{name: "sensing", summary: "Figure 3: matrix sensing, test error and Hessian trace against momentum", run: reproSensing},
		{name: "fashion", summary: "Figure 5: the paper's MLP on FashionMNIST, beta*(eta) by eq. 14 on test accuracy and Hessian trace", run: reproFashion},
		{name: "cifar", summary: "Figures 2 and 4: ResNet-18 on CIFAR-10, beta*(eta) by eq. 14 and the power law", run: reproCifar},
		{name: "merge", summary: "merge the output directories of a sweep's shards: repro merge -out DIR SHARD_DIR...", run: reproMerge},
	}
}

// isHelp reports whether arg asks for help the way the flag package
// understands it.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--h" || arg == "--help"
}

// runGroup runs the subcommand of c that args[0] names; -h lists them.
func runGroup(c command, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && isHelp(args[0]) {
		groupUsage(stderr, c)
		return flag.ErrHelp
	}
	var names []string
	for _, s := range c.subs {
		names = append(names, s.name)
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return fmt.Errorf("%w: name one of %s (flatfast help %s)", errUsage, strings.Join(names, ", "), c.name)
	}
	for _, s := range c.subs {
		if s.name == args[0] {
			return s.run(args[1:], stdout, stderr)
		}
	}
	return fmt.Errorf("%w: unknown %s %q (want %s)", errUsage, c.name, args[0], strings.Join(names, ", "))
}

// groupUsage lists the subcommands of a group.
func groupUsage(w io.Writer, c command) {
	fmt.Fprintf(w, "usage: flatfast %s <subcommand> [flags]\n\n%s\n\nsubcommands:\n", c.name, c.summary)
	for _, s := range c.subs {
		fmt.Fprintf(w, "  %-9s %s\n", s.name, s.summary)
	}
	fmt.Fprintf(w, "\n'flatfast %s <subcommand> -h' (or 'flatfast help %s <subcommand>') lists its flags.\n", c.name, c.name)
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if err := simd.ConfigError(); err != nil {
		fmt.Fprintln(stderr, "flatfast:", err)
		return 2
	}
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	if isHelp(args[0]) {
		usage(stderr)
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			name := c.name
			for _, sub := range c.subs {
				if len(args) > 1 && sub.name == args[1] {
					name += " " + sub.name
				}
			}
			return report(name, runCommand(c, args[1:], stdout, stderr), stderr)
		}
	}
	fmt.Fprintf(stderr, "flatfast: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

// Exit statuses: 1 for a failure, 2 for bad usage (as the flag package
// has it), 3 for a bug.
const (
	exitFailure = 1
	exitUsage   = 2
	exitBug     = 3
)

// errBug marks a panic caught at the top of a command.
var errBug = errors.New("internal error")

// runCommand runs c, turning a panic into an errBug error so that the
// user gets a message and an exit status, not a goroutine dump.
func runCommand(c command, args []string, stdout, stderr io.Writer) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w (a bug in flatfast, please report it with the command line): %v\n%s", errBug, r, debug.Stack())
		}
	}()
	if c.subs != nil {
		return runGroup(c, args, stdout, stderr)
	}
	return c.run(args, stdout, stderr)
}

// report prints err (once) and returns the exit status for it.
func report(name string, err error, stderr io.Writer) int {
	var me *repro.MemoryError
	fe, isFlagErr := asFlagError(err)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case isFlagErr:
		fmt.Fprintf(stderr, "flatfast %s: %v (flatfast help %s lists the flags)\n", name, fe.err, name)
		return exitUsage
	case errors.Is(err, errUsage), errors.As(err, &me), errors.Is(err, repro.ErrConfig):
		// errUsage is a mark for the exit status, not part of the message.
		fmt.Fprintf(stderr, "flatfast %s: %s\n", name, strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
		return exitUsage
	case errors.Is(err, errBug):
		fmt.Fprintf(stderr, "flatfast %s: %v\n", name, err)
		return exitBug
	}
	fmt.Fprintf(stderr, "flatfast %s: %v\n", name, err)
	return exitFailure
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: flatfast <command> [arguments]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	cs := commands()
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "'flatfast help <command>' describes a command; every command accepts -h.")
	fmt.Fprintf(w, "environment: %s=generic|avx2|avx512|neon forces a SIMD level.\n", simd.EnvVar)
}

// runHelp prints to stdout what -h prints to stderr: the command list, a
// group's subcommands, or a command's flags.
func runHelp(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stdout)
		return nil
	}
	if isHelp(args[0]) {
		fmt.Fprintln(stderr, "usage: flatfast help [<command> [<subcommand>]]")
		return flag.ErrHelp
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		switch {
		case c.name == "help":
			fmt.Fprintf(stdout, "flatfast help: %s\n", c.summary)
			return nil
		case c.subs == nil:
			fmt.Fprintf(stdout, "flatfast %s: %s\n", c.name, c.summary)
			return helpFlags(c, stdout)
		case len(args) == 1:
			groupUsage(stdout, c)
			return nil
		}
		for _, s := range c.subs {
			if s.name == args[1] {
				fmt.Fprintf(stdout, "flatfast %s %s: %s\n", c.name, s.name, s.summary)
				return helpFlags(s, stdout)
			}
		}
		return fmt.Errorf("%w: unknown %s %q", errUsage, c.name, args[1])
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}

// helpFlags has a command print its flags (its -h) to w.
func helpFlags(c command, w io.Writer) error {
	if err := c.run([]string{"-h"}, w, w); err != nil && !errors.Is(err, flag.ErrHelp) {
		return err
	}
	return nil
}

func runInfo(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("info", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	c := simd.Cache()
	fmt.Fprintf(stdout, "cpu:        %s\n", simd.CPUDescription())
	fmt.Fprintf(stdout, "simd level: %s\n", simd.ActiveLevel())
	var lv []string
	for _, k := range simd.Implementations() {
		lv = append(lv, k.String())
	}
	fmt.Fprintf(stdout, "available:  %s\n", strings.Join(lv, ", "))
	l3 := "none"
	if c.L3 > 0 {
		l3 = fmt.Sprintf("%d KiB", c.L3>>10)
	}
	fmt.Fprintf(stdout, "caches:     L1d %d KiB (%s), L2 %d KiB (%s), L3 %s (%s)\n",
		c.L1D>>10, c.L1DSource, c.L2>>10, c.L2Source, l3, c.L3Source)
	return nil
}

// newFlagSet returns a flag set that reports errors instead of exiting.
// The flag package prints a parse error and then the whole usage; here
// the usage goes out only for -h, and the error is printed once, by run
// (see flagError).
func newFlagSet(name string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("flatfast "+name, flag.ContinueOnError)
	fo := &flagOutput{w: out}
	fs.SetOutput(fo)
	fs.Usage = func() {
		if len(fo.msg) > 0 {
			// A parse error: the flag package has just "printed" it.
			noteFlagError(fs.Name(), strings.TrimSpace(string(fo.msg)))
			fo.msg = nil
			return
		}
		fo.direct = true
		defer func() { fo.direct = false }()
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n == 0 {
			fmt.Fprintf(fs.Output(), "usage: flatfast %s (no flags)\n", name)
			return
		}
		fmt.Fprintf(fs.Output(), "usage: flatfast %s [flags]\n\nflags:\n", name)
		fs.PrintDefaults()
	}
	return fs
}

// flagOutput is a flag set's output: what the usage prints goes to w;
// anything else is the flag package reporting a parse error, kept for
// Usage to pick up.
type flagOutput struct {
	w      io.Writer
	direct bool
	msg    []byte
}

func (o *flagOutput) Write(p []byte) (int, error) {
	if o.direct {
		return o.w.Write(p)
	}
	o.msg = append(o.msg, p...)
	return len(p), nil
}

// flagError is a flag parse error, recognised by run for its exit status
// (2) whichever command returned it unwrapped.
type flagError struct {
	set string
	err string
}

func (e *flagError) Error() string { return e.err }

// flagErrors are the parse errors seen (by message): a command returns
// the flag package's own error value, which run matches here.
var (
	flagErrMu sync.Mutex
	flagErrs  = map[string]string{}
)

func noteFlagError(set, msg string) {
	flagErrMu.Lock()
	defer flagErrMu.Unlock()
	flagErrs[msg] = set
}

// asFlagError returns err as a *flagError when it is a parse error that
// a flag set of newFlagSet reported.
func asFlagError(err error) (*flagError, bool) {
	flagErrMu.Lock()
	defer flagErrMu.Unlock()
	for e := err; e != nil; e = errors.Unwrap(e) {
		if set, ok := flagErrs[e.Error()]; ok {
			return &flagError{set: set, err: e.Error()}, true
		}
	}
	return nil, false
}
