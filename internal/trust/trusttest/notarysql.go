package trusttest

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trust-agent/trust-agent/internal/syncbuf"
)

// NotarySignerProgram is notary's signing service (Debian package notary).
const NotarySignerProgram = "notary-signer"

// notaryModule is the Go module whose migrations/ directory holds the SQL
// schema of notary-server and notary-signer; Debian's package has none.
const notaryModule = "github.com/theupdateframework/notary"

// signerAlias names the passphrase notary-signer encrypts its private keys
// with in the database (read from NOTARY_SIGNER_<ALIAS>).
const signerAlias = "trusttest"

// SQLNotary is notary-server with a remote notary-signer, both keeping
// their data in PostgreSQL (databases notaryserver and notarysigner, owned
// by roles server and signer, made with notary v0.7.0's migrations), as a
// production Notary runs: the server holds TUF metadata, the signer holds
// the timestamp and snapshot keys, encrypted. Server and signer talk gRPC
// over mutual TLS, with certificates from the same throwaway CA as the
// server's HTTPS certificate.
type SQLNotary struct {
	*Notary
	DB         *Postgres
	SignerAddr string // 127.0.0.1:PORT, notary-signer's gRPC address

	serverBin, signerBin string
	serverCfg, signerCfg string
	passphrase           string
	signerLog            *syncbuf.Buffer
	stopServer           func()
	stopSigner           func()
}

// StartSQLNotary starts PostgreSQL, applies notary's migrations, and
// starts notary-signer and notary-server on free loopback ports; all stop at
// t.Cleanup. Without notary-server, notary-signer or PostgreSQL it skips the
// test, or fails it when CI=true.
func StartSQLNotary(t testing.TB) *SQLNotary {
	t.Helper()
	return startRemoteSignerNotary(t, true)
}

// startRemoteSignerNotary is StartSQLNotary, or with sql false the same
// processes on memory storage (no PostgreSQL, DB nil): the control that
// shows a restart really loses what is not in the database.
func startRemoteSignerNotary(t testing.TB, sql bool) *SQLNotary {
	t.Helper()
	s := &SQLNotary{
		serverBin: RequireProgram(t, NotaryServerProgram),
		signerBin: RequireProgram(t, NotarySignerProgram),
		signerLog: new(syncbuf.Buffer),
	}
	signerStorage := map[string]any{"backend": "memory"}
	serverStorage := map[string]any{"backend": "memory"}
	if sql {
		s.startDB(t)
		signerStorage = map[string]any{"backend": "postgres", "db_url": s.DB.URL("signer", "notarysigner"), "default_alias": signerAlias}
		serverStorage = map[string]any{"backend": "postgres", "db_url": s.DB.URL("server", "notaryserver")}
	}

	dir := t.TempDir()
	ca := newCAFiles(t, dir)
	serverCert, serverKey := ca.issue(t, dir, "notary-server", x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
	signerCert, signerKey := ca.issue(t, dir, "notary-signer", x509.ExtKeyUsageServerAuth)
	s.passphrase = randomString(t)

	addr, err := freeAddr()
	if err != nil {
		t.Fatalf("trusttest: %v", err)
	}
	s.SignerAddr = addr
	_, signerPort, _ := net.SplitHostPort(addr)
	s.signerCfg = filepath.Join(dir, "signer-config.json")
	writeJSON(t, s.signerCfg, map[string]any{
		"server": map[string]any{
			"grpc_addr":      s.SignerAddr,
			"tls_cert_file":  signerCert,
			"tls_key_file":   signerKey,
			"client_ca_file": ca.file,
		},
		"logging": map[string]any{"level": "warn"},
		"storage": signerStorage,
	})

	addr, err = freeAddr()
	if err != nil {
		t.Fatalf("trusttest: %v", err)
	}
	s.Notary = &Notary{URL: "https://" + addr, Addr: addr, CAFile: ca.file, CAPEM: ca.pem, log: new(syncbuf.Buffer)}
	s.serverCfg = filepath.Join(dir, "server-config.json")
	writeJSON(t, s.serverCfg, map[string]any{
		"server": map[string]any{
			"http_addr":     addr,
			"tls_cert_file": serverCert,
			"tls_key_file":  serverKey,
		},
		"trust_service": map[string]any{
			"type":            "remote",
			"hostname":        "127.0.0.1",
			"port":            signerPort,
			"tls_ca_file":     ca.file,
			"tls_client_cert": serverCert,
			"tls_client_key":  serverKey,
			"key_algorithm":   "ecdsa",
		},
		"storage": serverStorage,
		"logging": map[string]any{"level": "warn"},
	})
	s.start(t)
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("notary-signer log (last %d lines):\n%s", logTail, tail(s.signerLog.String(), logTail))
			t.Logf("notary-server log (last %d lines):\n%s", logTail, tail(s.Log(), logTail))
		}
	})
	return s
}

