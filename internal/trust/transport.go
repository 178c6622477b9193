package trust

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker/cli/cli/config"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/trust-agent/trust-agent/internal/imageref"
)

// Timeouts for talking to the notary server, docker's values.
const (
	dialTimeout         = 30 * time.Second
	tlsHandshakeTimeout = 10 * time.Second
	pingTimeout         = 5 * time.Second
)

// dockerHubAuthKey is the config.json key of Docker Hub's credentials.
const dockerHubAuthKey = "https://index.docker.io/v1/"

// notaryTransport returns the round tripper for the notary server of ref:
// TLS roots as docker reads them, and docker's token authentication with the
// registry's credentials and scope repository:<GUN>:<actions>. As docker
// does, a failed ping is not an error: notary then works from its cache.
func notaryTransport(ctx context.Context, o Options, server string, ref imageRef, actions ...string) (http.RoundTripper, error) {
	u, err := url.Parse(server)
	if err != nil {
		return nil, &Error{Msg: fmt.Sprintf("invalid trust server URL %s: %v", server, err), Err: err}
	}
	base := o.Transport
	if base == nil {
		if base, err = o.baseTransport(u.Host); err != nil {
			return nil, err
		}
	}
	base = explainErrors{inner: httpsOnly{base}, server: server, from: o.serverSource(), caDir: o.caDir(u.Host)}

	reg, err := name.NewRegistry(u.Host)
	if err != nil {
		return nil, &Error{Msg: fmt.Sprintf("invalid trust server host %s: %v", u.Host, err), Err: err}
	}
	auth, err := o.credentials(ctx, ref)
	if err != nil {
		return nil, err
	}
	scope := "repository:" + ref.gun.String() + ":" + strings.Join(actions, ",")
	pingCtx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	ping := &challengeSeen{inner: base}
	rt, err := transport.NewWithContext(pingCtx, reg, auth, ping, []string{scope})
	if err != nil && ping.bearer.Load() {
		// The server answered and wants a token, and none could be had:
		// going on without one would only end in a bare 401.
		return nil, tokenError(server, ref, err)
	}
	if err != nil {
		// Docker ignores a failed ping "to operate in offline mode"; so do we.
		return ctxTransport{ctx: ctx, inner: base}, nil
	}
	return ctxTransport{ctx: ctx, inner: rt}, nil
}

// challengeSeen notes whether the server asked for a bearer token, so that
// a failed token exchange is told apart from an unreachable server.
type challengeSeen struct {
	inner  http.RoundTripper
	bearer atomic.Bool
}

func (c *challengeSeen) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.inner.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusUnauthorized &&
		strings.HasPrefix(strings.ToLower(resp.Header.Get("WWW-Authenticate")), "bearer") {
		c.bearer.Store(true)
	}
	return resp, err
}

// tokenError words a failed exchange of docker's credentials for a token
// at the notary server's token service.
func tokenError(server string, ref imageRef, err error) error {
	e := &Error{Msg: fmt.Sprintf("cannot get a token for %s from the token service of %s: %v", ref.gun, server, err), Err: err}
	var terr *transport.Error
	if errors.As(err, &terr) && (terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden) {
		login := "docker login"
		if !ref.official {
			login += " " + ref.index
		}
		e.Hint = "the token service refused the credentials docker stores for the image's registry: run " + login + " again"
		return e
	}
	e.Hint = "the notary server sends clients to its token service (the realm above): check that it is reachable over https, by host name if it is on a private address other than the notary server's own host:port"
	return e
}

// baseTransport is the HTTP transport to the notary server at host: TLS as
// tlsConfig says, and connections kept alive, since one command makes about
// ten requests to one server and each new TLS handshake costs more than
// the request it carries (docs/PERFORMANCE.md, P3).
func (o Options) baseTransport(host string) (http.RoundTripper, error) {
	cfg, withSystem, err := o.tlsConfig(host)
	if err != nil {
		return nil, err
	}
	t := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: tlsHandshakeTimeout,
		TLSClientConfig:     cfg,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	}
	if withSystem == nil {
		return t, nil
	}
	return &systemRootsFallback{own: t, all: func() http.RoundTripper {
		all := t.Clone()
		all.TLSClientConfig = withSystem()
		return all
	}}, nil
}

