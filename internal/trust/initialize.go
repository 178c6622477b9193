package trust

import (
	"fmt"
	"time"

	"github.com/theupdateframework/notary"
	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trust-agent/trust-agent/agent"
)

// rootCertValidity is how long a new root certificate lasts: notary's and
// docker's 10 years.
const rootCertValidity = 10 * notary.Year

// RootCertificate returns the agent's certificate for root key rootKeyID
// and cs's repository (subject CN = the GUN), as notary's public key. The
// agent makes and signs it itself; it is valid from now for 10 years, or is
// the one the agent already stores.
func (cs *CryptoService) RootCertificate(rootKeyID string) (data.PublicKey, error) {
	now := time.Now()
	der, err := cs.agent.CertifyRoot(cs.ctx, agent.CertifyRequest{
		KeyID:     rootKeyID,
		GUN:       cs.gun,
		NotBefore: now,
		NotAfter:  now.Add(rootCertValidity),
	})
	if err != nil {
		return nil, fmt.Errorf("trust: the agent did not certify root key %s for %s: %w", rootKeyID, cs.gun, err)
	}
	pub, err := certPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("trust: the agent's root certificate for %s: %w", cs.gun, err)
	}
	cs.forget() // the certificate is new to the key list
	return pub, nil
}

// initialize sets up a new repository in repo (not yet published) with the
// agent's root key rootKeyID, a targets key on the agent and a snapshot
// key managed by the server, as docker does. The targets key is the one
// the agent already holds for the repository, if any: the repository does
// not exist on the server, so that key signed nothing published, and a
// retry after a failed first publish must not leave a key behind each time. The root certificate comes
// from the agent (CertifyRoot), never from notary's GenerateCertificate:
// that would need a crypto.Signer over a digest the agent cannot see.
func initialize(repo client.Repository, cs *CryptoService, rootKeyID string) error {
	cert, err := cs.RootCertificate(rootKeyID)
	if err != nil {
		return err
	}
	cs.mu.Lock()
	cs.reuseTargets = true
	cs.mu.Unlock()
	defer func() {
		cs.mu.Lock()
		cs.reuseTargets = false
		cs.mu.Unlock()
	}()
	if err := repo.InitializeWithCertificate([]string{rootKeyID}, []data.PublicKey{cert}, data.CanonicalSnapshotRole); err != nil {
		return fmt.Errorf("trust: initialising %s: %w", cs.gun, err)
	}
	return nil
}
