package agent

import (
	"context"
	"crypto"
	"slices"
	"time"
)

// Agent is what a client asks of trust-agent. The agent in this package
// implements it over hardware KeyStores; socket.Client implements it over a
// connection, so code above the socket cannot tell the two apart.
//
// All methods are safe to call from multiple goroutines.
type Agent interface {
	// List returns every key the agent holds, across all backends.
	List(ctx context.Context) ([]KeyInfo, error)
	// Sign signs TUF metadata (or nothing: see Policy) with the key
	// req.KeyID, through the format registered as TUFFormat (format/tuf).
	// The signature is in TUF's format: ECDSA raw r||s over SHA-256 of
	// req.Data, RSA-PSS with SHA-256 and a 32-byte salt.
	Sign(ctx context.Context, req SignRequest) (Signature, error)
	// CertifyRoot makes (or returns the stored) self-signed X.509
	// certificate for a root key and a repository, as notary's root.json
	// carries root keys: subject CN = the repository name. The agent builds
	// the certificate itself, so a root key never signs a digest it cannot see.
	CertifyRoot(ctx context.Context, req CertifyRequest) ([]byte, error)
	// Generate makes a new key on hardware.
	Generate(ctx context.Context, req GenerateRequest) (KeyInfo, error)
	// Import moves a software private key into hardware as a sensitive,
	// non-extractable object. The caller forgets its copy.
	Import(ctx context.Context, req ImportRequest) (KeyInfo, error)
	// Lock logs every backend out and forgets every PIN.
	Lock(ctx context.Context) error
	// Unlock logs one locked backend in. With req.Backend empty it means the
	// only locked backend; more than one is an error naming them.
	Unlock(ctx context.Context, req UnlockRequest) error
	// Status reports the backends, their keys and counters.
	Status(ctx context.Context) (Status, error)
	// Attest returns the attestation chain of a key made on hardware that
	// can prove it (a PIV card): X.509 certificates in DER, leaf first (the
	// certificate the card made for the key's slot, then the card's own
	// attestation certificate, which the card's maker signs). It needs no
	// PIN. A key on a backend without attestation is refused with
	// ErrInvalidRequest. The agent does not judge the chain: verifying it
	// against the maker's roots is the caller's business, since only the
	// caller knows which roots it trusts.
	Attest(ctx context.Context, req AttestRequest) ([][]byte, error)
	// Delete removes a key from hardware (req.Backend's copy, or every
	// copy). It cannot be undone, so a person confirms it through the
	// agent's askpass program; a backend that cannot delete keys (a PIV
	// card) refuses with ErrInvalidRequest.
	Delete(ctx context.Context, req DeleteRequest) error
	// SignPayload signs a payload of another format than TUF (Notation,
	// cosign) with a key made for that format, after the format's
	// PayloadPolicy has parsed and accepted it.
	SignPayload(ctx context.Context, req PayloadRequest) (PayloadSignature, error)
	// CertifyKey makes a self-signed code-signing certificate for a
	// format key (notation, cosign) inside the agent, or stores a chain a
	// CA issued for it, on the hardware beside the key, and returns the
	// chain (DER, leaf first). KeyInfo.Chain carries it from then on.
	CertifyKey(ctx context.Context, req CertifyKeyRequest) ([][]byte, error)
}

// DeleteRequest asks to remove a key from hardware.
type DeleteRequest struct {
	KeyID string `json:"key_id"`
	// Backend names the one copy to remove when the key is on several
	// backends; empty removes every copy.
	Backend string `json:"backend,omitempty"`
}

// Role is the role a key serves: one of TUF's (below), or one a format
// registers (RegisterFormat: a format's Roles()).
type Role string

// TUF's key roles. The agent knows them itself: lock, custody and key
// rotation treat root keys apart, and targets and snapshot keys are bound
// to one repository.
const (
	RoleRoot       Role = "root"
	RoleTargets    Role = "targets"
	RoleSnapshot   Role = "snapshot"
	RoleDelegation Role = "delegation"
)

// The roles of the bundled Notation and cosign formats (format/notation,
// format/cosign), named here for the code that drives them (the plugins,
// migrate). The agent treats them as any format's role: they are valid
// because those formats register them, not because they are listed here.
// A key of a format role signs only that format's payloads, never TUF
// metadata, and TUF keys never sign for a format: a key is made for one.
const (
	RoleNotation Role = "notation"
	RoleCosign   Role = "cosign"
)

// Valid reports whether r is a TUF role or the role of a registered format.
func (r Role) Valid() bool { return r.tuf() || r.ForFormat() }

func (r Role) tuf() bool {
	switch r {
	case RoleRoot, RoleTargets, RoleSnapshot, RoleDelegation:
		return true
	}
	return false
}

