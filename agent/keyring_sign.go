package agent

// Signing TUF metadata: Sign hands the request to the registered "tuf"
// format (format/tuf: the policy, the Root review, TUF's signature
// encoding) through signFormat, the path every format shares.

import "context"

// Sign checks the TUF policy, signs, and records the request.
func (k *Keyring) Sign(ctx context.Context, req SignRequest) (Signature, error) {
	ev := k.event(ctx, "sign")
	ev.KeyID, ev.Role, ev.GUN = req.KeyID, req.Role, req.GUN
	sig, d, err := k.signFormat(TUFFormat, req.KeyID, PolicyRequest{Payload: req.Data, GUN: req.GUN, Role: req.Role})
	if d.Metadata != nil && d.Metadata.Type != "" {
		ev.Metadata = d.Metadata
	}
	if err := k.record(ev, err); err != nil {
		return Signature{}, err
	}
	return Signature{KeyID: sig.KeyID, Method: sig.Algorithm, Signature: sig.Signature}, nil
}
