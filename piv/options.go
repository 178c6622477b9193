package piv

import (
	"crypto"
	"fmt"
	"time"
)

// PINPolicy says when a key's slot asks for the PIN. The zero value means
// the Store's default (PINPolicyOnce).
type PINPolicy int

const (
	PINPolicyDefault PINPolicy = iota
	PINPolicyNever
	PINPolicyOnce   // once per card session (the Store logs in per operation)
	PINPolicyAlways // a VERIFY immediately before every signature
)

// TouchPolicy says when a key's slot waits for a touch of the card. The
// zero value means the Store's default for the role.
type TouchPolicy int

const (
	TouchPolicyDefault TouchPolicy = iota
	TouchPolicyNever
	TouchPolicyAlways
	TouchPolicyCached // one touch is good for 15 seconds
)

// defaultTouchNoticeDelay is how long a signature may run before OnTouch
// is called: a card answers at once unless it is waiting for a finger.
const defaultTouchNoticeDelay = 500 * time.Millisecond

// Options configure Open.
type Options struct {
	// Serial selects the card by its serial number; zero means the first
	// card found ("any").
	Serial uint32
	// PINPolicy for new keys; default PINPolicyOnce.
	PINPolicy PINPolicy
	// TouchPolicy for new non-root keys; default TouchPolicyNever (an
	// unattended CI signer cannot touch).
	TouchPolicy TouchPolicy
	// RootTouchPolicy for new root keys (slot 9c); default
	// TouchPolicyAlways, as a root key signs rarely and only with a
	// person present.
	RootTouchPolicy TouchPolicy
	// AllowImport lets Import put a software key on the card. Off by
	// default: such a key existed outside hardware and has no attestation.
	AllowImport bool
	// OnTouch, when set, is called with the slot (0x9c, 0x82, ...) when an
	// operation on a key whose touch policy is not "never" has not
	// finished after TouchNoticeDelay: the card is probably waiting for a
	// touch. It runs on its own goroutine and must not call the Store.
	OnTouch func(slot byte)
	// TouchNoticeDelay; default 500ms.
	TouchNoticeDelay time.Duration
}

// SetupOptions configure Setup.
type SetupOptions struct {
	// Serial selects the card; zero means the first card found.
	Serial uint32
	// OldPIN and OldPUK are the card's current PIN and PUK (on a new
	// YubiKey 123456 and 12345678: the caller must say so, Setup never
	// assumes it). NewPIN and NewPUK replace them: 6 to 8 characters.
	OldPIN, NewPIN, OldPUK, NewPUK string
	// ManagementKey is the card's current management key; nil means the
	// factory default (010203…08 three times), which is what a card that
	// was never set up has.
	ManagementKey []byte
}

// Attestation is what a verified attestation says about a slot's key.
type Attestation struct {
	Serial      uint32
	Slot        byte
	Version     string // firmware, "5.7.1"
	PINPolicy   PINPolicy
	TouchPolicy TouchPolicy
	// PublicKey is the attested key (*ecdsa.PublicKey, ...): compare it
	// with the key the attestation is meant to be about.
	PublicKey crypto.PublicKey
}

// String is "serial N, slot 82, pin once, touch never".
func (a *Attestation) String() string {
	return fmt.Sprintf("serial %d, slot %x, pin %s, touch %s", a.Serial, a.Slot, a.PINPolicy, a.TouchPolicy)
}

func (p PINPolicy) String() string {
	switch p {
	case PINPolicyNever:
		return "never"
	case PINPolicyOnce:
		return "once"
	case PINPolicyAlways:
		return "always"
	}
	return "default"
}

func (p TouchPolicy) String() string {
	switch p {
	case TouchPolicyNever:
		return "never"
	case TouchPolicyAlways:
		return "always"
	case TouchPolicyCached:
		return "cached"
	}
	return "default"
}
