package tuf

import (
	"crypto"
	"strings"
	"testing"

	"github.com/trust-agent/trust-agent/agent"
)

// heldMap is a Held over a fixed set of keys, by ID.
type heldMap map[string]agent.KeyInfo

func (h heldMap) ByID(id string) (agent.KeyInfo, bool) { k, ok := h[id]; return k, ok }

func (h heldMap) ByPublicKey(crypto.PublicKey) (agent.KeyInfo, bool) { return agent.KeyInfo{}, false }

// TestReviewRootIsAFunctionOfHeld: the same Root, reviewed against two
// views of the agent's keys, says who holds each key and asks for a person
// for what is not held here.
func TestReviewRootIsAFunctionOfHeld(t *testing.T) {
	md, doc, err := parseMetadata([]byte(rootJSON(t, gun)))
	if err != nil {
		t.Fatal(err)
	}
	r, err := parseRoot(doc)
	if err != nil {
		t.Fatal(err)
	}
	signer := agent.KeyInfo{ID: strings.Repeat("ab", 32), KeyMeta: agent.KeyMeta{Role: agent.RoleRoot, Name: "root"}, Backend: "pkcs11:token=a"}
	bare := r.roles["targets"].KeyIDs[0]

	why, q := reviewRoot(signer, gun, md, r, heldMap{})
	if !strings.Contains(q, shortID(bare)+" NOT held by this agent\n") || !strings.Contains(strings.Join(why, ";"), "targets key "+shortID(bare)+" is not held") {
		t.Fatalf("nothing held: reasons %q, question:\n%s", why, q)
	}

	held := heldMap{bare: {ID: bare, KeyMeta: agent.KeyMeta{Role: agent.RoleTargets, Name: "repo", GUN: gun}, Backend: "piv:serial=1"}}
	why, q = reviewRoot(signer, gun, md, r, held)
	if !strings.Contains(q, shortID(bare)+" held here (piv:serial=1, repo)\n") {
		t.Fatalf("held key not named with its backend and name:\n%s", q)
	}
	for _, w := range []string{"timestamp role names " + shortID(bare), "root key", "not in the root role"} {
		if !strings.Contains(strings.Join(why, ";"), w) {
			t.Errorf("reasons %q lack %q", why, w)
		}
	}
	if strings.Contains(strings.Join(why, ";"), "targets key "+shortID(bare)) {
		t.Errorf("a targets key held here for %s was given as a reason: %q", gun, why)
	}
}

// heldAll is a Held that holds every public key, as the one key info.
type heldAll agent.KeyInfo

func (h heldAll) ByID(string) (agent.KeyInfo, bool) { return agent.KeyInfo{}, false }

func (h heldAll) ByPublicKey(crypto.PublicKey) (agent.KeyInfo, bool) { return agent.KeyInfo(h), true }

// TestReviewRootNonRootKeyInRootRole (planted bug A18): a key held here
// for another role, under a certificate it signed itself, in the root role
// needs a person; the same key under a certificate another key issued is
// not taken as held at all (TestRootKeyUnderStrangersCertificate).
func TestReviewRootNonRootKeyInRootRole(t *testing.T) {
	md, doc, err := parseMetadata([]byte(rootJSON(t, gun)))
	if err != nil {
		t.Fatal(err)
	}
	r, err := parseRoot(doc)
	if err != nil {
		t.Fatal(err)
	}
	signer := agent.KeyInfo{ID: strings.Repeat("ab", 32), KeyMeta: agent.KeyMeta{Role: agent.RoleRoot, Name: "root"}}
	targets := heldAll{ID: strings.Repeat("cd", 32), KeyMeta: agent.KeyMeta{Role: agent.RoleTargets, Name: "repo", GUN: gun}}
	why, _ := reviewRoot(signer, gun, md, r, targets)
	if !strings.Contains(strings.Join(why, ";"), "a targets key") {
		t.Fatalf("a held targets key in the root role (self-signed certificate): reasons %q", why)
	}
}
