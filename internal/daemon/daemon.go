package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/agent/backend"
	"github.com/trust-agent/trust-agent/socket"
)

// Options is what Run needs; cmd's `start` flags fill it.
type Options struct {
	// Socket is the absolute path to listen on. Its directory (and every
	// one above it) is checked by socket.CheckDir, and created 0700 when
	// missing. With Listener set, it is that socket's path.
	Socket string
	// Listener, when set, is a listening socket a service manager passed
	// (Activated): Run serves it instead of binding Socket, and never
	// removes its file.
	Listener *net.UnixListener
	// Backends are URIs opened in order by backend.Open (pkcs11:…,
	// piv:any, piv:serial=N, …). Empty is allowed: the agent then holds no
	// key until it is restarted with one.
	Backends []string
	// AllowImport lets key load put software keys on backends that refuse
	// them by default (the PIV cards).
	AllowImport bool
	// AuditLog is the file to append a JSON line per request to (mode
	// 0600). Empty keeps no audit log, and Run logs a warning saying so.
	AuditLog string
	// Lifetime locks the agent this long after each unlock; 0 never.
	Lifetime time.Duration
	// Askpass is the program that asks a person to confirm (ssh-askpass
	// convention): an absolute path to an executable file, or empty.
	Askpass string
	// MetricsAddr, when set, serves Prometheus metrics (GET /metrics) at
	// 127.0.0.1:PORT, [::1]:PORT, localhost:PORT or unix:PATH.
	MetricsAddr string
	// RemoveDir says the socket's directory was made for this agent:
	// Run removes it at exit when it is empty.
	RemoveDir bool
	// Logger receives the agent's log; nil discards it.
	Logger *slog.Logger
	// Ready, when set, is called once, when the agent listens and before
	// it serves the first request.
	Ready func()
}

// Run opens everything o names, calls o.Ready, and serves until ctx ends
// (see the package documentation for the order and what is closed). It
// returns nil when ctx ended, or the error that stopped the agent from
// starting or serving.
func Run(ctx context.Context, o Options) (err error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Socket == "" && o.Listener != nil {
		o.Socket = o.Listener.Addr().String()
	}
	if !filepath.IsAbs(o.Socket) {
		return fmt.Errorf("daemon: socket path %q is not absolute; give the full path", o.Socket)
	}
	if o.RemoveDir {
		// Runs last, after the listener removed the socket and its lock.
		defer removeSocketDir(filepath.Dir(o.Socket), log)
	}
	// The default audit log is created in the socket's directory: check it
	// (and create it 0700) before anything is written there; before slow
	// modules are opened, too, to fail fast.
	if err := socket.CheckDir(filepath.Dir(o.Socket)); err != nil {
		return err
	}
	var stores []agent.KeyStore
	closeStores := func() {
		for _, s := range stores {
			s.Close()
		}
	}
	for _, uri := range o.Backends {
		s, err := backend.Open(ctx, uri, backend.Options{Logger: log, AllowImport: o.AllowImport})
		if err != nil {
			closeStores()
			return err
		}
		stores = append(stores, s)
	}
	opts := agent.Options{Stores: stores, Lifetime: o.Lifetime}
	if opts.Askpass, err = askpassProgram(o.Askpass); err != nil {
		closeStores()
		return err
	}
	if o.AuditLog != "" {
		audit, err := agent.OpenAuditFile(o.AuditLog)
		if err != nil {
			closeStores()
			return err
		}
		defer audit.Close()
		opts.Audit = audit
	} else {
		log.Warn("no audit log (--no-audit): requests are not recorded")
	}
	keyring := agent.New(opts) // owns the stores from here
	defer keyring.Close()
	var l net.Listener
	if o.Listener != nil {
		// Peers are checked per connection by Serve as always; the
		// directory was checked above like any socket's.
		l = o.Listener
	} else {
		sl, err := socket.Listen(o.Socket)
		if err != nil {
			return err
		}
		l = sl
	}
	// Close removes the socket only if it is still ours, and releases the
	// path's lock; Serve closes it too, Close is idempotent.
	defer l.Close()
	if o.MetricsAddr != "" { // before Ready: a wrong address fails start
		ml, err := metricsListener(o.MetricsAddr)
		if err != nil {
			return err
		}
		go serveMetrics(ctx, ml, keyring, log)
		log.Info("metrics endpoint listening", "addr", ml.Addr().String())
	}
	if o.Ready != nil {
		o.Ready()
	}
	log.Info("agent listening", "socket", o.Socket, "backends", len(stores), "audit_log", o.AuditLog)
	return socket.Serve(ctx, l, keyring, socket.ServeOptions{Logger: log})
}

// removeSocketDir removes the directory made for the socket, at exit, if
// it is empty. It is not when it holds the default audit log (never
// deleted: it is the record of what was signed) or a daemon's agent.log;
// then it stays, for the user to read, and says so in the log.
func removeSocketDir(dir string, log *slog.Logger) {
	err := os.Remove(dir)
	switch {
	case err == nil:
	case errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST):
		log.Info("keeping the socket's directory: it holds the audit log or this log", "dir", dir)
	default:
		log.Warn("could not remove the socket's directory", "dir", dir, "err", err)
	}
}

// askpassProgram checks the program named by TRUST_AGENT_ASKPASS: an
// absolute path to an executable regular file, as module paths are.
func askpassProgram(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	fi, err := os.Stat(path)
	switch {
	case !filepath.IsAbs(path):
		return "", fmt.Errorf("%s=%s is not an absolute path; name the askpass program by its full path", agent.AskpassEnv, path)
	case err != nil:
		return "", fmt.Errorf("%s: %w; install an askpass program (ssh-askpass convention) or unset %s", agent.AskpassEnv, err, agent.AskpassEnv)
	case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
		return "", fmt.Errorf("%s=%s is not an executable file", agent.AskpassEnv, path)
	}
	return path, nil
}
