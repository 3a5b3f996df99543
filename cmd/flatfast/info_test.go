package main

import (
	"bytes"
	"regexp"
	"testing"
)

// `flatfast info` says which cache sizes are in use and where each came
// from (FLATFAST_CACHE, cpuid or a default).
func TestInfoShowsCacheSources(t *testing.T) {
	var out, errw bytes.Buffer
	if code := run([]string{"info"}, &out, &errw); code != 0 {
		t.Fatalf("info: exit %d, %s", code, errw.String())
	}
	re := regexp.MustCompile(`(?m)^caches: +L1d \d+ KiB \((FLATFAST_CACHE|cpuid|default)\), L2 \d+ KiB \((FLATFAST_CACHE|cpuid|default)\), L3 (\d+ KiB|none) \((FLATFAST_CACHE|cpuid|default)\)$`)
	if !re.MatchString(out.String()) {
		t.Errorf("info output has no caches line with sources:\n%s", out.String())
	}
}
