package tuf

import (
	"fmt"
	"strings"

	"github.com/trust-agent/trust-agent/agent"
)

// holder returns the key this agent holds that id names in Root r. A
// certificate is held when its public key is one of the agent's keys and
// it is signed by that key itself (as certify-root makes them, and notary
// made them before a key was loaded here): anyone can issue a certificate
// for a public key, with the validity of their choosing, and notary's
// clients take any leaf whose CN is the repository. A bare key is held
// when its ID is.
func holder(held agent.Held, r *rootDoc, id string) (agent.KeyInfo, bool) {
	if held == nil {
		return agent.KeyInfo{}, false
	}
	if strings.HasSuffix(r.keys[id].Type, "-x509") {
		cert, err := r.certificate(id)
		if err != nil {
			return agent.KeyInfo{}, false
		}
		if cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature) != nil {
			return agent.KeyInfo{}, false
		}
		return held.ByPublicKey(cert.PublicKey)
	}
	return held.ByID(id)
}

// reviewRoot decides whether signer may sign Root r for gun by itself. It
// returns why a person must confirm (nothing when the trust stays where it
// is) and the question to ask. Signed without a prompt only when: the root
// role's keys are root keys held here, the signing key among them; the
// targets role's keys are held here and bound to gun; snapshot keys are
// held here bound to gun or held by none (notary's server); timestamp keys
// are held by none (the server's). Anything else hands part of the
// repository to another key (a key generated elsewhere, another
// repository's key) or changes the root keys, as a rotation does.
func reviewRoot(signer agent.KeyInfo, gun string, md agent.Metadata, r *rootDoc, held agent.Held) (reasons []string, question string) {
	var q strings.Builder
	fmt.Fprintf(&q, "Sign Root metadata for %s?\nversion %d, expires %s\nsigning key: %s (%s, %s)\n",
		gun, md.Version, md.Expires.UTC().Format("2006-01-02 15:04:05 MST"), shortID(signer.ID), signer.Backend, signer.Name)
	signerInRoot := false
	for _, role := range []string{"root", "targets", "snapshot", "timestamp"} {
		rk := r.roles[role]
		fmt.Fprintf(&q, "%s (threshold %d of %d):\n", role, rk.Threshold, len(rk.KeyIDs))
		for _, id := range rk.KeyIDs {
			info, ok := holder(held, r, id)
			var h *agent.KeyInfo
			if ok {
				h = &info
			}
			switch {
			case h == nil && (role == "snapshot" || role == "timestamp"):
				fmt.Fprintf(&q, "  %s NOT held by this agent (taken to be notary's server key)\n", shortID(id))
			case h == nil:
				fmt.Fprintf(&q, "  %s NOT held by this agent\n", shortID(id))
			case h.ID == signer.ID:
				fmt.Fprintf(&q, "  %s held here (%s, %s): the signing key\n", shortID(id), h.Backend, h.Name)
			default:
				fmt.Fprintf(&q, "  %s held here (%s, %s)\n", shortID(id), h.Backend, h.Name)
			}
			switch why := rootKeyRule(role, id, h, gun); {
			case why != "":
				reasons = append(reasons, why)
			case role == "root" && h != nil && h.ID == signer.ID:
				signerInRoot = true
			}
		}
	}
	if !signerInRoot {
		reasons = append(reasons, fmt.Sprintf("the signing root key %s is not in the root role: the root keys change", shortID(signer.ID)))
	}
	if len(reasons) > 0 {
		q.WriteString("Because: " + strings.Join(reasons, "; ") + ".\n")
	}
	return reasons, q.String()
}

// rootKeyRule says why key id (held as h, or nil) in role needs a
// person's confirmation, or "" when it keeps the trust where it is.
func rootKeyRule(role, id string, h *agent.KeyInfo, gun string) string {
	sid := shortID(id)
	switch role {
	case "root":
		if h == nil {
			return "root key " + sid + " is not held by this agent"
		}
		if h.Role != agent.RoleRoot {
			return fmt.Sprintf("root role names %s, a %s key", sid, h.Role)
		}
	case "targets":
		if h == nil {
			return "targets key " + sid + " is not held by this agent"
		}
		if h.Role != agent.RoleTargets || h.GUN != gun {
			return fmt.Sprintf("targets role names %s, a %s key for %q", sid, h.Role, h.GUN)
		}
	case "snapshot":
		if h != nil && (h.Role != agent.RoleSnapshot || h.GUN != gun) {
			return fmt.Sprintf("snapshot role names %s, a %s key for %q", sid, h.Role, h.GUN)
		}
	case "timestamp":
		if h != nil {
			return fmt.Sprintf("timestamp role names %s, a %s key held here, not the server's", sid, h.Role)
		}
	}
	return ""
}
