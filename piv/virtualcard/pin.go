package virtualcard

import (
	"bytes"
	"crypto/subtle"
)

// Factory values of a YubiKey's PIV applet.
const (
	DefaultPIN     = "123456"
	DefaultPUK     = "12345678"
	defaultRetries = 3
)

// Key references for VERIFY, CHANGE REFERENCE DATA and RESET RETRY
// COUNTER (SP 800-73-4 part 2 table 4).
const (
	refPIN = 0x80
	refPUK = 0x81
)

// PIN and PUK lengths a YubiKey accepts for new values (before padding).
const (
	minPINLen = 6
	pinBlock  = 8
)

// pad8 pads a PIN to the 8-byte block with 0xFF, as SP 800-73-4 requires.
func pad8(pin string) []byte {
	b := bytes.Repeat([]byte{0xff}, pinBlock)
	copy(b, pin)
	return b
}

// validNewPIN reports whether an 8-byte block is a PIN or PUK the card
// accepts as a new value: 6 to 8 bytes, padded with 0xFF only at the end.
func validNewPIN(b []byte) bool {
	if len(b) != pinBlock {
		return false
	}
	n := bytes.IndexByte(b, 0xff)
	if n < 0 {
		n = pinBlock
	}
	for _, c := range b[n:] {
		if c != 0xff {
			return false
		}
	}
	return n >= minPINLen
}

func equalSecret(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// verify is VERIFY (SP 800-73-4 part 2 3.2.1). Empty data asks for the
// status: 9000 when verified, else 63Cx; piv-go reads a 9000 there as
// "no login needed" for Sign and as an error for Retries. P1 FF resets
// the verification.
func (c *Card) verify(cmd command) response {
	if cmd.p2 != refPIN {
		return fail(swRefNotFound)
	}
	switch {
	case cmd.p1 == 0xff && len(cmd.data) == 0:
		c.s.pinVerified = false
		return success(nil)
	case cmd.p1 != 0x00:
		return fail(swIncorrectP1P2)
	}
	st := c.st
	if len(cmd.data) == 0 {
		switch {
		case st.PINLeft == 0:
			return fail(swAuthBlocked)
		case c.s.pinVerified:
			return success(nil)
		default:
			return verifyFailed(st.PINLeft)
		}
	}
	if len(cmd.data) != pinBlock {
		return fail(swIncorrectData)
	}
	if st.PINLeft == 0 {
		return fail(swAuthBlocked)
	}
	if !equalSecret(cmd.data, st.PIN) {
		st.PINLeft--
		c.s.pinVerified = false
		return c.saved(verifyFailed(st.PINLeft))
	}
	c.s.pinVerified, c.s.pinJust = true, true
	if st.PINLeft != st.PINRetries {
		st.PINLeft = st.PINRetries
		return c.saved(success(nil))
	}
	return success(nil)
}

// changeReference is CHANGE REFERENCE DATA for the PIN (80) or PUK (81):
// data is the old value then the new one, 8 bytes each. The old value is
// checked first, so a wrong old value always costs a try (piv-go's Reset
// relies on that to block the PUK with random values of any length).
func (c *Card) changeReference(cmd command) response {
	st := c.st
	var cur *[]byte
	var left *int
	var max int
	switch cmd.p2 {
	case refPIN:
		cur, left, max = &st.PIN, &st.PINLeft, st.PINRetries
	case refPUK:
		cur, left, max = &st.PUK, &st.PUKLeft, st.PUKRetries
	default:
		return fail(swRefNotFound)
	}
	if len(cmd.data) != 2*pinBlock {
		return fail(swIncorrectData)
	}
	if *left == 0 {
		return fail(swAuthBlocked)
	}
	old, next := cmd.data[:pinBlock], cmd.data[pinBlock:]
	if !equalSecret(old, *cur) {
		*left--
		if cmd.p2 == refPIN {
			c.s.pinVerified = false
		}
		return c.saved(verifyFailed(*left))
	}
	if !validNewPIN(next) {
		return fail(swIncorrectData)
	}
	*cur = append([]byte(nil), next...)
	*left = max
	return c.saved(success(nil))
}

// resetRetryCounter is RESET RETRY COUNTER: unblock the PIN with the PUK
// and set a new PIN.
func (c *Card) resetRetryCounter(cmd command) response {
	if cmd.p2 != refPIN {
		return fail(swRefNotFound)
	}
	if len(cmd.data) != 2*pinBlock {
		return fail(swIncorrectData)
	}
	st := c.st
	if st.PUKLeft == 0 {
		return fail(swAuthBlocked)
	}
	if !equalSecret(cmd.data[:pinBlock], st.PUK) {
		st.PUKLeft--
		return c.saved(verifyFailed(st.PUKLeft))
	}
	next := cmd.data[pinBlock:]
	if !validNewPIN(next) {
		return fail(swIncorrectData)
	}
	st.PIN = append([]byte(nil), next...)
	st.PINLeft = st.PINRetries
	st.PUKLeft = st.PUKRetries
	return c.saved(success(nil))
}

// setRetries is Yubico's SET PIN RETRIES (FA): P1 PIN tries, P2 PUK
// tries. It needs the management key and the PIN in this session, and
// resets PIN and PUK to their defaults (Yubico documents this; piv-go
// warns about it).
func (c *Card) setRetries(cmd command) response {
	if !c.s.mgmtAuthed || !c.s.pinVerified {
		return fail(swSecurityStatus)
	}
	if cmd.p1 == 0 || cmd.p2 == 0 {
		return fail(swIncorrectP1P2)
	}
	st := c.st
	st.PIN, st.PUK = pad8(DefaultPIN), pad8(DefaultPUK)
	st.PINRetries, st.PINLeft = int(cmd.p1), int(cmd.p1)
	st.PUKRetries, st.PUKLeft = int(cmd.p2), int(cmd.p2)
	return c.saved(success(nil))
}

// reset is Yubico's RESET (FB): allowed only once PIN and PUK are both
// blocked, it wipes every key and object except the attestation key and
// certificate, and restores PIN, PUK and management key.
func (c *Card) reset(cmd command) response {
	if c.st.PINLeft != 0 || c.st.PUKLeft != 0 {
		return fail(swConditionsNotMet)
	}
	c.factoryReset()
	c.s = session{applet: appletPIV}
	return c.saved(success(nil))
}
