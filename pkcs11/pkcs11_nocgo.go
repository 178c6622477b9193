//go:build !cgo

package pkcs11

import (
	"crypto"
	"fmt"
	"log/slog"

	"github.com/trust-agent/trust-agent/agent"
)

// errNoCgo is what every function answers in a binary built without cgo:
// PKCS#11 modules are C libraries, loaded through cgo.
var errNoCgo = fmt.Errorf("pkcs11: this binary was built without cgo (CGO_ENABLED=0), so PKCS#11 is unavailable: %w",
	agent.ErrDeviceUnavailable)

var _ agent.KeyStore = (*Store)(nil)

// Store is unusable in a binary built without cgo.
type Store struct{}

// Open always fails in a binary built without cgo.
func Open(uriString string) (*Store, error) { return nil, errNoCgo }

func (*Store) Name() string               { return "pkcs11:" }
func (*Store) Kind() string               { return "pkcs11" }
func (*Store) Keys() ([]agent.Key, error) { return nil, errNoCgo }
func (*Store) Generate(agent.KeyMeta, string, int) (agent.Key, error) {
	return agent.Key{}, errNoCgo
}
func (*Store) Import(agent.KeyMeta, crypto.Signer) (agent.Key, error) {
	return agent.Key{}, errNoCgo
}
func (*Store) StoreCertificate([]byte, string, []byte) error { return errNoCgo }
func (*Store) StoreChain([]byte, string, [][]byte) error     { return errNoCgo }
func (*Store) Login([]byte) error                            { return errNoCgo }
func (*Store) Logout() error                                 { return errNoCgo }
func (*Store) Locked() bool                                  { return true }
func (*Store) Close() error                                  { return nil }

// SetLogger does nothing in a binary built without cgo.
func (*Store) SetLogger(*slog.Logger) {}
