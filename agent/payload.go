package agent

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"
)

// Payload formats. Each format (TUF, Notation, cosign) is a PayloadPolicy
// in its own package (format/tuf, format/notation, format/cosign) that
// registers itself with RegisterFormat; the agent knows nothing of their
// payloads. The agent keeps what every format shares: it finds the key,
// refuses a key not made for the format, asks the policy, refuses while
// the key's backend is locked, asks a person when the policy or the key
// says so, signs through the policy, and writes the audit line with what
// the policy saw. A key signs for a format only when its role is one of
// the format's roles, so a DCT key never becomes a cosign key by accident.

// TUFFormat is the format format/tuf registers. Sign (TUF metadata, with
// the repository and role it is for) signs through it; SignPayload does
// not accept it.
const TUFFormat = "tuf"

// PayloadRequest asks for a signature over a payload of a registered
// format other than TUF.
type PayloadRequest struct {
	KeyID   string `json:"key_id"`
	Format  string `json:"format"`  // a registered format: "notation", "cosign"
	Payload []byte `json:"payload"` // what the format signs, whole (the agent hashes it)
}

// PayloadSignature is a signature over a payload, encoded as its format
// wants it.
type PayloadSignature struct {
	KeyID     string `json:"key_id"`
	Algorithm string `json:"algorithm"` // the format's name for it, e.g. "ECDSA-SHA-256"
	Signature []byte `json:"sig"`
}

// PolicyRequest is what a format's policy decides on.
type PolicyRequest struct {
	// Key is the key asked to sign, one of the format's Roles.
	Key KeyInfo
	// Payload is what would be signed, whole. It may lie in a buffer the
	// socket server reuses once the agent's method returned: a policy
	// keeps nothing that aliases it (copy strings out of it; stop and wait
	// for any goroutine reading it before Check returns, or in Digest).
	Payload []byte
	// GUN and Role are what a TUF client says it signs (SignRequest's
	// fields: the repository, the TUF role); empty for other formats.
	GUN, Role string
	// Now is the agent's clock.
	Now time.Time
	// Held is a read-only view of the keys this agent holds, for a policy
	// that must say who holds the keys a payload names (a TUF Root). It
	// is never nil when the Keyring calls.
	Held Held
}

// Held is a read-only view of the keys an agent holds: one snapshot of
// its index, taken when first asked.
type Held interface {
	// ByID returns the key whose canonical key ID is id.
	ByID(id string) (KeyInfo, bool)
	// ByPublicKey returns the key whose public key equals pub.
	ByPublicKey(pub crypto.PublicKey) (KeyInfo, bool)
}

// Decision is a policy's answer about a payload, refused or not: what the
// audit line shows, and whether a person must say yes first.
type Decision struct {
	// Facts are what the audit line's "facts" show (artifact digest,
	// media type, reference: short strings, at most 16).
	Facts map[string]string
	// Metadata is TUF's structured record, the audit line's "metadata";
	// the agent sets Confirmed on it when a person said yes.
	Metadata *Metadata
	// Confirm are the reasons a person must confirm this signature (a Root
	// that hands trust away); empty when the policy needs nobody.
	Confirm []string
	// Question is what the person is asked when anyone must confirm (the
	// policy's reasons, or a key marked Confirm); empty asks about the key
	// and the Facts.
	Question string
	// Digest, when set, is the payload's digest, which a policy that is a
	// DigestSigner computed beside its check; the agent signs it with
	// SignDigest instead of hashing the payload again. A policy sets it
	// only when it said yes, and is done with the payload when Check
	// returns.
	Digest []byte
}

// DigestSigner is a PayloadPolicy that may hash a payload while Check
// parses it (two cores: the hash does not depend on the answer), and hands
// the digest over in Decision.Digest. SignDigest signs that digest
// exactly as Sign signs the payload it is the digest of.
type DigestSigner interface {
	SignDigest(signer crypto.Signer, digest []byte) (sig []byte, algorithm string, err error)
}

// PayloadPolicy is one format's policy: which key roles sign it, what a
// payload must be, and how the signature is made. Implementations must be
// safe for concurrent use.
type PayloadPolicy interface {
	// Roles are the key roles that sign this format.
	Roles() []Role
	// Check parses req.Payload and decides whether req.Key may sign it. It
	// returns what the audit line shows, refused or not, and an error that
	// says why not: the agent reports it as *DeniedError (one that is a
	// *DeniedError already is passed on as it is).
	Check(req PolicyRequest) (Decision, error)
	// Sign hashes payload and signs it with signer, encoded as the format
	// wants (raw r||s, DER, PSS), and names the algorithm. The signer's own
	// errors should come back unwrapped: the agent adds the key's location.
	Sign(signer crypto.Signer, payload []byte) (sig []byte, algorithm string, err error)
}

var (
	formatsMu sync.RWMutex
	formats   = map[string]PayloadPolicy{}
)

// RegisterFormat makes a format known to every agent in the process. It is
// called from the format package's init; a second registration of a name
// panics, as database/sql's Register does.
func RegisterFormat(name string, p PayloadPolicy) {
	formatsMu.Lock()
	defer formatsMu.Unlock()
	if _, dup := formats[name]; dup || p == nil {
		panic("agent: RegisterFormat called twice or with nil for " + name)
	}
	formats[name] = p
}

