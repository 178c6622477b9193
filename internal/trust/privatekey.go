package trust

import (
	"crypto"
	"errors"
	"fmt"
	"io"

	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trust-agent/trust-agent/agent"
)

// privateKey is notary's data.PrivateKey for a key on the agent. Sign sends
// the message (the canonical JSON of a TUF "signed" object) to the agent,
// which hashes and signs it; nothing else can sign with it.
type privateKey struct {
	data.PublicKey
	cs   *CryptoService
	info agent.KeyInfo
}

var _ data.PrivateKey = (*privateKey)(nil)

// Sign asks the agent for a TUF signature over msg for cs's repository and
// the role the key serves. rand and opts are unused: the agent signs.
func (k *privateKey) Sign(_ io.Reader, msg []byte, _ crypto.SignerOpts) ([]byte, error) {
	role := roleName(k.info)
	if k.info.Role == agent.RoleDelegation {
		role = k.cs.delegationRole()
		if role == "" {
			return nil, errors.New("trust: a delegation key serves several roles and none was named; sign one delegation role per publish (SetDelegationRole)")
		}
	}
	sig, err := k.cs.agent.Sign(k.cs.ctx, agent.SignRequest{KeyID: k.info.ID, GUN: k.cs.gun, Role: role.String(), Data: msg})
	if err != nil {
		return nil, fmt.Errorf("trust: the agent did not sign %s for %s with key %s: %w", role, k.cs.gun, k.info.ID, err)
	}
	if sig.Method != string(k.SignatureAlgorithm()) {
		return nil, fmt.Errorf("trust: the agent signed with %q, want %q for a %s key", sig.Method, k.SignatureAlgorithm(), k.info.Algorithm)
	}
	return sig.Signature, nil
}

// Private returns nil: the private key never leaves the hardware.
func (k *privateKey) Private() []byte { return nil }

// CryptoSigner returns nil, so that notary cannot make a root certificate
// through it (a crypto.Signer sees only a digest, and the agent signs no
// blind digests): root certificates come from Agent.CertifyRoot.
func (k *privateKey) CryptoSigner() crypto.Signer { return nil }

// SignatureAlgorithm is TUF's method for the key: ecdsa or rsapss.
func (k *privateKey) SignatureAlgorithm() data.SigAlgorithm {
	if k.info.Algorithm == agent.AlgorithmRSA {
		return data.RSAPSSSignature
	}
	return data.ECDSASignature
}
