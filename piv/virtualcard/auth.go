package virtualcard

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/rand"
)

// DefaultManagementKey is the factory management key, 0102030405060708
// three times: a 3DES key before firmware 5.7, AES-192 from 5.7 on.
var DefaultManagementKey = []byte{
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
}

// Management key algorithms (SP 800-78-4 table 5).
const (
	alg3DES   = 0x03
	algAES128 = 0x08
	algAES192 = 0x0a
	algAES256 = 0x0c
)

// slotMgmt is the card management key reference.
const slotMgmt = 0x9b

// Dynamic authentication template tags (SP 800-73-4 part 2 table 7).
const (
	tagDynAuth   = 0x7c
	tagWitness   = 0x80
	tagChallenge = 0x81
	tagResponse  = 0x82
	tagExponent  = 0x85
)

func (c *Card) defaultMgmtAlg() byte {
	if c.version.atLeast(5, 7, 0) {
		return algAES192
	}
	return alg3DES
}

func validMgmtKey(alg byte, key []byte) bool {
	switch alg {
	case alg3DES, algAES192:
		return len(key) == 24
	case algAES128:
		return len(key) == 16
	case algAES256:
		return len(key) == 32
	}
	return false
}

func mgmtCipher(alg byte, key []byte) (cipher.Block, error) {
	if alg == alg3DES {
		return des.NewTripleDESCipher(key)
	}
	return aes.NewCipher(key)
}

// generalAuthenticate is GENERAL AUTHENTICATE (87): management-key
// authentication for slot 9B, otherwise a private-key operation.
func (c *Card) generalAuthenticate(cmd command) response {
	outer, err := parseTLVs(cmd.data)
	if err != nil || len(outer) != 1 || outer[0].tag != tagDynAuth {
		return fail(swIncorrectData)
	}
	inner, err := parseTLVs(outer[0].value)
	if err != nil {
		return fail(swIncorrectData)
	}
	if cmd.p2 == slotMgmt {
		return c.authManagement(cmd.p1, inner)
	}
	return c.privateKeyOp(cmd.p1, cmd.p2, inner)
}

// authManagement runs either protocol SP 800-73-4 allows for a symmetric
// key:
//
//   - mutual (piv-go, yubico-piv-tool): {80 00} → card sends E(W); then
//     {80 W, 81 C} → card checks W and answers {82 E(C)}.
//   - external (one-way): {81 00} → card sends C; then {82 E(C)}.
//
// A wrong answer costs nothing (a YubiKey's management key has no retry
// counter) but forgets the pending witness.
func (c *Card) authManagement(alg byte, inner []tlv) response {
	st := c.st
	if alg != st.MgmtAlg {
		return fail(swIncorrectP1P2)
	}
	block, err := mgmtCipher(st.MgmtAlg, st.MgmtKey)
	if err != nil {
		return fail(swMemoryFailure)
	}
	n := block.BlockSize()
	witness, hasW := find(inner, tagWitness)
	chal, hasC := find(inner, tagChallenge)
	resp, hasR := find(inner, tagResponse)
	pendingW, pendingC := c.s.witness, c.s.challenge
	c.s.witness, c.s.challenge = nil, nil
	switch {
	case hasW && len(witness) == 0 && !hasC && !hasR:
		w := make([]byte, n)
		rand.Read(w)
		c.s.witness = w
		c.s.mgmtAuthed = false
		enc := make([]byte, n)
		block.Encrypt(enc, w)
		return success(tlvBytes(tagDynAuth, tlvBytes(tagWitness, enc)))
	case hasW && hasC && len(witness) == n && len(chal) == n:
		if pendingW == nil {
			return fail(swConditionsNotMet)
		}
		if !equalSecret(witness, pendingW) {
			return fail(swSecurityStatus)
		}
		if st.MgmtTouch && !c.touch(slotMgmt, touchAlways) {
			return fail(swSecurityStatus)
		}
		c.s.mgmtAuthed = true
		enc := make([]byte, n)
		block.Encrypt(enc, chal)
		return success(tlvBytes(tagDynAuth, tlvBytes(tagResponse, enc)))
	case hasC && len(chal) == 0 && !hasW && !hasR:
		ch := make([]byte, n)
		rand.Read(ch)
		c.s.challenge = ch
		c.s.mgmtAuthed = false
		return success(tlvBytes(tagDynAuth, tlvBytes(tagChallenge, ch)))
	case hasR && len(resp) == n && !hasW && !hasC:
		if pendingC == nil {
			return fail(swConditionsNotMet)
		}
		want := make([]byte, n)
		block.Encrypt(want, pendingC)
		if !equalSecret(resp, want) {
			return fail(swSecurityStatus)
		}
		if st.MgmtTouch && !c.touch(slotMgmt, touchAlways) {
			return fail(swSecurityStatus)
		}
		c.s.mgmtAuthed = true
		return success(nil)
	}
	return fail(swIncorrectData)
}

// setManagementKey is Yubico's SET MANAGEMENT KEY (FF): P1 FF, P2 FF (or
// FE to require a touch); data alg, 9B, length, key. AES keys need
// firmware 5.4.
func (c *Card) setManagementKey(cmd command) response {
	if !c.s.mgmtAuthed {
		return fail(swSecurityStatus)
	}
	if cmd.p1 != 0xff || (cmd.p2 != 0xff && cmd.p2 != 0xfe) {
		return fail(swIncorrectP1P2)
	}
	d := cmd.data
	if len(d) < 3 || d[1] != slotMgmt || int(d[2]) != len(d)-3 {
		return fail(swIncorrectData)
	}
	alg, key := d[0], d[3:]
	if !validMgmtKey(alg, key) || (alg != alg3DES && !c.version.atLeast(5, 4, 0)) {
		return fail(swIncorrectData)
	}
	c.st.MgmtAlg = alg
	c.st.MgmtKey = append([]byte(nil), key...)
	c.st.MgmtTouch = cmd.p2 == 0xfe
	return c.saved(success(nil))
}
