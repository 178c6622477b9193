package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/spf13/pflag"
)

// version is set at build time (make build: -ldflags "-X main.version=...");
// otherwise the module version Go recorded, or "devel".
var version string

func versionString() string {
	v := version
	if v == "" {
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		} else {
			v = "devel"
		}
	}
	return fmt.Sprintf("trust-agent %s (%s, %s/%s)", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func cmdVersion(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "version", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, versionString())
	return nil
}

func cmdCompletion(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "completion", "completion bash|zsh|fish")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError("completion bash|zsh|fish")
	}
	switch fs.Arg(0) {
	case "bash":
		writeBashCompletion(e.stdout)
	case "zsh":
		fmt.Fprintln(e.stdout, "#compdef trust-agent\nautoload -U +X bashcompinit && bashcompinit")
		writeBashCompletion(e.stdout)
	case "fish":
		writeFishCompletion(e.stdout)
	default:
		return fmt.Errorf("no completion for shell %q; use bash, zsh or fish", fs.Arg(0))
	}
	return nil
}

// completionWords maps what has been typed ("", "key", "key generate") to
// the words that may come next: commands, then the command's flags.
func completionWords() map[string][]string {
	words := map[string][]string{}
	seen := map[string]bool{}
	for _, s := range commandTable {
		first, rest, grouped := strings.Cut(s.name, " ")
		if !seen[first] {
			seen[first] = true
			words[""] = append(words[""], first)
		}
		if grouped {
			words[first] = append(words[first], rest)
		}
		words[s.name] = flagNames(flagsOf(s))
	}
	words[""] = append(words[""], "help", "--help", "--version")
	words["completion"] = append(words["completion"], "bash", "zsh", "fish")
	return words
}

func writeBashCompletion(w io.Writer) {
	words := completionWords()
	keys := make([]string, 0, len(words))
	for k := range words {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintln(w, "# bash completion for trust-agent; made by `trust-agent completion bash`")
	fmt.Fprintln(w, "_trust_agent() {")
	fmt.Fprintln(w, `  local cur="${COMP_WORDS[COMP_CWORD]}" path="" i w`)
	fmt.Fprintln(w, `  for ((i = 1; i < COMP_CWORD; i++)); do`)
	fmt.Fprintln(w, `    w="${COMP_WORDS[i]}"; [[ $w == -* ]] && continue`)
	fmt.Fprintln(w, `    case "${path:+$path }$w" in`)
	for _, k := range keys {
		if k != "" {
			fmt.Fprintf(w, "      %q) path=%q ;;\n", k, k)
		}
	}
	fmt.Fprintln(w, "    esac")
	fmt.Fprintln(w, "  done")
	fmt.Fprintln(w, `  local opts=""`)
	fmt.Fprintln(w, `  case "$path" in`)
	for _, k := range keys {
		fmt.Fprintf(w, "    %q) opts=%q ;;\n", k, strings.Join(words[k], " "))
	}
	fmt.Fprintln(w, "  esac")
	fmt.Fprintln(w, `  COMPREPLY=($(compgen -W "$opts" -- "$cur"))`)
	fmt.Fprintln(w, `  [[ ${#COMPREPLY[@]} -eq 0 ]] && COMPREPLY=($(compgen -f -- "$cur"))`)
	fmt.Fprintln(w, "}")
	fmt.Fprintln(w, "complete -F _trust_agent trust-agent")
}

func writeFishCompletion(w io.Writer) {
	fmt.Fprintln(w, "# fish completion for trust-agent; made by `trust-agent completion fish`")
	fmt.Fprintln(w, "complete -c trust-agent -f")
	seen := map[string]bool{}
	for _, s := range commandTable {
		first, rest, grouped := strings.Cut(s.name, " ")
		if !seen[first] {
			seen[first] = true
			desc := s.summary
			if grouped {
				desc = first + " commands"
			}
			fmt.Fprintf(w, "complete -c trust-agent -n __fish_use_subcommand -a %s -d %q\n", first, desc)
		}
		cond := "__fish_seen_subcommand_from " + first
		if grouped {
			fmt.Fprintf(w, "complete -c trust-agent -n %q -a %s -d %q\n", cond+"; and not __fish_seen_subcommand_from "+rest, rest, s.summary)
			cond += "; and __fish_seen_subcommand_from " + rest
		}
		flagsOf(s).VisitAll(func(f *pflag.Flag) {
			if f.Hidden {
				return
			}
			short := ""
			if f.Shorthand != "" {
				short = " -s " + f.Shorthand
			}
			fmt.Fprintf(w, "complete -c trust-agent -n %q -l %s%s -d %q\n", cond, f.Name, short, f.Usage)
		})
	}
}
