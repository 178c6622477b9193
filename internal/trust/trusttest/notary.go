package trusttest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trust-agent/trust-agent/internal/syncbuf"
)

// notaryStartTimeout bounds how long StartNotary waits for the health check.
const notaryStartTimeout = 20 * time.Second

// logTail is how many lines of the server's log a failed test shows.
const logTail = 40

// Notary is a running notary-server.
type Notary struct {
	URL    string // https://127.0.0.1:PORT
	Addr   string // 127.0.0.1:PORT, the directory name under DOCKER_CONFIG/tls
	CAFile string // PEM file of the CA that signed the server's certificate
	CAPEM  []byte
	// Token is the token service the server sends clients to, when it
	// was started with StartNotaryWithTokenAuth; nil otherwise.
	Token *TokenServer

	log *syncbuf.Buffer
}

// Log returns what the server has logged so far.
func (n *Notary) Log() string { return n.log.String() }

// Client returns an HTTP client that trusts the server's CA.
func (n *Notary) Client() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(n.CAPEM)
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
}

// StartNotary starts notary-server on a free loopback port with TLS, memory
// storage and a local trust service, waits until it is healthy and stops it
// at t.Cleanup. Each call is a new, empty server.
func StartNotary(t testing.TB) *Notary {
	t.Helper()
	return startNotaryWith(t, "", "", nil)
}

// StartNotaryWithTokenAuth is StartNotary for a server that requires docker
// token authentication (docker/distribution's token access controller), with
// a TokenServer (n.Token) as its realm that accepts user and password.
// The realm is https://localhost:PORT/token; TokenRealmHost names it
// otherwise.
func StartNotaryWithTokenAuth(t testing.TB, user, password string, opts ...TokenOption) *Notary {
	t.Helper()
	o := tokenOptions{realmHost: "localhost"}
	for _, f := range opts {
		f(&o)
	}
	return startNotaryWith(t, user, password, &o)
}

func startNotaryWith(t testing.TB, user, password string, tokenAuth *tokenOptions) *Notary {
	t.Helper()
	bin := RequireProgram(t, NotaryServerProgram)
	dir := t.TempDir()
	files := makeTLS(t, dir)
	var token *TokenServer
	if tokenAuth != nil {
		token = startTokenServer(t, dir, files, user, password, tokenAuth.realmHost)
	}
	var lastErr error
	// The port is free when chosen; another process could take it before
	// the server binds, so try a few times.
	for range 3 {
		n, err := startNotary(t, bin, dir, files, token)
		if err == nil {
			return n
		}
		lastErr = err
	}
	t.Fatalf("trusttest: notary-server did not start: %v", lastErr)
	return nil
}

func startNotary(t testing.TB, bin, dir string, files tlsFiles, token *TokenServer) (*Notary, error) {
	t.Helper()
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cfg := map[string]any{
		"server": map[string]any{
			"http_addr":     addr,
			"tls_cert_file": files.CertFile,
			"tls_key_file":  files.KeyFile,
		},
		"trust_service": map[string]any{"type": "local"},
		"storage":       map[string]any{"backend": "memory"},
		"logging":       map[string]any{"level": "warn"},
	}
	if token != nil {
		cfg["auth"] = token.notaryAuthConfig()
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cfgFile := filepath.Join(dir, "server-config.json")
	writeFile(t, cfgFile, b, 0o600)

	n := &Notary{
		URL:    "https://" + addr,
		Addr:   addr,
		CAFile: files.CAFile,
		CAPEM:  files.CAPEM,
		Token:  token,
		log:    new(syncbuf.Buffer),
	}
	cmd := exec.Command(bin, "-config", cfgFile, "-logf", "logfmt")
	cmd.Stdout = n.log
	cmd.Stderr = n.log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}

	if err := waitHealthy(n, exited); err != nil {
		stop()
		return nil, &startError{err: err, log: n.Log()}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("notary-server log (last %d lines):\n%s", logTail, tail(n.Log(), logTail))
		}
	})
	return n, nil
}

func waitHealthy(n *Notary, exited <-chan error) error {
	ctx, cancel := context.WithTimeout(context.Background(), notaryStartTimeout)
	defer cancel()
	client := n.Client()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.URL+"/_notary_server/health", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			return &exitError{err: err}
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

type exitError struct{ err error }

func (e *exitError) Error() string { return "notary-server exited: " + errString(e.err) }

type startError struct {
	err error
	log string
}

func (e *startError) Error() string { return e.err.Error() + "\nserver log:\n" + e.log }

func errString(err error) string {
	if err == nil {
		return "status 0"
	}
	return err.Error()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// freeAddr returns a loopback address with a port the kernel just gave out.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
