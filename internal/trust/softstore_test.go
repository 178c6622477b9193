package trust

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"sync"

	"github.com/trust-agent/trust-agent/agent"
)

// softStore is an agent.KeyStore of software keys, so the real agent (its
// policy included) runs in tests without SoftHSM. Integration tests use
// SoftHSM instead.
type softStore struct {
	mu   sync.Mutex
	keys []agent.Key
}

var _ agent.KeyStore = (*softStore)(nil)

func (s *softStore) Name() string { return "soft" }
func (s *softStore) Kind() string { return "pkcs11" }

func (s *softStore) Keys() ([]agent.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]agent.Key(nil), s.keys...), nil
}

func (s *softStore) Generate(meta agent.KeyMeta, algorithm string, bits int) (agent.Key, error) {
	var signer crypto.Signer
	var err error
	switch algorithm {
	case agent.AlgorithmRSA:
		if bits == 0 {
			bits = 3072
		}
		signer, err = rsa.GenerateKey(rand.Reader, bits)
	default:
		signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		return agent.Key{}, err
	}
	return s.Import(meta, signer)
}

func (s *softStore) Import(meta agent.KeyMeta, priv crypto.Signer) (agent.Key, error) {
	// Keep a copy: the agent wipes the key it handed over, as hardware
	// would have taken its own copy.
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return agent.Key{}, err
	}
	cp, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return agent.Key{}, err
	}
	priv = cp.(crypto.Signer)
	s.mu.Lock()
	defer s.mu.Unlock()
	handle := []byte(fmt.Sprint(len(s.keys)))
	k := agent.Key{Signer: priv, Handle: handle, Meta: meta, Location: "soft:" + string(handle)}
	s.keys = append(s.keys, k)
	return k, nil
}

func (s *softStore) StoreCertificate(id []byte, gun string, der []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.keys {
		if string(s.keys[i].Handle) == string(id) {
			s.keys[i].Certs = append(s.keys[i].Certs, agent.Cert{GUN: gun, DER: der})
			return nil
		}
	}
	return fmt.Errorf("soft: no key %s", id)
}

func (s *softStore) Login(pin []byte) error { return nil }
func (s *softStore) Logout() error          { return nil }
func (s *softStore) Locked() bool           { return false }
func (s *softStore) Close() error           { return nil }
