package trust

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/theupdateframework/notary/trustmanager"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/trust-agent/trust-agent/agent"
)

// CryptoService is notary's signed.CryptoService over an agent: the keys
// stay on the agent's hardware, and every signature is a request that the
// agent's policy checks against the repository (GUN) and role it names.
//
// Notary never tells a key which role it signs for. Root, targets and
// snapshot keys serve one role each, so the role follows from the key; a
// delegation key may serve several (docker adds a signer's key to
// targets/<name> and targets/releases), so the caller names the delegation
// role being signed with SetDelegationRole and publishes one delegation
// role at a time. A delegation signature with no role set is refused.
//
// A CryptoService serves one command: it asks the agent for its keys once
// and answers from that list (see lookup).
//
// Methods are safe to call from multiple goroutines.
type CryptoService struct {
	agent agent.Agent
	gun   string
	ctx   context.Context

	mu   sync.Mutex
	keys []agent.KeyInfo // from the last List, with the keys Create made since; nil: List again
	// changes counts Creates and forgets: a List answered across one is
	// not kept, as it may lack what changed.
	changes    uint64
	delegation []data.RoleName
	// reuseTargets, set by initialize, makes Create return the targets key
	// the agent already holds for the repository instead of a new one.
	reuseTargets bool
}

var _ signed.CryptoService = (*CryptoService)(nil)

// NewCryptoService returns a CryptoService for the repository gun (docker's
// fully qualified name, e.g. docker.io/library/alpine). Agent calls use
// context.Background until WithContext gives another.
func NewCryptoService(a agent.Agent, gun string) *CryptoService {
	return &CryptoService{agent: a, gun: gun, ctx: context.Background()}
}

// WithContext returns a CryptoService that makes its agent calls with ctx.
// It starts with a fresh key list and no delegation role.
func (cs *CryptoService) WithContext(ctx context.Context) *CryptoService {
	return &CryptoService{agent: cs.agent, gun: cs.gun, ctx: ctx}
}

// SetDelegationRole names the delegation roles (targets/NAME) that
// delegation keys sign for until the next call; none clears them. Notary
// does not tell a key which role it signs, so a publish that changes
// several delegation roles names them all, and the agent's audit log shows
// the signature as for one of them.
func (cs *CryptoService) SetDelegationRole(roles ...data.RoleName) error {
	for _, role := range roles {
		if !data.IsDelegation(role) {
			return fmt.Errorf("trust: %s is not a delegation role; name one like targets/releases", role)
		}
	}
	cs.mu.Lock()
	cs.delegation = roles
	cs.mu.Unlock()
	return nil
}

// delegationRole is the role string sent to the agent: the roles named,
// joined by commas, or "" when none is.
func (cs *CryptoService) delegationRole() data.RoleName {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	names := make([]string, len(cs.delegation))
	for i, r := range cs.delegation {
		names[i] = r.String()
	}
	return data.RoleName(strings.Join(names, ","))
}

// Create generates a key on the agent for role: root, targets and snapshot
// keys (the last two bound to gun), or a delegation key for targets/NAME
// named NAME. The timestamp key belongs to the server.
func (cs *CryptoService) Create(role data.RoleName, gun data.GUN, algorithm string) (data.PublicKey, error) {
	meta, err := metaForRole(role, gun)
	if err != nil {
		return nil, err
	}
	alg, err := agentAlgorithm(algorithm)
	if err != nil {
		return nil, err
	}
	cs.mu.Lock()
	reuse := cs.reuseTargets && role == data.CanonicalTargetsRole
	cs.mu.Unlock()
	if reuse {
		keys, err := cs.list(true)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			if k.Role == agent.RoleTargets && k.GUN == cs.gun && k.Algorithm == alg {
				return publicKey(k)
			}
		}
	}
	info, err := cs.agent.Generate(cs.ctx, agent.GenerateRequest{KeyMeta: meta, Algorithm: alg})
	if err != nil {
		return nil, fmt.Errorf("trust: generating a %s key on the agent: %w", role, err)
	}
	cs.mu.Lock()
	if cs.keys != nil { // else the next lookup lists every key, this one with them
		cs.keys = append(cs.keys, info)
	}
	cs.changes++
	cs.mu.Unlock()
	return publicKey(info)
}

