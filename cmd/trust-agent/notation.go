package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/internal/smallfile"
)

const keyCertifySynopsis = "key certify NAME|ID [--chain FILE] [--days N] [--renew]"

// maxChainFileBytes caps a --chain file: a few certificates in PEM.
const maxChainFileBytes = 256 << 10

// cmdKeyCertify gives a notation (or cosign) key its signing certificate:
// self-signed inside the agent, or a CA-issued chain from --chain, stored
// on the hardware beside the key. It prints the chain (PEM, leaf first) on
// stdout: the last certificate is what `notation cert add` puts into a
// trust store.
func cmdKeyCertify(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "key certify", keyCertifySynopsis)
	chainFile := fs.String("chain", "", "`FILE` of PEM certificates a CA issued for the key, leaf first, to store instead of a self-signed certificate")
	days := fs.Int("days", 365, "validity of a self-signed certificate, in days")
	renew := fs.Bool("renew", false, "make a new self-signed certificate even when the key has one")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError(keyCertifySynopsis)
	}
	if *days < 1 || *days > 3650 {
		return fmt.Errorf("--days %d: a self-signed certificate is valid from 1 to 3650 days", *days)
	}
	var chain [][]byte
	if *chainFile != "" {
		var err error
		if chain, err = readChain(*chainFile); err != nil {
			return err
		}
	}
	c, err := dialAgent()
	if err != nil {
		return err
	}
	defer c.Close()
	keys, err := c.List(ctx)
	if err != nil {
		return err
	}
	// A notation key and a cosign key may share a name (the demo's
	// "release"): certificates are for notation keys, so look among those
	// first, then among every key.
	var notationKeys []agent.KeyInfo
	for _, k := range keys {
		if k.Role == agent.RoleNotation {
			notationKeys = append(notationKeys, k)
		}
	}
	match, err := matchKey(notationKeys, fs.Arg(0))
	if err != nil {
		if match, err = matchKey(keys, fs.Arg(0)); err != nil {
			return err
		}
	}
	got, err := c.CertifyKey(ctx, agent.CertifyKeyRequest{
		KeyID: match[0].ID, Chain: chain, Renew: *renew,
		NotAfter: time.Now().Add(time.Duration(*days) * 24 * time.Hour),
	})
	if err != nil {
		return fmt.Errorf("certifying key %s: %w", match[0].Name, err)
	}
	for _, der := range got {
		if err := pem.Encode(e.stdout, &pem.Block{Type: "CERTIFICATE", Bytes: der}); err != nil {
			return err
		}
	}
	return nil
}

// readChain reads PEM certificates, leaf first.
func readChain(path string) ([][]byte, error) {
	b, err := smallfile.Read(path, maxChainFileBytes, "a certificate chain is a few KiB")
	if err != nil {
		return nil, err
	}
	var chain [][]byte
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%s holds a %s; give only certificates (never the private key)", path, block.Type)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return nil, fmt.Errorf("%s: certificate %d: %w", path, len(chain)+1, err)
		}
		chain = append(chain, block.Bytes)
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return chain, nil
}

const notationInstallSynopsis = "notation install [--plugin PATH]"

// notationPluginName is the plugin's name: notation wants the executable
// notation-NAME in the folder plugins/NAME, and the metadata's name equal
// to NAME.
const notationPluginName = "trust-agent"

// cmdNotationInstall copies the plugin executable into notation's plugin
// folder, as a regular file (notation refuses links), and checks that it
// answers get-plugin-metadata with its name.
func cmdNotationInstall(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "notation install", notationInstallSynopsis)
	src := fs.String("plugin", "", "`PATH` of the notation-trust-agent executable (default: the one next to trust-agent)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError(notationInstallSynopsis)
	}
	if *src == "" {
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("finding trust-agent's own path: %w; pass --plugin PATH", err)
		}
		*src = filepath.Join(filepath.Dir(self), "notation-"+notationPluginName)
	}
	config, err := os.UserConfigDir() // $XDG_CONFIG_HOME, else ~/.config, as notation finds it
	if err != nil {
		return fmt.Errorf("finding notation's configuration folder: %w; set XDG_CONFIG_HOME", err)
	}
	dst := filepath.Join(config, "notation", "plugins", notationPluginName, "notation-"+notationPluginName)
	if err := copyExecutable(*src, dst); err != nil {
		return err
	}
	probe := exec.CommandContext(ctx, dst, "get-plugin-metadata")
	probe.Stdin = strings.NewReader("{}") // notation sends the request on stdin
	out, err := probe.Output()
	var md struct{ Name string }
	if err != nil || json.Unmarshal(bytes.TrimSpace(out), &md) != nil || md.Name != notationPluginName {
		os.Remove(dst)
		return fmt.Errorf("%s is not trust-agent's notation plugin (get-plugin-metadata: %v %q); build it with go build ./cmd/notation-trust-agent and pass --plugin PATH", *src, err, out)
	}
	fmt.Fprintln(e.stdout, dst)
	return nil
}

// copyExecutable copies src to dst as a new regular file, mode 0755,
// through a temporary file renamed into place.
func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no plugin at %s; build it (go build ./cmd/notation-trust-agent) and pass --plugin PATH", src)
	}
	if err != nil {
		return err
	}
	defer in.Close()
	if st, err := in.Stat(); err != nil || !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file; pass --plugin PATH of the notation-trust-agent executable", src)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".notation-trust-agent-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return fmt.Errorf("copying %s: %w", src, err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("installing %s: %w", dst, err)
	}
	return nil
}
