package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// runCapture runs one command line in-process and returns its exit code,
// stdout and stderr.
func runCapture(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := runWith(&env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}, args)
	return code, out.String(), errb.String()
}

// TestEveryCommandHelp: each command's --help exits 0, prints on stdout
// its usage, its options and an example, and nothing on stderr.
func TestEveryCommandHelp(t *testing.T) {
	for _, s := range commandTable {
		args := append(strings.Fields(s.name), "--help")
		code, out, errs := runCapture(args...)
		if code != 0 || errs != "" {
			t.Errorf("%s --help: exit %d, stderr %q", s.name, code, errs)
		}
		for _, want := range []string{"Usage: trust-agent " + s.name, "Example:\n  " + s.example} {
			if !strings.Contains(out, want) {
				t.Errorf("%s --help lacks %q:\n%s", s.name, want, out)
			}
		}
		if s.example == "" || !strings.Contains(s.example, "trust-agent "+strings.Fields(s.name)[0]) {
			t.Errorf("%s: the example %q does not run the command", s.name, s.example)
		}
		// help NAME... is the same page.
		if code, out2, _ := runCapture(append([]string{"help"}, strings.Fields(s.name)...)...); code != 0 || out2 != out {
			t.Errorf("help %s: exit %d, a different page", s.name, code)
		}
	}
	for _, group := range []string{"key", "signer", "piv"} {
		code, out, _ := runCapture(group, "--help")
		if code != 0 || !strings.Contains(out, "Usage: trust-agent "+group+" COMMAND") {
			t.Errorf("%s --help: exit %d\n%s", group, code, out)
		}
		if code, _, errs := runCapture(group); code == 0 || !strings.Contains(errs, "usage: trust-agent "+group) {
			t.Errorf("%s without a command: exit %d, stderr %q", group, code, errs)
		}
	}
}

// TestUsageListsEveryCommand: the usage page is made from the table.
func TestUsageListsEveryCommand(t *testing.T) {
	code, out, _ := runCapture("--help")
	if code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	for _, s := range commandTable {
		if !strings.Contains(out, "  "+strings.TrimSpace(s.name+" "+s.args)+" ") {
			t.Errorf("usage lacks %q", s.name)
		}
	}
	if code, _, errs := runCapture(); code != 1 || !strings.Contains(errs, "Usage:") {
		t.Errorf("no arguments: exit %d, stderr %q; want the usage on stderr and exit 1", code, errs)
	}
	code, _, errs := runCapture("frobnicate")
	if code != 1 || errs != "trust-agent: error: unknown command \"frobnicate\"\ntrust-agent: hint: run `trust-agent help` for the commands\n" {
		t.Errorf("unknown command: exit %d, stderr %q", code, errs)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		code, out, _ := runCapture(args...)
		if code != 0 || !strings.HasPrefix(out, "trust-agent ") || !strings.Contains(out, "go1.") {
			t.Errorf("%v: exit %d, %q", args, code, out)
		}
	}
}

// TestBashCompletion sources the script in a real bash and asks it what
// follows, as bash does on TAB.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		missing(t, "bash")
	}
	code, script, _ := runCapture("completion", "bash")
	if code != 0 {
		t.Fatalf("completion bash: exit %d", code)
	}
	f := t.TempDir() + "/c.bash"
	if err := os.WriteFile(f, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		line string // the words typed; the last is being completed
		want string
	}{
		{"trust-agent ke", "key"},
		{"trust-agent key gen", "generate"},
		{"trust-agent key generate --ro", "--role"},
		{"trust-agent signer add --k", "--key"},
		{"trust-agent start --pk", "--pkcs11"},
		{"trust-agent completion fi", "fish"},
	} {
		words := strings.Fields(c.line)
		cmd := exec.Command(bash, "-c", `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($#-1)); _trust_agent; printf '%s\n' "${COMPREPLY[@]}"`, "bash", f)
		cmd.Args = append(cmd.Args, words...)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains("\n"+string(out), "\n"+c.want+"\n") {
			t.Errorf("%q: completions %q (%v), want %q among them", c.line, out, err, c.want)
		}
	}
	for _, shell := range []string{"zsh", "fish"} {
		if code, out, _ := runCapture("completion", shell); code != 0 || !strings.Contains(out, "generate") {
			t.Errorf("completion %s: exit %d", shell, code)
		}
	}
	if code, _, errs := runCapture("completion", "tcsh"); code != 1 || !strings.Contains(errs, `no completion for shell "tcsh"`) {
		t.Errorf("completion tcsh: exit %d, %q", code, errs)
	}
}

// TestManPage renders the page with the system's man formatter, which
// warns about malformed troff, and checks every command is in it.
func TestManPage(t *testing.T) {
	code, page, _ := runCapture("man")
	if code != 0 {
		t.Fatalf("man: exit %d", code)
	}
	groff, err := exec.LookPath("groff")
	if err != nil {
		missing(t, "groff")
	}
	cmd := exec.Command(groff, "-man", "-Tutf8", "-ww")
	cmd.Stdin = strings.NewReader(page)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil || errb.Len() != 0 {
		t.Fatalf("groff: %v\n%s", err, errb.String())
	}
	text := out.String()
	for _, s := range commandTable {
		if !strings.Contains(text, s.name) {
			t.Errorf("the man page lacks %q", s.name)
		}
	}
	if !strings.Contains(text, "--pkcs11") {
		t.Error("the man page lacks start's --pkcs11 flag")
	}
}
