// Command flatfast runs the paper's experiments and the framework's
// benchmarks.
//
//	flatfast help                 list the commands
//	flatfast info                 CPU, SIMD level and cache sizes
//	flatfast bench kernels        SIMD kernels, every level, vs pure Go
//	flatfast repro uv             Figure 1 of the paper (vector UV model)
//
// Every command accepts -h for its flags.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/flatfast/flatfast/simd"
)

// command is one subcommand: run gets the arguments after its name.
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

// errUsage marks an error whose message is a usage problem (exit status 2).
var errUsage = errors.New("usage")

func commands() []command {
	return []command{
		{"help", "list the commands, or describe one: help <command>", runHelp},
		{"info", "print the CPU, the SIMD level in use and the cache sizes", runInfo},
		{"bench", "measure: bench kernels | gemm | conv [-json] [-threads 1,2] (-h for each)", runBench},
		{"repro", "reproduce a figure of the paper: repro uv | repro sensing", runRepro},
	}
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
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(args[1:], stdout, stderr)
			switch {
			case err == nil:
				return 0
			case errors.Is(err, flag.ErrHelp):
				return 0
			case errors.Is(err, errUsage):
				fmt.Fprintf(stderr, "flatfast %s: %v\n", c.name, err)
				return 2
			default:
				fmt.Fprintf(stderr, "flatfast %s: %v\n", c.name, err)
				return 1
			}
		}
	}
	fmt.Fprintf(stderr, "flatfast: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
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
	fmt.Fprintf(w, "environment: %s=generic|avx2|avx512|neon forces a SIMD level.\n", simd.EnvVar)
}

func runHelp(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			fmt.Fprintf(stdout, "flatfast %s: %s\n", c.name, c.summary)
			if c.name != "help" {
				// Let the command print its own flags.
				_ = c.run(append(args[1:], "-h"), stdout, stdout)
			}
			return nil
		}
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}

func runInfo(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("info", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	l1, l2, l3 := simd.Caches()
	fmt.Fprintf(stdout, "cpu:        %s\n", simd.CPUDescription())
	fmt.Fprintf(stdout, "simd level: %s\n", simd.ActiveLevel())
	var lv []string
	for _, k := range simd.Implementations() {
		lv = append(lv, k.String())
	}
	fmt.Fprintf(stdout, "available:  %s\n", strings.Join(lv, ", "))
	fmt.Fprintf(stdout, "caches:     L1d %d KiB, L2 %d KiB, L3 %d KiB\n", l1>>10, l2>>10, l3>>10)
	return nil
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("flatfast "+name, flag.ContinueOnError)
	fs.SetOutput(out)
	return fs
}
