// Package tuf is the agent's policy for Docker Content Trust: TUF metadata
// signed for a notary repository, with keys made for one of DCT's roles.
//
// # What
//
// Importing the package (for its side effect, as cmd/trust-agent does in
// formats.go) registers the format "tuf" (agent.TUFFormat) with
// agent.RegisterFormat. Agent.Sign (wire message 0x02) then signs through
// it: the canonical JSON of a TUF "signed" object, for the repository and
// role the request names, with a root, targets, snapshot or delegation
// key. Agent.SignPayload does not accept "tuf": a TUF payload needs its
// repository and role.
//
// policy.go reads the payload (canonical TUF metadata as notary's encoder
// writes it, objects with exactly notary's fields) and checks it against
// the key's role and repository binding; root.go reads a Root's keys and
// roles; review.go decides, from the agent's Held view, whether a Root
// keeps the repository's trust with keys held here or needs a person;
// sign.go signs as notary verifies (ECDSA as raw r||s at the curve's
// width over SHA-256, RSA as PSS with a salt as long as the hash).
//
// # Why
//
// The agent is not a signing oracle: a key signs only the metadata of the
// role it was made for, for the repository it is bound to, and never
// Timestamp metadata (notary's server holds that key). A Root hands the
// repository to the keys it names, so its signature waits for a person
// whenever any of them is not a key this agent holds for that purpose.
//
// # Security
//
// The audit line records what the policy read (agent.Metadata: type,
// version, expiry, target names, a Root's roles, whether a person
// confirmed). SECURITY.md lists the attacks and the tests (policy, Root
// review, planted bugs A1-A18 and A31 in scripts/mutants.sh).
//
// # Concurrency
//
// Policy has no state; it is safe for concurrent use.
package tuf