// tlsConfig trusts the system roots, the *.crt files in
// ConfigDir/tls/<host:port>/ and TLSCACert, and presents the client
// certificate pair found there (NAME.cert, NAME.key), as docker does. Unlike
// docker, it verifies the server even when the registry is on a loopback
// address.
//
// Loading the system roots parses every file in /etc/ssl/certs, which costs
// a one-tag sign more than all its requests together (docs/PERFORMANCE.md,
// P3), and a private notary server is verified by the CA given here alone.
// So when CAs are given, cfg trusts them only, and withSystem makes the
// configuration that trusts them and the system roots, for
// systemRootsFallback; without any, withSystem is nil and cfg trusts the
// system roots. crypto/tls verifies the server either way.
func (o Options) tlsConfig(host string) (cfg *tls.Config, withSystem func() *tls.Config, err error) {
	var own [][]byte // PEM
	if o.TLSCACert != "" {
		b, err := readPEM(o.TLSCACert)
		if err != nil {
			return nil, nil, err
		}
		own = append(own, b)
	}
	cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	confDir, err := o.configDir()
	if err != nil {
		return nil, nil, err
	}
	dir := filepath.Join(confDir, "tls", host)
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, &Error{Msg: fmt.Sprintf("cannot read TLS directory %s: %v", dir, err), Hint: "fix its permissions or remove it", Err: err}
	}
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		switch {
		case strings.HasSuffix(e.Name(), ".crt"):
			b, err := readPEM(path)
			if err != nil {
				return nil, nil, err
			}
			own = append(own, b)
		case strings.HasSuffix(e.Name(), ".cert"):
			keyPath := strings.TrimSuffix(path, ".cert") + ".key"
			pair, err := tls.LoadX509KeyPair(path, keyPath)
			if err != nil {
				return nil, nil, &Error{Msg: fmt.Sprintf("cannot load client certificate %s with key %s: %v", path, keyPath, err), Hint: "every NAME.cert in the TLS directory needs its NAME.key", Err: err}
			}
			cfg.Certificates = append(cfg.Certificates, pair)
		}
	}
	if len(own) == 0 {
		return cfg, nil, nil
	}
	cfg.RootCAs = x509.NewCertPool()
	for _, b := range own {
		cfg.RootCAs.AppendCertsFromPEM(b)
	}
	withSystem = func() *tls.Config {
		all := cfg.Clone()
		all.RootCAs = systemRoots().Clone()
		for _, b := range own {
			all.RootCAs.AppendCertsFromPEM(b)
		}
		return all
	}
	return cfg, withSystem, nil
}

// systemRoots are the system's CA certificates (a variable for tests).
var systemRoots = func() *x509.CertPool {
	pool, err := x509.SystemCertPool()
	if err != nil {
		return x509.NewCertPool()
	}
	return pool
}

// systemRootsFallback sends requests through own, whose TLS configuration
// trusts the CAs the user gave for the server, until one fails because no
// CA it trusts signed a certificate (a token service with a public
// certificate, say); that request is sent again, and every later one sent,
// through all, which trusts the system roots too, made on first use.
type systemRootsFallback struct {
	own      http.RoundTripper
	all      func() http.RoundTripper
	once     sync.Once
	allRT    http.RoundTripper
	fellBack atomic.Bool
}

func (f *systemRootsFallback) RoundTrip(req *http.Request) (*http.Response, error) {
	if !f.fellBack.Load() {
		resp, err := f.own.RoundTrip(req)
		var unknown x509.UnknownAuthorityError
		if err == nil || !errors.As(err, &unknown) {
			return resp, err
		}
		// The handshake failed, so nothing of the body was sent; a body
		// that cannot be read again is not sent again either.
		if req.Body != nil && req.Body != http.NoBody {
			if req.GetBody == nil {
				return nil, err
			}
			body, gerr := req.GetBody()
			if gerr != nil {
				return nil, err
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
		f.fellBack.Store(true)
	}
	f.once.Do(func() { f.allRT = f.all() })
	return f.allRT.RoundTrip(req)
}

// readPEM reads a file that must hold PEM certificates.
func readPEM(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Msg: fmt.Sprintf("cannot read CA certificates: %v", err), Hint: "check the path of the CA file", Err: err}
	}
	if !x509.NewCertPool().AppendCertsFromPEM(b) {
		return nil, &Error{Msg: fmt.Sprintf("no PEM certificate in %s", path), Hint: "the file must hold PEM CERTIFICATE blocks"}
	}
	return b, nil
}

