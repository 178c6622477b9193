// Package pkcs11 is trust-agent's PKCS#11 backend: a token (a hardware
// security module, a smart card through OpenSC, SoftHSM for tests) as an
// agent.KeyStore whose keys are crypto.Signers.
//
// # What
//
// Open takes an RFC 7512 URI naming the module by absolute path and the
// token by label, serial, manufacturer or model (never by slot id, which
// changes when tokens are initialised or plugged in):
//
//	pkcs11:token=dct?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/user/1000/dct-pin
//
// Keys are made on the token (Generate) or moved there (Import) as
// private, sensitive, non-extractable objects with a public key object
// beside them. Every object trust-agent makes carries CKA_LABEL =
// agent.KeyMeta.Label() ("dct:ROLE:NAME:GUN") and a random 16-byte CKA_ID
// shared by the private key, the public key and the key's root
// certificates (CKA_LABEL = the repository). So the token alone says what
// each key is for: nothing is kept on disk. After a restart Keys lists the
// keys from their public objects before any PIN is given, for display;
// once logged in it reads them from the private objects (see Security).
//
// Signatures follow crypto.Signer: ECDSA (CKM_ECDSA, converted from raw
// r||s to ASN.1 DER), RSA-PSS (CKM_RSA_PKCS_PSS, salt = hash length) and
// RSA PKCS #1 v1.5 (CKM_RSA_PKCS with the DigestInfo prefix).
//
// # Concurrency
//
// All methods of Store and of its signers are safe for concurrent use,
// except Close, which waits for operations in flight and must be called
// once the store is no longer used. Each module is loaded and initialized
// once per process, shared by every Store (see internal/module), and
// finalized when the last Store closes. Each Store keeps a small pool of
// sessions (at most 4, fewer if the token allows fewer): a signature takes
// one, so up to 4 signatures run at once; more wait for a free session.
//
// # When the token goes away
//
// Errors that mean the token is gone or unreachable (CKR_DEVICE_REMOVED,
// CKR_TOKEN_NOT_PRESENT, CKR_DEVICE_ERROR, CKR_SESSION_HANDLE_INVALID,
// CKR_SESSION_CLOSED, ...) wrap agent.ErrDeviceUnavailable, and the pool
// drops the session they came from. When the token invalidated our
// sessions (removed and re-inserted: CKR_SESSION_HANDLE_INVALID,
// CKR_DEVICE_REMOVED, CKR_TOKEN_NOT_PRESENT, ...), the next operation,
// Locked, Login or Logout finds the token again by label and serial (its
// slot id may have changed) and reopens the session that holds the login,
// under the store's write lock. The login itself went with the old
// sessions and the Store never kept the PIN, so it does not log in again
// behind the user's back: the store is locked, and the user unlocks again.
//
// # Security
//
// The PIN comes only from Login or a pin-source file at Open (refused
// unless it is the user's own, or root's, and chmod 600), never from
// the URI (pin-value is refused) or the environment. The Store does not
// keep it after logging in: the bytes read from pin-source are cleared,
// though miekg/pkcs11 takes the PIN as a Go string, a copy we cannot wipe.
// Login state is the process's, shared by every session and every Store
// on the token (PKCS#11 semantics): Logout on one Store locks them all,
// and Locked asks the token rather than trusting a flag of ours. Signing while logged out fails with agent.ErrLocked before
// the token is asked. Modules are loaded by absolute path only.
//
// Login is per application, so any other program that can open the token
// may create and destroy public objects without the PIN; only private
// objects need it. Hence: public key objects are CKA_MODIFIABLE false (no
// relabelling in place); root certificates are stored CKA_PRIVATE true and
// CKA_MODIFIABLE false; and once logged in Keys takes each key's role,
// name and repository from its private key object (CKA_PRIVATE true),
// leaves out (with a warning in the store's log, see SetLogger) a key
// whose public object carries another label or another key, and lists
// only certificates for the key's own public key. The listing while locked
// is the public objects' word and is for display; a signer from it checks
// its label and key against the private object before its first
// signature, and the agent lists the keys again on unlock.
//
// Built without cgo, Open fails with an error saying so.
package pkcs11
