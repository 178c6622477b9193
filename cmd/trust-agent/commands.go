package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/pflag"
)

// spec declares one command. The usage page, every command's --help, the
// shell completions and the man page are all made from commandTable, so
// they cannot drift apart; each command still declares its own flags with
// pflag, and those are read from it (flagsOf) rather than written twice.
type spec struct {
	name    string // "key generate": the words that select it
	args    string // positional arguments, e.g. "NAME"
	summary string // one line, lower case, no full stop
	example string // one or more command lines a user would type
	section string // heading in the usage page
	run     command
}

// Sections of the usage page, in order.
const (
	sectionAgent  = "Agent"
	sectionKeys   = "Keys (made and kept on hardware)"
	sectionTrust  = "Docker Content Trust"
	sectionOthers = "Other"
)

var sections = []string{sectionAgent, sectionKeys, sectionTrust, sectionOthers}

// commandTable is every command trust-agent has. It is filled in init:
// completion and man read it, so it cannot refer to them in its own
// initializer.
var commandTable []spec

func init() {
	commandTable = []spec{
		{name: "start", section: sectionAgent, run: cmdStart,
			summary: "start the agent in the background and print the environment to eval, as ssh-agent does",
			example: `eval "$(trust-agent start --pkcs11 'pkcs11:token=dct?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:'$HOME/.config/trust-agent/pin)"`},
		{name: "stop", section: sectionAgent, run: cmdStop,
			summary: "stop the agent and print the lines that unset its environment, as ssh-agent -k does",
			example: `eval "$(trust-agent stop)"`},
		{name: "status", section: sectionAgent, run: cmdStatus,
			summary: "show the agent's backends, keys, lock state and counters",
			example: "trust-agent status --json"},
		{name: "lock", section: sectionAgent, run: cmdLock,
			summary: "log every backend out and forget every PIN",
			example: "trust-agent lock"},
		{name: "unlock", args: "", section: sectionAgent, run: cmdUnlock,
			summary: "log a locked backend in with its PIN (asked on the terminal unless --pin-file)",
			example: "trust-agent unlock --backend 'piv:serial=12345678'"},
		{name: "audit verify", args: "[FILE]", section: sectionAgent, run: cmdAuditVerify,
			summary: "walk the audit log's hash chain and name the first line edited, deleted, reordered or truncated",
			example: "trust-agent audit verify \"$(dirname \"$TRUST_AGENT_SOCK\")/audit.log\""},
		{name: "piv setup", section: sectionAgent, run: cmdPIVSetup,
			summary: "make a new PIV card (YubiKey) ready: new PIN, PUK and a random management key kept on the card",
			example: "trust-agent piv setup --serial 12345678"},

		{name: "key generate", args: "NAME", section: sectionKeys, run: cmdKeyGenerate,
			summary: "make a key on hardware and write NAME.pub (a delegation key unless --role says otherwise)",
			example: "trust-agent key generate alice --dir ~/keys"},
		{name: "key load", args: "FILE", section: sectionKeys, run: cmdKeyLoad,
			summary: "move a docker trust private key file into hardware (the passphrase from docker's variables)",
			example: "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE=... trust-agent key load ~/.docker/trust/private/abc123.key --name alice"},
		{name: "key load-docker", args: "[DIR]", section: sectionKeys, run: cmdKeyLoadDocker,
			summary: "move every key docker trust keeps ($DOCKER_CONFIG/trust/private) into hardware, with its role and repository",
			example: "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE=... DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE=... trust-agent key load-docker"},
		{name: "key list", section: sectionKeys, run: cmdKeyList,
			summary: "list the agent's keys: ID, name, role, repository, backend",
			example: "trust-agent key list --json"},
		{name: "key export", args: "NAME|ID", section: sectionKeys, run: cmdKeyExport,
			summary: "print a key's public key (PKIX PEM), as cosign verify --key takes it",
			example: "trust-agent key export release > release.pub && cosign verify --key release.pub --insecure-ignore-tlog registry.example.com/team/app@sha256:..."},
		{name: "key attest", args: "NAME|ID", section: sectionKeys, run: cmdKeyAttest,
			summary: "write a PIV key's attestation chain again (NAME.attest.pem)",
			example: "trust-agent key attest alice --dir ~/keys"},
		{name: "key delete", args: "NAME|ID", section: sectionKeys, run: cmdKeyDelete,
			summary: "remove a key from hardware (confirmed in the agent's askpass dialog; refused while a repository still trusts it)",
			example: "trust-agent key delete old-signer"},
		{name: "key certify", args: "NAME|ID", section: sectionKeys, run: cmdKeyCertify,
			summary: "give a notation key its code-signing certificate (self-signed in the agent, or --chain FILE from a CA, confirmed through askpass), kept beside the key; prints the chain",
			example: "trust-agent key certify release > release.crt && notation cert add --type ca --store trust-agent release.crt"},
		{name: "key rotate", args: "ROLE REPO", section: sectionKeys, run: cmdKeyRotate,
			summary: "replace a repository's root, targets or snapshot key (-r: hand snapshot or timestamp to the server)",
			example: "trust-agent key rotate root registry.example.com/team/app"},

		{name: "signer add", args: "NAME REPO...", section: sectionTrust, run: cmdSignerAdd,
			summary: "add a signer (a delegation key) to repositories, making each repository's trust data when it has none",
			example: "trust-agent signer add --key alice.pub alice registry.example.com/team/app"},
		{name: "signer remove", args: "NAME REPO...", section: sectionTrust, run: cmdSignerRemove,
			summary: "remove a signer from repositories, or one of its keys (--key KEYID)",
			example: "trust-agent signer remove alice registry.example.com/team/app"},
		{name: "signer witness", args: "REPO [ROLE...]", section: sectionTrust, run: cmdSignerWitness,
			summary: "re-sign a delegation's metadata with the agent's keys it lists (notary witness), to repair a repository left unsignable",
			example: "trust-agent signer witness registry.example.com/team/app targets/releases"},
		{name: "sign", args: "REPO:TAG...", section: sectionTrust, run: cmdSign,
			summary: "sign tags with the agent's keys and publish them to the notary server",
			example: "trust-agent sign registry.example.com/team/app:v1"},
		{name: "revoke", args: "REPO[:TAG]", section: sectionTrust, run: cmdRevoke,
			summary: "remove a tag's signatures (or every tag's) from the repository's trust data",
			example: "trust-agent revoke registry.example.com/team/app:v1"},
		{name: "inspect", args: "REPO[:TAG]...", section: sectionTrust, run: cmdInspect,
			summary: "show a repository's signed tags, signers and keys, as docker trust inspect does",
			example: "trust-agent inspect --pretty registry.example.com/team/app"},
		{name: "verify", args: "REF", section: sectionTrust, run: cmdVerify,
			summary: "print the digest a tag is trusted at (REPO@sha256:...), or fail: the check docker pull once made",
			example: `docker pull "$(trust-agent verify registry.example.com/team/app:v1)"`},

		{name: "migrate", args: "REPO[:TAG]...", section: sectionTrust, run: cmdMigrate,
			summary: "sign each DCT-trusted tag for notation and cosign with the agent's keys, push and verify back (a tag already signed is skipped)",
			example: "trust-agent migrate --to all --key release registry.example.com/team/app:v1"},

		{name: "notation install", section: sectionOthers, run: cmdNotationInstall,
			summary: "install the notation plugin (notation-trust-agent) into notation's plugin folder",
			example: "trust-agent notation install && notation sign --plugin trust-agent --id release registry.example.com/team/app@sha256:..."},
		{name: "completion", args: "bash|zsh|fish", section: sectionOthers, run: cmdCompletion,
			summary: "print a shell completion script",
			example: "source <(trust-agent completion bash)"},
		{name: "man", section: sectionOthers, run: cmdMan,
			summary: "print the manual page (troff)",
			example: "trust-agent man > trust-agent.1 && man -l trust-agent.1"},
		{name: "version", section: sectionOthers, run: cmdVersion,
			summary: "print the version (also --version)",
			example: "trust-agent version"},
	}
}

