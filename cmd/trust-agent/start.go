package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/agent/backend"
	"github.com/trust-agent/trust-agent/internal/daemon"
	"github.com/trust-agent/trust-agent/piv"
	"github.com/trust-agent/trust-agent/pkcs11"
	"github.com/trust-agent/trust-agent/socket"
)

const startSynopsis = "start [-f|--foreground] [--socket PATH] [--pkcs11 URI]... [--piv any|SERIAL]... [--backend URI]... [--audit-log PATH|--no-audit] [--lifetime DURATION] [-c|--csh] [--fish]"

// readyFDEnv tells a daemonized child which descriptor to report on: "ok"
// once it listens, or the error that stopped it (any number of lines), then
// a line "hint: ..." when there is one.
const readyFDEnv = "TRUST_AGENT_READY_FD"

// defaultStartTimeout bounds how long start waits for the agent it spawned
// to listen. Generous: opening a PKCS#11 module, or a card through pcscd, can
// take seconds. --start-timeout changes it.
const defaultStartTimeout = 30 * time.Second

// maxReadyReport caps what start reads of the child's report.
const maxReadyReport = 64 << 10

type startOptions struct {
	foreground bool
	socket     string
	pkcs11     []string
	piv        []string
	backends   []string // --backend URIs, opened by scheme (package backend)
	pivImport  bool
	allowEmpty bool
	// metricsAddr, when set, serves Prometheus metrics there.
	metricsAddr string
	// activated is the socket a service manager passed (LISTEN_FDS);
	// the agent then serves it in the foreground instead of binding.
	activated *net.UnixListener
	uris      []string // every backend named, as URIs (backendURIs)
	auditLog  string   // "" with noAudit only
	noAudit   bool
	lifetime  time.Duration
	timeout   time.Duration // for the daemon to listen
	csh, fish bool
	removeDir bool // the socket's directory was made for it: remove it at exit if empty
}

