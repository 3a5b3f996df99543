package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHelpListsEverything: `flatfast help` lists every command, `help
// <group>` and `<group> -h` every subcommand, and the package doc names
// them all.
func TestHelpListsEverything(t *testing.T) {
	var out, errw bytes.Buffer
	if code := run([]string{"help"}, &out, &errw); code != 0 {
		t.Fatalf("help: exit %d, %s", code, errw.String())
	}
	help := out.String()
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range commands() {
		if !strings.Contains(help, "  "+c.name+" ") {
			t.Errorf("help does not list %q:\n%s", c.name, help)
		}
		if !strings.Contains(string(src), "//\tflatfast "+c.name) {
			t.Errorf("the package doc does not list flatfast %s", c.name)
		}
		if c.subs == nil {
			continue
		}
		for _, args := range [][]string{{"help", c.name}, {c.name, "-h"}} {
			out.Reset()
			errw.Reset()
			code := run(args, &out, &errw)
			text := out.String() + errw.String()
			if code != 0 {
				t.Errorf("%v: exit %d", args, code)
			}
			for _, s := range c.subs {
				if !strings.Contains(text, "  "+s.name+" ") {
					t.Errorf("%v does not list %s:\n%s", args, s.name, text)
				}
				if !strings.Contains(c.summary, s.name) {
					t.Errorf("the summary of %s, %q, does not name %s", c.name, c.summary, s.name)
				}
				if !strings.Contains(string(src), "//\tflatfast "+c.name+" "+s.name+" ") {
					t.Errorf("the package doc does not list flatfast %s %s", c.name, s.name)
				}
			}
		}
	}
}

// TestEveryCommandTakesH: -h prints the usage on stderr and exits 0, for
// every command and subcommand (before doing any work), and `help <command>
// [<subcommand>]` prints the same on stdout.
func TestEveryCommandTakesH(t *testing.T) {
	var cases [][]string
	for _, c := range commands() {
		cases = append(cases, []string{c.name})
		for _, s := range c.subs {
			cases = append(cases, []string{c.name, s.name})
		}
	}
	for _, args := range cases {
		var out, errw bytes.Buffer
		if code := run(append(append([]string(nil), args...), "-h"), &out, &errw); code != 0 {
			t.Errorf("%v -h: exit %d, %s", args, code, errw.String())
		}
		if !strings.HasPrefix(errw.String(), "usage: flatfast "+strings.Join(args, " ")) {
			t.Errorf("%v -h printed %q", args, errw.String())
		}
		if out.Len() > 0 {
			t.Errorf("%v -h wrote to stdout: %q", args, out.String())
		}
		if args[0] == "help" {
			continue
		}
		out.Reset()
		errw.Reset()
		if code := run(append([]string{"help"}, args...), &out, &errw); code != 0 || errw.Len() > 0 {
			t.Errorf("help %v: exit %d, %s", args, code, errw.String())
		}
		if !strings.Contains(out.String(), "usage: flatfast "+strings.Join(args, " ")) {
			t.Errorf("help %v printed %q", args, out.String())
		}
	}
	var out, errw bytes.Buffer
	if code := run([]string{"-h"}, &out, &errw); code != 0 || !strings.HasPrefix(errw.String(), "usage: flatfast") {
		t.Errorf("flatfast -h: exit %d, %q", code, errw.String())
	}
	for _, args := range [][]string{{}, {"bench"}, {"repro"}, {"bench", "nothing"}, {"help", "nothing"}} {
		if code := run(args, &out, &errw); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// TestReproRefusesAnotherConfiguration: `repro uv` on a directory that
// holds another configuration's output exits 1 with an error that says
// so and names -fresh and -out, leaving results.json alone; -fresh
// overwrites it.
func TestReproRefusesAnotherConfiguration(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "uv")
	args := func(seeds string, extra ...string) []string {
		return append([]string{"repro", "uv", "-q", "-out", dir, "-activations", "identity", "-gammas", "1",
			"-etas", "0.05,0.1", "-max-steps", "20000", "-seeds", seeds}, extra...)
	}
	var out, errw bytes.Buffer
	if code := run(args("1"), &out, &errw); code != 0 {
		t.Fatalf("exit %d: %s", code, errw.String())
	}
	before, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errw.Reset()
	if code := run(args("2"), &out, &errw); code != 1 {
		t.Errorf("another configuration: exit %d, want 1", code)
	}
	for _, s := range []string{dir + " holds the output of another configuration", "seeds: 1 there, 2 now", "-fresh", "-out"} {
		if !strings.Contains(errw.String(), s) {
			t.Errorf("stderr %q does not mention %q", errw.String(), s)
		}
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "results.json")); !bytes.Equal(after, before) {
		t.Error("results.json changed")
	}
	errw.Reset()
	if code := run(args("2", "-fresh"), &out, &errw); code != 0 {
		t.Errorf("-fresh: exit %d: %s", code, errw.String())
	}
}