// credentials returns what docker sends to the notary server's token
// service: the credentials stored for the repository's registry.
func (o Options) credentials(ctx context.Context, ref imageRef) (authn.Authenticator, error) {
	reg, err := name.NewRegistry(ref.index)
	if err != nil {
		return authn.Anonymous, nil
	}
	kc, err := o.keychain()
	if err != nil {
		return nil, err
	}
	a, err := authn.Resolve(ctx, kc, reg)
	if err != nil {
		return nil, &Error{Msg: fmt.Sprintf("cannot read credentials for %s: %v", ref.index, err), Hint: "check config.json and its credential helper, or run docker login again", Err: err}
	}
	return a, nil
}

// keychain is o.Keychain, else the credentials of the docker configuration
// directory: the registry and the notary token service get the same ones.
func (o Options) keychain() (authn.Keychain, error) {
	if o.Keychain != nil {
		return o.Keychain, nil
	}
	dir, err := o.configDir()
	if err != nil {
		return nil, err
	}
	return configKeychain{dir: dir}, nil
}

// configKeychain reads credentials from a docker configuration directory,
// with docker's own config package (credential helpers included). The key
// is the registry host, or Docker Hub's historical URL.
type configKeychain struct{ dir string }

func (k configKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	cf, err := config.Load(k.dir)
	if err != nil {
		return nil, err
	}
	key := r.RegistryStr()
	if key == imageref.DefaultDomain || key == name.DefaultRegistry {
		key = dockerHubAuthKey
	}
	ac, err := cf.GetAuthConfig(key)
	if err != nil {
		return nil, err
	}
	if ac.Username == "" && ac.Password == "" && ac.Auth == "" && ac.IdentityToken == "" && ac.RegistryToken == "" {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{
		Username:      ac.Username,
		Password:      ac.Password,
		Auth:          ac.Auth,
		IdentityToken: ac.IdentityToken,
		RegistryToken: ac.RegistryToken,
	}), nil
}

// httpsOnly refuses plain HTTP, so that neither a ping fallback nor a token
// realm can move trust traffic or credentials off TLS.
type httpsOnly struct{ inner http.RoundTripper }

func (h httpsOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" {
		return nil, fmt.Errorf("trust: refusing %s over %s: trust data and credentials travel over https only", req.URL.Redacted(), req.URL.Scheme)
	}
	return h.inner.RoundTrip(req)
}

// ctxTransport binds notary's requests, which carry no context, to ctx.
type ctxTransport struct {
	ctx   context.Context
	inner http.RoundTripper
}

func (c ctxTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return c.inner.RoundTrip(req.WithContext(c.ctx))
}

// explainErrors adds to a failed request what a person needs to fix it:
// which server URL was tried and where it came from, and, for a
// certificate no trusted CA signed, the exact file the CA goes in.
type explainErrors struct {
	inner        http.RoundTripper
	server, from string
	caDir        string
}

func (x explainErrors) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := x.inner.RoundTrip(req)
	if err == nil {
		return resp, nil
	}
	var verify *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var opErr *net.OpError
	switch {
	case errors.As(err, &verify) || errors.As(err, &unknownCA):
		return nil, fmt.Errorf("%w; the notary server %s (%s) presents a certificate that no CA trusted here signed: put its CA certificate in %s, or pass --tlscacert FILE", err, x.server, x.from, filepath.Join(x.caDir, "ca.crt"))
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return nil, fmt.Errorf("%w; no notary server answers at %s (%s)", err, x.server, x.from)
	}
	return nil, err
}

// serverSource says where the notary server URL came from, for errors.
func (o Options) serverSource() string {
	switch {
	case o.Server != "":
		return "from --server"
	case os.Getenv(ServerEnv) != "":
		return "from $" + ServerEnv
	}
	return "$" + ServerEnv + " is not set: docker's default for the registry"
}

// caDir is where docker (and this package) reads a server's CA
// certificates: ConfigDir/tls/<host:port>.
func (o Options) caDir(host string) string {
	dir, err := o.configDir()
	if err != nil {
		dir = "$" + ConfigDirEnv
	}
	return filepath.Join(dir, "tls", host)
}