// Formats lists the registered formats, sorted.
func Formats() []string {
	formatsMu.RLock()
	defer formatsMu.RUnlock()
	var out []string
	for n := range formats {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func formatPolicy(name string) (PayloadPolicy, bool) {
	formatsMu.RLock()
	defer formatsMu.RUnlock()
	p, ok := formats[name]
	return p, ok
}

// maxPayloadFacts bounds what a format may put in an audit line.
const maxPayloadFacts = 16

// SignPayload checks the format's policy, signs, and records the request.
func (k *Keyring) SignPayload(ctx context.Context, req PayloadRequest) (PayloadSignature, error) {
	ev := k.event(ctx, "sign-payload")
	ev.KeyID, ev.Role = req.KeyID, req.Format
	var sig PayloadSignature
	var d Decision
	var err error
	if req.Format == TUFFormat {
		// TUF needs the repository and role the client signs for, and the
		// CLI signs it through Sign: one way in, one policy check.
		err = fmt.Errorf("%w: TUF metadata is signed with the sign request (message 0x02), which names its repository and role, not as a payload", ErrInvalidRequest)
	} else {
		sig, d, err = k.signFormat(req.Format, req.KeyID, PolicyRequest{Payload: req.Payload})
	}
	if len(d.Facts) > 0 {
		ev.Facts = d.Facts
	}
	if err := k.record(ev, err); err != nil {
		return PayloadSignature{}, err
	}
	return sig, nil
}

// signFormat is every format's signature: the key, its role, the format's
// policy, the lock, a person when one must confirm, the signature. It
// returns the policy's Decision, refused or not, for the audit line.
func (k *Keyring) signFormat(format, keyID string, req PolicyRequest) (PayloadSignature, Decision, error) {
	p, ok := formatPolicy(format)
	if !ok && format == TUFFormat {
		return PayloadSignature{}, Decision{}, fmt.Errorf("%w: this agent signs no TUF metadata: the format %q is not registered; the program serving the agent must import github.com/trust-agent/trust-agent/format/tuf", ErrInvalidRequest, TUFFormat)
	}
	if !ok {
		return PayloadSignature{}, Decision{}, fmt.Errorf("%w: unknown format %q; this agent signs %v", ErrInvalidRequest, format, Formats())
	}
	e, err := k.lookup(keyID)
	if err != nil {
		return PayloadSignature{}, Decision{}, err
	}
	if roles := p.Roles(); !slices.Contains(roles, e.info.Role) {
		return PayloadSignature{}, Decision{}, &DeniedError{Reason: fmt.Sprintf("key %s is a %s key; %s payloads are signed only by keys made for them (key generate NAME --role %s)", shortID(e.info.ID), e.info.Role, format, joinRoles(roles, "|"))}
	}
	req.Key, req.Now, req.Held = e.info, k.opts.Now(), &heldView{k: k}
	d, err := p.Check(req)
	if len(d.Facts) > maxPayloadFacts {
		d.Facts = nil
	}
	if err != nil {
		if de := (*DeniedError)(nil); !errors.As(err, &de) {
			err = &DeniedError{Reason: err.Error()}
		}
		return PayloadSignature{}, d, err
	}
	why := append(slices.Clip(d.Confirm), e.everyUse()...)
	if k.storeLocked(e.store) {
		return PayloadSignature{}, d, fmt.Errorf("%w: %s needs its PIN; run `trust-agent unlock`", ErrLocked, e.store.Name())
	}
	if len(why) > 0 {
		q := d.Question
		if q == "" {
			q = fmt.Sprintf("Sign a %s payload with key %s held here (%s, %s)?\n", format, shortID(e.info.ID), e.info.Backend, e.info.Name)
			for _, name := range sortedKeys(d.Facts) {
				q += fmt.Sprintf("%s: %s\n", name, d.Facts[name])
			}
		}
		if err := k.confirm(why, q); err != nil {
			return PayloadSignature{}, d, err
		}
		if d.Metadata != nil {
			d.Metadata.Confirmed = true
		}
	}
	var sig []byte
	var alg string
	if ds, ok := p.(DigestSigner); ok && d.Digest != nil {
		sig, alg, err = ds.SignDigest(e.key, d.Digest)
	} else {
		sig, alg, err = p.Sign(e.key, req.Payload)
	}
	if err != nil {
		return PayloadSignature{}, d, fmt.Errorf("agent: signing with %s: %w", e.key.Location, err)
	}
	return PayloadSignature{KeyID: e.info.ID, Algorithm: alg, Signature: sig}, d, nil
}

// heldView is the Held a policy sees: the index as it was when the policy
// first asked, so one review reads one consistent set of keys.
type heldView struct {
	k    *Keyring
	once sync.Once
	list []*entry
}

func (h *heldView) entries() []*entry {
	h.once.Do(func() {
		h.k.mu.RLock()
		h.list = slices.Clone(h.k.list)
		h.k.mu.RUnlock()
	})
	return h.list
}

func (h *heldView) ByID(id string) (KeyInfo, bool) {
	for _, e := range h.entries() {
		if e.info.ID == id {
			return e.info, true
		}
	}
	return KeyInfo{}, false
}

func (h *heldView) ByPublicKey(pub crypto.PublicKey) (KeyInfo, bool) {
	for _, e := range h.entries() {
		if publicKeysEqual(e.key.Public(), pub) {
			return e.info, true
		}
	}
	return KeyInfo{}, false
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
