package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flatfast/flatfast/internal/bench"
	"github.com/flatfast/flatfast/internal/kernelbench"
	"github.com/flatfast/flatfast/simd"
	"github.com/flatfast/flatfast/tensor"
)

// threadList parses --threads: a comma-separated list, by default 1 and
// the number of CPUs.
func threadList(spec string) ([]int, error) {
	if strings.TrimSpace(spec) == "" {
		if n := runtime.NumCPU(); n > 1 {
			return []int{1, n}, nil
		}
		return []int{1}, nil
	}
	return parseInts(spec)
}

// useThreads makes one measurement run on t threads: tensor's thread count
// and GOMAXPROCS both (gonum parallelises over GOMAXPROCS). With GOMAXPROCS
// above the threads a computation uses, every preemption of the computing
// goroutine (the runtime's, each 10 ms) wakes an OS thread for an idle P,
// which spins and may take the goroutine over on another core, its caches
// cold. On a 2-vCPU Intel Xeon (family 6 model 207) the paper's MLP step
// on one thread took 8% longer at GOMAXPROCS=2 than at 1 (medians of 12
// alternating batches in one process), with 111 CPU migrations against 1
// and 1.19 CPUs busy; a 2048^3 product 9% longer. A measurement at t
// threads is of a process that uses t cores, as the anchors' are.
func useThreads(t int) {
	tensor.SetThreads(t)
	runtime.GOMAXPROCS(max(t, 1))
}

// keepThreads returns a function that puts GOMAXPROCS back as it is now
// and tensor's thread count back to its default (GOMAXPROCS).
func keepThreads() (restore func()) {
	prev := runtime.GOMAXPROCS(0)
	return func() {
		tensor.SetThreads(0)
		runtime.GOMAXPROCS(prev)
	}
}

// gemmRow is one line of `bench gemm`.
type gemmRow struct {
	Kernel  string  `json:"kernel"`
	M       int     `json:"m"`
	N       int     `json:"n"`
	K       int     `json:"k"`
	Threads int     `json:"threads"`
	Level   string  `json:"level"`
	Ms      float64 `json:"ms"`
	GFlops  float64 `json:"gflops"`
	MinMs   float64 `json:"min_ms"`
	Repeats int     `json:"calls"`
	// SpeedupVsGeneric: the generic level's median over this row's, for
	// flatfast rows with -generic.
	SpeedupVsGeneric float64    `json:"speedup_vs_generic,omitempty"`
	CPU              *bench.CPU `json:"cpu,omitempty"`
}

