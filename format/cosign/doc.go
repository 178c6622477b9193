// Package cosign is the agent's policy for cosign (Sigstore) signatures:
// it signs only cosign's simple-signing payload, with keys made for cosign.
//
// # What
//
// Importing the package (for its side effect, as cmd/trust-agent does in
// formats.go) registers the format "cosign" with agent.RegisterFormat.
// Agent.SignPayload with Format "cosign" then accepts exactly one kind of
// payload, the JSON cosign signs for a container image:
//
//	{"critical":{"identity":{"docker-reference":"registry.example.com/team/app"},
//	             "image":{"docker-manifest-digest":"sha256:..."},
//	             "type":"cosign container image signature"},
//	 "optional":{...} or null}
//
// and signs it as cosign verifies with `cosign verify --key`: SHA-256 (SHA-384
// for a P-384 key), ECDSA in ASN.1 DER, RSA as PKCS #1 v1.5 (sigstore's
// LoadVerifier for an RSA key verifies PKCS #1 v1.5, not PSS).
//
// # Why
//
// The agent never signs bytes it cannot read. A cosign key that would sign
// any message would sign a TUF root or a Notary payload just as well; this
// policy narrows it to "this image digest is this repository's", which is
// what the audit line records (facts "reference" and "digest").
//
// # Security
//
// The payload is parsed strictly: one JSON object, no duplicate keys at any
// depth (two parsers must never see two different references), no unknown
// fields in "critical" or at the top level, the type exactly cosign's, the
// digest a sha256 digest in lower-case hex. "optional" is free-form (cosign
// puts annotations there) and not shown to the policy. A key bound to a
// repository (KeyMeta.GUN, `key generate --role cosign --repo GUN`) signs
// only references to that repository, both sides normalised as docker does
// (alpine and index.docker.io/library/alpine are docker.io/library/alpine).
//
// # Concurrency
//
// Policy has no state; it is safe for concurrent use.
package cosign
