// Package agent is trust-agent's core: a registry of hardware-held keys
// that signs payloads (Docker Content Trust's TUF metadata, Notation and
// cosign payloads) under each format's policy, locks and unlocks its
// backends, asks a person where a policy or a key wants it, and writes an
// audit line for every request.
//
// # What
//
// Agent is the one interface on both sides of the socket: Keyring
// implements it over KeyStores (PKCS#11 tokens, PIV cards), and
// socket.Client implements it over a connection. A KeyStore hands out keys
// as crypto.Signers plus the metadata (role, name, repository) that it keeps
// on the hardware itself, so a restarted agent knows every key from the
// token alone. Backends opt into more by implementing small interfaces:
// PolicyGenerator (PIN and touch policies at generation), Attester
// (Attest: the hardware's proof that it made a key, passed on unverified)
// and Deleter, and say what they can do as data (AbilityReporter:
// Abilities travel in Status and every KeyInfo, so no client decides from
// a backend's name). Backends are opened by URI scheme through package
// agent/backend; every one passes the suite in agent/agenttest. Formats
// are PayloadPolicies in their own packages (format/tuf, format/notation,
// format/cosign) registered with RegisterFormat; Sign goes to the one
// registered as TUFFormat, SignPayload to the others. See docs/DESIGN.md,
// "Adding a format, adding a backend". This package imports no backend,
// no format and no notary code.
//
// # Policy
//
// The agent is not a signing oracle: it signs nothing a registered format
// has not parsed and accepted, and only with a key made for that format.
// Sign, through format/tuf, accepts only canonical TUF metadata (compact
// JSON with sorted keys, as notary's encoder writes it) whose type fits
// the key's role: Targets for repository and delegation
// keys, Snapshot for snapshot keys, Root for root keys, and then only when
// every root certificate in it names the repository being signed. A
// repository or snapshot key signs only for the repository it is bound to.
// Root keys never sign a bare digest: CertifyRoot builds the self-signed
// certificate inside the agent. Timestamp metadata is never signed here:
// the Notary server holds that key.
//
// # Concurrency
//
// All Keyring methods are safe for concurrent use. The key index is behind
// a read-write lock; signatures run in parallel and backends serialise per
// device as they must.
//
// # Security
//
// Lock logs every backend out and the backend forgets its PIN; a Lifetime
// locks the agent that long after each unlock. Every request, served or
// refused, is written to the Auditor before the reply, and a request whose
// audit line cannot be written fails.
package agent