func cmdStart(ctx context.Context, e *env, args []string) error {
	var o startOptions
	fs := flags(e, "start", startSynopsis)
	fs.BoolVarP(&o.foreground, "foreground", "f", false, "stay in the foreground and log to stderr")
	fs.StringVar(&o.socket, "socket", "", "socket path (default: a new private directory under $TMPDIR)")
	fs.StringArrayVar(&o.pkcs11, "pkcs11", nil, "PKCS#11 token URI with module-path= and optionally pin-source=file:... (repeatable)")
	fs.StringArrayVar(&o.piv, "piv", nil, "PIV card (YubiKey) by serial number, or any (repeatable); it starts locked: trust-agent unlock")
	fs.StringArrayVar(&o.backends, "backend", nil, "any backend by URI, opened by its scheme: "+strings.Join(backend.Schemes(), ":, ")+": (repeatable)")
	fs.BoolVar(&o.pivImport, "piv-allow-import", false, "let key load put software keys on the PIV cards (such a key existed outside hardware and has no attestation)")
	fs.StringVar(&o.auditLog, "audit-log", "", "append a JSON line per request to this file, mode 0600 (default: audit.log beside the socket)")
	fs.BoolVar(&o.noAudit, "no-audit", false, "keep no audit log (not recommended: nothing then records what was signed, for whom)")
	fs.DurationVar(&o.lifetime, "lifetime", 0, "lock the agent this long after each unlock (e.g. 8h)")
	fs.DurationVar(&o.timeout, "start-timeout", defaultStartTimeout, "give up (and stop the agent) if it does not listen within this time")
	fs.BoolVarP(&o.csh, "csh", "c", false, "print csh commands")
	fs.BoolVar(&o.fish, "fish", false, "print fish commands")
	fs.StringVar(&o.metricsAddr, "metrics-listen", "", "serve Prometheus metrics on GET /metrics at `ADDR`: 127.0.0.1:PORT or unix:PATH (off by default; loopback only)")
	fs.BoolVar(&o.allowEmpty, "allow-empty", false, "start with no backend (keys can then be neither made nor used until the agent is restarted with one)")
	fs.BoolVar(&o.removeDir, removeDirFlag, false, "(internal) remove the socket's directory at exit when it is empty")
	fs.MarkHidden(removeDirFlag)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError(startSynopsis)
	}
	if len(o.pkcs11) == 0 && len(o.piv) == 0 && len(o.backends) == 0 && !o.allowEmpty {
		return &usageErr{errors.New("start: no backend: an agent without a token or card can neither make nor use keys"),
			"name one: --pkcs11 'pkcs11:token=LABEL?module-path=/usr/lib/softhsm/libsofthsm2.so' or --piv any (or say --allow-empty)"}
	}
	// Every request is audited unless the user says otherwise, explicitly.
	switch {
	case o.noAudit && fs.Changed("audit-log"):
		return errors.New("--audit-log and --no-audit contradict each other; give one")
	case fs.Changed("audit-log") && o.auditLog == "":
		return errors.New("--audit-log needs a file; to keep no audit log at all, say --no-audit (not recommended)")
	}
	uris, err := o.backendURIs()
	if err != nil {
		return err
	}
	o.uris = uris
	activated, err := daemon.Activated()
	if err != nil {
		return err
	}
	if activated != nil {
		path := activated.Addr().String()
		if abs, _ := filepath.Abs(o.socket); o.socket != "" && abs != path {
			activated.Close()
			return fmt.Errorf("--socket %s, but the service manager passed a socket at %s; drop --socket", o.socket, path)
		}
		o.socket, o.activated, o.foreground = path, activated, true
	}
	if o.socket == "" {
		dir, err := os.MkdirTemp("", "trust-agent-")
		if err != nil {
			return fmt.Errorf("creating the socket directory: %w", err)
		}
		o.socket = filepath.Join(dir, fmt.Sprintf("agent.%d", os.Getppid()))
		o.removeDir = true
	}
	abs, err := filepath.Abs(o.socket)
	if err != nil {
		return err
	}
	o.socket = abs
	if !o.noAudit && o.auditLog == "" {
		o.auditLog = filepath.Join(filepath.Dir(o.socket), "audit.log")
	}
	if o.auditLog != "" {
		if o.auditLog, err = filepath.Abs(o.auditLog); err != nil {
			return err
		}
	}
	if o.foreground {
		return serveAgent(ctx, e, o)
	}
	return daemonize(e, o, args)
}

// daemonize starts this binary again in the foreground, in its own session,
// and waits until it listens (or says why it cannot), so that errors such
// as a wrong module path reach the user's terminal.
func daemonize(e *env, o startOptions, args []string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	// The log lives beside the socket: check the directory (and every one
	// above it) as Listen will, before creating anything in it.
	if err := socket.CheckDir(filepath.Dir(o.socket)); err != nil {
		return err
	}
	logPath := filepath.Join(filepath.Dir(o.socket), "agent.log")
	logFile, err := openLog(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	childArgs := append([]string{"start", "--foreground", "--socket", o.socket}, withoutSocketFlag(args)...)
	if o.auditLog != "" {
		childArgs = append(childArgs, "--audit-log", o.auditLog)
	}
	if o.removeDir {
		childArgs = append(childArgs, "--"+removeDirFlag)
	}
	cmd := exec.Command(self, childArgs...)
	// Keep argv[0] as invoked: multi-call binaries (and testscript) choose
	// their behaviour from it.
	cmd.Args[0] = os.Args[0]
	cmd.Env = append(agentEnv(os.Environ()), readyFDEnv+"=3")
	cmd.ExtraFiles = []*os.File{w}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return fmt.Errorf("starting the agent: %w", err)
	}
	w.Close()
	report, err := readReady(r, o.timeout)
	if err != nil {
		_ = cmd.Process.Kill() // stuck: it would listen later, unknown to the shell
		_ = cmd.Wait()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("the agent did not listen within %s (opening a PKCS#11 module or a card can be slow: "+
				"give it longer with --start-timeout); it was stopped; see %s", o.timeout, logPath)
		}
		return fmt.Errorf("reading the agent's report: %w; see %s", err, logPath)
	}
	if report != "ok" {
		_ = cmd.Wait()
		if report == "" {
			return fmt.Errorf("the agent exited before it listened; see %s", logPath)
		}
		msg, hint := report, ""
		if i := strings.LastIndex(report, "\nhint: "); i >= 0 {
			msg, hint = report[:i], report[i+len("\nhint: "):]
		}
		fail(e, errors.New(msg), hint) // the agent's error and hint, whole
		return silentError{code: 1}
	}
	pid := cmd.Process.Pid
	_ = cmd.Process.Release()
	printEnv(e, o, pid)
	return nil
}

