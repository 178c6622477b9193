//go:build !cgo

package piv

import (
	"crypto"
	"crypto/x509"
	"fmt"

	"github.com/trust-agent/trust-agent/agent"
)

// errNoCgo is what every function answers in a binary built without cgo:
// piv-go reaches cards through libpcsclite, a C library.
var errNoCgo = fmt.Errorf("piv: this binary was built without cgo (CGO_ENABLED=0), so PIV cards are unavailable: %w",
	agent.ErrDeviceUnavailable)

var (
	_ agent.KeyStore        = (*Store)(nil)
	_ agent.PolicyGenerator = (*Store)(nil)
	_ agent.Attester        = (*Store)(nil)
)

// Store is unusable in a binary built without cgo.
type Store struct{}

// Open always fails in a binary built without cgo.
func Open(Options) (*Store, error) { return nil, errNoCgo }

// Setup always fails in a binary built without cgo.
func Setup(SetupOptions) error { return errNoCgo }

// VerifyAttestation always fails in a binary built without cgo.
func VerifyAttestation(*x509.CertPool, *x509.Certificate, *x509.Certificate) (*Attestation, error) {
	return nil, errNoCgo
}

// VerifyAttestationChain always fails in a binary built without cgo.
func VerifyAttestationChain(*x509.CertPool, [][]byte) (*Attestation, error) { return nil, errNoCgo }

func (*Store) Name() string               { return "piv:" }
func (*Store) Kind() string               { return "piv" }
func (*Store) Serial() uint32             { return 0 }
func (*Store) Keys() ([]agent.Key, error) { return nil, errNoCgo }
func (*Store) GenerateWithPolicy(agent.KeyMeta, string, int, agent.KeyPolicy) (agent.Key, error) {
	return agent.Key{}, errNoCgo
}
func (*Store) Generate(agent.KeyMeta, string, int) (agent.Key, error) {
	return agent.Key{}, errNoCgo
}
func (*Store) Import(agent.KeyMeta, crypto.Signer) (agent.Key, error) {
	return agent.Key{}, errNoCgo
}
func (*Store) StoreCertificate([]byte, string, []byte) error { return errNoCgo }
func (*Store) Login([]byte) error                            { return errNoCgo }
func (*Store) Logout() error                                 { return errNoCgo }
func (*Store) Locked() bool                                  { return true }
func (*Store) Close() error                                  { return nil }
func (*Store) Attest(byte) (*x509.Certificate, *x509.Certificate, error) {
	return nil, nil, errNoCgo
}
func (*Store) AttestationChain([]byte) ([][]byte, error) { return nil, errNoCgo }
func (*Store) Abilities() agent.Abilities {
	return agent.Abilities{Attest: true, Touch: true, Policy: true,
		Algorithms: []string{agent.AlgorithmECDSA}, SlotKinds: slotKinds, MaxRootKeys: 1}
}
