// Package trust is trust-agent's Notary glue, and the only package that
// imports notary. It reads Docker Content Trust data exactly as docker does
// (Inspect, InspectPretty, Verify) and, over the agent, signs it.
//
// # What
//
// Inspect and WriteJSON produce `docker trust inspect`'s JSON byte for
// byte; InspectPretty produces `docker trust inspect --pretty`. Verify
// resolves a tag to the digest its trust data signs, as docker did on pull
// before v29 dropped client-side enforcement: targets/releases first, then
// targets; a digest reference passes when a released tag signs it.
//
// # Calling it
//
// Every operation is F(ctx, FOptions): the options struct embeds Options
// (where trust data lives, how to reach the server) and carries the rest,
// the agent included (Sign with SignOptions, SignerAdd with
// SignerAddOptions, Rotate with RotateOptions, Revoke, SignerRemove and
// SignerRemoveKey with SignerRemoveOptions, SignerWitness with
// WitnessOptions, Verify, Inspect and InspectPretty, TrustedBy and
// CachedExpiry, which read only the cache and take no context). Helpers
// over values (CanonicalGUN, ParseKeyFile, WriteJSON, WritePretty, the
// attestation file format) and NewCryptoService, which notary's interfaces
// shape, keep plain arguments.
//
// # Signing over the agent
//
// CryptoService is notary's signed.CryptoService over an agent.Agent (the
// agent itself or a socket client): private keys never leave the hardware;
// notary's data.PrivateKey.Sign sends the canonical JSON it signs to the
// agent with the repository (GUN) and TUF role, and the agent's policy
// checks them. Notary does not tell a key which role it signs for: root,
// targets and snapshot keys serve one role each, and for delegation keys,
// which serve targets/NAME and targets/releases alike, the caller names the
// role (SetDelegationRole) and publishes one delegation role at a time.
// Root certificates come from Agent.CertifyRoot and repositories start with
// InitializeWithCertificate: notary's own GenerateCertificate would sign a
// blind digest through a crypto.Signer, which the agent refuses. AddKey is
// refused (no software keys), RemoveKey never deletes a hardware key, and a
// missing key is trustmanager.ErrKeyNotFound unwrapped, as notary tests it.
//
// # Keeping delegations signable
//
// A delegation's metadata counts only while signatures from keys its role
// lists meet the threshold; notary cannot publish a role that lost them.
// Sign re-signs every delegation it signs into, SignerRemove and
// SignerRemoveKey re-sign what they would break where the agent holds a
// key the role keeps (after a question naming the tags those keys will
// vouch for), Sign refuses broken metadata with ErrWitnessNeeded, and
// SignerWitness (notary's witness) repairs it. See witness.go.
//
// # Compatibility with docker
//
// Options defaults follow docker's: DOCKER_CONFIG (else ~/.docker), the
// TUF cache in DOCKER_CONFIG/trust/tuf/<GUN>/metadata shared with docker,
// the server from DOCKER_CONTENT_TRUST_SERVER, else https://notary.docker.io
// for Docker Hub, else https://<registry host>; TLS roots from
// DOCKER_CONFIG/tls/<server host:port>/*.crt; registry credentials from
// config.json (credential helpers included) sent to the server's token
// service with the scope repository:<GUN>:pull. Reference parsing follows
// distribution/reference v0.6 (docker 28), not the older copy notary pulls
// in. Error messages are docker's (see Error), after the "trust: " prefix.
// The tests compare every output with the real docker CLI on a repository
// made by docker and the notary CLI.
//
// # Differences, on purpose
//
// Docker skips TLS verification of the notary server when the registry is
// on a loopback address; this package always verifies it, and refuses
// plain HTTP for trust data and credentials, including a token realm.
// Put the CA at DOCKER_CONFIG/tls/<host:port>/ca.crt or pass TLSCACert.
// Nothing is staged on disk: the changelist is in memory.
//
// # Concurrency
//
// Functions are safe to call from multiple goroutines; each call opens its
// own notary repository. A CryptoService is safe for concurrent use, but
// its delegation role is one per service: use one service per publish. Calls that touch the same GUN share the on-disk
// cache, as two docker processes would.
//
// # Security
//
// Verify trusts what the cached root (trust on first use, as docker) and
// the server's signed metadata say; it never trusts a digest the metadata
// does not sign. Read-only operations hold no keys. Signing holds none
// either: a CryptoService has only handles that ask the agent.
package trust