// ForFormat reports whether r is the role of a registered format other
// than TUF: its keys may be bound to one repository or to none, and may
// carry a signing certificate chain (key certify).
func (r Role) ForFormat() bool {
	if r == "" || r.tuf() {
		return false
	}
	formatsMu.RLock()
	defer formatsMu.RUnlock()
	for _, p := range formats {
		for _, fr := range p.Roles() {
			if fr == r {
				return true
			}
		}
	}
	return false
}

// Roles lists the roles a key can be made for in this binary: TUF's, then
// the registered formats' roles, sorted.
func Roles() []Role {
	out := []Role{RoleRoot, RoleTargets, RoleSnapshot, RoleDelegation}
	formatsMu.RLock()
	defer formatsMu.RUnlock()
	var more []Role
	for _, p := range formats {
		for _, r := range p.Roles() {
			if !r.tuf() && !slices.Contains(more, r) {
				more = append(more, r)
			}
		}
	}
	slices.Sort(more)
	return append(out, more...)
}

// Algorithm names follow notary's key types.
const (
	AlgorithmECDSA = "ecdsa"
	AlgorithmRSA   = "rsa"
)

// KeyMeta is what the token alone must say about a key: backends store it
// with the key (a PKCS#11 label, a PIV certificate subject), never on disk.
type KeyMeta struct {
	Role Role   `json:"role"`
	Name string `json:"name,omitempty"` // signer name for delegations, else a label
	GUN  string `json:"gun,omitempty"`  // repository the key is bound to; empty for root and delegation keys
	// Confirm marks a key that signs only after a person confirms each use
	// through the agent's askpass program (as ssh-add -c). It is stored
	// with the key on the token, so it cannot be dropped by a client.
	Confirm bool `json:"confirm,omitempty"`
}

// KeyInfo describes a key. It carries no private material.
type KeyInfo struct {
	ID string `json:"id"` // notary's canonical key ID (hex SHA-256 of the canonical public key)
	KeyMeta
	Algorithm string `json:"algorithm"`       // AlgorithmECDSA or AlgorithmRSA
	PublicKey []byte `json:"public_key"`      // PKIX DER
	Location  string `json:"location"`        // where the key lives, e.g. a PKCS#11 URI with id=
	Backend   string `json:"backend"`         // the backend's name, as in Status
	Certs     []Cert `json:"certs,omitempty"` // root certificates stored beside the key
	// Abilities are those of the key's backend (attestable, touch, ...).
	Abilities Abilities `json:"abilities,omitzero"`
	// Chain is a format key's signing certificate chain, DER, leaf first,
	// as CertifyKey stored it beside the key; empty until then.
	Chain [][]byte `json:"chain,omitempty"`
}

// Cert is a root certificate stored beside its key, one per repository.
type Cert struct {
	GUN string `json:"gun"`
	DER []byte `json:"der"`
}

// SignRequest asks for one TUF signature.
type SignRequest struct {
	KeyID string `json:"key_id"`
	// GUN and Role say what the client believes it signs (e.g.
	// "docker.io/library/alpine", "targets/releases"). The policy checks them
	// against the key's binding and against what Data shows.
	GUN  string `json:"gun"`
	Role string `json:"role"`
	// Data is the canonical JSON of the metadata's "signed" object: exactly
	// the bytes notary signs. The socket server hands it over in a buffer
	// it reuses once Sign returned: nothing may keep it, or a slice or an
	// unsafe string of it, after that.
	Data []byte `json:"data"`
}

// Signature is a TUF signature.
type Signature struct {
	KeyID     string `json:"key_id"`
	Method    string `json:"method"` // notary's signature method: "ecdsa" or "rsapss"
	Signature []byte `json:"sig"`
}

