// Package attestation is what the CLI does with PIV attestation chains:
// key generate and key attest write a key's chain to NAME.attest.pem,
// key list --attest asks the agent for each attestable key's chain and
// verifies it, signer add --require-attestation verifies the files a
// signer sent (through Verifier, which internal/trust calls).
//
// # Why here
//
// internal/trust owns the attestation file format and the comparison of
// an attested key with a signer's .pub key, and stays free of hardware
// code; the chain check needs the PIV backend (piv.VerifyAttestationChain)
// and the roots the verifier trusts. This package joins the two, so cmd
// only parses flags and prints.
//
// # Trust
//
// Chains are verified against Yubico's roots (piv-go's bundle) unless the
// caller loads others with LoadRoots: the agent passes chains on and
// trusts nothing itself. A chain that verifies is also checked to certify
// the key it is meant to be about (a chain copied from another key
// verifies perfectly well).
//
// # Errors
//
// LoadRoots's errors name the file, not this package: the caller says
// which flag or setting named it (cmd prefixes "--attestation-roots: ").
package attestation

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/internal/smallfile"
	"github.com/trust-agent/trust-agent/internal/trust"
	"github.com/trust-agent/trust-agent/piv"
)

// MaxRootsFileBytes caps a roots file: a handful of CA certificates is a
// few KB; 1 MiB also holds a whole system bundle.
const MaxRootsFileBytes = 1 << 20

// LoadRoots reads PEM CA certificates from path (other PEM blocks are
// passed over, as in a CA bundle); "" means nil, Yubico's roots.
func LoadRoots(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	b, err := smallfile.Read(path, MaxRootsFileBytes, "a CA bundle is a few hundred KiB at most")
	if err != nil {
		return nil, err
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
			return nil, fmt.Errorf("%s: certificate %d: %w", path, n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("no PEM certificate in %s", path)
	}
	return pool, nil
}

// Verifier verifies a PIV attestation chain against roots (nil: Yubico's),
// for trust.SignerAddOptions.VerifyAttestation.
func Verifier(roots *x509.CertPool) trust.AttestationVerifier {
	return func(chain [][]byte) (crypto.PublicKey, string, error) {
		a, err := piv.VerifyAttestationChain(roots, chain)
		if err != nil {
			return nil, "", err
		}
		return a.PublicKey, "generated on PIV card " + a.String(), nil
	}
}

// Attestable reports whether the agent can attest k: keys on a backend
// whose Abilities say Attest (a PIV card). Other keys are not asked for,
// so that key list --attest does not fill the audit log with refusals.
func Attestable(k agent.KeyInfo) bool { return k.Abilities.Attest }

// KeyStatus is what Check found about one key's attestation (key list
// --attest; its JSON is the "attestation" member there).
type KeyStatus struct {
	Verified    bool   `json:"verified"`
	Serial      uint32 `json:"serial,omitempty"`
	Slot        string `json:"slot,omitempty"`
	Firmware    string `json:"firmware,omitempty"`
	PINPolicy   string `json:"pin_policy,omitempty"`
	TouchPolicy string `json:"touch_policy,omitempty"`
	Error       string `json:"error,omitempty"` // why it is not verified
}

// Column is the ATTESTED column of key list: "yes (serial N, slot 82, pin
// once, touch never)", "no: reason", or "-" for a nil status (a key that
// cannot be attested).
func (s *KeyStatus) Column() string {
	if s == nil {
		return "-"
	}
	if !s.Verified {
		return "no: " + s.Error
	}
	return fmt.Sprintf("yes (serial %d, slot %s, pin %s, touch %s)", s.Serial, s.Slot, s.PINPolicy, s.TouchPolicy)
}

// Check asks a for k's chain and verifies it against roots (nil:
// Yubico's); nil when k cannot be attested at all. A chain that cannot be
// had, does not verify, or certifies another key is a status with
// Verified false and the reason, not an error: one key's failure does not
// stop a listing.
func Check(ctx context.Context, a agent.Agent, k agent.KeyInfo, roots *x509.CertPool) *KeyStatus {
	if !Attestable(k) {
		return nil
	}
	no := func(err error) *KeyStatus {
		return &KeyStatus{Error: strings.TrimPrefix(err.Error(), "piv: ")}
	}
	chain, err := a.Attest(ctx, agent.AttestRequest{KeyID: k.ID})
	if err != nil {
		return no(err)
	}
	at, err := piv.VerifyAttestationChain(roots, chain)
	if err != nil {
		return no(err)
	}
	if err := SameKey(k, at.PublicKey); err != nil {
		return no(err)
	}
	return &KeyStatus{Verified: true, Serial: at.Serial, Slot: fmt.Sprintf("%x", at.Slot), Firmware: at.Version,
		PINPolicy: at.PINPolicy.String(), TouchPolicy: at.TouchPolicy.String()}
}

// SameKey checks that an attestation is about k's public key.
func SameKey(k agent.KeyInfo, attested crypto.PublicKey) error {
	pub, err := x509.ParsePKIXPublicKey(k.PublicKey)
	if err != nil {
		return err
	}
	if eq, ok := attested.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(pub) {
		return errors.New("the attestation certifies another key (was the slot's key replaced?)")
	}
	return nil
}

// Write fetches k's chain from a and writes it to path (mode 0644), which
// must not exist, in trust.EncodeAttestation's form. It checks that the
// chain's leaf is the key, not that it verifies: the signer's admin does
// that, with the roots they trust.
func Write(ctx context.Context, a agent.Agent, k agent.KeyInfo, path string) error {
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
	if err := SameKey(k, leaf.PublicKey); err != nil {
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