// lookupSpec finds a command by its words, e.g. "key generate".
func lookupSpec(name string) (spec, bool) {
	for _, s := range commandTable {
		if s.name == name {
			return s, true
		}
	}
	return spec{}, false
}

// groups are the first words shared by several commands ("key", "signer",
// "piv"), with the second words they take.
func groups() map[string][]string {
	g := map[string][]string{}
	for _, s := range commandTable {
		if first, rest, ok := strings.Cut(s.name, " "); ok {
			g[first] = append(g[first], rest)
		}
	}
	return g
}

// dispatch finds the command args name and runs it with what follows.
func dispatch(ctx context.Context, e *env, args []string) error {
	if s, ok := lookupSpec(args[0]); ok {
		return s.run(ctx, e, args[1:])
	}
	subs, ok := groups()[args[0]]
	if !ok {
		return &usageErr{fmt.Errorf("unknown command %q", args[0]), "run `trust-agent help` for the commands"}
	}
	if len(args) < 2 || args[1] == "-h" || args[1] == "--help" || args[1] == "help" {
		writeGroupUsage(e.out(len(args) >= 2), args[0])
		if len(args) < 2 {
			return usageError(args[0] + " " + strings.Join(subs, "|") + " ...")
		}
		return nil
	}
	if s, ok := lookupSpec(args[0] + " " + args[1]); ok {
		return s.run(ctx, e, args[2:])
	}
	return &usageErr{fmt.Errorf("unknown %s command %q", args[0], args[1]), fmt.Sprintf("use one of: %s (trust-agent %s --help)", strings.Join(subs, ", "), args[0])}
}

