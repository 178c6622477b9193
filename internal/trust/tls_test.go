package trust

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCA is a throwaway CA that issues server certificates.
type testCA struct {
	pem  []byte
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), cert: cert, key: key}
}

// issue makes a server certificate for names (DNS names or IP addresses).
func (ca *testCA) issue(t *testing.T, names ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "server"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsServer serves HTTPS with leaf until the test ends, answering every
// request with its body.
func tlsServer(t *testing.T, leaf tls.Certificate) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(w, r.Body)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// TestTLSVerifiesServer attacks the TLS set-up that reads the system roots
// only when the CAs given for the server do not verify it: a certificate for
// another name, or from a CA trusted nowhere, is refused, with the error
// that makes the untrusted-server hint; the right one passes, by the CA in
// TLSCACert or in ConfigDir/tls/<host:port>/, and so does a certificate from
// a system root (the request, body included, is sent again).
func TestTLSVerifiesServer(t *testing.T) {
	ca, public := newTestCA(t), newTestCA(t)
	defer func(old func() *x509.CertPool) { systemRoots = old }(systemRoots)
	systemRoots = func() *x509.CertPool {
		p := x509.NewCertPool()
		p.AppendCertsFromPEM(public.pem)
		return p
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		leaf tls.Certificate
		ok   bool
	}{
		{"given CA, right name", ca.issue(t, "127.0.0.1"), true},
		{"system CA, right name", public.issue(t, "127.0.0.1"), true},
		{"given CA, another name", ca.issue(t, "other.example"), false},
		{"system CA, another name", public.issue(t, "other.example"), false},
		{"CA trusted nowhere", newTestCA(t).issue(t, "127.0.0.1"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := tlsServer(t, tc.leaf)
			for _, where := range []string{"TLSCACert", "tls dir"} {
				o := Options{ConfigDir: t.TempDir()}
				if where == "TLSCACert" {
					o.TLSCACert = caFile
				} else {
					d := filepath.Join(o.ConfigDir, "tls", addr)
					if err := os.MkdirAll(d, 0o700); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(filepath.Join(d, "ca.crt"), ca.pem, 0o600); err != nil {
						t.Fatal(err)
					}
				}
				rt, err := o.baseTransport(addr)
				if err != nil {
					t.Fatal(err)
				}
				resp, err := (&http.Client{Transport: rt}).Post("https://"+addr+"/", "text/plain", strings.NewReader("body"))
				var verr *tls.CertificateVerificationError
				switch {
				case tc.ok && err != nil:
					t.Fatalf("%s: refused a valid server: %v", where, err)
				case tc.ok:
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if string(b) != "body" {
						t.Fatalf("%s: the server got body %q; want %q", where, b, "body")
					}
				case err == nil:
					resp.Body.Close()
					t.Fatalf("%s: accepted a server it must refuse", where)
				case !errors.As(err, &verr):
					t.Fatalf("%s: error %v is not a tls.CertificateVerificationError: the untrusted-server hint would be lost", where, err)
				}
			}
		})
	}
}
