package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
)

func cmdMan(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "man", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	writeMan(e.stdout)
	return nil
}

// roff escapes text for a man page: backslashes, and a leading dot or
// quote that troff would read as a request.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// writeMan prints trust-agent(1) from the command table.
func writeMan(w io.Writer) {
	fmt.Fprintln(w, `.TH TRUST-AGENT 1 "" "trust-agent" "User Commands"`)
	fmt.Fprintln(w, ".SH NAME")
	fmt.Fprintln(w, `trust\-agent \- keep Docker Content Trust keys on hardware and sign for local clients`)
	fmt.Fprintln(w, ".SH SYNOPSIS")
	fmt.Fprintln(w, `.B trust\-agent`)
	fmt.Fprintln(w, `.I COMMAND`)
	fmt.Fprintln(w, `[\fIOPTIONS\fR] [\fIARGS\fR]`)
	fmt.Fprintln(w, ".SH DESCRIPTION")
	fmt.Fprintln(w, "trust\\-agent holds the private keys of Docker Content Trust on PKCS#11 tokens and PIV cards")
	fmt.Fprintln(w, "and signs TUF metadata for clients over a Unix socket, as ssh\\-agent does for SSH keys.")
	fmt.Fprintln(w, "It signs only what it can see is TUF metadata of the role and repository a key serves,")
	fmt.Fprintln(w, "and records every request in a hash\\-chained audit log.")
	for _, sec := range sections {
		fmt.Fprintf(w, ".SH %s\n", strings.ToUpper(roff(strings.SplitN(sec, " (", 2)[0])))
		for _, s := range commandTable {
			if s.section != sec {
				continue
			}
			fmt.Fprintf(w, ".SS %s\n", roff(strings.TrimSpace(s.name+" "+s.args)))
			fmt.Fprintf(w, "%s.\n", roff(upperFirst(s.summary)))
			flagsOf(s).VisitAll(func(f *pflag.Flag) {
				if f.Hidden {
					return
				}
				name := "\\-\\-" + roff(f.Name)
				if f.Shorthand != "" {
					name = "\\-" + roff(f.Shorthand) + ", " + name
				}
				fmt.Fprintf(w, ".TP\n.B %s\n%s\n", name, roff(f.Usage))
			})
			if s.example != "" {
				fmt.Fprintf(w, ".PP\nExample:\n.RS\n.nf\n%s\n.fi\n.RE\n", roff(s.example))
			}
		}
	}
	fmt.Fprintln(w, ".SH ENVIRONMENT")
	fmt.Fprintln(w, ".TP\n.B TRUST_AGENT_SOCK\nthe agent's socket, printed by start")
	fmt.Fprintln(w, ".TP\n.B DOCKER_CONTENT_TRUST_SERVER\nthe notary server, as docker reads it")
	fmt.Fprintln(w, ".TP\n.B DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE, DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE\npassphrases of key files that key load reads, as docker reads them")
	fmt.Fprintln(w, ".SH FILES")
	fmt.Fprintln(w, ".TP\n.B audit.log\nbeside the socket unless \\-\\-audit\\-log moves it: one JSON line per request")
	fmt.Fprintln(w, ".SH SEE ALSO")
	fmt.Fprintln(w, "docker-trust(1), notary(1), ssh-agent(1)")
}
