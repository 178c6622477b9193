// Package trusttest starts what a Docker Content Trust test needs: a real
// notary server, an in-process registry holding a pushed image, a fresh
// docker configuration directory, and the docker and notary command-line
// clients that read the same data.
//
// # What
//
// StartNotary runs Debian's notary-server (the build that carries the
// delegation upload fix, see docs/NOTARY.md) on a free loopback port with
// TLS from a throwaway CA, memory storage and in-process server keys. It
// waits until GET /_notary_server/health answers and stops the server at
// t.Cleanup. StartRegistry serves go-containerregistry's pkg/registry on
// 127.0.0.1 and PushRandom pushes a small random image, returning its
// manifest digest and size: the target a signer puts into TUF.
// NewDockerConfig makes a DOCKER_CONFIG directory with the trust directory
// under it and the notary CA at tls/<host:port>/ca.crt, where docker and the
// trust package both look for it. Docker and NotaryCLI run the real clients
// against that directory.
//
// Beyond one machine (docs/FLEET.md): StartSSHD runs OpenSSH's sshd on a
// free loopback port as the current user, with its own configuration, a
// throwaway host key and an authorized key made here; Forward (or
// ForwardArgs for a script) runs `ssh -R REMOTE:LOCAL` against it.
// StartPostgres makes a PostgreSQL cluster in a temporary directory (as
// nobody when the test runs as root, which PostgreSQL refuses), and
// StartSQLNotary runs notary-server with a remote notary-signer, both on
// that cluster with notary v0.7.0's migrations, over mutual TLS; Restart
// stops and starts all three on the same data. SharedTempDir is a
// directory other users can reach, for tests that show what stops them.
//
// # Why
//
// Compatibility is the product: what trust-agent writes must read back in
// docker and the notary CLI, and what trust-agent prints must equal what
// docker prints. Only the real programs can tell.
//
// # Missing programs
//
// When notary-server, notary, docker, sshd, PostgreSQL or another program
// a helper runs is not installed, the helpers skip the test, except when
// CI=true, where a missing program fails it: CI must never pass by
// skipping the tests that matter. Servers started here get the parent-death
// signal (Linux), so a test that panics on its timeout leaves none behind.
//
// # Concurrency
//
// Every helper takes the test's testing.TB and registers its own cleanup.
// Distinct tests may run their own servers in parallel: ports are chosen
// by the kernel, directories by t.TempDir.
//
// # Security
//
// Keys and passphrases made here are for tests only. The CA private key
// never leaves the test process; the server key is written to a temporary
// directory readable by the test user only.
package trusttest