// AddKey refuses: the agent holds no software keys through notary. Keys
// are moved into hardware with trust-agent key import.
func (cs *CryptoService) AddKey(role data.RoleName, gun data.GUN, key data.PrivateKey) error {
	return fmt.Errorf("trust: refusing to add a software %s key: move it into hardware with `trust-agent key import` instead", role)
}

// GetKey returns the public key with the canonical ID keyID, or the root
// certificate for gun with that ID; nil when the agent has neither.
func (cs *CryptoService) GetKey(keyID string) data.PublicKey {
	info, cert, err := cs.lookup(keyID)
	if err != nil {
		return nil
	}
	if cert != nil {
		return cert
	}
	pub, err := publicKey(info)
	if err != nil {
		return nil
	}
	return pub
}

// GetPrivateKey returns a handle on the agent's key keyID (canonical or
// root-certificate ID) that signs through the agent, and its role. A key the
// agent does not hold is trustmanager.ErrKeyNotFound, unwrapped, as notary
// tests it by type.
func (cs *CryptoService) GetPrivateKey(keyID string) (data.PrivateKey, data.RoleName, error) {
	info, _, err := cs.lookup(keyID)
	if err != nil {
		return nil, "", err
	}
	pub, err := publicKey(info)
	if err != nil {
		return nil, "", err
	}
	return &privateKey{PublicKey: pub, cs: cs, info: info}, roleName(info), nil
}

// RemoveKey does nothing: notary calls it for keys rotated out of a role,
// and a hardware key must not vanish as a side effect. Delete keys with the
// token's own tools.
func (cs *CryptoService) RemoveKey(keyID string) error { return nil }

// ListKeys returns the IDs of the keys that can serve role in gun: every
// root key, the targets and snapshot keys bound to gun, and for targets/NAME
// the delegation key named NAME.
func (cs *CryptoService) ListKeys(role data.RoleName) []string {
	keys, err := cs.list(false)
	if err != nil {
		return nil
	}
	var ids []string
	for _, k := range keys {
		if cs.usable(k) && roleName(k) == role {
			ids = append(ids, k.ID)
		}
	}
	return ids
}

// ListAllKeys maps the IDs of every key usable for gun to its role.
func (cs *CryptoService) ListAllKeys() map[string]data.RoleName {
	keys, err := cs.list(false)
	if err != nil {
		return nil
	}
	m := map[string]data.RoleName{}
	for _, k := range keys {
		if cs.usable(k) {
			m[k.ID] = roleName(k)
		}
	}
	return m
}

// usable reports whether k may sign for cs.gun: keys bound to a repository
// serve only that one.
func (cs *CryptoService) usable(k agent.KeyInfo) bool {
	return k.GUN == "" || k.GUN == cs.gun
}

// forget empties the key list, so the next lookup asks the agent again:
// for a change made on the agent other than by Create.
func (cs *CryptoService) forget() {
	cs.mu.Lock()
	cs.keys = nil
	cs.changes++
	cs.mu.Unlock()
}

// list returns the agent's keys, from the cache unless refresh.
func (cs *CryptoService) list(refresh bool) ([]agent.KeyInfo, error) {
	cs.mu.Lock()
	keys, changes := cs.keys, cs.changes
	cs.mu.Unlock()
	if keys != nil && !refresh {
		return keys, nil
	}
	keys, err := cs.agent.List(cs.ctx)
	if err != nil {
		return nil, fmt.Errorf("trust: listing the agent's keys: %w", err)
	}
	if keys == nil {
		keys = []agent.KeyInfo{}
	}
	cs.mu.Lock()
	if cs.changes == changes { // else a Create or forget came between: List again next time
		cs.keys = keys
	}
	cs.mu.Unlock()
	return keys, nil
}

