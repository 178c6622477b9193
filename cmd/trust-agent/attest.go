package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/internal/trust"
	"github.com/trust-agent/trust-agent/piv"
)

// Attestation in the CLI: key generate writes a PIV key's chain to
// NAME.attest.pem, key list --attest checks each PIV key's chain as the
// agent hands it over, signer add --require-attestation checks the files a
// signer sent. Chains are verified here, with piv.VerifyAttestationChain,
// against Yubico's roots (piv-go's bundle) unless --attestation-roots names
// others: the agent passes chains on and trusts nothing itself.

// maxRootsFileBytes caps an --attestation-roots file: a handful of CA
// certificates is a few KB; 1 MiB also holds a whole system bundle.
const maxRootsFileBytes = 1 << 20

// loadAttestationRoots reads PEM CA certificates from path; "" means nil,
// Yubico's roots.
func loadAttestationRoots(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--attestation-roots: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxRootsFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("--attestation-roots: %w", err)
	}
	if len(b) > maxRootsFileBytes {
		return nil, fmt.Errorf("--attestation-roots: %s is over %d bytes", path, maxRootsFileBytes)
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := b; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("--attestation-roots: %s: certificate %d: %w", path, n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("--attestation-roots: no PEM certificate in %s", path)
	}
	return pool, nil
}

// attestationVerifier verifies a PIV attestation chain against roots (nil:
// Yubico's) for signer add --require-attestation.
func attestationVerifier(roots *x509.CertPool) trust.AttestationVerifier {
	return func(chain [][]byte) (crypto.PublicKey, string, error) {
		a, err := piv.VerifyAttestationChain(roots, chain)
		if err != nil {
			return nil, "", err
		}
		return a.PublicKey, "generated on PIV card " + a.String(), nil
	}
}

// attestable reports whether the agent can attest k: keys on a backend
// whose Abilities say Attest (a PIV card). Other keys are not asked for,
// so that key list --attest does not fill the audit log with refusals.
func attestable(k agent.KeyInfo) bool { return k.Abilities.Attest }

// keyAttestation is what key list --attest says about one key.
type keyAttestation struct {
	Verified    bool   `json:"verified"`
	Serial      uint32 `json:"serial,omitempty"`
	Slot        string `json:"slot,omitempty"`
	Firmware    string `json:"firmware,omitempty"`
	PINPolicy   string `json:"pin_policy,omitempty"`
	TouchPolicy string `json:"touch_policy,omitempty"`
	Error       string `json:"error,omitempty"` // why it is not verified
}

// column is the ATTESTED column: "yes (serial N, slot 82, pin once, touch
// never)" or "no: reason".
func (a *keyAttestation) column() string {
	if a == nil {
		return "-"
	}
	if !a.Verified {
		return "no: " + a.Error
	}
	return fmt.Sprintf("yes (serial %d, slot %s, pin %s, touch %s)", a.Serial, a.Slot, a.PINPolicy, a.TouchPolicy)
}

// attestKey asks the agent for k's chain and verifies it against roots;
// nil when k cannot be attested at all.
func attestKey(ctx context.Context, a agent.Agent, k agent.KeyInfo, roots *x509.CertPool) *keyAttestation {
	if !attestable(k) {
		return nil
	}
	no := func(err error) *keyAttestation {
		return &keyAttestation{Error: strings.TrimPrefix(err.Error(), "piv: ")}
	}
	chain, err := a.Attest(ctx, agent.AttestRequest{KeyID: k.ID})
	if err != nil {
		return no(err)
	}
	at, err := piv.VerifyAttestationChain(roots, chain)
	if err != nil {
		return no(err)
	}
	if err := sameKey(k, at.PublicKey); err != nil {
		return no(err)
	}
	return &keyAttestation{Verified: true, Serial: at.Serial, Slot: fmt.Sprintf("%x", at.Slot), Firmware: at.Version,
		PINPolicy: at.PINPolicy.String(), TouchPolicy: at.TouchPolicy.String()}
}

// sameKey checks that an attestation is about k's public key.
func sameKey(k agent.KeyInfo, attested crypto.PublicKey) error {
	pub, err := x509.ParsePKIXPublicKey(k.PublicKey)
	if err != nil {
		return err
	}
	if eq, ok := attested.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(pub) {
		return errors.New("the attestation certifies another key (was the slot's key replaced?)")
	}
	return nil
}

// writeAttestation fetches a newly generated key's chain and writes it to
// path, which must not exist. It checks that the chain's leaf is the key
// (not that it verifies: the signer's admin does that, with the roots they
// trust).
func writeAttestation(ctx context.Context, a agent.Agent, k agent.KeyInfo, path string) error {
	chain, err := a.Attest(ctx, agent.AttestRequest{KeyID: k.ID})
	if err != nil {
		return err
	}
	if len(chain) == 0 {
		return errors.New("the agent returned no certificates")
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return fmt.Errorf("the agent's attestation: %w", err)
	}
	if err := sameKey(k, leaf.PublicKey); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(trust.EncodeAttestation(chain)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

const keyAttestSynopsis = "key attest NAME|ID [--dir DIR]"

// cmdKeyAttest writes a PIV key's attestation again (NAME.attest.pem), for
// keys made before attestation files existed or when writing it failed.
func cmdKeyAttest(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "key attest", keyAttestSynopsis)
	dir := fs.String("dir", "", "directory to write NAME.attest.pem to (default: the current directory)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError(keyAttestSynopsis)
	}
	c, match, err := findKey(ctx, fs.Arg(0))
	if err != nil {
		return err
	}
	defer c.Close()
	switch {
	case !attestable(match[0]):
		return fmt.Errorf("key %s is on %s: only keys generated on a PIV card have an attestation", match[0].Name, match[0].Backend)
	}
	if *dir != "" {
		if err := os.MkdirAll(*dir, 0o700); err != nil {
			return err
		}
	}
	path := filepath.Join(*dir, match[0].Name+".attest.pem")
	if err := writeAttestation(ctx, c, match[0], path); err != nil {
		return fmt.Errorf("writing the attestation of %s to %s: %w", match[0].Name, path, err)
	}
	fmt.Fprintf(e.stdout, "Attestation certificate chain (the card's proof that it made the key) available: %s\n", path)
	return nil
}
