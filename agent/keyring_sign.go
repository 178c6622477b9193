package agent

// Signing TUF metadata: Sign checks the policy (policy.go) and signs in
// TUF's format (sign.go).

import (
	"context"
	"fmt"
)

// Sign checks the policy, signs, and records the request.
func (k *Keyring) Sign(ctx context.Context, req SignRequest) (Signature, error) {
	ev := k.event(ctx, "sign")
	ev.KeyID, ev.Role, ev.GUN = req.KeyID, req.Role, req.GUN
	sig, md, err := k.sign(req)
	if md.Type != "" {
		ev.Metadata = &md
	}
	if err := k.record(ev, err); err != nil {
		return Signature{}, err
	}
	return sig, nil
}

func (k *Keyring) sign(req SignRequest) (Signature, Metadata, error) {
	e, err := k.lookup(req.KeyID)
	if err != nil {
		return Signature{}, Metadata{}, err
	}
	md, root, err := checkPolicy(e.info.KeyMeta, req)
	if err != nil {
		return Signature{}, md, err
	}
	var why []string
	var question string
	if root != nil {
		why, question = k.reviewRoot(e, req.GUN, md, root)
	}
	if e.info.Confirm {
		why = append(why, fmt.Sprintf("key %s (%s) is marked to be confirmed for every use", shortID(e.info.ID), e.info.Name))
		if question == "" {
			question = fmt.Sprintf("Sign %s metadata version %d for %s (role %s), expiring %s?\nkey: %s held here (%s, %s)\n",
				md.Type, md.Version, req.GUN, req.Role, md.Expires.UTC().Format("2006-01-02 15:04:05 MST"), shortID(e.info.ID), e.info.Backend, e.info.Name)
		}
	}
	if k.storeLocked(e.store) {
		return Signature{}, md, fmt.Errorf("%w: %s needs its PIN; run `trust-agent unlock`", ErrLocked, e.store.Name())
	}
	if len(why) > 0 {
		if err := k.confirm(why, question); err != nil {
			return Signature{}, md, err
		}
		md.Confirmed = true
	}
	sig, method, err := signTUF(e.key, req.Data)
	if err != nil {
		return Signature{}, md, err
	}
	return Signature{KeyID: e.info.ID, Method: method, Signature: sig}, md, nil
}