// usageErr is a command line that names no command; its hint says which.
type usageErr struct {
	err  error
	hint string
}

func (u *usageErr) Error() string { return u.err.Error() }

// writeUsage prints the usage page: every command with its summary.
func writeUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: trust-agent COMMAND [OPTIONS] [ARGS]")
	fmt.Fprintln(w, "\ntrust-agent keeps Docker Content Trust keys on hardware (PKCS#11 tokens, PIV cards)")
	fmt.Fprintln(w, "and signs TUF metadata for its clients, as ssh-agent does for SSH keys.")
	for _, sec := range sections {
		fmt.Fprintf(w, "\n%s:\n", sec)
		for _, s := range commandTable {
			if s.section == sec {
				fmt.Fprintf(w, "  %-30s %s\n", strings.TrimSpace(s.name+" "+s.args), s.summary)
			}
		}
	}
	fmt.Fprintln(w, "\nClients find the agent through TRUST_AGENT_SOCK: eval \"$(trust-agent start ...)\".")
	fmt.Fprintln(w, "Run `trust-agent COMMAND --help` for a command's options and an example.")
}

// writeGroupUsage prints the commands of one group ("key").
func writeGroupUsage(w io.Writer, group string) {
	fmt.Fprintf(w, "Usage: trust-agent %s COMMAND [OPTIONS] [ARGS]\n\n", group)
	for _, s := range commandTable {
		if strings.HasPrefix(s.name, group+" ") {
			fmt.Fprintf(w, "  %-30s %s\n", strings.TrimSpace(s.name+" "+s.args), s.summary)
		}
	}
	fmt.Fprintf(w, "\nRun `trust-agent %s COMMAND --help` for a command's options and an example.\n", group)
}

// writeCommandHelp is a command's --help: synopsis, summary, options and
// an example.
func writeCommandHelp(w io.Writer, name, synopsis string, fs *pflag.FlagSet) {
	s, known := lookupSpec(name)
	if synopsis == "" {
		synopsis = strings.TrimSpace(name + " [OPTIONS] " + s.args)
	}
	fmt.Fprintf(w, "Usage: trust-agent %s\n", synopsis)
	if known {
		fmt.Fprintf(w, "\n%s.\n", upperFirst(s.summary))
	}
	if fs.HasAvailableFlags() {
		fmt.Fprintf(w, "\nOptions:\n%s", fs.FlagUsages())
	}
	if known && s.example != "" {
		fmt.Fprintf(w, "\nExample:\n  %s\n", s.example)
	}
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// flagsOf returns the flags command s declares, by running it with
// --help against an env that records its flag set and prints nothing.
func flagsOf(s spec) *pflag.FlagSet {
	var got *pflag.FlagSet
	e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, record: func(fs *pflag.FlagSet) { got = fs }}
	_ = s.run(context.Background(), e, []string{"--help"})
	if got == nil {
		got = pflag.NewFlagSet(s.name, pflag.ContinueOnError)
	}
	return got
}

// flagNames lists a command's visible long flags as "--name", sorted.
func flagNames(fs *pflag.FlagSet) []string {
	var out []string
	fs.VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			out = append(out, "--"+f.Name)
			if f.Shorthand != "" {
				out = append(out, "-"+f.Shorthand)
			}
		}
	})
	sort.Strings(out)
	return out
}
