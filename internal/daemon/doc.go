// Package daemon runs the agent: it opens the backends (through
// agent/backend, by URI scheme), the audit log and the keyring, listens on
// the socket (its own, or one a service manager passed), serves the
// optional metrics endpoint, and serves requests until its context ends.
//
//	l, err := daemon.Activated() // nil unless systemd passed a socket
//	err = daemon.Run(ctx, daemon.Options{
//		Socket:   "/run/user/1000/trust-agent/agent.sock",
//		Backends: []string{"pkcs11:token=ci?module-path=/usr/lib/softhsm/libsofthsm2.so"},
//		AuditLog: "/run/user/1000/trust-agent/audit.log",
//		Logger:   slog.Default(),
//		Ready:    func() { fmt.Println("ready") },
//	})
//
// # Why a package
//
// cmd/trust-agent is flags, dispatch and output. What `trust-agent start`
// parses becomes an Options; Run is the agent. Forking into the background
// and printing the environment for eval stay in cmd: they are how the CLI
// starts a daemon, not what the daemon is. Anything else that wants to run
// an agent (a test, another binary) calls Run.
//
// # Backends
//
// Run opens each Options.Backends URI through agent/backend, by scheme,
// and knows no backend by name: the binary imports the backend packages
// it supports for their registration (cmd/trust-agent/backends.go; the
// tests import pkcs11). An unknown scheme is an error naming the known
// ones.
//
// # Order and errors
//
// Run checks the socket's directory first (and creates it 0700), then opens
// the backends, checks the askpass program, opens the audit log, listens,
// and opens the metrics endpoint, so that a mistake a person can fix (a
// wrong module path, an unsafe directory, a metrics address that is not
// loopback) is returned before Ready is called and before any request is
// served; resources opened before the failure are closed again. Its errors
// say what to do next.
//
// # Lifetime and signals
//
// Run serves until ctx ends, then stops accepting, waits for the
// connections it serves, closes the keyring (and through it the backends),
// the audit log and the socket (removing the socket file when it bound it),
// and returns nil. Signals are the caller's: cmd cancels ctx on SIGINT and
// SIGTERM. Options.Lifetime is the agent's own lock-after-unlock timer.
//
// # Security
//
// The socket and its directory are checked by package socket (0700
// directory, 0600 socket, peers' credentials per connection). A passed
// socket (Activated) is served as it is, its directory checked like any
// other's; its file belongs to the service manager and is never removed.
// The askpass program is taken from Options, never from a request. The
// metrics endpoint listens on loopback or a Unix socket only: its counters
// show what is signed, and when.
package daemon
