package trust

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
)

// Defaults docker uses, kept here so both clients agree.
const (
	// DefaultNotaryServer serves Docker Hub's trust data.
	DefaultNotaryServer = "https://notary.docker.io"
	// ServerEnv overrides the notary server, as it does for docker.
	ServerEnv = "DOCKER_CONTENT_TRUST_SERVER"
	// ConfigDirEnv names docker's configuration directory.
	ConfigDirEnv = "DOCKER_CONFIG"
)

// Options says where trust data lives and how to reach the notary server.
// The zero value behaves as docker does with the same environment.
type Options struct {
	// ConfigDir is docker's configuration directory: credentials
	// (config.json), TLS roots (tls/<host:port>/*.crt) and, by default, the
	// trust directory. Default: $DOCKER_CONFIG, else ~/.docker.
	ConfigDir string
	// TrustDir holds the TUF cache in tuf/<GUN>/metadata, shared with docker.
	// Default: ConfigDir/trust.
	TrustDir string
	// Server is the notary server's https URL. Default: $DOCKER_CONTENT_TRUST_SERVER,
	// else https://notary.docker.io for Docker Hub, else https://<registry host>,
	// as docker does.
	Server string
	// TLSCACert is a PEM file of CAs trusted for the server, in addition to
	// the system roots and ConfigDir/tls/<server host:port>/*.crt.
	TLSCACert string
	// Keychain gives the registry credentials that docker sends to the
	// notary server's token service. Default: ConfigDir/config.json with its
	// credential helpers.
	Keychain authn.Keychain
	// Offline lets Verify answer from the TUF cache when the server cannot
	// be reached, as docker did; by default Verify then fails.
	Offline bool
	// requireFresh is set by Verify: see freshTimestamp.
	requireFresh bool
	// ConfirmNewRoot, when set, is asked before a repository with no
	// trust data gets a new root key (the prompt says where the key will
	// live); false aborts. Nil: the key is made without asking, as docker
	// does (scripts, make demo).
	ConfirmNewRoot func(prompt string) bool
	// Transport, if set, replaces the base HTTP transport (and so the TLS
	// settings above). Requests still go over https only.
	Transport http.RoundTripper
}

// configDir returns the docker configuration directory.
func (o Options) configDir() (string, error) {
	if o.ConfigDir != "" {
		return o.ConfigDir, nil
	}
	if d := os.Getenv(ConfigDirEnv); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("trust: cannot find docker's configuration directory: %w; set %s", err, ConfigDirEnv)
	}
	return filepath.Join(home, ".docker"), nil
}

// trustDir returns the directory holding the TUF cache.
func (o Options) trustDir() (string, error) {
	if o.TrustDir != "" {
		return o.TrustDir, nil
	}
	d, err := o.configDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "trust"), nil
}

// server returns the notary server for a repository on registry host
// index, by docker's rule.
func (o Options) server(index string, official bool) (string, error) {
	s, from := o.Server, "the server option"
	if s == "" {
		s, from = os.Getenv(ServerEnv), ServerEnv
	}
	if s == "" {
		if official {
			return DefaultNotaryServer, nil
		}
		return "https://" + index, nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "", &Error{
			Msg:  fmt.Sprintf("valid https URL required for trust server, got %s", s),
			Hint: fmt.Sprintf("set %s to the notary server's https URL, e.g. https://notary.example.com:4443", from),
		}
	}
	return strings.TrimSuffix(s, "/"), nil
}