// secretEnvWords mark environment variables the agent must not inherit:
// docker's DOCKER_CONTENT_TRUST_*_PASSPHRASE, PINs, passwords. The agent
// runs for hours, and its environment can be read by its own user in
// /proc/PID/environ and is passed to whatever a module spawns.
var secretEnvWords = []string{"PASSPHRASE", "PASSWORD", "PIN", "SECRET"}

// agentEnv is the environment for the daemon: the caller's, without
// variables whose name holds one of secretEnvWords (in any case) and
// without TRUST_AGENT_SOCK and TRUST_AGENT_PID (another agent's, perhaps).
// Known secrets are dropped rather than an allowlist kept, so that the
// variables modules read (SOFTHSM2_CONF, PATH, HOME, TMPDIR, LANG, a
// vendor's own) still reach them.
func agentEnv(environ []string) []string {
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		upper := strings.ToUpper(name)
		if upper == "TRUST_AGENT_SOCK" || upper == "TRUST_AGENT_PID" || upper == readyFDEnv {
			continue
		}
		if slices.ContainsFunc(secretEnvWords, func(w string) bool { return strings.Contains(upper, w) }) {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// readReady reads the child's report from r: "ok" as soon as its first
// line says so, otherwise everything until the child closes its end (an
// error of several lines, then its hint), trimmed. It gives up after timeout
// with an error wrapping os.ErrDeadlineExceeded.
func readReady(r *os.File, timeout time.Duration) (string, error) {
	if err := r.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return "", err
	}
	br := bufio.NewReader(io.LimitReader(r, maxReadyReport))
	first, err := br.ReadString('\n')
	if strings.TrimSpace(first) == "ok" {
		return "ok", nil
	}
	if err == nil {
		var rest []byte
		rest, err = io.ReadAll(br)
		first += string(rest)
	}
	if err != nil && err != io.EOF {
		return "", err
	}
	return strings.TrimSpace(first), nil
}

// openLog opens the agent log for appending, mode 0600, never through a
// symbolic link, and only if it is a regular file.
func openLog(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|syscall.O_NOFOLLOW, 0o600)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("the agent log %s is a symbolic link; not following it", path)
	}
	if err != nil {
		return nil, fmt.Errorf("opening the agent log: %w", err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("the agent log %s is not a regular file", path)
	}
	if err == nil && fi.Mode().Perm() != 0o600 {
		err = f.Chmod(0o600) // one an older version made with other bits
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// withoutSocketFlag drops flags the parent resolves itself (--socket,
// --audit-log, -f), so the child gets absolute paths.
func withoutSocketFlag(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--socket" || a == "--audit-log":
			i++
		case strings.HasPrefix(a, "--socket=") || strings.HasPrefix(a, "--audit-log="):
		case a == "-f" || a == "--foreground" || a == "-c" || a == "--csh" || a == "--fish" || a == "--"+removeDirFlag:
		default:
			out = append(out, a)
		}
	}
	return out
}

func printEnv(e *env, o startOptions, pid int) {
	switch {
	case o.csh:
		fmt.Fprintf(e.stdout, "setenv TRUST_AGENT_SOCK %s;\nsetenv TRUST_AGENT_PID %d;\n", o.socket, pid)
	case o.fish:
		fmt.Fprintf(e.stdout, "set -x TRUST_AGENT_SOCK %s;\nset -x TRUST_AGENT_PID %d;\n", o.socket, pid)
	default:
		fmt.Fprintf(e.stdout, "TRUST_AGENT_SOCK=%s; export TRUST_AGENT_SOCK;\nTRUST_AGENT_PID=%d; export TRUST_AGENT_PID;\n", o.socket, pid)
	}
	fmt.Fprintf(e.stdout, "echo Agent pid %d;\n", pid)
}

