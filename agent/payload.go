package agent

import (
	"context"
	"crypto"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Formats other than TUF. Each is a PayloadPolicy in its own package
// (format/notation, format/cosign) that registers itself with
// RegisterFormat; the agent knows nothing of their payloads. A key signs
// for a format only when its role is the format's role, so a DCT key never
// becomes a cosign key by accident.

// PayloadRequest asks for a signature over a payload of a registered
// format.
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

// PayloadPolicy is one format's policy: which key role signs it, what a
// payload must be, and how the signature is made. Implementations must be
// safe for concurrent use.
type PayloadPolicy interface {
	// Role is the key role that signs this format.
	Role() Role
	// Check parses payload and decides whether key may sign it at now. It
	// returns what the audit line shows (artifact digest, media type,
	// reference: short strings), or an error that says why not (the agent
	// reports it as *DeniedError).
	Check(key KeyInfo, payload []byte, now time.Time) (facts map[string]string, err error)
	// Sign hashes payload and signs it with signer, encoded as the format
	// wants (raw r||s, DER, PSS), and names the algorithm.
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
	sig, facts, err := k.signPayload(req)
	if len(facts) > 0 {
		ev.Facts = facts
	}
	if err := k.record(ev, err); err != nil {
		return PayloadSignature{}, err
	}
	return sig, nil
}

func (k *Keyring) signPayload(req PayloadRequest) (PayloadSignature, map[string]string, error) {
	p, ok := formatPolicy(req.Format)
	if !ok {
		return PayloadSignature{}, nil, fmt.Errorf("%w: unknown format %q; this agent signs %v", ErrInvalidRequest, req.Format, Formats())
	}
	e, err := k.lookup(req.KeyID)
	if err != nil {
		return PayloadSignature{}, nil, err
	}
	if e.info.Role != p.Role() {
		return PayloadSignature{}, nil, &DeniedError{Reason: fmt.Sprintf("key %s is a %s key; %s payloads are signed only by keys made for them (key generate NAME --role %s)", shortID(e.info.ID), e.info.Role, req.Format, p.Role())}
	}
	facts, err := p.Check(e.info, req.Payload, k.opts.Now())
	if len(facts) > maxPayloadFacts {
		facts = nil
	}
	if err != nil {
		return PayloadSignature{}, facts, &DeniedError{Reason: err.Error()}
	}
	if k.storeLocked(e.store) {
		return PayloadSignature{}, facts, fmt.Errorf("%w: %s needs its PIN; run `trust-agent unlock`", ErrLocked, e.store.Name())
	}
	if e.info.Confirm {
		q := fmt.Sprintf("Sign a %s payload with key %s held here (%s, %s)?\n", req.Format, shortID(e.info.ID), e.info.Backend, e.info.Name)
		for _, name := range sortedKeys(facts) {
			q += fmt.Sprintf("%s: %s\n", name, facts[name])
		}
		if err := k.confirm([]string{fmt.Sprintf("key %s (%s) is marked to be confirmed for every use", shortID(e.info.ID), e.info.Name)}, q); err != nil {
			return PayloadSignature{}, facts, err
		}
	}
	sig, alg, err := p.Sign(e.key, req.Payload)
	if err != nil {
		return PayloadSignature{}, facts, fmt.Errorf("agent: signing with %s: %w", e.key.Location, err)
	}
	return PayloadSignature{KeyID: e.info.ID, Algorithm: alg, Signature: sig}, facts, nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
