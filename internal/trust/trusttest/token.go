package trusttest

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Token service parameters written into the notary server's configuration
// and into every token.
const (
	TokenService = "notary-server"
	TokenIssuer  = "trust-agent-test"
	// tokenLifetime is what a token is good for; notary allows a minute of
	// clock skew either side.
	tokenLifetime = 5 * time.Minute
)

// TokenServer is a docker token service (the "realm" of a notary server that
// uses docker/distribution's token access controller): it takes HTTP Basic
// credentials and answers with a JWT, signed with ES256 by a throwaway key
// whose certificate (in the x5c header) chains to the notary server's
// rootcertbundle.
//
// A request with the right credentials gets every action it asks for on
// every repository scope it asks for. A request with no credentials gets a
// token that grants nothing, as docker's and Harbor's token services answer
// anonymous requests for a private repository: the notary server then
// answers 401. A request with wrong credentials gets 401 from the token
// service itself.
type TokenServer struct {
	URL        string // https://127.0.0.1:PORT/token, the realm
	BundleFile string // PEM file of the CA the notary server trusts for tokens

	user, password string
	key            *ecdsa.PrivateKey
	chain          []string // x5c: base64 DER, leaf first

	mu       sync.Mutex
	requests []TokenRequest
}

// TokenRequest records one request to the token service.
type TokenRequest struct {
	User    string   // Basic user name, "" for an anonymous request
	Valid   bool     // the credentials were right
	Service string   // the service parameter
	Scopes  []string // the scope parameters, as sent
	Granted []TokenAccess
}

// TokenAccess is one entry of a token's access claim.
type TokenAccess struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// Requests returns the requests the token service has answered so far.
func (s *TokenServer) Requests() []TokenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]TokenRequest(nil), s.requests...)
}

// startTokenServer serves the token service over TLS with the notary
// server's own certificate (valid for 127.0.0.1), so that a client that
// trusts the notary server's CA (DOCKER_CONFIG/tls/<notary host:port>/ca.crt,
// which docker also uses for the token realm) trusts the realm too.
func startTokenServer(t testing.TB, dir string, files tlsFiles, user, password, realmHost string) *TokenServer {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(files.CertFile, files.KeyFile)
	if err != nil {
		t.Fatalf("trusttest: token server certificate: %v", err)
	}
	s := &TokenServer{user: user, password: password}
	s.makeSigningKey(t, dir)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(s.serveToken))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	// The realm is named by host name, as deployments name it: clients may
	// refuse a realm on a loopback or private IP literal other than the
	// notary server's own host:port (go-containerregistry does, against
	// SSRF); see TokenRealmHost.
	s.URL = "https://" + realmHost + ":" + srv.URL[strings.LastIndex(srv.URL, ":")+1:] + "/token"
	return s
}

// makeSigningKey makes a CA (written to BundleFile, the notary server's
// rootcertbundle) and a token signing key certified by it.
func (s *TokenServer) makeSigningKey(t testing.TB, dir string) {
	t.Helper()
	now := time.Now()
	caKey, caCert, caDER := newCA(t, "trusttest token CA")
	s.key = newKey(t)
	leafTmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: "trusttest token signer"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &s.key.PublicKey, caKey)
	if err != nil {
		t.Fatalf("trusttest: token signing certificate: %v", err)
	}
	s.chain = []string{base64.StdEncoding.EncodeToString(leafDER)}
	s.BundleFile = filepath.Join(dir, "token-ca.pem")
	writeFile(t, s.BundleFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644)
}

// notaryAuthConfig is the "auth" section of notary-server's configuration.
func (s *TokenServer) notaryAuthConfig() map[string]any {
	return map[string]any{
		"type": "token",
		"options": map[string]any{
			"realm":          s.URL,
			"service":        TokenService,
			"issuer":         TokenIssuer,
			"rootcertbundle": s.BundleFile,
		},
	}
}

func (s *TokenServer) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.URL.Path != "/token" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	req := TokenRequest{Service: q.Get("service"), Scopes: q["scope"]}
	u, p, hasAuth := r.BasicAuth()
	req.User = u
	req.Valid = hasAuth && u == s.user && p == s.password
	if hasAuth && !req.Valid {
		s.record(req)
		w.Header().Set("WWW-Authenticate", `Basic realm="trusttest token service"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintln(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
		return
	}
	if req.Valid {
		req.Granted = parseScopes(req.Scopes)
	}
	tok, err := s.sign(req)
	s.record(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"token":        tok,
		"access_token": tok,
		"expires_in":   int(tokenLifetime / time.Second),
		"issued_at":    time.Now().UTC().Format(time.RFC3339),
	})
}

func (s *TokenServer) record(req TokenRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
}

// parseScopes turns scope parameters (repository:NAME:ACTION,ACTION; NAME
// may hold a ':' before a port) into access entries, one per repository.
func parseScopes(scopes []string) []TokenAccess {
	var out []TokenAccess
	index := map[string]int{}
	for _, sc := range scopes {
		for _, one := range strings.Fields(sc) { // a parameter may hold several, space-separated
			typ, rest, ok := strings.Cut(one, ":")
			i := strings.LastIndex(rest, ":")
			if !ok || i < 0 {
				continue
			}
			name, actions := rest[:i], strings.Split(rest[i+1:], ",")
			key := typ + ":" + name
			j, seen := index[key]
			if !seen {
				j = len(out)
				index[key] = j
				out = append(out, TokenAccess{Type: typ, Name: name, Actions: []string{}})
			}
			for _, a := range actions {
				if a != "" && !contains(out[j].Actions, a) {
					out[j].Actions = append(out[j].Actions, a)
				}
			}
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// sign makes the JWT docker/distribution's token access controller accepts:
// ES256 (raw r||s), x5c chain, iss, sub, aud (a string, which both the
// 2.7 and the 2.8 parsers accept), exp, nbf, iat, jti and access.
func (s *TokenServer) sign(req TokenRequest) (string, error) {
	now := time.Now()
	access := req.Granted
	if access == nil {
		access = []TokenAccess{}
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	header, err := json.Marshal(map[string]any{"typ": "JWT", "alg": "ES256", "x5c": s.chain})
	if err != nil {
		return "", err
	}
	claims, err := json.Marshal(map[string]any{
		"iss":    TokenIssuer,
		"sub":    req.User,
		"aud":    req.Service,
		"exp":    now.Add(tokenLifetime).Unix(),
		"nbf":    now.Add(-time.Minute).Unix(),
		"iat":    now.Unix(),
		"jti":    base64.RawURLEncoding.EncodeToString(jti),
		"access": access,
	})
	if err != nil {
		return "", err
	}
	signingInput := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(claims)
	digest := sha256.Sum256([]byte(signingInput))
	r, sv, err := ecdsa.Sign(rand.Reader, s.key, digest[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64) // JWS ES256: r and s, 32 bytes each, big-endian
	r.FillBytes(sig[:32])
	sv.FillBytes(sig[32:])
	return signingInput + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// TokenOption changes how StartNotaryWithTokenAuth sets up token auth.
type TokenOption func(*tokenOptions)

type tokenOptions struct {
	realmHost string
}

// TokenRealmHost names the token service's host in the realm URL the
// notary server announces: "localhost" by default, or an IP literal such as
// "127.0.0.1" (the server's certificate is valid for both and for ::1).
func TokenRealmHost(host string) TokenOption {
	return func(o *tokenOptions) { o.realmHost = host }
}
