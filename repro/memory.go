package repro

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

// DefaultMemoryLimit is the memory limit where the physical memory cannot
// be read (no /proc/meminfo).
const DefaultMemoryLimit = 16 << 30

// MemoryLimit returns the memory an experiment may plan to use, and where
// that figure comes from: limit when it is positive (the -max-memory
// flag), else the physical memory (MemTotal in /proc/meminfo), else
// DefaultMemoryLimit.
func MemoryLimit(limit int64) (int64, string) {
	if limit > 0 {
		return limit, "-max-memory"
	}
	if m, ok := physicalMemory(); ok {
		return m, "the physical memory, from /proc/meminfo"
	}
	return DefaultMemoryLimit, "the default limit where physical memory is unknown"
}

func physicalMemory() (int64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil || kb <= 0 {
				return 0, false
			}
			return kb << 10, true
		}
	}
	return 0, false
}

// ErrConfig marks an error that comes from the configuration itself,
// found only once the experiment works it out (a scaling rule giving
// beta outside [0, 1), a start with no freedom left): bad input, like a
// failed validation, and not a failure of the run.
var ErrConfig = errors.New("invalid configuration")

// MemoryError is the error of a configuration that would need more memory
// than the limit: refused before allocating, instead of dying of "out of
// memory" part way.
type MemoryError struct {
	Setting string  // the setting that makes it large ("seeds = 10000000000: 1.7e+12 runs")
	Need    float64 // estimated bytes
	Limit   int64
	From    string // where Limit comes from
}

func (e *MemoryError) Error() string {
	return fmt.Sprintf("%s needs about %s of memory (estimated), more than the limit of %s (%s); lower it, or raise the limit with -max-memory",
		e.Setting, FormatSize(e.Need), FormatSize(float64(e.Limit)), e.From)
}

// CheckMemory returns a *MemoryError when need bytes (an estimate, made
// by the caller from the configuration) exceed limit (see MemoryLimit);
// setting names what makes the need large.
func CheckMemory(need float64, setting string, limit int64) error {
	lim, from := MemoryLimit(limit)
	if math.IsNaN(need) || need > float64(lim) {
		return &MemoryError{Setting: setting, Need: need, Limit: lim, From: from}
	}
	return nil
}

// FormatSize writes a byte count with a binary unit.
func FormatSize(b float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := 0
	for b >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", b)
	}
	return fmt.Sprintf("%.3g %s", b, units[i])
}

// ParseSize reads a byte count such as 512M, 8G, 8GiB or 1500000000
// (K, M, G, T are powers of 1024, with or without "iB" or "B").
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "i")
	mult := 1.0
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		case 't', 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || !(v > 0) || v*mult >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is not a positive size (like 512M or 8G)", s)
	}
	return int64(v * mult), nil
}
