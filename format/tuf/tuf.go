package tuf

import (
	"crypto"
	"crypto/sha256"
	"fmt"

	"github.com/trust-agent/trust-agent/agent"
)

func init() { agent.RegisterFormat(agent.TUFFormat, Policy{}) }

// Policy is the TUF PayloadPolicy: Keyring.Sign (wire message 0x02) signs
// through it. The zero value is ready to use.
type Policy struct{}

var (
	_ agent.PayloadPolicy = Policy{}
	_ agent.DigestSigner  = Policy{}
)

// Roles are the DCT key roles. Timestamp is not among them: notary's
// server holds that key.
func (Policy) Roles() []agent.Role {
	return []agent.Role{agent.RoleRoot, agent.RoleTargets, agent.RoleSnapshot, agent.RoleDelegation}
}

// Check decides whether req.Key may sign req.Payload, canonical TUF
// metadata, for the repository req.GUN and role req.Role (policy.go); for
// a Root, it also reviews who holds the keys the Root names (review.go)
// and asks for a person when the trust moves. The Decision carries the
// metadata for the audit line, refused or not.
//
// A payload of concurrentDigestMin bytes or more is hashed while a second
// goroutine checks it (digest.go): the Decision's Digest, set only when
// the answer is yes, hands the agent the SHA-256 that SignDigest signs.
func (Policy) Check(req agent.PolicyRequest) (agent.Decision, error) {
	var md agent.Metadata
	var root *rootDoc
	check := func() (err error) {
		md, root, err = checkPolicy(req.Key.KeyMeta, agent.SignRequest{KeyID: req.Key.ID, GUN: req.GUN, Role: req.Role, Data: req.Payload})
		return err
	}
	var digest []byte
	var err error
	if len(req.Payload) >= concurrentDigestMin {
		digest, err = checkBesideHash(req.Payload, check)
	} else {
		err = check()
	}
	d := agent.Decision{Metadata: &md}
	if err != nil {
		return d, err
	}
	d.Digest = digest // nil for a small payload: the agent hashes it
	if root != nil {
		d.Confirm, d.Question = reviewRoot(req.Key, req.GUN, md, root, req.Held)
		return d, nil
	}
	// Asked only when the key is marked to be confirmed for every use.
	d.Question = fmt.Sprintf("Sign %s metadata version %d for %s (role %s), expiring %s?\nkey: %s held here (%s, %s)\n",
		md.Type, md.Version, req.GUN, req.Role, md.Expires.UTC().Format("2006-01-02 15:04:05 MST"), shortID(req.Key.ID), req.Key.Backend, req.Key.Name)
	return d, nil
}

// Sign signs payload as TUF wants it (sign.go).
func (Policy) Sign(signer crypto.Signer, payload []byte) ([]byte, string, error) {
	return signTUF(signer, payload)
}

// SignDigest signs digest, the SHA-256 of a payload Check accepted, as
// Sign signs the payload (sign.go).
func (Policy) SignDigest(signer crypto.Signer, digest []byte) ([]byte, string, error) {
	if len(digest) != sha256.Size {
		return nil, "", fmt.Errorf("tuf: a digest of %d bytes is no SHA-256; sign the payload instead", len(digest))
	}
	return signTUFDigest(signer, digest)
}

// shortID names a key ID in messages as the agent does: its first 12 hex
// digits and an ellipsis.
func shortID(id string) string {
	if len(id) > 12 {
		return id[:12] + "…"
	}
	return id
}
