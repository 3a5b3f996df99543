package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/flatfast/flatfast/internal/bench"
	"github.com/flatfast/flatfast/simd"
)

func runBench(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return fmt.Errorf("%w: name what to measure: kernels", errUsage)
	}
	switch args[0] {
	case "kernels":
		return benchKernels(args[1:], stdout, stderr)
	}
	return fmt.Errorf("%w: unknown benchmark %q (want kernels)", errUsage, args[0])
}

// kernelRow is one line of `bench kernels`, also its JSON form.
type kernelRow struct {
	Kernel           string  `json:"kernel"`
	N                int     `json:"n"`
	Level            string  `json:"level"`
	NsPerOp          float64 `json:"ns_per_op"`
	GFlops           float64 `json:"gflops"`
	GBytesPerSec     float64 `json:"gbytes_per_s"`
	SpeedupVsGeneric float64 `json:"speedup_vs_generic"`
}

func benchKernels(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench kernels", stderr)
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	sizes := fs.String("n", "1024,32768,1048576", "comma-separated slice lengths")
	kc := fs.Int("kc", 256, "depth of the packed panels for gemm_kernel")
	levels := fs.String("levels", "", "comma-separated levels to run besides generic (default: all available)")
	only := fs.String("kernels", "", "comma-separated kernels (default: all): "+strings.Join(bench.KernelNames, ","))
	budget := fs.Duration("time", 300*time.Millisecond, "measuring time per case (split into 5 batches; the median is reported)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ns, err := parseInts(*sizes)
	if err != nil {
		return fmt.Errorf("%w: -n: %v", errUsage, err)
	}
	impls, err := pickLevels(*levels)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, k := range strings.Split(*only, ",") {
		if k = strings.TrimSpace(k); k != "" {
			want[k] = true
		}
	}
	if !*asJSON {
		fmt.Fprintf(stdout, "# %s; timings are medians of 5 batches\n", simd.CPUDescription())
		fmt.Fprintf(stdout, "%-14s %9s %-8s %12s %10s %10s %9s\n", "kernel", "n", "level", "ns/op", "GFLOP/s", "GB/s", "vs generic")
	}
	enc := json.NewEncoder(stdout)
	for ki, name := range bench.KernelNames {
		if len(want) > 0 && !want[name] {
			continue
		}
		kns := ns
		if name == "gemm_kernel" {
			kns = []int{*kc}
		}
		for _, n := range kns {
			var generic float64
			for _, k := range impls {
				c := bench.KernelCases(k, n)[ki]
				t := bench.Measure(c.Run, *budget, 5)
				if k.Level() == simd.Generic {
					generic = t.Median
				}
				row := kernelRow{
					Kernel: name, N: n, Level: k.String(), NsPerOp: t.Median * 1e9,
					GFlops: c.Flops / t.Median / 1e9, GBytesPerSec: c.Bytes / t.Median / 1e9,
					SpeedupVsGeneric: generic / t.Median,
				}
				if name == "gemm_kernel" {
					// Tiles differ between levels: compare rates, not times.
					g := bench.KernelCases(impls[0], n)[ki]
					row.SpeedupVsGeneric = row.GFlops / (g.Flops / generic / 1e9)
				}
				if *asJSON {
					if err := enc.Encode(row); err != nil {
						return err
					}
					continue
				}
				fmt.Fprintf(stdout, "%-14s %9d %-8s %12.1f %10.2f %10.1f %8.2fx\n",
					row.Kernel, row.N, row.Level, row.NsPerOp, row.GFlops, row.GBytesPerSec, row.SpeedupVsGeneric)
			}
		}
	}
	return nil
}

// pickLevels returns generic followed by the requested levels (all
// available ones if spec is empty).
func pickLevels(spec string) ([]*simd.Impl, error) {
	all := simd.Implementations()
	if strings.TrimSpace(spec) == "" {
		return all, nil
	}
	out := []*simd.Impl{all[0]}
	for _, s := range strings.Split(spec, ",") {
		l, err := simd.ParseLevel(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		if l == simd.Generic {
			continue
		}
		found := false
		for _, k := range all {
			if k.Level() == l {
				out = append(out, k)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("level %s is not available on this machine", l)
		}
	}
	return out, nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no sizes given")
	}
	return out, nil
}