// backendURIs is every backend the flags name, as URIs for backend.Open:
// --pkcs11 URIs, --piv cards as piv:serial=N or piv:any, then --backend.
func (o startOptions) backendURIs() ([]string, error) {
	var uris []string
	for _, u := range o.pkcs11 {
		if !strings.HasPrefix(u, pkcs11.Scheme+":") {
			return nil, fmt.Errorf("--pkcs11 %q: give a PKCS#11 URI (pkcs11:token=LABEL?module-path=...), or another backend with --backend URI", u)
		}
		uris = append(uris, u)
	}
	for _, spec := range o.piv {
		if spec == "any" {
			uris = append(uris, piv.Scheme+":any")
			continue
		}
		if _, err := strconv.ParseUint(spec, 10, 32); err != nil {
			return nil, fmt.Errorf("--piv %q: give a card's serial number (ykman list --serials) or any", spec)
		}
		uris = append(uris, piv.Scheme+":serial="+spec)
	}
	return append(uris, o.backends...), nil
}

// serveAgent runs the agent in this process until ctx ends (package
// daemon). A daemonized child reports "ok", or the error and its hint, to
// the parent through the ready pipe; in the foreground, start prints the
// environment once the agent listens.
func serveAgent(ctx context.Context, e *env, o startOptions) (err error) {
	ready := readyPipe()
	defer func() {
		if ready != nil {
			if err != nil {
				fmt.Fprintln(ready, err)
				if h := hintFor(err); h != "" {
					fmt.Fprintln(ready, "hint: "+h)
				}
			}
			ready.Close()
		}
	}()
	return daemon.Run(ctx, daemon.Options{
		Socket:      o.socket,
		Listener:    o.activated,
		Backends:    o.uris,
		AllowImport: o.pivImport,
		AuditLog:    o.auditLog,
		Lifetime:    o.lifetime,
		// The askpass program comes from the agent's own environment, at
		// start, never from a request.
		Askpass:     os.Getenv(agent.AskpassEnv),
		MetricsAddr: o.metricsAddr,
		RemoveDir:   o.removeDir,
		Logger:      slog.New(slog.NewTextHandler(e.stderr, nil)),
		Ready: func() {
			if ready != nil {
				fmt.Fprintln(ready, "ok")
				ready.Close()
				ready = nil
			} else {
				printEnv(e, o, os.Getpid())
			}
		},
	})
}

// removeDirFlag tells the daemon that start made the socket's directory
// (the default, under $TMPDIR) for it.
const removeDirFlag = "remove-socket-dir"

func readyPipe() *os.File {
	if os.Getenv(readyFDEnv) != "3" {
		return nil
	}
	os.Unsetenv(readyFDEnv)
	// Not inherited by anything a module may spawn: the parent reads until
	// the last writer closes.
	syscall.CloseOnExec(3)
	return os.NewFile(3, "ready")
}

func cmdStop(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "stop", "stop")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := dialAgent()
	if err != nil {
		return err
	}
	st, err := c.Status(ctx)
	c.Close()
	if err != nil {
		return err
	}
	if err := syscall.Kill(st.PID, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stopping agent pid %d: %w", st.PID, err)
	}
	// Wait for the process itself to go, not only its socket: it closes
	// its backends (and a module may hang there) after it stops listening.
	deadline := time.Now().Add(stopTimeout)
	for syscall.Kill(st.PID, 0) == nil {
		if time.Now().After(deadline) {
			return fmt.Errorf("agent pid %d is still there %s after SIGTERM (stuck in a PKCS#11 module or card?); "+
				"see its agent.log, and end it with: kill -KILL %d", st.PID, stopTimeout, st.PID)
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Fprintf(e.stdout, "unset TRUST_AGENT_SOCK;\nunset TRUST_AGENT_PID;\necho Agent pid %d killed;\n", st.PID)
	return nil
}

// stopTimeout bounds how long stop waits for the agent to exit.
const stopTimeout = 5 * time.Second