// startDB starts PostgreSQL and makes notary's databases with its
// migrations.
func (s *SQLNotary) startDB(t testing.TB) {
	t.Helper()
	migrations := notaryMigrations(t)
	s.DB = StartPostgres(t)
	s.DB.Psql(t, "postgres", "postgres",
		"-c", "CREATE ROLE server LOGIN", "-c", "CREATE ROLE signer LOGIN",
		"-c", "CREATE DATABASE notaryserver OWNER server", "-c", "CREATE DATABASE notarysigner OWNER signer")
	for _, m := range []struct{ role, db, dir string }{
		{"server", "notaryserver", "server"},
		{"signer", "notarysigner", "signer"},
	} {
		files, _ := filepath.Glob(filepath.Join(migrations, m.dir, "postgresql", "*.up.sql"))
		if len(files) == 0 {
			t.Fatalf("trusttest: no migrations in %s", filepath.Join(migrations, m.dir, "postgresql"))
		}
		for _, f := range files { // Glob sorts: 0001_, 0002_, ...
			s.DB.Psql(t, m.role, m.db, "-f", f)
		}
	}
}

func (s *SQLNotary) start(t testing.TB) {
	t.Helper()
	signer := exec.Command(s.signerBin, "-config", s.signerCfg, "-logf", "logfmt")
	signer.Env = append(os.Environ(), "NOTARY_SIGNER_"+strings.ToUpper(signerAlias)+"="+s.passphrase)
	exited, stop, err := startProcess(signer, s.signerLog)
	if err != nil {
		t.Fatalf("trusttest: notary-signer: %v", err)
	}
	s.stopSigner = stop
	// notary-server checks the signer's health only every 10 s, and calls
	// itself healthy before the first check: wait for the signer here.
	if err := waitTCP(s.SignerAddr, exited); err != nil {
		t.Fatalf("trusttest: notary-signer did not listen: %v\n%s", err, s.signerLog.String())
	}
	server := exec.Command(s.serverBin, "-config", s.serverCfg, "-logf", "logfmt")
	exited, stop, err = startProcess(server, s.log)
	if err != nil {
		t.Fatalf("trusttest: notary-server: %v", err)
	}
	s.stopServer = stop
	if err := waitHealthy(s.Notary, exited); err != nil {
		t.Fatalf("trusttest: notary-server did not start: %v\n%s", err, s.Log())
	}
}

func (s *SQLNotary) stop() {
	if s.stopServer != nil {
		s.stopServer()
		s.stopServer = nil
	}
	if s.stopSigner != nil {
		s.stopSigner()
		s.stopSigner = nil
	}
}

// Restart stops notary-server, notary-signer and PostgreSQL and starts them
// again on the same addresses and data: whatever survives lives in the
// database.
func (s *SQLNotary) Restart(t testing.TB) {
	t.Helper()
	s.stop()
	if s.DB != nil {
		s.DB.Restart(t)
	}
	s.start(t)
}

// startProcess starts cmd with its output in log; exited receives once
// when it ends, and stop kills it and waits.
func startProcess(cmd *exec.Cmd, log *syncbuf.Buffer) (<-chan error, func(), error) {
	cmd.Stdout, cmd.Stderr = log, log
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	exited := make(chan error, 1)
	done := make(chan struct{})
	go func() { exited <- cmd.Wait(); close(done) }()
	return exited, func() { _ = cmd.Process.Kill(); <-done }, nil
}

// waitTCP waits until addr accepts a connection, or exited receives.
func waitTCP(addr string, exited <-chan error) error {
	ctx, cancel := context.WithTimeout(context.Background(), notaryStartTimeout)
	defer cancel()
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		select {
		case err := <-exited:
			return &exitError{err: err}
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// notaryMigrations finds notary's migrations/ directory in the module
// cache, through `go list -m` (the module is a dependency of this one).
func notaryMigrations(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", notaryModule).Output()
	dir := filepath.Join(strings.TrimSpace(string(out)), "migrations")
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Fatalf("trusttest: cannot find the %s module (its migrations/ holds the SQL schema): %v; run `go mod download %s`", notaryModule, err, notaryModule)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("trusttest: %v; run `go mod download %s`", err, notaryModule)
	}
	return dir
}

// caFiles is a throwaway CA that can issue certificates.
type caFiles struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
	file string // PEM
	pem  []byte
}

func newCAFiles(t testing.TB, dir string) *caFiles {
	t.Helper()
	key, cert, der := newCA(t, "trusttest notary CA")
	c := &caFiles{key: key, cert: cert, file: filepath.Join(dir, "ca.pem"),
		pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	writeFile(t, c.file, c.pem, 0o644)
	return c
}

// issue writes NAME.crt and NAME.key: a P-256 certificate for 127.0.0.1,
// ::1 and localhost with the given extended key usages.
func (c *caFiles) issue(t testing.TB, dir, name string, usages ...x509.ExtKeyUsage) (certFile, keyFile string) {
	t.Helper()
	now := time.Now()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usages,
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatalf("trusttest: certificate %s: %v", name, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("trusttest: %v", err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	writeFile(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	writeFile(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	return certFile, keyFile
}

func writeJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatalf("trusttest: %v", err)
	}
	writeFile(t, path, b, 0o600)
}

func randomString(t testing.TB) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("trusttest: %v", err)
	}
	return hex.EncodeToString(b)
}
