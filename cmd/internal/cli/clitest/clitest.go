// Package clitest reads what the help of tagnet's command-line programs
// lists, for their tests: which flags a command's --help shows and which
// configuration keys those flags set.
package clitest

import (
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/tagnet/tagnet/cmd/internal/cli"
	"github.com/tagnet/tagnet/config"
)

// RootFlags checks what every tagnet program's root gives: --version
// prints "program version…"; help does not list completion, which still
// works. run runs the program with args and returns its exit code and
// standard output.
func RootFlags(t testing.TB, program string, run func(args ...string) (code int, stdout string)) {
	t.Helper()
	if code, out := run("--version"); code != 0 || !strings.HasPrefix(out, program+" "+cli.Version) {
		t.Errorf("--version: exit %d, %q", code, out)
	}
	if code, out := run("--help"); code != 0 || strings.Contains(out, "completion") {
		t.Errorf("--help: exit %d, lists completion:\n%s", code, out)
	}
	if code, out := run("completion", "bash"); code != 0 || !strings.Contains(out, program) {
		t.Errorf("completion bash: exit %d", code)
	}
}

// Commands returns every runnable command of the tree below root that
// help lists (not hidden, not cobra's help), by its path below root
// ("info", "data synth").
func Commands(root *cobra.Command) map[string]*cobra.Command {
	out := map[string]*cobra.Command{}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" {
				continue
			}
			if sub.Runnable() {
				out[strings.TrimPrefix(sub.CommandPath(), root.Name()+" ")] = sub
			}
			walk(sub)
		}
	}
	walk(root)
	return out
}

// flagLine matches a flag in cobra's usage: "  -o, --output string  …" or
// "      --model string  …".
var flagLine = regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([A-Za-z0-9][\w.-]*)`)

// HelpFlags returns the names of the flags that help text lists, in order.
func HelpFlags(help string) []string {
	var names []string
	for _, m := range flagLine.FindAllStringSubmatch(help, -1) {
		names = append(names, m[1])
	}
	return names
}

// HelpKeys maps each configuration key that c's help lists to the flags
// listing it (more than one is a key shown twice); flags that set no key
// are in other.
func HelpKeys(c *cobra.Command, help string) (keys map[string][]string, other []string) {
	c.InheritedFlags() // merges the parents' persistent flags into c.Flags()
	keys = map[string][]string{}
	for _, name := range HelpFlags(help) {
		fl := c.Flags().Lookup(name)
		if fl == nil {
			other = append(other, name+" (not a flag of the command)")
			continue
		}
		if key, ok := config.FlagKey(fl); ok {
			keys[key] = append(keys[key], name)
		} else {
			other = append(other, name)
		}
	}
	return keys, other
}

// Section is the section of a key: "server" for server.batching.max_batch.
func Section(key string) string {
	s, _, _ := strings.Cut(key, ".")
	return s
}