// CertifyRequest asks for a root certificate.
type CertifyRequest struct {
	KeyID     string    `json:"key_id"`
	GUN       string    `json:"gun"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
}

// GenerateRequest asks for a new key.
type GenerateRequest struct {
	KeyMeta
	Algorithm string `json:"algorithm"` // default AlgorithmECDSA (P-256)
	Bits      int    `json:"bits"`      // RSA only: 3072 (default) or 4096
	Backend   string `json:"backend"`   // which backend; empty means the first unlocked one
	// Copies names more backends that get the same key (root custody):
	// the key is then made in the agent's memory, written into Backend
	// and each of these as a non-extractable object, and wiped.
	Copies []string `json:"copies,omitempty"`
	// Policy asks for PIN and touch policies where the backend has them
	// (PIV); a backend without them refuses a non-empty Policy.
	Policy KeyPolicy `json:"policy,omitzero"`
}

// KeyPolicy is when a key asks for its PIN and for a touch. Empty fields
// mean the backend's default.
type KeyPolicy struct {
	PIN   string `json:"pin,omitempty"`   // "once" or "always"
	Touch string `json:"touch,omitempty"` // "never", "cached" or "always"
}

// Valid reports whether p names known policies.
func (p KeyPolicy) Valid() bool {
	switch p.PIN {
	case "", "once", "always":
	default:
		return false
	}
	switch p.Touch {
	case "", "never", "cached", "always":
	default:
		return false
	}
	return true
}

// PolicyGenerator is a KeyStore whose keys carry PIN and touch policies
// chosen when they are made (a PIV card).
type PolicyGenerator interface {
	GenerateWithPolicy(meta KeyMeta, algorithm string, bits int, policy KeyPolicy) (Key, error)
}

// Attester is a KeyStore that can prove a key was made inside it (a PIV
// card's attestation). Named AttestationChain, not Attest, so a backend
// may keep an Attest method of its own shape.
type Attester interface {
	// AttestationChain returns the attestation of the key with handle:
	// DER certificates, leaf first, as Agent.Attest describes.
	AttestationChain(handle []byte) ([][]byte, error)
}

// AttestRequest asks for a key's attestation chain.
type AttestRequest struct {
	KeyID string `json:"key_id"`
}

// ImportRequest carries a private key to move into hardware.
type ImportRequest struct {
	KeyMeta
	PKCS8   []byte `json:"pkcs8"` // PKCS#8 DER, unencrypted: the client decrypted it
	Backend string `json:"backend"`
}

// UnlockRequest carries a PIN.
type UnlockRequest struct {
	Backend string `json:"backend"`
	PIN     []byte `json:"pin"`
}

// Status is a snapshot of the agent.
type Status struct {
	PID        int             `json:"pid"`
	Started    time.Time       `json:"started"`
	Locked     bool            `json:"locked"` // true when any backend is locked
	Signatures uint64          `json:"signatures"`
	Refusals   uint64          `json:"refusals"`
	LockAt     time.Time       `json:"lock_at,omitzero"` // when --lifetime locks the agent
	Backends   []BackendStatus `json:"backends"`
	Metrics    *Metrics        `json:"metrics,omitempty"`
	Audit      *AuditHead      `json:"audit,omitempty"` // the audit log's last line, when the Auditor says
}

// BackendStatus describes one token or card.
type BackendStatus struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"` // "pkcs11" or "piv"
	Locked bool   `json:"locked"`
	Keys   int    `json:"keys"`
	Error  string `json:"error,omitempty"` // why the backend is unavailable, if it is
	// Abilities say what the backend can do beyond signing: decide from
	// them, never from Name or Kind.
	Abilities Abilities `json:"abilities,omitzero"`
}

// KeyStore is a hardware backend: a PKCS#11 token or a PIV card. It hands
// out keys as crypto.Signers; the agent never sees a module, session or slot.
//
// Implementations must be safe for concurrent use.
type KeyStore interface {
	// Name identifies the backend (a PKCS#11 URI without secrets, "piv:serial=N").
	Name() string
	// Kind is "pkcs11" or "piv".
	Kind() string
	// Keys lists the keys on the backend. It works while locked where the
	// hardware allows reading public objects.
	Keys() ([]Key, error)
	// Generate makes a key on the hardware.
	Generate(meta KeyMeta, algorithm string, bits int) (Key, error)
	// Import stores priv (*ecdsa.PrivateKey or *rsa.PrivateKey) as a
	// sensitive, non-extractable object.
	Import(meta KeyMeta, priv crypto.Signer) (Key, error)
	// StoreCertificate keeps a root certificate beside key id.
	StoreCertificate(id []byte, gun string, der []byte) error
	// Login logs in with pin. A wrong PIN returns *PINError.
	Login(pin []byte) error
	// Logout logs out and forgets the PIN.
	Logout() error
	// Locked reports whether signing needs Login first.
	Locked() bool
	Close() error
}

// Key is a key on a backend.
type Key struct {
	// Signer signs digests as crypto.Signer does: ECDSA in ASN.1 DER,
	// RSA PKCS#1 v1.5 or PSS according to opts.
	crypto.Signer
	// Handle is the backend's own identifier for the key (a CKA_ID, a PIV
	// slot); opaque to the agent, passed back to StoreCertificate.
	Handle   []byte
	Meta     KeyMeta
	Location string
	Certs    []Cert
}

// RefusalRecorder is an Agent that can record a request refused before it
// reached one of the Agent's methods (a body that did not decode, a frame
// that could not be read): every request that reaches the agent gets an
// audit line, those included. package socket calls it when the Agent it
// serves implements it.
type RefusalRecorder interface {
	RecordRefused(ctx context.Context, op string, err error)
}