// lookup finds keyID among the agent's keys by canonical ID or by the ID
// of its root certificate for cs.gun. A miss is final: the list is the
// agent's as of this CryptoService's List, and what the command changes
// on the agent itself is in it (Create adds the key it makes) or empties
// it (RootCertificate calls forget), so the next call asks the agent
// again. A key made on the agent some other way after the List (another
// command, a direct agent call) is not seen: one CryptoService serves one
// command. Notary looks up the server's snapshot key in every publish:
// asking the agent again on a miss was a second List per sign, each a
// walk of every token's objects.
// For a certificate ID it also returns the certificate's public key.
func (cs *CryptoService) lookup(keyID string) (agent.KeyInfo, data.PublicKey, error) {
	keys, err := cs.list(false)
	if err != nil {
		return agent.KeyInfo{}, nil, err
	}
	for _, k := range keys {
		if !cs.usable(k) {
			continue
		}
		if k.ID == keyID {
			return k, nil, nil
		}
		for _, c := range k.Certs {
			if c.GUN != cs.gun {
				continue
			}
			if pub, err := certPublicKey(c.DER); err == nil && pub.ID() == keyID {
				return k, pub, nil
			}
		}
	}
	return agent.KeyInfo{}, nil, trustmanager.ErrKeyNotFound{KeyID: keyID}
}

// metaForRole is the agent's key metadata for a key serving role in gun.
func metaForRole(role data.RoleName, gun data.GUN) (agent.KeyMeta, error) {
	switch {
	case role == data.CanonicalRootRole:
		return agent.KeyMeta{Role: agent.RoleRoot, Name: "root"}, nil
	case role == data.CanonicalTargetsRole:
		return agent.KeyMeta{Role: agent.RoleTargets, Name: "targets", GUN: gun.String()}, nil
	case role == data.CanonicalSnapshotRole:
		return agent.KeyMeta{Role: agent.RoleSnapshot, Name: "snapshot", GUN: gun.String()}, nil
	case role == data.CanonicalTimestampRole:
		return agent.KeyMeta{}, errors.New("trust: the timestamp key belongs to the notary server; initialise the repository with a server-managed timestamp")
	case data.IsDelegation(role):
		name := strings.TrimPrefix(role.String(), data.CanonicalTargetsRole.String()+"/")
		if !agent.ValidName(name) {
			return agent.KeyMeta{}, fmt.Errorf("trust: cannot make a key for %s: a signer name must match ^[a-z0-9][a-z0-9_-]*$", role)
		}
		return agent.KeyMeta{Role: agent.RoleDelegation, Name: name}, nil
	}
	return agent.KeyMeta{}, fmt.Errorf("trust: %q is not a TUF role; use root, targets, snapshot or targets/NAME", role)
}

// roleName is the TUF role an agent key serves, as notary names it.
func roleName(k agent.KeyInfo) data.RoleName {
	switch k.Role {
	case agent.RoleRoot:
		return data.CanonicalRootRole
	case agent.RoleTargets:
		return data.CanonicalTargetsRole
	case agent.RoleSnapshot:
		return data.CanonicalSnapshotRole
	}
	return data.RoleName(data.CanonicalTargetsRole.String() + "/" + k.Name)
}

func agentAlgorithm(notaryAlg string) (string, error) {
	switch notaryAlg {
	case data.ECDSAKey, "":
		return agent.AlgorithmECDSA, nil
	case data.RSAKey:
		return agent.AlgorithmRSA, nil
	}
	return "", fmt.Errorf("trust: the agent makes ecdsa (P-256) and rsa keys, not %s", notaryAlg)
}

// publicKey is notary's public key for an agent key, checked to have the
// agent's ID: both must be the canonical ID, or signatures would name a key
// notary cannot find.
func publicKey(k agent.KeyInfo) (data.PublicKey, error) {
	var pub data.PublicKey
	switch k.Algorithm {
	case agent.AlgorithmECDSA:
		pub = data.NewECDSAPublicKey(k.PublicKey)
	case agent.AlgorithmRSA:
		pub = data.NewRSAPublicKey(k.PublicKey)
	default:
		return nil, fmt.Errorf("trust: key %s has algorithm %q, which notary cannot use", k.ID, k.Algorithm)
	}
	if pub.ID() != k.ID {
		return nil, fmt.Errorf("trust: the agent names key %s but notary computes ID %s for it; the agent and notary disagree on canonical key IDs", k.ID, pub.ID())
	}
	return pub, nil
}

// certPublicKey is notary's x509 public key for a root certificate.
func certPublicKey(der []byte) (data.PublicKey, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pub := utils.CertToKey(cert)
	if pub == nil {
		return nil, fmt.Errorf("trust: unsupported root certificate key %T", cert.PublicKey)
	}
	return pub, nil
}