func benchGemm(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench gemm", stderr)
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	threads := fs.String("threads", "", "comma-separated thread counts (default: 1 and the number of CPUs)")
	shapes := fs.String("shapes", "", "comma-separated MxNxK shapes (default: 256^3, 512^3, 1024^3, 2048^3, 512x512x784)")
	withGonum := fs.Bool("gonum", true, "also time gonum's pure-Go Sgemm")
	vsGeneric := fs.Bool("generic", false, "also time flatfast at the generic level and report the speedup over it")
	budget := fs.Duration("time", time.Second, "measuring time per case (5 batches; the median is reported)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ts, err := threadList(*threads)
	if err != nil {
		return fmt.Errorf("%w: -threads: %v", errUsage, err)
	}
	list := bench.GemmShapes
	if *shapes != "" {
		list = nil
		for _, f := range strings.Split(*shapes, ",") {
			var s bench.GemmShape
			if _, err := fmt.Sscanf(strings.TrimSpace(f), "%dx%dx%d", &s.M, &s.N, &s.K); err != nil || s.M <= 0 || s.N <= 0 || s.K <= 0 {
				return fmt.Errorf("%w: -shapes: %q is not MxNxK", errUsage, f)
			}
			list = append(list, s)
		}
	}
	if !*asJSON {
		fmt.Fprintf(stdout, "# %s; level %s; medians of 5 batches\n", simd.CPUDescription(), simd.ActiveLevel())
		fmt.Fprintf(stdout, "%-12s %6s %6s %6s %7s %10s %9s\n", "kernel", "m", "n", "k", "threads", "ms", "GFLOP/s")
	}
	defer keepThreads()()
	for _, s := range list {
		ff, gn := bench.GemmCase(s)
		cases := []bench.Case{ff}
		if *withGonum {
			cases = append(cases, gn)
		}
		for _, t := range ts {
			for _, c := range cases {
				useThreads(t)
				tm := bench.Measure(c.Run, *budget, 5)
				row := gemmRow{Kernel: c.Kernel, M: s.M, N: s.N, K: s.K, Threads: t, Level: simd.ActiveLevel().String(),
					Ms: tm.Median * 1e3, MinMs: tm.Min * 1e3, GFlops: c.Flops / tm.Median / 1e9, Repeats: tm.Calls}
				if *vsGeneric && c.Kernel == ff.Kernel {
					row.SpeedupVsGeneric = genericMedian(c.Run, *budget) / tm.Median
				}
				if *asJSON {
					row.CPU = bench.DescribeCPU()
				}
				if err := printRow(stdout, *asJSON, row, "%-12s %6d %6d %6d %7d %10.3f %9.1f\n",
					row.Kernel, row.M, row.N, row.K, row.Threads, row.Ms, row.GFlops); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// convRow is one line of `bench conv`.
type convRow struct {
	Kernel  string  `json:"kernel"`
	N       int     `json:"n"`
	C       int     `json:"c"`
	H       int     `json:"h"`
	W       int     `json:"w"`
	Cout    int     `json:"cout"`
	KSize   int     `json:"ksize"`
	Stride  int     `json:"stride"`
	Pad     int     `json:"pad"`
	Threads int     `json:"threads"`
	Level   string  `json:"level"`
	Ms      float64 `json:"ms"`
	MinMs   float64 `json:"min_ms"`
	GFlops  float64 `json:"gflops"`
	// SpeedupVsGeneric: the generic level's median over this row's, with
	// -generic.
	SpeedupVsGeneric float64    `json:"speedup_vs_generic,omitempty"`
	CPU              *bench.CPU `json:"cpu,omitempty"`
}

// genericMedian times run at the generic level (then restores the active
// one) and returns its median seconds per call.
func genericMedian(run func(int), budget time.Duration) float64 {
	prev := simd.ActiveLevel()
	defer func() { _ = simd.Use(prev) }()
	_ = simd.Use(simd.Generic)
	return bench.Measure(run, budget, 5).Median
}

func benchConv(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench conv", stderr)
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	threads := fs.String("threads", "", "comma-separated thread counts (default: 1 and the number of CPUs)")
	all := fs.Bool("passes", false, "also report the forward and the two backward passes separately")
	vsGeneric := fs.Bool("generic", false, "also time each case at the generic level and report the speedup over it (slow)")
	budget := fs.Duration("time", 2*time.Second, "measuring time per case (5 batches; the median is reported)")
	wino := fs.Bool("winograd", true, "3x3 stride-1 layers on the Winograd path (false: the direct product; docs/conv.md)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	defer tensor.SetConvWinograd(tensor.SetConvWinograd(*wino))
	ts, err := threadList(*threads)
	if err != nil {
		return fmt.Errorf("%w: -threads: %v", errUsage, err)
	}
	if !*asJSON {
		fmt.Fprintf(stdout, "# %s; level %s; medians of 5 batches\n", simd.CPUDescription(), simd.ActiveLevel())
		fmt.Fprintf(stdout, "%-18s %-16s %7s %10s %9s\n", "kernel", "shape NxCxHxW", "threads", "ms", "GFLOP/s")
	}
	defer keepThreads()()
	for _, s := range bench.ConvShapes {
		cases := bench.ConvCases(s)
		if !*all {
			cases = cases[len(cases)-1:]
		}
		for _, t := range ts {
			useThreads(t)
			for _, c := range cases {
				tm := bench.Measure(c.Run, *budget, 5)
				row := convRow{Kernel: c.Kernel, N: s.N, C: s.C, H: s.HW, W: s.HW, Cout: s.C, KSize: s.K, Stride: s.Stride, Pad: s.Pad,
					Threads: t, Level: simd.ActiveLevel().String(), Ms: tm.Median * 1e3, MinMs: tm.Min * 1e3, GFlops: c.Flops / tm.Median / 1e9}
				if *vsGeneric {
					row.SpeedupVsGeneric = genericMedian(c.Run, *budget) / tm.Median
				}
				if *asJSON {
					row.CPU = bench.DescribeCPU()
				}
				shape := fmt.Sprintf("%dx%dx%dx%d", s.N, s.C, s.HW, s.HW)
				if err := printRow(stdout, *asJSON, row, "%-18s %-16s %7d %10.2f %9.1f\n",
					row.Kernel, shape, row.Threads, row.Ms, row.GFlops); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func printRow(w io.Writer, asJSON bool, row any, format string, args ...any) error {
	if asJSON {
		return json.NewEncoder(w).Encode(row)
	}
	_, err := fmt.Fprintf(w, format, args...)
	return err
}

// kernelRow is one line of `bench kernels`, also its JSON form.
type kernelRow struct {
	Kernel           string     `json:"kernel"`
	N                int        `json:"n"`
	Level            string     `json:"level"`
	NsPerOp          float64    `json:"ns_per_op"`
	GFlops           float64    `json:"gflops"`
	GBytesPerSec     float64    `json:"gbytes_per_s"`
	SpeedupVsGeneric float64    `json:"speedup_vs_generic"`
	CPU              *bench.CPU `json:"cpu,omitempty"`
}

func benchKernels(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench kernels", stderr)
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	sizes := fs.String("n", "1024,32768,1048576", "comma-separated slice lengths")
	kc := fs.Int("kc", 256, "depth of the packed panels for gemm_kernel")
	levels := fs.String("levels", "", "comma-separated levels to run besides generic (default: all available)")
	only := fs.String("kernels", "", "comma-separated kernels (default: all): "+strings.Join(kernelbench.Names, ","))
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
	for ki, name := range kernelbench.Names {
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
				c := kernelbench.Cases(k, n)[ki]
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
					g := kernelbench.Cases(impls[0], n)[ki]
					row.SpeedupVsGeneric = row.GFlops / (g.Flops / generic / 1e9)
				}
				if *asJSON {
					row.CPU = bench.DescribeCPU()
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

// trainRow is one line of `bench train`.
type trainRow struct {
	Kernel        string  `json:"kernel"`
	Model         string  `json:"model"`
	Batch         int     `json:"batch"`
	Threads       int     `json:"threads"`
	Level         string  `json:"level"`
	MsPerStep     float64 `json:"ms"`
	MinMs         float64 `json:"min_ms"`
	AllocsPerStep float64 `json:"allocs_per_step"`
	PeakRSSMiB    float64 `json:"peak_rss_mib_over_baseline"`
	Loss          float64 `json:"last_loss"`
	Warmup        int     `json:"warmup_steps"` // steps before the timed ones
}

// maxWarmup bounds bench train's warm-up steps.
const maxWarmup = 10

func benchTrain(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench train", stderr)
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	model := fs.String("model", "mlp", "mlp (the paper's FashionMNIST MLP) or resnet18 (CIFAR)")
	batch := fs.Int("batch", 0, "batch size (default: 512 for mlp, 32 for resnet18)")
	threads := fs.Int("threads", runtime.NumCPU(), "threads for GEMM and convolution")
	steps := fs.Int("steps", 0, "timed steps, in 5 batches (default: 50 for mlp, 10 for resnet18)")
	wino := fs.Bool("winograd", true, "3x3 stride-1 convolutions on the Winograd path (false: the direct product; docs/conv.md)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	defer tensor.SetConvWinograd(tensor.SetConvWinograd(*wino))
	if *batch <= 0 {
		*batch = map[string]int{"mlp": 512, "resnet18": 32}[*model]
	}
	if *steps <= 0 {
		*steps = map[string]int{"mlp": 50, "resnet18": 10}[*model]
	}
	if *threads < 1 {
		return fmt.Errorf("%w: -threads %d: want at least 1", errUsage, *threads)
	}
	defer keepThreads()()
	useThreads(*threads)
	base := rssMiB("VmRSS")
	tr, err := bench.NewTrainer(*model, *batch)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	// Warm-up: until two steps in a row allocate nothing, or maxWarmup
	// steps. The graph's tensor pool and the GEMM and convolution scratch
	// grow to what the model needs in the first steps, and since workers
	// take units (and pooled jobs) dynamically, which worker's scratch
	// first meets which shape varies: ResNet-18 at batch 32 on two threads
	// allocated 640, 12, 0, 4, 1, 0, 1, 0, 0, 0, 1, 0 in its first twelve
	// steps in one run and 646, 4, 2, 0, 9, 0, ... in another. The steps
	// timed are the steady state a long run spends its time in; the
	// warm-up steps are reported, and allocations that still come after
	// them are counted.
	var ms runtime.MemStats
	warmup, quiet := 0, 0
	for warmup < maxWarmup && quiet < 2 {
		runtime.ReadMemStats(&ms)
		before := ms.Mallocs
		if err := tr.Step(); err != nil {
			return err
		}
		warmup++
		runtime.ReadMemStats(&ms)
		if ms.Mallocs == before {
			quiet++
		} else {
			quiet = 0
		}
	}
	runtime.ReadMemStats(&ms)
	mallocs := ms.Mallocs
	per := make([]float64, 5)
	for b := range per {
		t0 := time.Now()
		for range max(1, *steps/5) {
			if err := tr.Step(); err != nil {
				return err
			}
		}
		per[b] = time.Since(t0).Seconds() / float64(max(1, *steps/5))
	}
	runtime.ReadMemStats(&ms)
	sorted := append([]float64(nil), per...)
	sort.Float64s(sorted)
	row := trainRow{Kernel: "train_step", Model: *model, Batch: *batch, Threads: *threads, Level: simd.ActiveLevel().String(),
		MsPerStep: sorted[2] * 1e3, MinMs: sorted[0] * 1e3, AllocsPerStep: float64(ms.Mallocs-mallocs) / float64(5*max(1, *steps/5)),
		PeakRSSMiB: rssMiB("VmHWM") - base, Loss: tr.Loss, Warmup: warmup}
	return printRow(stdout, *asJSON, row, "%-9s batch %4d threads %d: %8.2f ms/step (min %.2f), %.1f allocs/step after %d warm-up steps, peak RSS +%.0f MiB\n",
		row.Model, row.Batch, row.Threads, row.MsPerStep, row.MinMs, row.AllocsPerStep, row.Warmup, row.PeakRSSMiB)
}

// rssMiB reads a memory figure (VmRSS, VmHWM) of this process from
// /proc/self/status, in MiB (NaN where there is no /proc).
func rssMiB(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return math.NaN()
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			var kb float64
			if _, err := fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, field+":")), "%f", &kb); err == nil {
				return kb / 1024
			}
		}
	}
	return math.NaN()
}

func benchAutodiff(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench autodiff", stderr)
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	batch := fs.Int("batch", 512, "batch size of the paper's MLP")
	threads := fs.String("threads", "", "comma-separated thread counts (default: 1 and the number of CPUs)")
	budget := fs.Duration("time", 3*time.Second, "measuring time per case (5 batches; the median is reported)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ts, err := threadList(*threads)
	if err != nil {
		return fmt.Errorf("%w: -threads: %v", errUsage, err)
	}
	cases, err := bench.AutodiffCases(*batch)
	if err != nil {
		return err
	}
	defer keepThreads()()
	for _, t := range ts {
		useThreads(t)
		var grad float64
		for _, c := range cases {
			tm := bench.Measure(c.Run, *budget, 5)
			if c.Kernel == "mlp_grad" {
				grad = tm.Median
			}
			row := map[string]any{"kernel": c.Kernel, "batch": *batch, "threads": t, "ms": tm.Median * 1e3, "min_ms": tm.Min * 1e3,
				"ratio_to_grad": tm.Median / grad}
			if err := printRow(stdout, *asJSON, row, "%-17s batch %d threads %d: %8.2f ms (%.2f gradients)\n", c.Kernel, *batch, t, tm.Median*1e3, tm.Median/grad); err != nil {
				return err
			}
		}
	}
	return nil
}
